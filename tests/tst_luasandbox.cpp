// What a hostile or careless Lua task cannot do (issue 17): break the engine's memory
// safety through metatables, the debug library or binary chunks, or change what the
// next task on the same pooled Lua host sees. Each test runs the attack, then a task on
// the same host (one worker, one task at a time), which must be unaffected.
#include "testsupport.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

class tst_LuaSandbox : public QObject
{
    Q_OBJECT

private:
    // Runs the scripts one after the other on one engine whose single worker reuses one
    // Lua host; returns their final snapshots (logs in m_logs).
    QList<TaskSnapshot> runInTurn(const QList<QByteArray> &sources)
    {
        ScriptDir dir;
        Engine::Options options;
        options.workerThreads = 1;
        options.maxRunning = 1;
        Engine engine(options);
        QList<TaskSnapshot> snapshots;
        m_logs.clear();
        int n = 0;
        for (const QByteArray &source : sources) {
            const TaskId id = engine.submit(dir.spec(QStringLiteral("t%1.lua").arg(++n), source));
            [&] { QTRY_VERIFY_WITH_TIMEOUT(isFinished(stateOf(engine, id)), 20000); }();
            snapshots.append(*engine.task(id));
            m_logs.append(engine.log(id));
        }
        return snapshots;
    }
    static QByteArray json(const QJsonValue &v)
    {
        return QJsonDocument(QJsonArray{v}).toJson(QJsonDocument::Compact);
    }
    // The attack must have failed with an error containing `error` (or succeeded when
    // `error` is empty), and the next task must return `expected` (JSON in an array).
    void verifyContained(const QByteArray &attack, const QString &error, const QByteArray &check,
                         const QByteArray &expected)
    {
        const QList<TaskSnapshot> t = runInTurn({attack, check});
        QCOMPARE(t.size(), 2);
        if (error.isEmpty()) {
            QVERIFY2(t[0].state == TaskState::Succeeded, qPrintable(t[0].error));
        } else {
            QCOMPARE(t[0].state, TaskState::Failed);
            QVERIFY2(t[0].error.contains(error), qPrintable(t[0].error));
        }
        QVERIFY2(t[1].state == TaskState::Succeeded, qPrintable(t[1].error));
        QCOMPARE(json(t[1].result), expected);
    }
    QList<QStringList> m_logs;

private Q_SLOTS:
    // ---- item 1: handles, their metatable, and the debug library ----

    void handleGcCalledWithNilIsRefused()
    {
        verifyContained("local h = spawn(function() return 1 end)\nh:wait()\n"
                        "getmetatable(h).__gc(nil)\n",
                        "t1.lua:3:", "return 1", "[1]");
    }

    void handleGcCalledTwiceIsRefused()
    {
        verifyContained("local h = spawn(function() return 1 end)\nh:wait()\n"
                        "getmetatable(h).__gc(h)\ncollectgarbage()\n",
                        "t1.lua:3:",
                        "local h = spawn(function() return 2 end)\n"
                        "return h:wait()",
                        "[2]");
    }

    void handleMetatableIsProtectedFromDebugToo()
    {
        verifyContained("local h = spawn(function() return 1 end)\nh:wait()\n"
                        "local ok = pcall(setmetatable, h, nil)\n"
                        "assert(not ok)\n"
                        "local mt = debug.getmetatable(h)\n"
                        "assert(type(mt) ~= 'table', 'the handle metatable leaked')\n"
                        "local f = io.tmpfile()\n"
                        "debug.setmetatable(f, mt)\n",
                        "debug.setmetatable", "return 1", "[1]");
    }

    void foreignUserdataIsNotAHandle()
    {
        // Whatever a script builds, a method of a handle type-checks its receiver.
        verifyContained("local h = spawn(function() return 1 end)\nh:wait()\n"
                        "local cancel = h.cancel\n"
                        "cancel(io.tmpfile())\n",
                        "handle", "return 1", "[1]");
    }

