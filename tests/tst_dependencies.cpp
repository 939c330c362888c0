// Dependencies between tasks (SPEC section 4, issue 18) on a run kind the test drives
// (FakeRunFactory): --after, --after-ended, --chain, the cancel down the chain, refusals
// at submit, Run after..., why a task waits, retries, and the store across a restart.
#include "fakerun.h"
#include "store/taskstore.h"
#include "taskjson.h"
#include "testsupport.h"

#include <QJsonArray>
#include <QMutex>
#include <QTemporaryDir>
#include <QTest>

namespace QTest {
template <> char *toString(const TaskDependency &d)
{
    return qstrdup(
        QByteArray("#" + QByteArray::number(d.id) + (d.anyEnd ? " (any end)" : "")).constData());
}
} // namespace QTest

class tst_Dependencies : public QObject
{
    Q_OBJECT

private:
    static TaskSpec spec(const QString &name, int retries = 0)
    {
        TaskSpec s;
        s.file = QStringLiteral("/fake/") + name;
        s.name = name;
        s.retries = retries;
        s.retryDelayMs = 10;
        return s;
    }
    static Engine::Options options(const std::shared_ptr<FakeRunFactory> &fake, int maxRunning = 16)
    {
        return Engine::Options{
            .maxRunning = maxRunning, .publishIntervalMs = 20, .runFactory = fake};
    }
    static QList<std::pair<TaskSpec, int>> one(const QString &name, int retries = 0)
    {
        return {{spec(name, retries), 1}};
    }
    static DependencyOptions after(QList<TaskId> ids)
    {
        DependencyOptions d;
        d.after = std::move(ids);
        return d;
    }
    static DependencyOptions afterEnded(QList<TaskId> ids)
    {
        DependencyOptions d;
        d.afterEnded = std::move(ids);
        return d;
    }
    static QString errorOf(const Engine &engine, TaskId id)
    {
        const auto task = engine.task(id);
        return task ? task->error : QString();
    }

private Q_SLOTS:
    void afterWaitsUntilItsDependencySucceeded()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId a = engine.submit(spec("a"));
        QString refusal;
        const QList<TaskId> b = engine.submit(one("b"), after({a}), &refusal);
        QVERIFY2(refusal.isEmpty(), qPrintable(refusal));
        QCOMPARE(b.size(), 1);
        QTRY_COMPARE(fake->started(), QList<TaskId>{a});
        QCOMPARE(stateOf(engine, b[0]), TaskState::Pending);
        QCOMPARE(engine.waitReason(b[0]), QStringLiteral("waiting for #%1 (running)").arg(a));
        QCOMPARE(engine.task(b[0])->dependencies, (TaskDependencies{{a, false}}));
        fake->succeed(a);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{a, b[0]}));
    }

    void failedDependencyCancelsItsDependentsDownTheChain()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId a = engine.submit(spec("a"));
        const TaskId b = engine.submit(one("b"), after({a})).constFirst();
        const TaskId c = engine.submit(one("c"), after({b})).constFirst();
        QCOMPARE(engine.waitReason(c), QStringLiteral("waiting for #%1 (pending)").arg(b));
        QTRY_COMPARE(fake->started(), QList<TaskId>{a});
        fake->fail(a);
        QTRY_COMPARE(stateOf(engine, c), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, b), TaskState::Cancelled);
        QCOMPARE(errorOf(engine, b), QStringLiteral("dependency #%1 failed").arg(a));
        QCOMPARE(errorOf(engine, c), QStringLiteral("dependency #%1 cancelled").arg(b));
        QCOMPARE(fake->started(), QList<TaskId>{a});
    }

    void cancellingADependencyCancelsItsDependents()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 1));
        const TaskId blocker = engine.submit(spec("blocker"));
        const TaskId a = engine.submit(spec("a")); // pending behind the blocker
        const TaskId b = engine.submit(one("b"), after({a})).constFirst();
        engine.cancel(a);
        QTRY_COMPARE(stateOf(engine, b), TaskState::Cancelled);
        QCOMPARE(errorOf(engine, b), QStringLiteral("dependency #%1 cancelled").arg(a));
        QCOMPARE(fake->started(), QList<TaskId>{blocker});
    }

    void afterEndedRunsWhateverTheStateItEndedIn()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId a = engine.submit(spec("a"));
        const TaskId b = engine.submit(one("b"), afterEnded({a})).constFirst();
        QTRY_COMPARE(fake->started(), QList<TaskId>{a});
        fake->fail(a);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{a, b}));
        const QJsonObject json = TaskJson::task(*engine.task(b));
        QCOMPARE(json.value("after").toArray(), QJsonArray{qint64(a)});
        QCOMPARE(json.value("after_ended").toArray(), QJsonArray{qint64(a)});
    }

    void dependencyThatAlreadyEndedIsMetOrCancelsAtOnce()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId good = engine.submit(spec("good"));
        const TaskId bad = engine.submit(spec("bad"));
        QTRY_COMPARE(fake->started().size(), 2);
        fake->succeed(good);
        fake->fail(bad);
        QTRY_COMPARE(stateOf(engine, bad), TaskState::Failed);
        QTRY_COMPARE(stateOf(engine, good), TaskState::Succeeded);
        const TaskId runs = engine.submit(one("runs"), after({good})).constFirst();
        const TaskId never = engine.submit(one("never"), after({good, bad})).constFirst();
        QTRY_COMPARE(fake->started().size(), 3);
        QCOMPARE(fake->started().last(), runs);
        QCOMPARE(stateOf(engine, never), TaskState::Cancelled);
        QCOMPARE(errorOf(engine, never), QStringLiteral("dependency #%1 failed").arg(bad));
    }

    void chainRunsTheTasksOneAfterAnotherInOrder()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        DependencyOptions chain;
        chain.chain = true;
        const QList<TaskId> ids =
            engine.submit({{spec("first"), 1}, {spec("second"), 1}, {spec("third"), 2}}, chain);
        QCOMPARE(ids.size(), 4);
        for (int i = 0; i < ids.size(); ++i) {
            QTRY_COMPARE(fake->started().size(), i + 1);
            QCOMPARE(fake->started().at(i), ids[i]);
            if (i > 0)
                QCOMPARE(engine.task(ids[i])->dependencies,
                         (TaskDependencies{{ids[i - 1], false}}));
            QCOMPARE(engine.liveCounts().running, 1);
            fake->succeed(ids[i]);
        }
        QTRY_COMPARE(stateOf(engine, ids.last()), TaskState::Succeeded);
    }

    void chainAfterATaskStartsWithThatTask()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId a = engine.submit(spec("a"));
        DependencyOptions chainAfter = after({a});
        chainAfter.chain = true;
        const QList<TaskId> ids = engine.submit({{spec("x"), 2}}, chainAfter);
        QCOMPARE(engine.task(ids[0])->dependencies, (TaskDependencies{{a, false}}));
        QCOMPARE(engine.task(ids[1])->dependencies, (TaskDependencies{{ids[0], false}}));
        QTRY_COMPARE(fake->started(), QList<TaskId>{a});
        fake->fail(a);
        QTRY_COMPARE(stateOf(engine, ids[1]), TaskState::Cancelled);
        QCOMPARE(errorOf(engine, ids[1]), QStringLiteral("dependency #%1 cancelled").arg(ids[0]));
    }

    void unknownDependencyIsRefusedAndNothingQueued()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        QString refusal;
        const QList<TaskId> ids = engine.submit(one("x"), after({4242}), &refusal);
        QVERIFY(ids.isEmpty());
        QCOMPARE(refusal, QStringLiteral("dependency #4242: no such task"));
        QCOMPARE(engine.tasks().size(), 0);
        QCOMPARE(engine.liveCounts().pending, 0);
    }

    void dependencyOnATaskOfTheSameSubmissionIsRefusedAsACycle()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId a = engine.submit(spec("a"));
        // The next ids are a + 1 and a + 2: waiting for one of them is waiting for itself.
        QString refusal;
        const QList<TaskId> ids = engine.submit({{spec("x"), 2}}, after({a + 2}), &refusal);
        QVERIFY(ids.isEmpty());
        QCOMPARE(refusal, QStringLiteral("dependency #%1 would make a cycle: it is one of the "
                                         "tasks submitted")
                              .arg(a + 2));
        QCOMPARE(engine.tasks().size(), 1);
    }

    void retriedDependencyHoldsItsDependentUntilTheLastAttempt()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId a = engine.submit(spec("a", 2));
        const TaskId b = engine.submit(one("b"), after({a})).constFirst();
        QTRY_COMPARE(fake->started(), QList<TaskId>{a});
        fake->fail(a);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{a, a}));
        QCOMPARE(stateOf(engine, b), TaskState::Pending);
        fake->fail(a);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{a, a, a}));
        QCOMPARE(stateOf(engine, b), TaskState::Pending);
        fake->succeed(a);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{a, a, a, b}));
    }

    void retriedDependencyThatFailsForGoodCancelsOnlyAtTheEnd()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        const TaskId a = engine.submit(spec("a", 1));
        const TaskId b = engine.submit(one("b"), after({a})).constFirst();
        QTRY_COMPARE(fake->started(), QList<TaskId>{a});
        fake->fail(a);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{a, a}));
        QCOMPARE(stateOf(engine, b), TaskState::Pending);
        fake->fail(a);
        QTRY_COMPARE(stateOf(engine, b), TaskState::Cancelled);
        QCOMPARE(errorOf(engine, b), QStringLiteral("dependency #%1 failed").arg(a));
    }

    void runAfterMakesAPendingTaskWait()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 1));
        const TaskId blocker = engine.submit(spec("blocker"));
        const TaskId first = engine.submit(spec("first"));
        const TaskId second = engine.submit(spec("second"));
        // `first` now waits for `second`: `second` runs before it.
        QCOMPARE(engine.addDependencies({first}, {{second, false}}), QString());
        QCOMPARE(engine.waitReason(first), QStringLiteral("waiting for #%1 (pending)").arg(second));
        fake->succeed(blocker);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{blocker, second}));
        fake->succeed(second);
        QTRY_COMPARE(fake->started(), (QList<TaskId>{blocker, second, first}));
    }

    void runAfterRefusesACycleAndATaskThatStarted()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake, 1));
        const TaskId running = engine.submit(spec("running"));
        const TaskId a = engine.submit(spec("a"));
        const TaskId b = engine.submit(one("b"), after({a})).constFirst();
        const TaskId c = engine.submit(one("c"), after({b})).constFirst();
        QCOMPARE(engine.addDependencies({a}, {{c, false}}),
                 QStringLiteral("dependency #%1 would make a cycle: #%1 waits for #%2, #%2 waits "
                                "for #%3")
                     .arg(c)
                     .arg(b)
                     .arg(a));
        QCOMPARE(engine.addDependencies({a}, {{a, false}}),
                 QStringLiteral("dependency #%1 would make a cycle: a task cannot wait for itself")
                     .arg(a));
        QTRY_COMPARE(stateOf(engine, running), TaskState::Running);
        QCOMPARE(engine.addDependencies({running}, {{a, false}}),
                 QStringLiteral("#%1 is running: only a pending task can wait for another")
                     .arg(running));
        QCOMPARE(engine.addDependencies({a}, {{999, false}}),
                 QStringLiteral("dependency #999: no such task"));
        QVERIFY(engine.task(a)->dependencies.isEmpty());
    }

    void dependentsOfATaskInterruptedByAStopKeepWaiting()
    {
        // What the engine published last, as a journal sees it (also the last batch, which
        // the engine publishes as it stops).
        struct LastSeen : EngineJournal
        {
            QMutex mutex;
            QHash<TaskId, TaskSnapshot> seen;
            void submitted(const QList<TaskId> &, const QList<std::shared_ptr<const TaskSpec>> &,
                           qint64) override
            {
            }
            void published(const EngineUpdate &update) override
            {
                QMutexLocker lock(&mutex);
                for (const TaskSnapshot &s : update.changed)
                    seen.insert(s.id, s);
            }
            void sampled(const QList<StackSample> &) override {}
            bool wantsSamples() const override { return false; }
        } journal;
        auto fake = std::make_shared<FakeRunFactory>();
        TaskId a = 0;
        TaskId b = 0;
        {
            Engine engine(options(fake));
            engine.setJournal(&journal);
            a = engine.submit(spec("a"));
            b = engine.submit(one("b"), after({a})).constFirst();
            QTRY_COMPARE(fake->started(), QList<TaskId>{a});
        } // the engine stops: `a` is interrupted
        QMutexLocker lock(&journal.mutex);
        QCOMPARE(journal.seen.value(a).state, TaskState::Interrupted);
        QCOMPARE(journal.seen.value(b).state, TaskState::Pending);
        QVERIFY(journal.seen.value(b).error.isEmpty());
    }

    void storeKeepsDependenciesAndARerunTakesOverFromAnInterruptedOne()
    {
        QTemporaryDir data;
        auto fake = std::make_shared<FakeRunFactory>();
        TaskId a = 0;
        TaskId b = 0;
        TaskId c = 0;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            Engine engine(options(fake));
            engine.setJournal(&store);
            a = engine.submit(spec("a"));
            b = engine.submit(one("b"), after({a})).constFirst();
            c = engine.submit(one("c"), afterEnded({b})).constFirst();
            QTRY_COMPARE(fake->started(), QList<TaskId>{a});
            QVERIFY(store.sync());
        } // `a` interrupted
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        const TaskStore::Recovery recovery = store.recover();
        QCOMPARE(recovery.pending, 2);
        auto again = std::make_shared<FakeRunFactory>();
        Engine engine(options(again));
        engine.restore(recovery.tasks, recovery.lastId);
        engine.setJournal(&store);
        QCOMPARE(stateOf(engine, a), TaskState::Interrupted);
        QCOMPARE(engine.task(b)->dependencies, (TaskDependencies{{a, false}}));
        QCOMPARE(engine.task(c)->dependencies, (TaskDependencies{{b, true}}));
        QCOMPARE(engine.waitReason(b), QStringLiteral("waiting for #%1 (interrupted)").arg(a));
        QVERIFY(again->started().isEmpty());
        const TaskId rerun = engine.rerun({a}).constFirst();
        QTRY_COMPARE(again->started(), QList<TaskId>{rerun});
        QCOMPARE(engine.task(b)->dependencies, (TaskDependencies{{rerun, false}}));
        again->succeed(rerun);
        QTRY_COMPARE(again->started(), (QList<TaskId>{rerun, b}));
        QVERIFY(store.sync());
        // What `b` waits for now is on disk too.
        engine.setJournal(nullptr);
        TaskStore reread;
        QTemporaryDir copy;
        QVERIFY(QFile::copy(store.path(), copy.filePath("taskdeck.db")));
        QFile::copy(store.path() + "-wal", copy.filePath("taskdeck.db-wal"));
        QCOMPARE(reread.open(copy.path()).status, TaskStore::OpenStatus::Opened);
        bool found = false;
        for (const RestoredTask &task : reread.recover().tasks) {
            if (task.snapshot.id == b) {
                found = true;
                QCOMPARE(task.snapshot.dependencies, (TaskDependencies{{rerun, false}}));
            }
        }
        QVERIFY(found);
    }

    void clearingAnInterruptedDependencyCancelsWhatWaitedForIt()
    {
        auto fake = std::make_shared<FakeRunFactory>();
        Engine engine(options(fake));
        auto shared = std::make_shared<const TaskSpec>(spec("a"));
        RestoredTask interrupted{shared, {}, {}};
        interrupted.snapshot.id = 1;
        interrupted.snapshot.state = TaskState::Interrupted;
        RestoredTask waiting{shared, {}, {}};
        waiting.snapshot.id = 2;
        waiting.snapshot.state = TaskState::Pending;
        waiting.snapshot.dependencies = {{1, false}};
        engine.restore({interrupted, waiting});
        QCOMPARE(engine.waitReason(2), QStringLiteral("waiting for #1 (interrupted)"));
        engine.forget({1});
        QTRY_COMPARE(stateOf(engine, 2), TaskState::Cancelled);
        QCOMPARE(errorOf(engine, 2), QStringLiteral("dependency #1 interrupted"));
        QVERIFY(fake->started().isEmpty());
    }

    void psJsonCarriesAfterForEveryTask()
    {
        TaskSnapshot plain;
        plain.id = 3;
        QCOMPARE(TaskJson::task(plain).value("after").toArray(), QJsonArray());
        QVERIFY(!TaskJson::task(plain).contains("after_ended"));
        TaskSnapshot waiting;
        waiting.id = 4;
        waiting.dependencies = {{1, false}, {2, true}};
        QCOMPARE(TaskJson::task(waiting).value("after").toArray(), (QJsonArray{1, 2}));
        QCOMPARE(TaskJson::task(waiting).value("after_ended").toArray(), QJsonArray{2});
    }

    void dependencyIdsParseAsTheOptionsTakeThem()
    {
        QCOMPARE(TaskDependencyText::parseIds("12"), (QList<TaskId>{12}));
        QCOMPARE(TaskDependencyText::parseIds("12, #13,12"), (QList<TaskId>{12, 13}));
        QVERIFY(!TaskDependencyText::parseIds("12,x"));
        QVERIFY(!TaskDependencyText::parseIds(""));
        QVERIFY(!TaskDependencyText::parseIds("0"));
        const TaskDependencies both{{5, false}, {6, true}};
        QCOMPARE(TaskDependencyText::decode(TaskDependencyText::encode(both)), both);
    }
};

QTEST_GUILESS_MAIN(tst_Dependencies)
#include "tst_dependencies.moc"
