// The coroutine toolkit of SPEC section 2, each call against the behaviour of its
// asyncio counterpart (modelled on CPython's test_tasks, test_queues, test_locks), the
// cancellation rules, and the shapes of live stacks.
#include "testsupport.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

class tst_LuaCoroutines : public QObject
{
    Q_OBJECT

private:
    TaskSnapshot runToEnd(const QByteArray &source, Engine::Options options = {})
    {
        ScriptDir dir;
        Engine engine(options);
        const TaskId id = engine.submit(dir.spec("t.lua", source));
        [&] { QTRY_VERIFY_WITH_TIMEOUT(isFinished(stateOf(engine, id)), 20000); }();
        m_log = engine.log(id);
        return *engine.task(id);
    }
    static QByteArray json(const QJsonValue &v)
    {
        return QJsonDocument(QJsonArray{v}).toJson(QJsonDocument::Compact);
    }
    QStringList m_log;

private Q_SLOTS:
    // The toolkit written in Lua (gather, wait, Queue, Lock...) is prelude.lua, compiled in
    // as a Qt resource; the C primitives the libraries hand it stay out of tasks' reach.
    void toolkitIsThePreludeResourceOnHiddenPrimitives()
    {
        QFile prelude(QStringLiteral(":/taskdeck/prelude.lua"));
        QVERIFY(prelude.open(QIODevice::ReadOnly));
        const QByteArray text = prelude.readAll();
        for (const char *definition : {"function gather(", "function wait_for(", "function Queue(",
                                       "function Lock(", "function Semaphore(", "function Event("})
            QVERIFY2(text.contains(definition), definition);
        const TaskSnapshot t = runToEnd(
            "local seen = {}\n"
            "for _, name in ipairs({'gather', 'gather_settled', 'wait', 'wait_for', 'shield',\n"
            "    'Queue', 'Lock', 'Semaphore', 'Event', 'spawn', 'sleep', 'exec', 'log',\n"
            "    'progress', 'is_cancelled', 'is_timeout', 'suspend', 'wake', 'current',\n"
            "    'waitgroup', 'outcome', 'is_handle', 'engine', 'timeout_error'}) do\n"
            "  seen[#seen + 1] = type(_ENV[name])\n"
            "end\n"
            "return seen, type(http.get), type(task), getmetatable(spawn(sleep, 0))");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(json(t.result),
                 QByteArray("[[[\"function\",\"function\",\"function\",\"function\","
                            "\"function\",\"function\",\"function\",\"function\","
                            "\"function\",\"function\",\"function\",\"function\","
                            "\"function\",\"function\",\"function\",\"function\",\"nil\","
                            "\"nil\",\"nil\",\"nil\",\"nil\",\"nil\",\"nil\",\"nil\"],"
                            "\"function\",\"userdata\",\"handle\"]]"));
    }

