// Lua tasks, first part (SPEC section 2): results, log and progress, task.*, errors with
// tracebacks, memory caps, stack overflow, syntax errors, suspension without a thread.
#include "testsupport.h"

#include "lua/luatask.h"

#include <lua.hpp>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSemaphore>
#include <QTest>

#include <atomic>

namespace {

// A C function that blocks until the test lets it go: the stand-in for a C call that
// never returns, which no hook can interrupt.
QSemaphore g_release;
std::atomic<int> g_blocked{0};
std::atomic<int> g_returned{0};

int blockInC(lua_State *)
{
    ++g_blocked;
    g_release.acquire();
    ++g_returned;
    return 0;
}

} // namespace

class tst_LuaTask : public QObject
{
    Q_OBJECT

private:
    // Runs one script to its end and returns its final snapshot.
    TaskSnapshot runToEnd(const QByteArray &source, Engine::Options options = {},
                          const QString &name = QStringLiteral("t.lua"))
    {
        ScriptDir dir;
        Engine engine(options);
        const TaskId id = engine.submit(dir.spec(name, source));
        [&] { QTRY_VERIFY_WITH_TIMEOUT(isFinished(stateOf(engine, id)), 20000); }();
        m_lastLog = engine.log(id);
        return *engine.task(id);
    }
    QStringList m_lastLog;

    // The data row's `source` succeeds with the result `json` (in an array).
    void verifyResultOfRow()
    {
        QFETCH(QByteArray, source);
        QFETCH(QByteArray, json);
        const TaskSnapshot t = runToEnd(source);
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(QJsonDocument(QJsonArray{t.result}).toJson(QJsonDocument::Compact), json);
    }

private Q_SLOTS:
    void returnValuesBecomeTheResult_data()
    {
        QTest::addColumn<QByteArray>("source");
        QTest::addColumn<QByteArray>("json"); // the result, as compact JSON in an array
        QTest::newRow("integer") << QByteArray("return 42") << QByteArray("[42]");
        QTest::newRow("float") << QByteArray("return 0.5") << QByteArray("[0.5]");
        QTest::newRow("string") << QByteArray("return 'hé'") << QByteArray("[\"hé\"]");
        QTest::newRow("boolean") << QByteArray("return false") << QByteArray("[false]");
        QTest::newRow("nil") << QByteArray("return nil") << QByteArray("[null]");
        QTest::newRow("none") << QByteArray("local x = 1") << QByteArray("[null]");
        QTest::newRow("several values are an array")
            << QByteArray("return 1, 'two', true") << QByteArray("[[1,\"two\",true]]");
        QTest::newRow("sequence is an array")
            << QByteArray("return {3, 2, 1}") << QByteArray("[[3,2,1]]");
        QTest::newRow("other table is an object") << QByteArray("return {a = 1, b = {c = 'd'}}")
                                                  << QByteArray("[{\"a\":1,\"b\":{\"c\":\"d\"}}]");
        QTest::newRow("holes make an object") << QByteArray("return {[1] = 'a', [3] = 'c'}")
                                              << QByteArray("[{\"1\":\"a\",\"3\":\"c\"}]");
        QTest::newRow("empty table") << QByteArray("return {}") << QByteArray("[[]]");
        QTest::newRow("a function is named, not lost")
            << QByteArray("return print") << QByteArray("[\"<function>\"]");
        QTest::newRow("cycle is cut")
            << QByteArray("local t = {} t.self = t return 1") << QByteArray("[1]");
    }
    void returnValuesBecomeTheResult() { verifyResultOfRow(); }

    void selfReferencingResultIsBounded()
    {
        const TaskSnapshot t = runToEnd("local t = {} t.self = t return t");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(t.result, QJsonValue(QJsonObject{{"self", "<cycle>"}}));
    }

