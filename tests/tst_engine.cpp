// The engine's scheduling guarantees (SPEC section 4): order, reprioritizing, limits,
// group fairness, pause, timeouts, cancellation in every state, retries, batching.
#include "logbuffer.h"
#include "publishpacer.h"
#include "testsupport.h"

#include <QElapsedTimer>
#include <QRegularExpression>
#include <QTest>

class tst_Engine : public QObject
{
    Q_OBJECT

private:
    // A Lua task that appends its name to `orderFile` and ends.
    QByteArray appendName(const QString &orderFile)
    {
        return QStringLiteral("local f = assert(io.open(%1, 'a'))\n"
                              "f:write(task.name, '\\n')\nf:close()\n")
            .arg(quoted(orderFile))
            .toUtf8();
    }
    // A Lua task that waits until `gateFile` exists.
    QByteArray waitForGate(const QString &gateFile)
    {
        return QStringLiteral("while not io.open(%1) do sleep(0.01) end\n")
            .arg(quoted(gateFile))
            .toUtf8();
    }
    static QString quoted(const QString &s) { return u'"' + s + u'"'; }
    static void openGate(const QString &gateFile)
    {
        QFile f(gateFile);
        QVERIFY(f.open(QIODevice::WriteOnly));
    }
    TaskSpec named(TaskSpec spec, const QString &name, int priority = 0,
                   const QString &group = QStringLiteral("default"))
    {
        spec.name = name;
        spec.priority = priority;
        spec.group = group;
        return spec;
    }
    static bool allFinished(const Engine &engine, const QList<TaskId> &ids)
    {
        for (TaskId id : ids)
            if (!isFinished(stateOf(engine, id)))
                return false;
        return true;
    }

