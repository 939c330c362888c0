// The local engine as a task source (LocalTaskSource): commands return at once, look-ups
// answer through callbacks, watched tasks are reported with their log and live stack,
// batches carry the limits and paused state, and none of it waits for the engine thread.
#include "localtasksource.h"
#include "testsupport.h"

#include <QTest>

#include <memory>

namespace {

// Every batch a source emits, kept for the test to look through.
class BatchRecorder
{
public:
    explicit BatchRecorder(TaskSource *source)
    {
        QObject::connect(source, &TaskSource::batch, source,
                         [this](const TaskSourceBatch &batch) { m_batches.append(batch); });
    }
    const QList<TaskSourceBatch> &batches() const { return m_batches; }
    // The log lines of `id` the batches (from the `from`th on) carried, in order.
    QStringList logOf(TaskId id, qsizetype from = 0) const
    {
        QStringList lines;
        for (qsizetype i = from; i < m_batches.size(); ++i)
            for (const LogLines &log : m_batches[i].update.logs)
                if (log.id == id)
                    lines += log.lines;
        return lines;
    }
    // The latest report on `id`, if any; with `fullLog`, the latest holding the whole log.
    std::optional<WatchedTask> watched(TaskId id, bool fullLog = false) const
    {
        for (auto b = m_batches.crbegin(); b != m_batches.crend(); ++b)
            for (auto w = b->watched.crbegin(); w != b->watched.crend(); ++w)
                if (w->id == id && (!fullLog || w->fullLog))
                    return *w;
        return std::nullopt;
    }
    // The index of the first batch with the whole log of `id`, or -1.
    qsizetype fullLogBatch(TaskId id) const
    {
        for (qsizetype i = 0; i < m_batches.size(); ++i)
            for (const WatchedTask &w : m_batches[i].watched)
                if (w.id == id && w.fullLog)
                    return i;
        return -1;
    }
    std::optional<EngineLimits> lastLimits() const
    {
        for (auto b = m_batches.crbegin(); b != m_batches.crend(); ++b)
            if (b->update.limits)
                return b->update.limits;
        return std::nullopt;
    }

private:
    QList<TaskSourceBatch> m_batches;
};

} // namespace