    // Each row: a script whose result shows one behaviour, and that result as JSON.
    void behavesAsAsyncio_data()
    {
        QTest::addColumn<QByteArray>("source");
        QTest::addColumn<QByteArray>("expected");
        auto row = [](const char *name, const char *source, const char *expected) {
            QTest::newRow(name) << QByteArray(source) << QByteArray(expected);
        };
        // spawn and handles (create_task, Task.*)
        row("spawn runs later, wait returns all results",
            "local order = {}\n"
            "local h = spawn(function(a, b) order[#order+1] = 'child' return a + b, 'x' end, 2, "
            "3)\n"
            "order[#order+1] = 'parent'\n"
            "local s, x = h:wait()\n"
            "return {order, s, x, h:done(), h:cancelled()}",
            "[[[\"parent\",\"child\"],5,\"x\",true,false]]");
        row("wait re-raises the child's error",
            "local h = spawn(function() error('boom', 0) end)\n"
            "local ok, err = pcall(h.wait, h)\n"
            "return {ok, err}",
            "[[false,\"boom\"]]");
        row("cancel before start: never runs",
            "local ran = false\n"
            "local h = spawn(function() ran = true end)\n"
            "local cancelled_now = h:cancel()\n"
            "local ok, err = pcall(h.wait, h)\n"
            "return {cancelled_now, ran, h:cancelled(), is_cancelled(err)}",
            "[[true,false,true,true]]");
        row("cancel of a finished handle returns false",
            "local h = spawn(function() return 1 end)\n"
            "h:wait()\n"
            "return {h:cancel(), h:cancelled()}",
            "[[false,false]]");
        row("cancel delivered at the suspension point, pcall cleanup may wait",
            "local steps = {}\n"
            "local h = spawn(function()\n"
            "  local ok, err = pcall(sleep, 10)\n"
            "  steps[#steps+1] = is_cancelled(err)\n"
            "  sleep(0.01)\n"
            "  steps[#steps+1] = 'cleaned'\n"
            "  return 'swallowed'\n"
            "end)\n"
            "sleep(0.01)\n"
            "h:cancel()\n"
            "return {h:wait(), steps, h:cancelled()}",
            "[[\"swallowed\",[true,\"cleaned\"],false]]");
        row("cancelling a coroutine cancels its children",
            "local inner\n"
            "local outer = spawn(function()\n"
            "  inner = spawn(function() sleep(10) end)\n"
            "  sleep(10)\n"
            "end)\n"
            "sleep(0.01)\n"
            "outer:cancel()\n"
            "pcall(outer.wait, outer)\n"
            "pcall(inner.wait, inner)\n"
            "return {outer:cancelled(), inner:cancelled()}",
            "[[true,true]]");
        row("a coroutine cannot wait for itself",
            "local h\n"
            "h = spawn(function() sleep(0) return pcall(h.wait, h) end)\n"
            "local ok, err = h:wait()\n"
            "return {ok, err:find('cannot wait for itself') ~= nil}",
            "[[false,true]]");
        // gather
        row("gather returns first values in order",
            "local hs = {}\n"
            "for i = 1, 5 do hs[i] = spawn(function() sleep((6 - i) / 1000) return i * 10, "
            "'ignored' end) end\n"
            "return gather(hs)",
            "[[10,20,30,40,50]]");
        row("gather takes handles as arguments too",
            "return gather(spawn(function() return 'a' end), spawn(function() return 'b' end))",
            "[[\"a\",\"b\"]]");
        row("gather of nothing is empty", "return gather({})", "[[]]");
        row("gather: first error cancels the rest and is raised",
            "local slow = spawn(function() sleep(10) return 'late' end)\n"
            "local bad = spawn(function() sleep(0.01) error('first', 0) end)\n"
            "local ok, err = pcall(gather, {slow, bad})\n"
            "pcall(slow.wait, slow)\n"
            "return {ok, err, slow:cancelled()}",
            "[[false,\"first\",true]]");
        row("gather names an item that is not a handle",
            "local ok, err = pcall(gather, {spawn(sleep, 0), 42})\n"
            "return err:find('gather: item 2 is not a handle') ~= nil",
            "[true]");
        row("gather_settled returns every outcome",
            "local r = gather_settled({spawn(function() error('no', 0) end),"
            " spawn(function() return 3 end)})\n"
            "return {r[1].ok, r[1].error, r[2].ok, r[2].value}",
            "[[false,\"no\",true,3]]");
        // wait
        row("wait all returns done and nothing pending",
            "local done, pending = wait({spawn(sleep, 0.01), spawn(sleep, 0.02)})\n"
            "return {#done, #pending}",
            "[[2,0]]");
        row("wait first returns as soon as one is done and cancels nothing",
            "local fast, slow = spawn(sleep, 0.01), spawn(sleep, 10)\n"
            "local done, pending = wait({slow, fast}, {mode = 'first'})\n"
            "local r = {#done, #pending, done[1] == fast, slow:done()}\n"
            "slow:cancel()\n"
            "return r",
            "[[1,1,true,false]]");
        row("wait first_error returns at the first failure",
            "local bad = spawn(function() sleep(0.01) error('x') end)\n"
            "local slow = spawn(sleep, 10)\n"
            "local done, pending = wait({bad, slow}, {mode = 'first_error'})\n"
            "slow:cancel()\n"
            "return {#done, #pending, done[1] == bad}",
            "[[1,1,true]]");
        row("wait with timeout returns what is done and never cancels",
            "local slow = spawn(sleep, 10)\n"
            "local done, pending = wait({slow}, {timeout = 0.02})\n"
            "local r = {#done, #pending, slow:done()}\n"
            "slow:cancel()\n"
            "return r",
            "[[0,1,false]]");
        row("wait rejects an unknown mode",
            "local ok, err = pcall(wait, {}, {mode = 'some'})\n"
            "return {ok, err:find('mode must be') ~= nil}",
            "[[false,true]]");
        // wait_for and shield
        row("wait_for returns the result in time",
            "return wait_for(function(x) sleep(0.01) return x end, 1, 'ok')", "[\"ok\"]");
        row("wait_for on expiry cancels the target and raises a timeout",
            "local h = spawn(function() sleep(10) end)\n"
            "local ok, err = pcall(wait_for, h, 0.02)\n"
            "return {ok, is_timeout(err), is_cancelled(err), h:cancelled()}",
            "[[false,true,false,true]]");
        row("wait_for waits for the target's cleanup",
            "local cleaned = false\n"
            "local h = spawn(function()\n"
            "  local ok = pcall(sleep, 10)\n"
            "  sleep(0.02) cleaned = true\n"
            "  error('cancelled cleanly', 0)\n"
            "end)\n"
            "pcall(wait_for, h, 0.01)\n"
            "return cleaned",
            "[true]");
        row("shield: cancelling the waiter does not cancel the shielded",
            "local inner = spawn(function() sleep(0.05) return 'kept' end)\n"
            "local waiter = spawn(function() return shield(inner) end)\n"
            "sleep(0.01)\n"
            "waiter:cancel()\n"
            "local ok, err = pcall(waiter.wait, waiter)\n"
            "return {is_cancelled(err), inner:wait(), inner:cancelled()}",
            "[[true,\"kept\",false]]");
        // Queue
        row("queue is FIFO with put and get",
            "local q = Queue()\n"
            "for i = 1, 3 do q:put(i) end\n"
            "return {q:size(), q:get(), q:get(), q:get(), q:empty()}",
            "[[3,1,2,3,true]]");
        row("bounded queue blocks put until a get",
            "local q = Queue(1)\n"
            "local log = {}\n"
            "local p = spawn(function() q:put('a') log[#log+1] = 'put a' q:put('b') log[#log+1] = "
            "'put b' end)\n"
            "sleep(0.01)\n"
            "log[#log+1] = 'full ' .. tostring(q:full())\n"
            "log[#log+1] = 'got ' .. q:get()\n"
            "p:wait()\n"
            "return log",
            "[[\"put a\",\"full true\",\"got a\",\"put b\"]]");
        row("get waits for a put",
            "local q = Queue()\n"
            "local g = spawn(function() return q:get() end)\n"
            "sleep(0.01)\n"
            "q:put('late')\n"
            "return g:wait()",
            "[\"late\"]");
        row("nowait forms raise clear errors",
            "local q = Queue(1)\n"
            "q:put_nowait(1)\n"
            "local ok1, e1 = pcall(q.put_nowait, q, 2)\n"
            "q:get_nowait()\n"
            "local ok2, e2 = pcall(q.get_nowait, q)\n"
            "return {ok1, e1:find('queue is full') ~= nil, ok2, e2:find('queue is empty') ~= nil}",
            "[[false,true,false,true]]");
        row("join waits until every item is task_done",
            "local q = Queue()\n"
            "local seen = {}\n"
            "for i = 1, 3 do q:put(i) end\n"
            "spawn(function() while true do local v = q:get() sleep(0.005) seen[#seen+1] = v "
            "q:task_done() end end)\n"
            "q:join()\n"
            "return seen",
            "[[1,2,3]]");
        row("task_done too often raises",
            "local q = Queue()\n"
            "local ok, err = pcall(q.task_done, q)\n"
            "return {ok, err:find('more times') ~= nil}",
            "[[false,true]]");
        row("a cancelled getter passes its wake-up on",
            "local q = Queue()\n"
            "local a = spawn(function() return q:get() end)\n"
            "local b = spawn(function() return q:get() end)\n"
            "sleep(0.01)\n"
            "q:put('x')\n"
            "a:cancel()\n"
            "return {b:wait(), a:cancelled()}",
            "[[\"x\",true]]");
        // Lock, Semaphore, Event
        row("lock serialises critical sections in FIFO order",
            "local lock, trace = Lock(), {}\n"
            "local function w(n) lock:with(function() trace[#trace+1] = n sleep(0.005) "
            "trace[#trace+1] = n end) end\n"
            "gather(spawn(w, 1), spawn(w, 2), spawn(w, 3))\n"
            "return {trace, lock:locked()}",
            "[[[1,1,2,2,3,3],false]]");
        row("lock release when not held raises",
            "local ok, err = pcall(Lock().release, Lock())\n"
            "return {ok, err:find('not held') ~= nil}",
            "[[false,true]]");
        row("with releases on error",
            "local lock = Lock()\n"
            "local ok = pcall(lock.with, lock, function() error('inside') end)\n"
            "return {ok, lock:locked()}",
            "[[false,false]]");
        row("a waiter cancelled after the hand-over passes the lock on",
            "local lock = Lock()\n"
            "lock:acquire()\n"
            "local a = spawn(function() lock:acquire() return 'a' end)\n"
            "local b = spawn(function() lock:acquire() lock:release() return 'b' end)\n"
            "sleep(0.01)\n"
            "lock:release()\n"
            "a:cancel()\n"
            "return {b:wait(), a:cancelled(), lock:locked()}",
            "[[\"b\",true,false]]");
        row("semaphore bounds concurrency",
            "local sem, running, peak = Semaphore(2), 0, 0\n"
            "local hs = {}\n"
            "for i = 1, 6 do hs[i] = spawn(function() sem:with(function()\n"
            "  running = running + 1 peak = math.max(peak, running) sleep(0.005) running = running "
            "- 1 end) end) end\n"
            "gather(hs)\n"
            "return {peak, sem:value()}",
            "[[2,2]]");
        row("semaphore rejects a negative value",
            "local ok, err = pcall(Semaphore, -1)\n"
            "return ok",
            "[false]");
        row("event wakes every waiter, clear resets it",
            "local ev = Event()\n"
            "local hs = {}\n"
            "for i = 1, 3 do hs[i] = spawn(function() ev:wait() return i end) end\n"
            "sleep(0.01)\n"
            "local before = ev:is_set()\n"
            "ev:set()\n"
            "local r = gather(hs)\n"
            "ev:clear()\n"
            "return {before, r, ev:is_set()}",
            "[[false,[1,2,3],false]]");
        // waiting where it cannot
        row("waiting inside a plain coroutine raises a clear error",
            "local co = coroutine.wrap(function() return pcall(Lock().acquire, Lock()) end)\n"
            "local ok = pcall(function() coroutine.wrap(function() Queue():get() end)() end)\n"
            "return ok",
            "[false]");
        row("spawn from a plain coroutine works",
            "local h = coroutine.wrap(function() return spawn(function() return 42 end) end)()\n"
            "return h:wait()",
            "[42]");
        row("main ending cancels its children, which clean up",
            "local flag = Event()\n"
            "spawn(function() local ok, err = pcall(sleep, 10) log('child cleanup', "
            "is_cancelled(err)) end)\n"
            "sleep(0.01)\n"
            "return 'main done'",
            "[\"main done\"]");
    }
    void behavesAsAsyncio()
    {
        QFETCH(QByteArray, source);
        QFETCH(QByteArray, expected);
        const TaskSnapshot t = runToEnd(source);
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(json(t.result), expected);
    }

