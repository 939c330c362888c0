// The dispatcher's scheduling on a run kind the test drives (FakeRunFactory), no Lua:
// order, weights, limits, pause, retries, timeouts, cancellation and the grace period.
#include "fakerun.h"
#include "testsupport.h"

#include <QElapsedTimer>
#include <QTest>

class tst_Scheduler : public QObject
{
    Q_OBJECT

private:
    static TaskSpec spec(const QString &name, int priority = 0,
                         const QString &group = QStringLiteral("default"))
    {
        TaskSpec s;
        s.file = QStringLiteral("/fake/") + name;
        s.name = name;
        s.priority = priority;
        s.group = group;
        return s;
    }
    static Engine::Options options(const std::shared_ptr<FakeRunFactory> &fake, int maxRunning = 16,
                                   qint64 gracePeriodMs = 5000)
    {
        return Engine::Options{.maxRunning = maxRunning,
                               .gracePeriodMs = gracePeriodMs,
                               .publishIntervalMs = 20,
                               .runFactory = fake};
    }
    // Succeeds each started task in turn until `count` have run; their start order.
    static QList<TaskId> runOneByOne(const Engine &engine, FakeRunFactory &fake, int count)
    {
        for (int i = 0; i < count; ++i) {
            [&] { QTRY_COMPARE_WITH_TIMEOUT(fake.started().size(), i + 1, 10000); }();
            if (QTest::currentTestFailed())
                return {};
            const TaskId id = fake.started().at(i);
            fake.succeed(id);
            [&] { QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Succeeded, 10000); }();
        }
        return fake.started();
    }