    void debugLibraryRefusesWhatBreaksMemorySafety()
    {
        const QList<TaskSnapshot> t =
            runInTurn({"local h = spawn(function() return 1 end)\nh:wait()\n"
                       "local function refused(f, ...) return (pcall(f, ...)) == false end\n"
                       "local x = 1\n"
                       "local function mine() return x end\n"
                       "local it = string.gmatch('abc', '.')\n"
                       "return {\n"
                       "  refused(debug.getregistry),\n"
                       "  refused(debug.upvaluejoin, mine, 1, mine, 1),\n"
                       "  refused(debug.setupvalue, gather, 1, 0),\n"
                       "  refused(debug.getupvalue, Lock, 1),\n"
                       "  refused(debug.setupvalue, it, 1, 'x'),\n"
                       "  refused(debug.setuservalue, h, 1),\n"
                       "  refused(debug.getuservalue, h),\n"
                       "  refused(debug.setmetatable, 1, {}),\n"
                       "  refused(debug.setmetatable, print, {}),\n"
                       "  refused(function() string.gsub('ab', '.', function()\n"
                       "    debug.setlocal(2, 1, 'other') end) end),\n"
                       "  refused(function() for i = 1, 3 do debug.setlocal(1, 1, 'x') end end),\n"
                       "  refused(debug.sethook, print, 'c'),\n"
                       "  refused(debug.debug),\n"
                       "}\n",
                       "return {1 + 1, (getmetatable('') or 0) ~= nil}"});
        QVERIFY2(t[0].state == TaskState::Succeeded, qPrintable(t[0].error));
        QCOMPARE(json(t[0].result), QByteArray("[[true,true,true,true,true,true,true,true,true,"
                                               "true,true,true,true]]"));
        QVERIFY2(t[1].state == TaskState::Succeeded, qPrintable(t[1].error));
        QCOMPARE(json(t[1].result), QByteArray("[[2,true]]"));
    }

    void debugLibraryKeepsItsHarmlessParts()
    {
        const QList<TaskSnapshot> t =
            runInTurn({"local x = 1\n"
                       "local function mine() return x end\n"
                       "local r = {}\n"
                       "r[1] = debug.traceback('tb'):find('tb') == 1\n"
                       "r[2] = debug.getinfo(1, 'l').currentline == 5\n"
                       "r[3] = select(2, debug.getupvalue(mine, 1)) == 1\n"
                       "debug.setupvalue(mine, 1, 2)\n"
                       "r[4] = mine() == 2\n"
                       "r[5] = getmetatable(debug.setmetatable({}, {__index = {a = 1}})) ~= nil\n"
                       "r[6] = select(2, debug.getlocal(1, 1)) == 2 -- x, changed through mine\n"
                       "return r\n"});
        QVERIFY2(t[0].state == TaskState::Succeeded, qPrintable(t[0].error));
        QCOMPARE(json(t[0].result), QByteArray("[[true,true,true,true,true,true]]"));
    }

    void engineCoroutinesCannotBeResumedByHand()
    {
        verifyContained("local co\n"
                        "local h = spawn(function() co = coroutine.running() sleep(0.05) "
                        "return 1 end)\n"
                        "sleep(0)\n"
                        "local ok, err = coroutine.resume(co)\n"
                        "assert(not ok and err:find('spawn'), err)\n"
                        "local ok2 = pcall(coroutine.close, co)\n"
                        "assert(not ok2)\n"
                        "return h:wait()\n",
                        {}, "return 1", "[1]");
    }

    void collectorCannotBeStoppedForTheNextTask()
    {
        verifyContained("collectgarbage('count')\ncollectgarbage('step')\n"
                        "assert(not pcall(collectgarbage, 'setpause', 1000))\n"
                        "assert(not pcall(collectgarbage, 'generational'))\n"
                        "collectgarbage('stop')\n",
                        "collectgarbage('stop')", "return collectgarbage('isrunning')", "[true]");
    }

    void processLocaleCannotBeChanged()
    {
        verifyContained("assert(os.setlocale() ~= nil)\n"
                        "os.setlocale('C')\n",
                        "os.setlocale is not available", "return tostring(0.5)", "[\"0.5\"]");
    }

    void engineStdinIsNotReadable()
    {
        verifyContained("assert(not pcall(io.read))\n"
                        "assert(not pcall(io.stdin.read, io.stdin))\n"
                        "assert(not pcall(io.lines))\n"
                        "io.input(io.tmpfile())\n"
                        "return io.read('a')\n",
                        {}, "return {pcall(io.read)}",
                        "[[false,\"default input file is closed\"]]");
    }