    void mainEndingWaitsForCancelledChildrenCleanup()
    {
        const TaskSnapshot t =
            runToEnd("spawn(function() local ok, err = pcall(sleep, 10)\n"
                     "  sleep(0.02) log('child cleaned up', is_cancelled(err)) end)\n"
                     "sleep(0.01)\nreturn 'main done'\n");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(m_log, QStringList{"child cleaned up true"});
    }

    void cancellingTheTaskReachesEveryCoroutine()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec(
            "tree.lua",
            "local hs = {}\n"
            "for i = 1, 3 do hs[i] = spawn(function()\n"
            "  local ok, err = pcall(sleep, 30) log('child', i, is_cancelled(err)) end) end\n"
            "gather(hs)\n"));
        auto allAsleep = [&] {
            const auto stack = engine.liveStack(id);
            if (!stack)
                return false;
            int asleep = 0; // identical children show as one node with their count
            for (const CoroutineStack &c : stack->children) {
                if (c.awaiting != u"sleep(30)")
                    return false;
                asleep += c.count;
            }
            return asleep == 3;
        };
        QTRY_VERIFY(allAsleep());
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 5000);
        QStringList log = engine.log(id);
        log.sort();
        QCOMPARE(log, QStringList({"child 1 true", "child 2 true", "child 3 true"}));
    }

    void childSwallowingCancellationIsStoppedAfterGrace()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.gracePeriodMs = 300});
        const TaskId id = engine.submit(
            dir.spec("stubborn.lua", "spawn(function() while true do pcall(sleep, 10) end end)\n"
                                     "sleep(30)\n"));
        QTRY_VERIFY(engine.liveStack(id) && engine.liveStack(id)->children.size() == 1 &&
                    engine.liveStack(id)->children[0].awaiting == u"sleep(10)");
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 5000);
    }

    void unawaitedChildFailureIsLogged()
    {
        const TaskSnapshot t = runToEnd("spawn(function() error('lost', 0) end)\nsleep(0.01)\n");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(m_log.size(), 2); // the error, then where it was raised (SPEC section 9)
        QVERIFY2(m_log[0].contains("lost"), qPrintable(m_log.join('\n')));
    }

    // ---- stack shapes ----

    void stackShowsNestedFunctionsInnermostFirst()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec("s.lua", "local function c() sleep(30) end\n"
                                                          "local function b() c() end\n"
                                                          "local function a() b() end\n"
                                                          "a()\n"));
        QTRY_VERIFY(isSuspended(engine, id));
        const auto stack = engine.liveStack(id);
        QStringList functions;
        for (const StackFrame &f : stack->frames)
            functions << QStringLiteral("%1:%2").arg(f.function).arg(f.line);
        QCOMPARE(functions, QStringList({"c:1", "b:2", "a:3", "main chunk:4"}));
        QCOMPARE(stack->awaiting, QStringLiteral("sleep(30)"));
        QVERIFY(stack->awaitingSinceMs > 0);
        engine.cancel(id);
    }

    void stackShowsChildrenAndWhatEachAwaits_data()
    {
        QTest::addColumn<QByteArray>("child");
        QTest::addColumn<QString>("awaiting");
        QTest::newRow("sleep") << QByteArray("sleep(7)") << "sleep(7)";
        QTest::newRow("queue get") << QByteArray("Queue():get()") << "Queue:get";
        QTest::newRow("lock") << QByteArray("L:acquire()") << "Lock:acquire";
        QTest::newRow("semaphore") << QByteArray("S:acquire()") << "Semaphore:acquire";
        QTest::newRow("event") << QByteArray("Event():wait()") << "Event:wait";
        QTest::newRow("child") << QByteArray("spawn(function() sleep(30) end):wait()")
                               << "child #3";
        QTest::newRow("gather") << QByteArray("gather(spawn(sleep, 30), spawn(sleep, 30))")
                                << "gather (2 pending)";
    }
    void stackShowsChildrenAndWhatEachAwaits()
    {
        QFETCH(QByteArray, child);
        QFETCH(QString, awaiting);
        ScriptDir dir;
        Engine engine;
        const TaskId id =
            engine.submit(dir.spec("s.lua", "-- @deadlock warn\n" // most rows never end
                                            "L = Lock() L:acquire() S = Semaphore(0)\n"
                                            "local h = spawn(function()\n  " +
                                                child +
                                                "\nend)\n"
                                                "h:wait()\n"));
        QTRY_VERIFY(engine.liveStack(id) && !engine.liveStack(id)->children.isEmpty() &&
                    !engine.liveStack(id)->children[0].awaiting.isEmpty());
        const auto stack = engine.liveStack(id);
        QCOMPARE(stack->awaiting, QStringLiteral("child #2"));
        const CoroutineStack &c = stack->children[0];
        QCOMPARE(c.id, 2);
        QCOMPARE(c.awaiting.section(QStringLiteral(" — "), 0, 0), awaiting); // and who holds it
        QCOMPARE(c.frames.value(0).line, 4);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    void endedTaskKeepsTheStackWhereItFailed()
    {
        const TaskSnapshot t = runToEnd("local h = spawn(function() sleep(30) end)\n"
                                        "sleep(0.01)\nerror('main failed', 0)\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY(t.stack);
        QCOMPARE(t.stack->frames.value(0).line, 3);
        QCOMPARE(t.stack->children.size(), 1);
        QCOMPARE(t.stack->children[0].awaiting, QStringLiteral("sleep(30)"));
    }

    void codeThatDoesNotWaitIsFlaggedAsBlocking()
    {
        ScriptDir dir;
        Engine engine;
        // It spins until the test opens the gate: the blocking state lasts as long as the
        // test needs to see it, however loaded the machine.
        const QString gate = dir.path() + "/gate";
        const TaskId id =
            engine.submit(dir.spec("busy.lua", "log('go')\nlocal gate = '" + gate.toUtf8() +
                                                   "'\n"
                                                   "while not io.open(gate) do end\nreturn 1\n"));
        // One sample, kept: the stack is read where it was seen blocking.
        std::shared_ptr<const CoroutineStack> stack;
        QVERIFY(QTest::qWaitFor(
            [&] {
                stack = engine.liveStack(id);
                return stack && stack->awaiting.startsWith("nothing: blocking");
            },
            10000));
        QCOMPARE(stack->frames.value(0).line, 3);
        QVERIFY(QFile(gate).open(QIODevice::WriteOnly));
        QTRY_COMPARE(stateOf(engine, id), TaskState::Succeeded);
        const QStringList log = engine.log(id);
        QCOMPARE(log.size(), 2);
        QVERIFY2(log[1].contains("without waiting") && log[1].contains("busy.lua:3"),
                 qPrintable(log[1]));
    }

    // Issue 15: a child gets a Lua thread when it first runs and gives it back when it
    // ends, so 20,000 children that ended cost their handles only, not a thread each
    // (~1 KiB: a handle holding its thread made this ~1.4 KiB a child).
    void childrenThatEndedHoldNoThreadEach()
    {
        const TaskSnapshot t =
            runToEnd("collectgarbage() collectgarbage()\n"
                     "local before = collectgarbage('count')\n"
                     "local hs = {}\n"
                     "for i = 1, 20000 do hs[i] = spawn(function(x) return x end, i) end\n"
                     "local r = gather(hs)\n"
                     "collectgarbage() collectgarbage()\n"
                     "local per = (collectgarbage('count') - before) * 1024 / 20000\n"
                     "return per < 700 or per, #r, r[20000]");
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(json(t.result), QByteArray("[[true,20000,20000]]"));
    }

    // A thread given back starts the next child clean: no frames, locals or to-be-closed
    // variables of the child before it (closed once, at that child's end), its own
    // arguments only.
    void aReusedThreadCarriesNothingOfTheChildBefore()
    {
        const TaskSnapshot t = runToEnd(
            "local closed = 0\n"
            "local a = spawn(function(x)\n"
            "  local secret = 'A-' .. x\n"
            "  local guard <close> = setmetatable({}, {__close = function() closed = closed + 1 "
            "end})\n"
            "  return secret\n"
            "end, 1)\n"
            "local ra = a:wait()\n"
            "local b = spawn(function(...)\n"
            "  local seen = {}\n"
            "  for level = 1, 3 do\n"
            "    for i = 1, 50 do\n"
            "      local ok, name, value = pcall(debug.getlocal, level, i)\n"
            "      if ok and name then seen[#seen + 1] = tostring(name) .. '=' .. tostring(value) "
            "end\n"
            "    end\n"
            "  end\n"
            "  local leaked = table.concat(seen, ' '):find('A%-1') ~= nil\n"
            "  return leaked, debug.getinfo(2) == nil, select('#', ...)\n"
            "end, 'b', nil, nil)\n"
            "local leaked, outermost, nargs = b:wait()\n"
            "return ra, closed, leaked, outermost, nargs");
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(json(t.result), QByteArray("[[\"A-1\",1,false,true,3]]"));
    }

    // coroutine.running() hands a child's thread to the script: that thread is never
    // given to another child.
    void aThreadAScriptHoldsIsNeverReused()
    {
        const TaskSnapshot t =
            runToEnd("local kept\n"
                     "local a = spawn(function() kept = coroutine.running() return 1 end)\n"
                     "a:wait()\n"
                     "local b = spawn(function() return (coroutine.running()) end)\n"
                     "local c = spawn(function() return 'c' end)\n"
                     "return b:wait() ~= kept, c:wait(), select('#', coroutine.running())");
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(json(t.result), QByteArray("[[true,\"c\",2]]"));
    }

    // What a child ended with stays in its handle after its thread went to another: its
    // results however many, its error, its cancellation.
    void handlesKeepResultsAndErrorsAfterTheirThreadWasReused()
    {
        const TaskSnapshot t = runToEnd(
            "local one = spawn(function() return 'one' end)\n"
            "local many = spawn(function(a) return a, 'two', 'three' end, 'x')\n"
            "local none = spawn(function() end)\n"
            "local bad = spawn(function() error('boom', 0) end)\n"
            "local rev = spawn(function(a, b, c) return c, b, a end, 1, 2, 3)\n"
            "local never = spawn(sleep, 1)\n"
            "never:cancel()\n"
            "local s = gather_settled({one, many, none, bad, rev, never})\n"
            "local _, berr = pcall(bad.wait, bad)\n"
            "local _, cerr = pcall(never.wait, never)\n"
            "return {one:wait()}, {many:wait()}, select('#', none:wait()), berr, s[4].error,\n"
            "  {rev:wait()}, s[1].value, is_cancelled(cerr), never:cancelled()");
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(json(t.result), QByteArray("[[[\"one\"],[\"x\",\"two\",\"three\"],0,\"boom\","
                                            "\"boom\",[3,2,1],\"one\",true,true]]"));
    }

    // spawn(sleep, s) sleeps as a timer, with no thread (20,000 of them cost their handles
    // only, not ~1.2 KiB a thread each), and behaves as sleep: cancelled while it sleeps, it
    // ends cancelled; a non-number still fails as sleep's argument; a negative one ends.
    void aSpawnedSleepHoldsNoThreadAndBehavesAsSleep()
    {
        const TaskSnapshot t = runToEnd(
            "collectgarbage() collectgarbage()\n"
            "local before = collectgarbage('count')\n"
            "local hs = {}\n"
            "for i = 1, 20000 do hs[i] = spawn(sleep, 0.2) end\n"
            "sleep(0.05)\n"
            "local per = (collectgarbage('count') - before) * 1024 / 20000\n"
            "local c = spawn(sleep, 30)\n"
            "local bad = spawn(sleep, 'x')\n"
            "local neg = spawn(sleep, -1)\n"
            "sleep(0)\n"
            "local shown = c:done()\n"
            "c:cancel()\n"
            "local ok, err = pcall(c.wait, c)\n"
            "local bok, berr = pcall(bad.wait, bad)\n"
            "gather(hs)\n"
            "return per < 700 or per, shown, c:cancelled(), is_cancelled(err), bok,\n"
            "  tostring(berr):find('sleep', 1, true) ~= nil, select('#', neg:wait()), #hs");
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(json(t.result), QByteArray("[[true,false,true,true,false,true,0,20000]]"));
    }

    void manyChildrenAreSummarised()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(
            dir.spec("many.lua", "for i = 1, 1000 do spawn(sleep, 30 + i) end\nsleep(30)\n"));
        QTRY_VERIFY(engine.liveStack(id) && engine.liveStack(id)->children.size() > 100);
        const auto stack = engine.liveStack(id);
        QCOMPARE(stack->children.size(), 101);
        QCOMPARE(stack->children.last().awaiting, QStringLiteral("… and 900 more coroutines"));
        engine.cancel(id);
    }
};

QTEST_GUILESS_MAIN(tst_LuaCoroutines)
#include "tst_luacoroutines.moc"