class tst_TaskSource : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void firstBatchSaysTheLimitsAndPausedState()
    {
        Engine engine(Engine::Options{.maxRunning = 7, .publishIntervalMs = 20});
        engine.pause();
        engine.pauseGroup(QStringLiteral("net"));
        LocalTaskSource source(&engine);
        BatchRecorder recorder(&source);
        QTRY_VERIFY(recorder.lastLimits().has_value());
        QCOMPARE(recorder.lastLimits()->maxRunning, 7);
        QVERIFY(recorder.lastLimits()->paused);
        QCOMPARE(recorder.lastLimits()->pausedGroups, QStringList{QStringLiteral("net")});
        QCOMPARE(source.limits(), *recorder.lastLimits());
    }

    void limitChangesArePublishedInBatches()
    {
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        BatchRecorder recorder(&source);
        source.setMaxRunning(3);
        source.setGroupLimit(QStringLiteral("io"), 2);
        source.setGroupPaused(QStringLiteral("io"), true);
        source.setPaused(true);
        QTRY_VERIFY(source.limits().paused);
        QCOMPARE(source.limits().maxRunning, 3);
        QCOMPARE(source.limits().groupLimits.value(QStringLiteral("io")), 2);
        QCOMPARE(source.limits().pausedGroups, QStringList{QStringLiteral("io")});
        source.setPaused(false);
        source.setGroupPaused(QStringLiteral("io"), false);
        QTRY_VERIFY(!source.limits().paused && source.limits().pausedGroups.isEmpty());
    }

    void submitIsAcknowledgedWithItsIdsAndListed()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("one.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        LocalTaskSource source(&engine);
        const int lookUps = Engine::mainThreadLookUps();
        auto ids = std::make_shared<QList<TaskId>>();
        source.submit({{spec, 3}}, &source, [ids](const QList<TaskId> &queued) { *ids = queued; });
        QTRY_COMPARE(ids->size(), 3);
        auto listed = std::make_shared<std::optional<TaskSource::Listing>>();
        source.list(true, &source,
                    [listed](const TaskSource::Listing &listing) { *listed = listing; });
        QTRY_VERIFY(listed->has_value());
        QCOMPARE((*listed)->tasks.size(), 3);
        QCOMPARE((*listed)->tasks.at(0).id, ids->at(0));
        QVERIFY2((*listed)->waitReasons.value(ids->at(0)).contains("paused"),
                 qPrintable((*listed)->waitReasons.value(ids->at(0))));
        auto found = std::make_shared<QList<std::optional<TaskSnapshot>>>();
        source.lookUp({ids->at(2), 999}, &source,
                      [found](const QList<std::optional<TaskSnapshot>> &tasks) { *found = tasks; });
        QTRY_COMPARE(found->size(), 2);
        QCOMPARE(found->at(0)->id, ids->at(2));
        QVERIFY(!found->at(1).has_value());
        QCOMPARE(Engine::mainThreadLookUps(), lookUps);
    }

    void answersForAContextThatIsGoneAreDropped()
    {
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        bool called = false;
        auto context = std::make_unique<QObject>();
        source.sync(context.get(), [&called] { called = true; });
        context.reset();
        bool synced = false;
        source.sync(&source, [&synced] { synced = true; });
        QTRY_VERIFY(synced);
        QVERIFY(!called);
    }

    void watchedTaskIsReportedWithItsWholeLogThenItsNewLines()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("talk.lua", "log('one')\nlog('two')\n"
                                                   "while true do sleep(0.05) log('tick') end\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        BatchRecorder recorder(&source);
        const int lookUps = Engine::mainThreadLookUps();
        const QList<TaskId> ids = engine.submit(spec, 2);
        source.watch(ids[0]);
        QTRY_VERIFY(recorder.fullLogBatch(ids[0]) >= 0);
        const qsizetype at = recorder.fullLogBatch(ids[0]);
        const QStringList whole = recorder.batches()[at].watched.constFirst().log;
        // The whole log, then the lines of the batches after it: each line once, in order.
        const auto seen = [&] { return whole + recorder.logOf(ids[0], at + 1); };
        QTRY_VERIFY(seen().size() >= 5);
        QStringList lines = seen();
        // Without the engine's notes on slow slices, which a loaded machine adds.
        lines.removeIf([](const QString &l) { return l.startsWith("[taskdeck: coroutine"); });
        QCOMPARE(lines.mid(0, 2), (QStringList{"one", "two"}));
        for (qsizetype i = 2; i < lines.size(); ++i)
            QCOMPARE(lines[i], QStringLiteral("tick"));
        // Reports with its live stack; the other task's lines are not sent.
        QTRY_VERIFY(recorder.watched(ids[0]) && recorder.watched(ids[0])->stack);
        QVERIFY(recorder.watched(ids[0])->snapshot);
        QCOMPARE(recorder.watched(ids[0])->snapshot->state, TaskState::Running);
        QVERIFY(recorder.logOf(ids[1]).isEmpty());
        QCOMPARE(Engine::mainThreadLookUps(), lookUps);
        engine.cancelAll();
    }

    void watchingIsCounted()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("s.lua", "sleep(30)\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        LocalTaskSource source(&engine);
        BatchRecorder recorder(&source);
        const TaskId id = engine.submit(spec);
        source.watch(id);
        source.watch(id);
        source.unwatch(id);
        QVERIFY(source.isWatched(id));
        // A pending task is reported with why it waits.
        QTRY_VERIFY(recorder.watched(id) && !recorder.watched(id)->waitReason.isEmpty());
        source.unwatch(id);
        QVERIFY(!source.isWatched(id));
        QVERIFY(source.watched().isEmpty());
        engine.cancelAll();
    }

    void commitWaitsForNothingWithoutAStore()
    {
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        QVERIFY(!source.keepsTasks());
        auto problem = std::make_shared<std::optional<QString>>();
        source.commit(&source, [problem](const QString &why) { *problem = why; });
        QTRY_VERIFY(problem->has_value());
        QVERIFY((*problem)->isEmpty());
    }
};

QTEST_GUILESS_MAIN(tst_TaskSource)
#include "tst_tasksource.moc"