    void standardOutputAndErrorGoToTheTaskLog()
    {
        const QList<TaskSnapshot> t = runInTurn({
            "io.write('one\\ntwo', '\\n')\n"
            "io.stdout:write('three\\n'):write(4, '\\n')\n"
            "io.stderr:write('five')\n"
            "io.output():write('six\\n')\n"
            "io.flush()\n"
            "assert(not pcall(io.write, {}))\n"
            "local f = io.tmpfile()\nio.output(f)\nio.write('to the file')\n"
            "f:seek('set')\nreturn f:read('a')\n",
        });
        QVERIFY2(t[0].state == TaskState::Succeeded, qPrintable(t[0].error));
        QCOMPARE(json(t[0].result), QByteArray("[\"to the file\"]"));
        QCOMPARE(m_logs[0], QStringList({"one", "two", "three", "4", "five", "six"}));
    }

    void processesThatEscapeTheEngineAreRefused()
    {
        verifyContained("local ok, e = pcall(os.execute, 'sleep 300 &')\n"
                        "assert(not ok and e:find('use exec()', 1, true), e)\n"
                        "assert(os.execute() == false)\n"
                        "io.popen('sleep 300 &')\n",
                        "t1.lua:4: io.popen is not available to tasks", "return 1", "[1]");
    }

    // ---- item 2: binary chunks ----

    void loadRefusesBinaryChunks()
    {
        verifyContained("local code = string.dump(function() return 1 end)\n"
                        "local f, err = load(code)\n"
                        "assert(f == nil and err:find('binary'), err)\n"
                        "local broken = code:sub(1, 20) .. 'X' .. code:sub(22)\n"
                        "assert(load(broken) == nil)\n"
                        "assert(load(broken, 'b', 'b') == nil)\n"
                        "local parts = {code}\n"
                        "assert(load(function() return table.remove(parts) end) == nil)\n"
                        "return load('return 7')()\n",
                        {}, "return 1", "[1]");
    }

    void fileLoadersRefuseBinaryChunks()
    {
        verifyContained("local path = os.tmpname()\n"
                        "local fh = io.open(path, 'wb')\n"
                        "fh:write(string.dump(function() return 1 end))\nfh:close()\n"
                        "local f, err = loadfile(path)\n"
                        "assert(f == nil and err:find('binary'), err)\n"
                        "local ok, err2 = pcall(dofile, path)\n"
                        "os.remove(path)\n"
                        "assert(not ok and err2:find('binary'), err2)\n"
                        "assert(not pcall(loadfile), 'loadfile() would read stdin')\n"
                        "assert(not pcall(dofile), 'dofile() would read stdin')\n"
                        "assert(not pcall(package.loadlib, 'libc.so.6', 'abort'))\n"

                        "return 1\n",
                        {}, "return 1", "[1]");
    }

    void requireLoadsTextModulesOnlyIntoTheTask()
    {
        ScriptDir modules;
        modules.write("goodmod.lua", "leaked_global = 1\nreturn {value = 41}\n");
        const QByteArray bin = "\x1bLua\x54\x00 not really";
        modules.write("binmod.lua", bin);
        const QByteArray path = (modules.path() + "/?.lua").toUtf8();
        verifyContained("package.path = '" + path +
                            "'\n"
                            "local m = require('goodmod')\n"
                            "assert(require('goodmod') == m)\n"
                            "assert(leaked_global == 1)\n"
                            "local ok, err = pcall(require, 'binmod')\n"
                            "assert(not ok and err:find('binary'), err)\n"
                            "assert(require('string') == string)\n"
                            "require('string').upper = function() return 'hacked' end\n"
                            "return m.value + 1\n",
                        {},
                        "return {leaked_global == nil, ('a'):upper(), string.upper('b'),\n"
                        "        package.loaded.goodmod == nil}\n",
                        "[[true,\"A\",\"B\",true]]");
    }

    // ---- item 7: nothing one task changes is seen by the next ----

    void stringLibraryChangesStayInTheirTask()
    {
        verifyContained("string.upper = function() return 'hacked' end\n"
                        "table.concat = function() error('hijacked') end\n"
                        "math.floor = nil\n"
                        "assert(string.upper('x') == 'hacked')\n"
                        "return 1\n",
                        {},
                        "return {string.upper('a'), ('b'):upper(), table.concat({1, 2}, ','),\n"
                        "        math.floor(2.5)}\n",
                        "[[\"A\",\"B\",\"1,2\",2]]");
    }