    // The log without the engine's notes on slow slices, which a loaded machine adds.
    static QStringList ownLines(QStringList log)
    {
        log.removeIf([](const QString &l) { return l.startsWith("[taskdeck: coroutine"); });
        return log;
    }
    static qint64 logBytes(const QStringList &log)
    {
        qint64 bytes = 0;
        for (const QString &line : log)
            bytes += 2 * qint64(line.size());
        return bytes;
    }

private Q_SLOTS:
    void runsByPriorityThenSubmissionOrder()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1});
        engine.pause();
        const QList<TaskId> ids = engine.submit(
            QList<TaskSpec>{named(base, "a", 0), named(base, "b", 5), named(base, "c", 0),
                            named(base, "d", 5), named(base, "e", 1)});
        engine.resume();
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(readLines(order), QStringList({"b", "d", "e", "a", "c"}));
    }

    // Specs with copies submitted together are queued before any starts (no pause): the
    // higher priority goes first though given last.
    void specsWithCopiesSubmittedTogetherAreQueuedBeforeAnyStarts()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1});
        const QList<TaskId> ids = engine.submit(QList<std::pair<TaskSpec, int>>{
            {named(base, "low", 0), 2}, {named(base, "high", 5), 2}});
        QCOMPARE(ids.size(), 4);
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(readLines(order), QStringList({"high", "high", "low", "low"}));
        QCOMPARE(engine.task(ids[0])->name, QStringLiteral("low"));
        QCOMPARE(engine.task(ids[3])->name, QStringLiteral("high"));
    }

    void reprioritizingAPendingTaskTakesEffectAtOnce()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1});
        engine.pause();
        const QList<TaskId> ids =
            engine.submit(QList<TaskSpec>{named(base, "a"), named(base, "b"), named(base, "c"),
                                          named(base, "d"), named(base, "e")});
        engine.setPriority(ids[2], 10);    // c first
        engine.moveToTop(ids[4]);          // then e before it
        engine.moveToBottom(ids[0]);       // a last
        engine.moveBefore(ids[3], ids[1]); // d before b
        engine.resume();
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(readLines(order), QStringList({"e", "c", "d", "b", "a"}));
        QCOMPARE(engine.task(ids[2])->priority, 10);
    }

    // Issue 11: observers learn the limits and paused state from the batches (the
    // dashboard keeps no copy of its own): in a batch after each change.
    void batchesCarryTheLimitsAndPausedStateWhenTheyChange()
    {
        Engine engine(Engine::Options{.maxRunning = 4, .publishIntervalMs = 20});
        QList<EngineLimits> seen;
        connect(&engine, &Engine::updated, this, [&seen](const EngineUpdate &update) {
            if (update.limits)
                seen.append(*update.limits);
        });
        engine.setMaxRunning(3);
        engine.setGroupLimit(QStringLiteral("net"), 2);
        engine.pauseGroup(QStringLiteral("net"));
        engine.pause();
        EngineLimits expected;
        expected.maxRunning = 3;
        expected.paused = true;
        expected.groupLimits.insert(QStringLiteral("net"), 2);
        expected.pausedGroups = {QStringLiteral("net")};
        QTRY_VERIFY(!seen.isEmpty() && seen.constLast() == expected);
        const qsizetype before = seen.size();
        engine.resume();
        QTRY_VERIFY(seen.size() > before && !seen.constLast().paused);
    }

    void globalLimitHoldsAndChangesLive()
    {
        ScriptDir dir;
        const QString gate = dir.path() + "/gate";
        const TaskSpec spec = dir.spec("wait.lua", waitForGate(gate));
        Engine engine(Engine::Options{.maxRunning = 2, .publishIntervalMs = 20});
        const QList<TaskId> ids = engine.submit(spec, 6);
        QTRY_COMPARE(engine.liveCounts().running, 2);
        QCOMPARE(engine.liveCounts().pending, 4);
        engine.setMaxRunning(5);
        QTRY_COMPARE(engine.liveCounts().running, 5);
        QCOMPARE(engine.liveCounts().pending, 1);
        openGate(gate);
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(engine.liveCounts().succeeded, 6);
    }

    void groupLimitHoldsAndChangesLive()
    {
        ScriptDir dir;
        const QString gate = dir.path() + "/gate";
        const TaskSpec spec = dir.spec("wait.lua", waitForGate(gate));
        Engine engine(Engine::Options{.maxRunning = 10});
        engine.setGroupLimit("net", 2);
        QList<TaskSpec> specs;
        for (int i = 0; i < 4; ++i)
            specs << named(spec, "net", 0, "net") << named(spec, "other", 0, "other");
        const QList<TaskId> ids = engine.submit(specs);
        QTRY_COMPARE(engine.liveCounts().running, 6); // 2 of net, 4 of other
        QCOMPARE(engine.waitReason(ids[6]), QStringLiteral("group net: 2/2 running"));
        // Many in one look-up, in the order asked: a running task waits for nothing and
        // has a live stack; a pending one has none.
        QCOMPARE(engine.waitReasons({ids[6], ids[0], ids[4]}),
                 QStringList({QStringLiteral("group net: 2/2 running"), QString(),
                              QStringLiteral("group net: 2/2 running")}));
        engine.setMaxRunning(6); // all slots taken: the reasons give queue places
        engine.setGroupLimit("net", 0);
        QCOMPARE(engine.waitReasons({ids[6], ids[4]}),
                 QStringList({QStringLiteral("all 6 slots running; #2 in the queue"),
                              QStringLiteral("all 6 slots running; #1 in the queue")}));
        QCOMPARE(engine.waitReason(ids[6]), QStringLiteral("all 6 slots running; #2 in the queue"));
        engine.setGroupLimit("net", 2);
        engine.setMaxRunning(10);
        auto hasFrames = [](const std::shared_ptr<const CoroutineStack> &stack) {
            return stack && !stack->frames.isEmpty();
        };
        // A running task shows frames only while it waits, not while its coroutine runs a
        // slice (between two sleeps): ask until one answer has them, and keep that answer
        // (QTRY would ask again, and could catch it in a slice).
        QList<std::shared_ptr<const CoroutineStack>> stacks;
        auto askUntilItWaits = [&](const QList<TaskId> &asked, int waiting) {
            return QTest::qWaitFor(
                [&] {
                    stacks = engine.liveStacks(asked);
                    return stacks.size() == 2 && hasFrames(stacks[waiting]);
                },
                10000);
        };
        QVERIFY(askUntilItWaits({ids[6], ids[0]}, 1));
        QVERIFY(!stacks[0]);
        const auto found = engine.tasks({ids[6], TaskId(999999), ids[0]});
        QCOMPARE(found.size(), 3);
        QVERIFY(found[0] && found[0]->id == ids[6] && found[0]->state == TaskState::Pending);
        QVERIFY(!found[1]);
        QVERIFY(found[2] && found[2]->state == TaskState::Running);
        QVERIFY(askUntilItWaits({ids[0], ids[6]}, 0)); // in the order asked
        QVERIFY(!stacks[1]);
        engine.setGroupLimit("net", 3);
        QTRY_COMPARE(engine.liveCounts().running, 7);
        openGate(gate);
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
    }

    void busyGroupDoesNotStarveAnother()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1});
        engine.pause();
        QList<TaskSpec> specs;
        for (int i = 0; i < 10; ++i)
            specs << named(base, "A", 0, "busy");
        for (int i = 0; i < 3; ++i)
            specs << named(base, "B", 0, "quiet");
        const QList<TaskId> ids = engine.submit(specs);
        engine.resume();
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        const QStringList lines = readLines(order);
        QCOMPARE(lines.size(), 13);
        // Round-robin: the quiet group's three tasks are among the first six to run.
        QCOMPARE(lines.mid(0, 6).count("B"), 3);
    }

    void pausedQueueStartsNothingUntilResumed()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("one.lua", "return 1");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        const QList<TaskId> ids = engine.submit(spec, 3);
        QTRY_COMPARE(engine.liveCounts().pending, 3);
        QTest::qWait(200); // nothing may start meanwhile
        QCOMPARE(engine.liveCounts().running + engine.liveCounts().succeeded, 0);
        QCOMPARE(engine.waitReason(ids[0]), QStringLiteral("the queue is paused"));
        engine.resume();
        QTRY_COMPARE(engine.liveCounts().succeeded, 3);
    }

    void pausedGroupWaitsWhileOthersRun()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("one.lua", "return 1");
        Engine engine;
        engine.pauseGroup("later");
        const TaskId held = engine.submit(named(spec, "held", 0, "later"));
        const TaskId free = engine.submit(named(spec, "free", 0, "default"));
        QTRY_COMPARE(stateOf(engine, free), TaskState::Succeeded);
        QCOMPARE(stateOf(engine, held), TaskState::Pending);
        QCOMPARE(engine.waitReason(held), QStringLiteral("group later is paused"));
        engine.resumeGroup("later");
        QTRY_COMPARE(stateOf(engine, held), TaskState::Succeeded);
    }

    void timeoutEndsTaskAsTimedOutWhereItWaited()
    {
        ScriptDir dir;
        TaskSpec spec = dir.spec("slow.lua", "-- @timeout 200ms\nsleep(10)\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::TimedOut, 5000);
        const TaskSnapshot t = *engine.task(id);
        QCOMPARE(t.error, QStringLiteral("timed out after 200ms"));
        QVERIFY(t.stack);
        QCOMPARE(t.stack->awaiting, QStringLiteral("sleep(10)"));
        QCOMPARE(t.stack->frames.value(0).line, 2);
        QVERIFY(t.finishedAtMs - t.startedAtMs < 3000);
    }

    // 2562048h in nanoseconds wraps a qint64: the deadline went negative and no timer of
    // the engine ever fired again (sleeps, timeouts, retry delays, grace periods).
    void durationsTooLongForNanosecondsWedgeNoTimer()
    {
        ScriptDir dir;
        Engine engine;
        TaskSpec endless = dir.spec("forever.lua", "sleep(math.huge)\n");
        endless.timeoutMs = qint64(2562048) * 3600 * 1000;
        TaskSpec retried = dir.spec("retried.lua", "error('once')\n");
        retried.retries = 25;
        retried.retryDelayMs = qint64(3000000) * 3600 * 1000;
        engine.setGracePeriod(qint64(2562048) * 3600 * 1000);
        const TaskId a = engine.submit(endless);
        const TaskId b = engine.submit(retried);
        QTRY_VERIFY_WITH_TIMEOUT(isSuspended(engine, a), 5000);
        QTRY_COMPARE_WITH_TIMEOUT(engine.task(b)->attempt, 1, 5000);
        const TaskId c = engine.submit(dir.spec("nap.lua", "sleep(0.05) return 'woke'\n"));
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, c), TaskState::Succeeded, 10000);
        engine.cancel(a);
        QTRY_VERIFY_WITH_TIMEOUT(isFinished(stateOf(engine, a)), 10000);
    }

    void timeoutStopsACpuLoop()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("spin.lua", "-- @timeout 200ms\nwhile true do end\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::TimedOut, 5000);
    }

    void cancellingAPendingTaskRemovesItAtOnceNeverStarted()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("one.lua", "return 1");
        Engine engine;
        engine.pause();
        const TaskId id = engine.submit(spec);
        engine.cancel(id);
        QCOMPARE(stateOf(engine, id), TaskState::Cancelled); // queued calls keep order
        const TaskSnapshot t = *engine.task(id);
        QCOMPARE(t.attempt, 0);
        QCOMPARE(t.startedAtMs, -1);
        QCOMPARE(engine.liveCounts().pending, 0);
        engine.resume();
        QCOMPARE(engine.liveCounts().cancelled, 1);
    }

    void cancellingASleepingTaskDeliversItAtTheSuspensionPoint()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("sleep.lua", "log('start')\nsleep(30)\nlog('never')\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Running);
        QTRY_COMPARE(engine.log(id), QStringList{"start"});
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 3000);
        QCOMPARE(engine.log(id), QStringList{"start"});
        QCOMPARE(engine.task(id)->stack->awaiting, QStringLiteral("sleep(30)"));
    }

    void cancellingACpuLoopStopsIt()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("spin.lua", "log('spinning')\nwhile true do end\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(engine.log(id), QStringList{"spinning"});
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 3000);
    }

    void cancellingACpuLoopInsideAPlainCoroutineStopsIt()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("nested.lua", "log('spinning')\n"
                                                     "coroutine.wrap(function()\n"
                                                     "  while true do end\nend)()\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(engine.log(id), QStringList{"spinning"});
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 3000);
    }

    void cleanupInPcallMayWaitAfterCancel()
    {
        ScriptDir dir;
        const TaskSpec spec =
            dir.spec("cleanup.lua", "local ok, err = pcall(sleep, 30)\n"
                                    "log('caught', is_cancelled(err))\n"
                                    "sleep(0.05)\nlog('cleaned up')\nerror(err)\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Running);
        QTRY_VERIFY(isSuspended(engine, id));
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 3000);
        QCOMPARE(engine.log(id), QStringList({"caught true", "cleaned up"}));
    }

    void taskSwallowingCancellationIsStoppedAfterGrace()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("stubborn.lua", "while true do pcall(sleep, 30) end\n");
        Engine engine(Engine::Options{.gracePeriodMs = 300});
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(isSuspended(engine, id)); // in its first sleep
        QElapsedTimer clock;
        clock.start();
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 5000);
        QVERIFY(clock.elapsed() >= 250);
    }

    void cpuLoopSwallowingCancellationIsStoppedAfterGrace()
    {
        ScriptDir dir;
        const TaskSpec spec =
            dir.spec("stubborn.lua", "log('go')\n"
                                     "while true do pcall(function() while true do end end) end\n");
        Engine engine(Engine::Options{.gracePeriodMs = 300});
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(engine.log(id), QStringList{"go"});
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 5000);
    }

    void cancellingAFinishedTaskChangesNothing()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("one.lua", "return 1");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Succeeded);
        engine.cancel(id);
        QCOMPARE(stateOf(engine, id), TaskState::Succeeded);
        QCOMPARE(engine.task(id)->result.toInteger(), 1);
    }

    void retriesWithDoublingDelayThenFails()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("flaky.lua", "-- @retries 2\n-- @retry-delay 100ms\n"
                                                    "log('attempt', task.attempt)\n"
                                                    "error('always')\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(engine.task(id)->attempt, 2);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Failed, 5000);
        const TaskSnapshot t = *engine.task(id);
        QCOMPARE(t.attempt, 3);
        QVERIFY(t.error.endsWith("always"));
        QCOMPARE(engine.log(id), QStringList({"attempt 1", "attempt 2", "attempt 3"}));
        // Delays of 100 ms then 200 ms lie between the three attempts.
        QVERIFY2(t.finishedAtMs - t.startedAtMs >= 300,
                 qPrintable(QString::number(t.finishedAtMs - t.startedAtMs)));
    }

    void taskWaitingToRetryIsPendingWithItsAttempt()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("flaky.lua", "-- @retries 1\n-- @retry-delay 10s\n"
                                                    "error('once')\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(engine.waitReason(id).startsWith("waiting to retry"));
        const TaskSnapshot t = *engine.task(id);
        QCOMPARE(t.state, TaskState::Pending);
        QCOMPARE(t.attempt, 1);
        engine.cancel(id); // cancelling during the delay: no more attempts
        QCOMPARE(stateOf(engine, id), TaskState::Cancelled);
        QCOMPARE(engine.task(id)->attempt, 1);
    }

    void retrySucceedsOnALaterAttempt()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("flaky.lua", "-- @retries 3\n-- @retry-delay 0ms\n"
                                                    "if task.attempt < 2 then error('flaky') end\n"
                                                    "return 'ok'\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Succeeded);
        QCOMPARE(engine.task(id)->attempt, 2);
        QCOMPARE(engine.task(id)->result.toString(), QStringLiteral("ok"));
        QVERIFY(engine.task(id)->error.isEmpty());
    }

    void neverRetriesAfterCancel()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("sleep.lua", "-- @retries 3\n-- @retry-delay 0ms\n"
                                                    "sleep(30)\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Running);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
        QCOMPARE(engine.task(id)->attempt, 1);
    }

    void retriesAfterATimeout()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("slow.lua", "-- @timeout 100ms\n-- @retries 1\n"
                                                   "-- @retry-delay 0ms\nsleep(30)\n");
        Engine engine;
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::TimedOut, 5000);
        QCOMPARE(engine.task(id)->attempt, 2);
    }

    void countsFollowEveryState()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.submit(dir.spec("ok.lua", "return 1"));
        engine.submit(dir.spec("bad.lua", "error('x')"));
        engine.submit(dir.spec("slow.lua", "-- @timeout 50ms\nsleep(10)"));
        const TaskId cancelled = engine.submit(dir.spec("long.lua", "sleep(10)"));
        QTRY_COMPARE(stateOf(engine, cancelled), TaskState::Running);
        engine.cancel(cancelled);
        QTRY_COMPARE(engine.counts().finished(), 4);
        const EngineCounts c = engine.counts();
        QCOMPARE(c.succeeded, 1);
        QCOMPARE(c.failed, 1);
        QCOMPARE(c.timedOut, 1);
        QCOMPARE(c.cancelled, 1);
        QCOMPARE(c.active(), 0);
    }

    void updatesArriveInBatchesNotPerTask()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.maxRunning = 64, .publishIntervalMs = 100});
        UpdateRecorder recorder(&engine);
        engine.submit(dir.spec("one.lua", "return 1"), 2000);
        QTRY_COMPARE_WITH_TIMEOUT(engine.counts().succeeded, 2000, 20000);
        QVERIFY2(recorder.batches() < 100, qPrintable(QString::number(recorder.batches())));
    }

    // Issue 15: a task's end is published as soon as the engine is idle, not after the
    // publish interval (a minute here), while the engine is not flooded.
    void aTasksEndIsPublishedWithoutWaitingForTheIntervalWhenNotFlooded()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.publishIntervalMs = 60000});
        const TaskSpec spec = dir.spec("one.lua", "return 1");
        engine.submit(spec);
        QTRY_COMPARE_WITH_TIMEOUT(engine.counts().succeeded, 1, 20000);
        // And the next one, submitted after a quiet spell, too.
        QTest::qWait(50);
        engine.submit(spec);
        QTRY_COMPARE_WITH_TIMEOUT(engine.counts().succeeded, 2, 20000);
    }

    // ... but a flood of changes still goes out in a few batches, one per interval after
    // a short burst.
    void aFloodOfChangesIsStillPacedByTheInterval()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 60000});
        UpdateRecorder recorder(&engine);
        engine.submit(dir.spec("one.lua", "return 1"), 200);
        QTRY_COMPARE_WITH_TIMEOUT(engine.liveCounts().succeeded, 200, 20000);
        QTest::qWait(100);
        QVERIFY2(recorder.batches() <= int(PublishPacer::Burst) + 1,
                 qPrintable(QString::number(recorder.batches())));
        engine.flush();
        QTRY_COMPARE_WITH_TIMEOUT(engine.counts().succeeded, 200, 20000);
    }

    void oneFailingTaskLeavesOthersRunning()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId bad = engine.submit(dir.spec("bad.lua", "local t = nil; return t.x"));
        const TaskId good = engine.submit(dir.spec("good.lua", "sleep(0.1) return 'fine'"));
        QTRY_COMPARE(stateOf(engine, bad), TaskState::Failed);
        QTRY_COMPARE(stateOf(engine, good), TaskState::Succeeded);
    }

    void destroyingTheEngineStopsRunningTasks()
    {
        ScriptDir dir;
        QElapsedTimer clock;
        clock.start();
        {
            Engine engine(Engine::Options{.gracePeriodMs = 60000});
            engine.submit(dir.spec("sleep.lua", "sleep(60)"), 3);
            engine.submit(dir.spec("spin.lua", "while true do end"), 2);
            QTRY_COMPARE(engine.liveCounts().running, 5);
        }
        QVERIFY(clock.elapsed() < 10000);
    }
    void catastrophicPatternsTimeOutAndLeaveTheOtherTasksRunning()
    {
        // Backtracking for hours inside string.find: it must stop at its timeout, and a
        // quick task beside two of them on a 2-thread pool must still run.
        ScriptDir dir;
        Engine engine(Engine::Options{.workerThreads = 2});
        const TaskSpec slow = dir.spec(
            "slow.lua", "-- @timeout 1s\nstring.find(('a'):rep(40), ('a*'):rep(40) .. 'b')\n");
        const QList<TaskId> slowIds = engine.submit(slow, 2);
        QTRY_COMPARE(engine.liveCounts().running, 2);
        const TaskId quick = engine.submit(dir.spec("quick.lua", "return 'quick'\n"));
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, quick), TaskState::Succeeded, 10000);
        QCOMPARE(engine.task(quick)->result, QJsonValue("quick"));
        for (TaskId id : slowIds) {
            QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::TimedOut, 10000);
            const TaskSnapshot t = *engine.task(id);
            QVERIFY(t.finishedAtMs - t.startedAtMs < 5000);
        }
    }

    void taskPrintingFarMoreThanItsCapKeepsABoundedLogWithAMarker()
    {
        // 3,000 lines of 10 KB: 60 MB as UTF-16, where 2,200 lines (44 MB) were kept.
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec(
            "chatty.lua", "local pad = ('x'):rep(10000)\n"
                          "for i = 1, 3000 do print(i .. ' ' .. pad) end\nprint('done')\n"));
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Succeeded, 30000);
        const QStringList log = ownLines(engine.log(id));
        QVERIFY2(logBytes(log) <= LogBuffer::DefaultMaxBytes,
                 qPrintable(QString::number(logBytes(log))));
        QVERIFY(log.constFirst().startsWith(QStringLiteral("1 xxx")));
        QCOMPARE(log.constLast(), QStringLiteral("done"));
        QVERIFY(log.contains(QRegularExpression("^\\[taskdeck: \\d+ lines omitted\\]$")));
    }

    void finishedTasksLogsAreTrimmedOldestFirstPastTheEnginesTotal()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{
            .maxRunning = 1, .logBytesPerTask = 64 * 1024, .logBytesTotal = 256 * 1024});
        const TaskSpec spec = dir.spec("chatty.lua", "local pad = ('x'):rep(1000)\n"
                                                     "for i = 1, 200 do print(i .. pad) end\n");
        QList<TaskId> ids;
        for (int i = 0; i < 10; ++i)
            ids.append(engine.submit(spec));
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 30000);
        qint64 total = 0;
        for (TaskId id : ids) {
            const QStringList log = engine.log(id);
            QVERIFY(logBytes(log) <= 64 * 1024);
            QVERIFY(log.contains(QRegularExpression("^\\[taskdeck: \\d+ lines omitted\\]$")));
            total += logBytes(log);
        }
        QVERIFY2(total <= 256 * 1024, qPrintable(QString::number(total)));
        // The newest keeps its whole budget, the oldest was trimmed to much less.
        QVERIFY(logBytes(engine.log(ids.constLast())) > 48 * 1024);
        QVERIFY(logBytes(engine.log(ids.constFirst())) <= 16 * 1024);
        const QStringList oldest = ownLines(engine.log(ids.constFirst()));
        QVERIFY(oldest.constLast().startsWith(QStringLiteral("200x")));
    }
};

QTEST_GUILESS_MAIN(tst_Engine)
#include "tst_engine.moc"