    void cCallThatNeverReturnsIsGivenUpAndThePoolKeepsItsSize()
    {
        LuaTask::setExtraApi([](lua_State *L) { LuaTask::addGlobal(L, "block_in_c", &blockInC); });
        {
            ScriptDir dir;
            Engine engine(Engine::Options{.workerThreads = 2, .gracePeriodMs = 200});
            const QList<TaskId> stuck = engine.submit(
                dir.spec("stuck.lua", "-- @timeout 200ms\nlocal x = 1\nblock_in_c()\n"), 2);
            QTRY_COMPARE_WITH_TIMEOUT(g_blocked.load(), 2, 10000); // both workers held
            for (TaskId id : stuck) {
                QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Failed, 10000);
                const TaskSnapshot t = *engine.task(id);
                QVERIFY2(t.error.startsWith(QStringLiteral("timed out after 200ms, then stuck "
                                                           "in C function block_in_c at "
                                                           "stuck.lua:3")) &&
                             t.error.endsWith(QStringLiteral("given up")),
                         qPrintable(t.error));
                QVERIFY(t.stack);
                QCOMPARE(t.stack->frames.value(0).line, 3);
            }
            // Both threads are still stuck, and the pool still runs tasks on two others.
            QCOMPARE(g_returned.load(), 0);
            const TaskSpec quick = dir.spec("quick.lua", "sleep(0.01)\nreturn 'quick'\n");
            const QList<TaskId> quickIds = engine.submit(quick, 4);
            for (TaskId id : quickIds)
                QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Succeeded, 10000);
            // The calls return at last: nothing of their tasks is touched or reused.
            g_release.release(2);
            QTRY_COMPARE_WITH_TIMEOUT(g_returned.load(), 2, 10000);
            const TaskId after = engine.submit(dir.spec("after.lua", "return 1\n"));
            QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, after), TaskState::Succeeded, 10000);
            for (TaskId id : stuck)
                QCOMPARE(stateOf(engine, id), TaskState::Failed);
        }
        LuaTask::setExtraApi(nullptr);
    }

    void sharedSubtableIsConvertedWhereverItAppears()
    {
        const TaskSnapshot t = runToEnd("local s = {1} return {s, {s}}");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(QJsonDocument(t.result.toArray()).toJson(QJsonDocument::Compact),
                 QByteArray("[[1],[[1]]]"));
    }

    void resultReusingASubtableExponentiallyFailsFastWithAClearError()
    {
        // 2^41 values once expanded: no conversion may run that long or grow that big.
        const TaskSnapshot t = runToEnd("local t = {} for i = 1, 40 do t = {t, t} end return t");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.startsWith(QStringLiteral("result too large: over ")),
                 qPrintable(t.error));
        QVERIFY(!t.error.contains(u'\n'));
        QVERIFY(t.finishedAtMs - t.startedAtMs < 15000);
    }

    void resultOverTheTasksMemoryCapFails()
    {
        // 200 references to one 10 KB string: 2 MB of result from a 1 MiB heap.
        const TaskSnapshot t = runToEnd("-- @memory 1MiB\nlocal s = ('x'):rep(10000)\n"
                                        "local r = {} for i = 1, 200 do r[i] = s end return r");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.startsWith(QStringLiteral("result too large: over 1024 KiB")),
                 qPrintable(t.error));
    }

    void resultConversionRunsNoMetamethods()
    {
        const TaskSnapshot t = runToEnd(
            "local loop = function() while true do end end\n"
            "return setmetatable({a = 1}, {__index = loop, __pairs = loop, __len = loop})");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(t.result, QJsonValue(QJsonObject{{"a", 1}}));
    }

    void errorObjectWithALoopingTostringIsStopped()
    {
        const TaskSnapshot t =
            runToEnd("error(setmetatable({}, {__tostring = function()\n"
                     "  while true do pcall(function() while true do end end) end\nend}))");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains(QStringLiteral("__tostring did not finish")),
                 qPrintable(t.error));
    }

    void errorObjectWithAFailingTostringSaysSo()
    {
        const TaskSnapshot t =
            runToEnd("error(setmetatable({}, {__tostring = function() error('no') end}))");
        QCOMPARE(t.state, TaskState::Failed);
        QCOMPARE(t.error, QStringLiteral("(error object with a failing __tostring)"));
    }

    // The matcher is Taskdeck's own (luapattern.cpp); it was also checked against the
    // stock one on 2.2 million generated patterns and subjects.
    void patternFunctionsBehaveAsLuas_data()
    {
        QTest::addColumn<QByteArray>("source");
        QTest::addColumn<QByteArray>("json");
        auto row = [](const char *name, const char *source, const char *json) {
            QTest::newRow(name) << QByteArray(source) << QByteArray(json);
        };
        row("find plain and pattern", "return {('a.b'):find('.', 1, true), ('hello'):find('l+')}",
            "[[2,3,4]]");
        row("find with captures and init", "return {('key=val'):find('(%w+)=(%w+)', 2)}",
            "[[2,7,\"ey\",\"val\"]]");
        row("find past the end", "return ('abc'):find('x', 10) == nil", "[true]");
        row("match anchors, sets, classes",
            "return {('a-z'):match('[%-z]+'), ('  x12'):match('^%s*(%a)(%d+)$')}",
            "[[\"-z\",\"x\",\"12\"]]");
        row("position captures and back-references", "return {('abcabc'):match('()(abc)%2()')}",
            "[[1,\"abc\",7]]");
        row("balance and frontier",
            "return {('f(a(b)c)d'):match('%b()'), ('THE (quick) fox'):find('%f[%a]%a+', 5)}",
            "[[\"(a(b)c)\",6,10]]");
        row("lazy and optional", "return {('<a><b>'):match('<(.-)>'), ('color'):match('colou?r')}",
            "[[\"a\",\"color\"]]");
        row("gmatch with empty matches",
            "local r = {} for w in ('one two'):gmatch('%a*') do r[#r + 1] = w end return r",
            "[[\"one\",\"two\"]]");
        row("gsub with string, table and function",
            "local a = ('hello world'):gsub('o', '[%0]')\n"
            "local b = ('$x $y'):gsub('%$(%w+)', {x = 1})\n"
            "local c, n = ('abc'):gsub('%w', function(c) return c:upper() end, 2)\n"
            "return {a, b, c, n}",
            "[[\"hell[o] w[o]rld\",\"1 $y\",\"ABc\",2]]");
        row("errors keep their messages",
            "return {select(2, pcall(string.find, 'a', '%')), "
            "select(2, pcall(string.gsub, 'a', 'a', '%2'))}",
            "[[\"malformed pattern (ends with '%')\",\"invalid capture index %2\"]]");
    }
    void patternFunctionsBehaveAsLuas() { verifyResultOfRow(); }

    void catastrophicPatternsTimeOut_data()
    {
        QTest::addColumn<QByteArray>("call");
        QTest::newRow("find") << QByteArray("string.find(s, p)");
        QTest::newRow("match") << QByteArray("s:match(p)");
        QTest::newRow("gmatch") << QByteArray("for x in s:gmatch(p) do end");
        QTest::newRow("gsub") << QByteArray("s:gsub(p, '')");
    }
    void catastrophicPatternsTimeOut()
    {
        QFETCH(QByteArray, call);
        const TaskSnapshot t = runToEnd("-- @timeout 300ms\n"
                                        "local s, p = ('a'):rep(40), ('a*'):rep(40) .. 'b'\n" +
                                        call + "\n");
        QCOMPARE(t.state, TaskState::TimedOut);
        QVERIFY(t.finishedAtMs - t.startedAtMs < 10000);
    }

    void logAndPrintAppendLines()
    {
        const TaskSnapshot t = runToEnd("log('a', 1, nil, true)\nprint('b', 2)\nlog()\n");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(m_lastLog, QStringList({"a 1 nil true", "b\t2", ""}));
    }

    void progressSetsFractionAndMessage()
    {
        const TaskSnapshot t = runToEnd("progress(0.25, 'quarter')\nprogress(2)\n"
                                        "progress(0.75, 'most')\n");
        QCOMPARE(t.progress, 0.75);
        QCOMPARE(t.status, QStringLiteral("most"));
    }

    void taskTableDescribesTheTask()
    {
        ScriptDir dir;
        Engine engine;
        TaskSpec spec = dir.spec("info.lua", "-- @name info\n-- @arg city=Oslo\n"
                                             "return {task.id, task.name, task.args.city, "
                                             "task.attempt}");
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Succeeded);
        const QJsonArray r = engine.task(id)->result.toArray();
        QCOMPARE(r.at(0).toInteger(), qint64(id));
        QCOMPARE(r.at(1).toString(), QStringLiteral("info"));
        QCOMPARE(r.at(2).toString(), QStringLiteral("Oslo"));
        QCOMPARE(r.at(3).toInt(), 1);
    }

    void taskTableIsReadOnlyAndArgsAreStable()
    {
        const TaskSnapshot t =
            runToEnd("-- @arg a=1\n"
                     "local same = task.args == task.args\n"
                     "local ok, err = pcall(function() task.id = 5 end)\n"
                     "return {same, ok, err:find('read%-only') ~= nil, task.args.a}");
        QCOMPARE(t.result.toArray(), QJsonArray({true, false, true, "1"}));
    }

    void errorFailsWithMessageAndTraceback()
    {
        const TaskSnapshot t = runToEnd("local function inner()\n  error('boom')\nend\n"
                                        "local function outer() inner() end\n"
                                        "outer()\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.endsWith("t.lua:2: boom"), qPrintable(t.error));
        QVERIFY(t.stack);
        const QList<StackFrame> &f = t.stack->frames;
        QCOMPARE(f.size(), 3);
        QCOMPARE(f[0].line, 2);
        QCOMPARE(f[0].function, QStringLiteral("inner"));
        QCOMPARE(f[1].line, 4);
        QCOMPARE(f[1].function, QStringLiteral("outer"));
        QCOMPARE(f[2].line, 5);
        QCOMPARE(f[2].function, QStringLiteral("main chunk"));
        QVERIFY(f[0].file.endsWith("/t.lua"));
    }

    void runtimeFaultFailsWithFileAndLine()
    {
        const TaskSnapshot t = runToEnd("local x\n\nreturn x.field\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains("t.lua:3: attempt to index"), qPrintable(t.error));
    }

    void errorWithATableValueIsDescribed()
    {
        const TaskSnapshot t =
            runToEnd("error(setmetatable({}, {__tostring = function() return 'custom' end}))");
        QCOMPARE(t.error, QStringLiteral("custom"));
    }

    void syntaxErrorIsAnOrdinaryFailure()
    {
        const TaskSnapshot t = runToEnd("local x = 1\nif x then\n  print('oops'\nend\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains("t.lua:4:"), qPrintable(t.error));
        QCOMPARE(t.stack->frames.value(0).line, 4);
    }

    void shebangLineIsSkippedKeepingLineNumbers()
    {
        const TaskSnapshot t = runToEnd("#!/usr/bin/env taskdeck\nlocal a = 1\nerror('x')\n");
        QVERIFY2(t.error.contains("t.lua:3: x"), qPrintable(t.error));
    }

    void stackOverflowIsAnOrdinaryFailure()
    {
        const TaskSnapshot t = runToEnd("local function f(n) return 1 + f(n + 1) end\n"
                                        "return f(1)\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains("stack overflow"), qPrintable(t.error));
        // The deep middle is elided; `return f(1)` adds the main chunk's tail-call frame.
        QVERIFY(t.stack->frames.size() <= 23);
        QCOMPARE(t.stack->frames.last().function, QStringLiteral("main chunk (tail call)"));
    }

    void memoryCapFailsThatTaskOnly()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId hog =
            engine.submit(dir.spec("hog.lua", "-- @memory 2MiB\nlocal t = {}\n"
                                              "for i = 1, 1e7 do t[i] = ('x'):rep(64) .. i end\n"));
        const TaskId fine = engine.submit(dir.spec("fine.lua", "sleep(0.2) return 'fine'"));
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, hog), TaskState::Failed, 10000);
        QVERIFY2(engine.task(hog)->error.startsWith("memory limit exceeded"),
                 qPrintable(engine.task(hog)->error));
        QTRY_COMPARE(stateOf(engine, fine), TaskState::Succeeded);
    }

    // A cap under 1 KiB (only possible through the API: @memory starts at 64KiB) once
    // read "memory limit exceeded (0 KiB)".
    void memoryLimitMessageGivesSmallCapsInBytes()
    {
        ScriptDir dir;
        Engine engine;
        TaskSpec tiny = dir.spec("tiny.lua", "local t = {} for i = 1, 1e6 do t[i] = i end\n");
        tiny.memoryBytes = 100;
        TaskSpec kib = dir.spec("kib.lua", "local t = {} for i = 1, 1e7 do t[i] = i end\n");
        kib.memoryBytes = 256 * 1024;
        const TaskId a = engine.submit(tiny);
        const TaskId b = engine.submit(kib);
        QTRY_VERIFY_WITH_TIMEOUT(isFinished(stateOf(engine, a)), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(isFinished(stateOf(engine, b)), 10000);
        QCOMPARE(engine.task(a)->error, QStringLiteral("memory limit exceeded (100 bytes)"));
        QCOMPARE(engine.task(b)->error, QStringLiteral("memory limit exceeded (256 KiB)"));
    }

    void defaultMemoryCapStopsARunawayTask()
    {
        Engine::Options options;
        options.defaultMemoryLimit = 16 << 20;
        const TaskSnapshot t =
            runToEnd("local t = {}\nwhile true do t[#t + 1] = {} end\n", options);
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY(t.error.startsWith("memory limit exceeded"));
    }

    // Issue 15: a spawned child gets its Lua thread when it first runs, outside the
    // spawn() call; children with no room left for theirs under the cap end the task as
    // failed (memory limit exceeded) instead of taking the process down.
    void childrenWithNoRoomForTheirThreadsFailTheTask()
    {
        const TaskSnapshot t = runToEnd("-- @memory 1MiB\nlocal hs = {}\n"
                                        "local function nap() sleep(1) end\n"
                                        "for i = 1, 2000 do hs[i] = spawn(nap) end\n"
                                        "gather(hs)\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.startsWith("memory limit exceeded"), qPrintable(t.error));
    }

    void waitingInsidePlainCoroutineRaisesClearError()
    {
        const TaskSnapshot t = runToEnd("local co = coroutine.wrap(function() sleep(1) end)\n"
                                        "co()\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains("plain coroutine"), qPrintable(t.error));
    }

    void plainCoroutinesStillWork()
    {
        const TaskSnapshot t = runToEnd("local gen = coroutine.wrap(function()\n"
                                        "  for i = 1, 3 do coroutine.yield(i) end end)\n"
                                        "return gen() + gen() + gen()\n");
        QCOMPARE(t.result.toInt(), 6);
    }

    void globalsAreNotSharedBetweenTasks()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.workerThreads = 1, .maxRunning = 1});
        const TaskId first = engine.submit(dir.spec("a.lua", "leaked = 'yes'; _G.also = 1\n"
                                                             "return leaked"));
        const TaskId second = engine.submit(dir.spec("b.lua", "return {leaked, also}"));
        QTRY_COMPARE(stateOf(engine, second), TaskState::Succeeded);
        QCOMPARE(engine.task(first)->result.toString(), QStringLiteral("yes"));
        QCOMPARE(engine.task(second)->result.toArray(), QJsonArray());
    }

    void exitingTheApplicationIsRefused()
    {
        const TaskSnapshot t = runToEnd("os.exit(3)");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY(t.error.contains("os.exit is not available"));
    }

    void sleepingTasksHoldNoWorkerThread()
    {
        // 200 tasks sleeping 1 s on a single worker: if a sleep held the worker this would
        // take 200 s; suspended coroutines let them all sleep at once.
        ScriptDir dir;
        Engine engine(
            Engine::Options{.workerThreads = 1, .maxRunning = 200, .publishIntervalMs = 20});
        engine.submit(dir.spec("nap.lua", "sleep(1) return 1"), 200);
        QTRY_COMPARE_WITH_TIMEOUT(engine.counts().running, 200, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(engine.counts().succeeded, 200, 20000);
    }

    void sleepZeroYieldsAndNegativeSleepsDoNotWait()
    {
        const TaskSnapshot t = runToEnd("sleep(0) sleep(-5) coroutine.yield() return 'ok'");
        QCOMPARE(t.result.toString(), QStringLiteral("ok"));
    }

    // sleep(math.huge) and sleep(1e300) wait until cancelled (here: the main chunk ending
    // cancels them); NaN is refused; a NaN wait timeout too; a huge I/O timeout is refused.
    void sleepAndTimeoutsOfAbsurdLengthAreHandled()
    {
        const TaskSnapshot t = runToEnd(
            "local a = spawn(sleep, math.huge)\n"
            "local b = spawn(sleep, 1e300)\n"
            "sleep(0.01)\n"
            "local okn, en = pcall(sleep, 0/0)\n"
            "local okw, ew = pcall(wait_for, function() sleep(0.01) end, 0/0)\n"
            "local okx, ex = pcall(exec, 'true', {timeout = 1e300})\n"
            "local oki, ei = pcall(exec, 'true', {timeout = math.huge})\n"
            "return {a:done(), b:done(), okn, okw, tostring(ew), okx, tostring(ex), oki}\n");
        QCOMPARE(t.state, TaskState::Succeeded);
        const QJsonArray r = t.result.toArray();
        QCOMPARE(r.size(), 8);
        QCOMPARE(r[0].toBool(), false);
        QCOMPARE(r[1].toBool(), false);
        QCOMPARE(r[2].toBool(), false);
        QCOMPARE(r[3].toBool(), false);
        QVERIFY2(r[4].toString().contains("not a number"), qPrintable(r[4].toString()));
        QCOMPARE(r[5].toBool(), false);
        QVERIFY2(r[6].toString().contains("at most 365 days"), qPrintable(r[6].toString()));
        QCOMPARE(r[7].toBool(), false);
    }

    void sleepRejectsNonNumbers()
    {
        const TaskSnapshot t = runToEnd("sleep('soon')");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains("bad argument #1 to 'sleep'"), qPrintable(t.error));
    }

    void liveStackShowsWhereTheTaskWaits()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec("w.lua", "local function nap()\n"
                                                          "  sleep(30)\nend\nnap()\n"));
        QTRY_VERIFY(isSuspended(engine, id));
        const auto stack = engine.liveStack(id);
        QCOMPARE(stack->awaiting, QStringLiteral("sleep(30)"));
        QCOMPARE(stack->frames.size(), 2);
        QCOMPARE(stack->frames[0].function, QStringLiteral("nap"));
        QCOMPARE(stack->frames[0].line, 2);
        QCOMPARE(stack->frames[1].function, QStringLiteral("main chunk"));
        engine.cancel(id);
    }

    void logOfACpuBoundTaskArrivesWhileItRuns()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec("busy.lua", "log('working')\n"
                                                             "while true do end\n"));
        QTRY_COMPARE(engine.log(id), QStringList{"working"});
        QCOMPARE(stateOf(engine, id), TaskState::Running);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    void floodOfLogLinesIsBounded()
    {
        const TaskSnapshot t = runToEnd("for i = 1, 200000 do log('line', i) end return 1");
        QCOMPARE(t.state, TaskState::Succeeded);
        QVERIFY(m_lastLog.size() < 5000);
        QCOMPARE(m_lastLog.first(), QStringLiteral("line 1"));
        QStringList own = m_lastLog;
        own.removeIf([](const QString &l) { return l.startsWith("[taskdeck: coroutine"); });
        QCOMPARE(own.last(), QStringLiteral("line 200000"));
        QVERIFY(m_lastLog.join('\n').contains("omitted"));
    }
};

QTEST_GUILESS_MAIN(tst_LuaTask)
#include "tst_luatask.moc"