    void stringMetatableIsProtected()
    {
        verifyContained("local ok = pcall(function()\n"
                        "  getmetatable('').__index = {upper = function() return 'hacked' end}\n"
                        "end)\n"
                        "assert(not ok)\n"
                        "assert(not pcall(debug.setmetatable, '', {}))\n"
                        "local mt = debug.getmetatable('')\n"
                        "assert(type(mt) ~= 'table')\n"
                        "getmetatable('').__index.upper = nil\n",
                        "t1.lua:8:", "return ('a'):upper()", "[\"A\"]");
    }

    void globalChangesStayInTheirTask()
    {
        verifyContained("spawn = nil\n"
                        "load('gather = 5; sleep = nil')()\n"
                        "assert(not pcall(function() getmetatable(_G).__index.log = nil end))\n"
                        "assert(not pcall(setmetatable, _G, nil))\n"
                        "assert(not pcall(rawset, task, 'id', 0))\n"
                        "assert(not pcall(function() getmetatable(task).__index = nil end))\n"
                        "error('the last word')\n",
                        "the last word",
                        "return {type(spawn), type(gather), type(sleep), type(log), "
                        "task.id > 1}",
                        "[[\"function\",\"function\",\"function\",\"function\",true]]");
    }

    void classMethodChangesStayInTheirTask()
    {
        verifyContained("local hijack = function() error('hijacked') end\n"
                        "for _, make in ipairs({Lock, Semaphore, Event, Queue}) do\n"
                        "  local ok = pcall(function() getmetatable(make()).__index.release "
                        "= hijack end)\n"
                        "  assert(not ok)\n"
                        "  assert(not pcall(function() debug.getmetatable(make()).acquire "
                        "= hijack end))\n"
                        "end\n"
                        "local l = Lock()\n"
                        "l.acquire = hijack -- its own object: fine\n"
                        "return getmetatable(l)\n",
                        {},
                        "local l = Lock() l:acquire() local s = Semaphore(1) s:acquire()\n"
                        "local q = Queue() q:put(3) local e = Event() e:set()\n"
                        "return {l:locked(), s:locked(), q:get(), e:is_set()}\n",
                        "[[true,true,3,true]]");
    }

    void cancellationMarkersAreNotShared()
    {
        verifyContained("local h = spawn(function() sleep(10) end)\n"
                        "sleep(0)\nh:cancel()\n"
                        "local ok, err = pcall(h.wait, h)\n"
                        "assert(is_cancelled(err))\n"
                        "assert(not pcall(rawset, err, 'x', 1))\n"
                        "assert(not pcall(function() getmetatable(err).__tostring = nil end))\n"
                        "return tostring(err)\n",
                        {},
                        "local h = spawn(function() sleep(10) end)\n"
                        "sleep(0)\nh:cancel()\n"
                        "local ok, err = pcall(h.wait, h)\n"
                        "return {tostring(err), rawequal(err, nil)}\n",
                        "[[\"cancelled\",false]]");
    }

    void defaultFilesStayInTheirTask()
    {
        verifyContained("io.output(io.tmpfile())\nreturn 1\n", {},
                        "return io.output() == io.stdout\n", "[true]");
    }

    void finalizersAreRefusedAndCloseVariablesRunInTheTask()
    {
        // A __gc runs with hooks off wherever the collector is: one that loops would hold
        // its worker for good, past any timeout. <close> runs in the task, under its hooks.
        verifyContained("setmetatable({}, {__gc = function() while true do end end})\n",
                        "t1.lua:1: setmetatable: __gc finalizers are not available",
                        "collectgarbage()\nreturn 1\n", "[1]");
        const QList<TaskSnapshot> t = runInTurn({
            "do local c <close> = setmetatable({}, {__close = function() log('closed') end})\n"
            "end\nreturn 1\n",
        });
        QVERIFY2(t[0].state == TaskState::Succeeded, qPrintable(t[0].error));
        QCOMPARE(m_logs[0], QStringList({"closed"}));
    }
};

QTEST_GUILESS_MAIN(tst_LuaSandbox)
#include "tst_luasandbox.moc"