private Q_SLOTS:
    void higherPriorityStartsFirst()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 1));
        const QList<TaskId> ids =
            engine.submit(QList<TaskSpec>{spec("low", 0), spec("high", 5), spec("mid", 2)});
        QCOMPARE(runOneByOne(engine, *fake, 3), (QList<TaskId>{ids[1], ids[2], ids[0]}));
    }

    void equalPrioritiesKeepSubmissionOrder()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 1));
        const QList<TaskId> ids =
            engine.submit(QList<TaskSpec>{spec("a", 3), spec("b", 3), spec("c", 3), spec("d", 3)});
        QCOMPARE(runOneByOne(engine, *fake, 4), ids);
    }

    void groupLimitAndMaxRunningHoldAndChangeLive()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 2));
        engine.setGroupLimit(QStringLiteral("g"), 1);
        const QString g = QStringLiteral("g");
        const QList<TaskId> ids = engine.submit(
            QList<TaskSpec>{spec("a", 0, g), spec("b", 0, g), spec("c", 0, g), spec("d", 0, g)});
        // Scheduling is done by the time a later request is answered.
        QCOMPARE(engine.liveCounts().running, 1);
        QCOMPARE(fake->started(), QList<TaskId>{ids[0]});

        engine.setGroupLimit(g, 3); // now the engine's limit of 2 holds
        QTRY_COMPARE(fake->started().size(), 2);
        QCOMPARE(engine.liveCounts().running, 2);

        engine.setMaxRunning(3);
        QTRY_COMPARE(fake->started().size(), 3);
        QCOMPARE(engine.liveCounts().running, 3);

        engine.setGroupLimit(g, 1); // lowering stops nothing, but starts nothing either
        fake->succeed(ids[0]);
        QTRY_COMPARE(stateOf(engine, ids[0]), TaskState::Succeeded);
        QCOMPARE(engine.liveCounts().running, 2);
        QCOMPARE(stateOf(engine, ids[3]), TaskState::Pending);
        fake->succeed(ids[1]);
        fake->succeed(ids[2]);
        QTRY_COMPARE(fake->started().size(), 4);
        QCOMPARE(engine.liveCounts().running, 1);
    }

    // Groups take turns by weight (smooth weighted round-robin): with weights 2 and 1 and
    // one slot, six starts give the heavier group four and the other two, interleaved.
    void groupsTakeTurnsByWeight()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 1));
        const QString heavy = QStringLiteral("heavy");
        const QString light = QStringLiteral("light");
        engine.setGroupWeight(heavy, 2);
        engine.pause(); // all queued before the first start
        QList<TaskSpec> specs;
        for (int i = 0; i < 6; ++i)
            specs << spec(QStringLiteral("h%1").arg(i), 0, heavy)
                  << spec(QStringLiteral("l%1").arg(i), 0, light);
        const QList<TaskId> ids = engine.submit(specs);
        engine.resume();
        // (the seventh may have started by the time the sixth is seen to end)
        const QList<TaskId> started = runOneByOne(engine, *fake, 6).mid(0, 6);
        QCOMPARE(started.size(), 6);
        QString groups; // "h" or "l" per start
        for (TaskId id : started)
            groups += ids.indexOf(id) % 2 == 0 ? u'h' : u'l';
        QCOMPARE(groups.count(u'h'), 4);
        QCOMPARE(groups.count(u'l'), 2);
        QVERIFY2(!groups.contains(QStringLiteral("hhh")), qPrintable(groups)); // interleaved
        QVERIFY2(groups.startsWith(u'h'), qPrintable(groups));
    }

    void pauseHoldsAndResumeStarts()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        engine.pause();
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec("a"), spec("b")});
        QCOMPARE(engine.liveCounts().pending, 2);
        QVERIFY(fake->started().isEmpty());
        engine.resume();
        QTRY_COMPARE(fake->started().size(), 2);

        const TaskId g = engine.submit(spec("g", 0, QStringLiteral("g")));
        engine.pauseGroup(QStringLiteral("g"));
        QCOMPARE(engine.liveCounts().running, 3); // a paused group's running task goes on
        const TaskId g2 = engine.submit(spec("g2", 0, QStringLiteral("g")));
        const TaskId h = engine.submit(spec("h", 0, QStringLiteral("h")));
        QTRY_COMPARE(stateOf(engine, h), TaskState::Running);
        QCOMPARE(stateOf(engine, g2), TaskState::Pending);
        engine.resumeGroup(QStringLiteral("g"));
        QTRY_COMPARE(stateOf(engine, g2), TaskState::Running);
        QCOMPARE(fake->started(), (QList<TaskId>{ids[0], ids[1], g, h, g2}));
    }

    void failedTaskRetriesAfterItsDelay()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        TaskSpec s = spec("flaky");
        s.retries = 1;
        s.retryDelayMs = 300;
        const TaskId id = engine.submit(s);
        QTRY_COMPARE(fake->started().size(), 1);
        QElapsedTimer clock;
        clock.start();
        QVERIFY(fake->fail(id));
        QTRY_COMPARE_WITH_TIMEOUT(fake->started().size(), 2, 10000);
        QVERIFY2(clock.elapsed() >= 300, qPrintable(QString::number(clock.elapsed())));
        QVERIFY(fake->succeed(id));
        QTRY_COMPARE(stateOf(engine, id), TaskState::Succeeded);
        QCOMPARE(engine.task(id)->attempt, 2);
        QCOMPARE(fake->calls(id), (QStringList{"start 1", "start 2"}));
    }

    void failureWithoutRetriesFails()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId id = engine.submit(spec("bad"));
        QTRY_COMPARE(fake->started().size(), 1);
        QVERIFY(fake->fail(id, QStringLiteral("boom")));
        QTRY_COMPARE(stateOf(engine, id), TaskState::Failed);
        QCOMPARE(engine.task(id)->error, QStringLiteral("boom"));
    }

    void timeoutCancelsTheRun()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        TaskSpec s = spec("slow");
        s.timeoutMs = 200;
        const TaskId id = engine.submit(s);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::TimedOut, 10000);
        QCOMPARE(fake->calls(id), (QStringList{"start 1", "cancel 1"}));
    }

    void cancelRunningAndPending()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 1));
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec("a"), spec("b")});
        QTRY_COMPARE(fake->started(), QList<TaskId>{ids[0]});
        engine.cancel(ids[1]); // pending: never starts
        QCOMPARE(stateOf(engine, ids[1]), TaskState::Cancelled);
        engine.cancel(ids[0]);
        QTRY_COMPARE(stateOf(engine, ids[0]), TaskState::Cancelled);
        QCOMPARE(fake->calls(ids[0]), (QStringList{"start 1", "cancel 1"}));
        QCOMPARE(engine.liveCounts().running, 0);
        QCOMPARE(fake->started(), QList<TaskId>{ids[0]});
        QVERIFY(fake->calls(ids[1]).isEmpty());
    }

    void runIgnoringCancelIsStoppedAfterGrace()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 16, 300));
        const TaskId id = engine.submit(spec("stubborn"));
        fake->ignoreCancel(id);
        QTRY_COMPARE(fake->started().size(), 1);
        QElapsedTimer clock;
        clock.start();
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 10000);
        QVERIFY2(clock.elapsed() >= 300, qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(fake->calls(id), (QStringList{"start 1", "cancel 1", "stop 1"}));
    }
};

QTEST_GUILESS_MAIN(tst_Scheduler)
#include "tst_scheduler.moc"
