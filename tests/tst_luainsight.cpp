// SPEC section 9, seeing inside tasks: coroutine names, frames kept across tail calls,
// errors nobody retrieved, holders of sync objects, deadlocks.
#include "taskjson.h"
#include "testsupport.h"

#include "lua/syncregistry.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QTimer>

class tst_LuaInsight : public QObject
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
    // The live stack once its first child awaits something.
    static std::shared_ptr<const CoroutineStack> childWaiting(const Engine &engine, TaskId id)
    {
        std::shared_ptr<const CoroutineStack> stack;
        [&] {
            QTRY_VERIFY_WITH_TIMEOUT((stack = engine.liveStack(id)) && !stack->children.isEmpty() &&
                                         !stack->children[0].awaiting.isEmpty(),
                                     10000);
        }();
        return stack;
    }
    static QStringList functions(const CoroutineStack &node)
    {
        QStringList out;
        for (const StackFrame &f : node.frames)
            out << QStringLiteral("%1:%2").arg(f.function).arg(f.line);
        return out;
    }
    QStringList m_log;

private Q_SLOTS:
    // ---- names ----

    void coroutineIsNamedAsTheSpawnSiteNamesIt_data()
    {
        QTest::addColumn<QByteArray>("source");
        QTest::addColumn<QString>("name");
        QTest::newRow("local") << QByteArray("local function fetch_page(n) sleep(30) end\n"
                                             "local h = spawn(fetch_page, 1)\nh:wait()\n")
                               << "fetch_page";
        QTest::newRow("upvalue") << QByteArray("local starter\n"
                                               "do\n"
                                               "  local function fetch_page() sleep(30) end\n"
                                               "  starter = function() spawn(fetch_page):wait() "
                                               "end\n"
                                               "end\n"
                                               "starter()\n")
                                 << "fetch_page";
        QTest::newRow("global") << QByteArray("function fetch_page() sleep(30) end\n"
                                              "spawn(fetch_page):wait()\n")
                                << "fetch_page";
        QTest::newRow("explicit")
            << QByteArray("spawn({name = 'crawler'}, function(s) sleep(s) end, 30):wait()\n")
            << "crawler";
        QTest::newRow("field, spawn site gone")
            << QByteArray("local M = {}\nfunction M.fetch() sleep(30) end\n"
                          "local function start() return spawn(M.fetch) end\n"
                          "start():wait()\n")
            << "M.fetch";
    }
    void coroutineIsNamedAsTheSpawnSiteNamesIt()
    {
        QFETCH(QByteArray, source);
        QFETCH(QString, name);
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec("names.lua", source));
        const auto stack = childWaiting(engine, id);
        QVERIFY(stack);
        QCOMPARE(stack->name, QStringLiteral("main"));
        const CoroutineStack &child = stack->children[0];
        QCOMPARE(child.name, name);
        QVERIFY2(!child.frames.isEmpty(), qPrintable(child.awaiting));
        QCOMPARE(child.frames.last().function, name); // never "function <names.lua:2>"
        const QJsonObject json = TaskJson::stack(*stack);
        const QJsonObject childJson = json.value("children").toArray().at(0).toObject();
        QCOMPARE(childJson.value("name").toString(), name);
        QCOMPARE(childJson.value("id").toInt(), child.id);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    void spawnRefusesANameThatIsNotAString()
    {
        const TaskSnapshot t = runToEnd("spawn({name = 3}, print)\n");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains("must be a string"), qPrintable(t.error));
    }

    // ---- tail calls ----

    void tailCallKeepsTheFunctionTheCoroutineStartedWith()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec("tail.lua", "local function fetch_page()\n"
                                                             "  return gather(spawn(sleep, 30))\n"
                                                             "end\n"
                                                             "local h = spawn(fetch_page)\n"
                                                             "return gather(h)\n"));
        std::shared_ptr<const CoroutineStack> stack;
        QTRY_VERIFY((stack = engine.liveStack(id)) && stack->children.size() == 1 &&
                    stack->children[0].children.size() == 1 &&
                    !stack->children[0].children[0].awaiting.isEmpty());
        QCOMPARE(functions(*stack), QStringList{"main chunk (tail call):0"});
        QCOMPARE(functions(stack->children[0]), QStringList{"fetch_page (tail call):1"});
        QCOMPARE(stack->children[0].frames[0].file, dir.path() + "/tail.lua");
        QCOMPARE(stack->children[0].awaiting, QStringLiteral("gather (1 pending)"));
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    void tailCallInsideTheStackIsMarked()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec("tail.lua", "local function inner()\n"
                                                             "  sleep(30)\n"
                                                             "end\n"
                                                             "local function outer()\n"
                                                             "  return inner()\n"
                                                             "end\n"
                                                             "outer()\n"));
        QTRY_VERIFY(isSuspended(engine, id));
        const auto stack = engine.liveStack(id);
        QCOMPARE(functions(*stack),
                 QStringList({"function <tail.lua:1>:2", "(tail call: the caller is not known):0",
                              "main chunk:7"}));
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    // ---- errors nobody retrieved ----

    void neverRetrievedErrorIsLoggedWithNameNumberAndStack()
    {
        const TaskSnapshot t = runToEnd("local function fetch_page()\n"
                                        "  sleep(0)\n"
                                        "  error('page lost', 0)\n"
                                        "end\n"
                                        "spawn(fetch_page)\n"
                                        "sleep(0.05)\n"
                                        "return 'main done'\n");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(m_log.value(0), QStringLiteral("error in fetch_page #2 was never retrieved: "
                                                "page lost"));
        QVERIFY2(m_log.value(1).contains("t.lua:3 in fetch_page"), qPrintable(m_log.join('\n')));
    }

    void retrievedErrorIsNotLogged_data()
    {
        QTest::addColumn<QByteArray>("retrieve");
        QTest::newRow("wait") << QByteArray("pcall(h.wait, h)");
        QTest::newRow("gather") << QByteArray("pcall(gather, h)");
        QTest::newRow("gather_settled") << QByteArray("gather_settled({h})");
        QTest::newRow("wait_for") << QByteArray("pcall(wait_for, h, 5)");
    }
    void retrievedErrorIsNotLogged()
    {
        QFETCH(QByteArray, retrieve);
        const TaskSnapshot t = runToEnd("local h = spawn(function() error('seen', 0) end)\n"
                                        "sleep(0.01)\n" +
                                        retrieve + "\n");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(m_log, QStringList());
    }

    // ---- who holds it ----

    void awaitingNamesHoldersAndDetails_data()
    {
        QTest::addColumn<QByteArray>("source");
        QTest::addColumn<QString>("awaiting"); // of the coroutine named "waiter"
        QTest::newRow("lock") << QByteArray("local L = Lock()\n"
                                            "local function holder() L:acquire() sleep(30) end\n"
                                            "local function waiter() L:acquire() end\n"
                                            "spawn(holder) sleep(0) spawn(waiter):wait()\n")
                              << "Lock:acquire — held by holder #2 for ";
        QTest::newRow("semaphore")
            << QByteArray("local S = Semaphore(2)\n"
                          "local function a() S:acquire() sleep(30) end\n"
                          "local function b() S:with(sleep, 30) end\n"
                          "local function waiter() S:acquire() end\n"
                          "spawn(a) spawn(b) sleep(0) spawn(waiter):wait()\n")
            << "Semaphore:acquire — held by a #2, b #3 (0 of 2 free)";
        QTest::newRow("queue") << QByteArray("local q = Queue(1)\n"
                                             "local function waiter() q:get() end\n"
                                             "spawn(waiter):wait()\n")
                               << "Queue:get — 0 items (max 1); waiting: 1 to get, 0 to put";
        QTest::newRow("event") << QByteArray("local e = Event()\n"
                                             "local function waiter() e:wait() end\n"
                                             "spawn(waiter):wait()\n")
                               << "Event:wait — clear, waited ";
        QTest::newRow("child") << QByteArray("local function fetch_page() sleep(30) end\n"
                                             "local function waiter()\n"
                                             "  spawn(fetch_page):wait()\n"
                                             "end\n"
                                             "spawn(waiter):wait()\n")
                               << "child fetch_page #3";
    }
    void awaitingNamesHoldersAndDetails()
    {
        QFETCH(QByteArray, source);
        QFETCH(QString, awaiting);
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(dir.spec("t.lua", "-- @deadlock warn\n" + source));
        auto waiterAwaits = [&] {
            const auto stack = engine.liveStack(id);
            QList<const CoroutineStack *> nodes;
            if (stack)
                nodes.append(stack.get());
            for (int i = 0; i < nodes.size(); ++i) {
                if (nodes[i]->name == u"waiter")
                    return nodes[i]->awaiting;
                for (const CoroutineStack &c : nodes[i]->children)
                    nodes.append(&c);
            }
            return QString();
        };
        QTRY_VERIFY_WITH_TIMEOUT(waiterAwaits().startsWith(awaiting), 10000);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    // The registry another view (Resources) reads: every sync object with its site,
    // state, holders and waiters, on the root of the stack.
    void stackRootCarriesTheSyncRegistry()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id =
            engine.submit(dir.spec("r.lua", "local L = Lock()\n"
                                            "local S = Semaphore(3)\n"
                                            "local q = Queue(5)\n"
                                            "local e = Event()\n"
                                            "q:put(1) q:put(2)\n"
                                            "local function holder() L:acquire() S:acquire() "
                                            "sleep(30) end\n"
                                            "local function waiter() L:acquire() end\n"
                                            "spawn(holder) sleep(0) spawn(waiter) e:wait()\n"));
        std::shared_ptr<const CoroutineStack> stack;
        QTRY_VERIFY((stack = engine.liveStack(id)) && stack->resources &&
                    stack->resources->resources.size() == 4 &&
                    stack->resources->resources[0].waiters.size() == 1);
        const SyncRegistry &registry = *stack->resources;
        const SyncResource &lock = registry.resources[0];
        QCOMPARE(lock.kind, SyncResource::Kind::Lock);
        QCOMPARE(lock.site, QStringLiteral("r.lua:1"));
        QCOMPARE(lock.state, QStringLiteral("locked"));
        QCOMPARE(lock.holders, QList<int>{2});
        QCOMPARE(lock.waiters, QList<int>{3});
        QVERIFY(lock.heldSinceMs > 0);
        const SyncResource &sem = registry.resources[1];
        QCOMPARE(sem.name(), QStringLiteral("Semaphore"));
        QCOMPARE(sem.site, QStringLiteral("r.lua:2"));
        QCOMPARE(sem.state, QStringLiteral("2 of 3 free"));
        QCOMPARE(sem.holders, QList<int>{2});
        const SyncResource &queue = registry.resources[2];
        QCOMPARE(queue.kind, SyncResource::Kind::Queue);
        QCOMPARE(queue.size, 2);
        QCOMPARE(queue.maxSize, 5);
        QCOMPARE(queue.state, QStringLiteral("2 items (max 5)"));
        const SyncResource &event = registry.resources[3];
        QCOMPARE(event.kind, SyncResource::Kind::Event);
        QCOMPARE(event.state, QStringLiteral("clear"));
        QCOMPARE(event.waiters, QList<int>{1});
        QCOMPARE(registry.coroutineLabel(2), QStringLiteral("holder #2"));
        QCOMPARE(registry.coroutineLabel(3), QStringLiteral("waiter #3"));
        QCOMPARE(registry.waitedOnBy(3), &lock);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    // ---- deadlocks ----

    void deadlockFailsTheTaskNamingTheCycle_data()
    {
        QTest::addColumn<QByteArray>("source");
        QTest::addColumn<QString>("error");
        QTest::newRow("lock cycle")
            << QByteArray("local A, B = Lock(), Lock()\n"
                          "local function worker_a() A:acquire() sleep(0.05) B:acquire() end\n"
                          "local function worker_b() B:acquire() sleep(0.05) A:acquire() end\n"
                          "gather(spawn(worker_a), spawn(worker_b))\n")
            << "deadlock: worker_a #2 waits for Lock held by worker_b #3, which waits for Lock "
               "held by worker_a #2";
        QTest::newRow("queue nobody can put to")
            << QByteArray("local q = Queue()\n"
                          "local function consumer() return q:get() end\n"
                          "spawn(consumer):wait()\n")
            << "deadlock: main #1 waits for consumer #2, which waits for Queue:get on an empty "
               "Queue (t.lua:2) that no live coroutine can put to";
        QTest::newRow("event nobody can set")
            << QByteArray("local e = Event()\ne:wait()\n")
            << "deadlock: main #1 waits for Event (t.lua:2) that no live coroutine can set";
        QTest::newRow("child waits on its parent")
            << QByteArray("local L = Lock()\n"
                          "L:acquire()\n"
                          "local function child() L:acquire() end\n"
                          "spawn(child):wait()\n")
            << "deadlock: main #1 waits for child #2, which waits for Lock held by main #1";
    }
    void deadlockFailsTheTaskNamingTheCycle()
    {
        QFETCH(QByteArray, source);
        QFETCH(QString, error);
        // Without the detection it would hang until this timeout.
        const TaskSnapshot t = runToEnd("-- @timeout 60s\n" + source);
        QCOMPARE(t.state, TaskState::Failed);
        QCOMPARE(t.error, error);
        QVERIFY(t.stack); // every stack kept
        QVERIFY2(!t.stack->frames.isEmpty() || !t.stack->children.isEmpty(),
                 qPrintable(t.stack->awaiting));
    }

    void deadlockWarnOnlyLogsAndMarks()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id =
            engine.submit(dir.spec("w.lua", "-- @deadlock warn\nlocal e = Event()\ne:wait()\n"));
        const QString text =
            "deadlock: main #1 waits for Event (w.lua:2) that no live coroutine can set";
        QTRY_VERIFY_WITH_TIMEOUT(engine.log(id).contains("[taskdeck: " + text + "]"), 10000);
        QCOMPARE(stateOf(engine, id), TaskState::Running);
        QCOMPARE(engine.liveStack(id)->deadlock, text);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
        QCOMPARE(engine.log(id).count("[taskdeck: " + text + "]"), 1);
    }

    // A lock held while the holder waits on something that will end: never a deadlock.
    void noFalseAlarmWhileSomethingCanWake_data()
    {
        QTest::addColumn<QByteArray>("hold");
        QTest::newRow("timer") << QByteArray("sleep(1.5)");
        QTest::newRow("child process") << QByteArray("exec({'sleep', '1.5'})");
        QTest::newRow("runnable coroutine")
            << QByteArray("local t = os.clock() while os.clock() - t < 1.5 do end");
        QTest::newRow("io") << QByteArray("http.get(url)");
        QTest::newRow("wait with a timeout")
            << QByteArray("local e = Event() pcall(wait_for, spawn(e.wait, e), 1.5)");
    }
    void noFalseAlarmWhileSomethingCanWake()
    {
        QFETCH(QByteArray, hold);
        // An HTTP server that answers after 1.5 s (the "io" row).
        QTcpServer server;
        QVERIFY(server.listen(QHostAddress::LocalHost));
        QList<QTcpSocket *> clients;
        connect(&server, &QTcpServer::newConnection, this, [&] {
            QTcpSocket *client = server.nextPendingConnection();
            clients.append(client);
            QTimer::singleShot(1500, client, [client] {
                client->write(
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                client->disconnectFromHost();
            });
        });
        const QByteArray url = "http://127.0.0.1:" + QByteArray::number(server.serverPort()) + "/";
        const TaskSnapshot t =
            runToEnd("local url = '" + url +
                     "'\n"
                     "local L = Lock()\n"
                     "local function holder() L:acquire() " +
                     hold +
                     " L:release() end\n"
                     "local function waiter() L:acquire() L:release() return 'got it' end\n"
                     "local h = spawn(holder) sleep(0)\n"
                     "return gather(h, spawn(waiter))[2]\n");
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(t.result.toString(), QStringLiteral("got it"));
        QVERIFY2(!m_log.join('\n').contains("deadlock"), qPrintable(m_log.join('\n')));
    }

    // A large semaphore keeps no holders until its first wait (spawn-trivial's cost):
    // those taken before are counted, not named.
    void largeSemaphoreNamesHoldersFromItsFirstWait()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id =
            engine.submit(dir.spec("big.lua", "-- @deadlock warn\n"
                                              "local S = Semaphore(9)\n"
                                              "for i = 1, 9 do S:acquire() end\n"
                                              "local function late() S:acquire() sleep(30) end\n"
                                              "local function waiter() S:acquire() end\n"
                                              "local l = spawn(late) sleep(0)\n"
                                              "S:release()\n" // hands one unit to late, now named
                                              "sleep(0) spawn(waiter):wait()\n"));
        std::shared_ptr<const CoroutineStack> stack;
        const auto waiter = [&]() -> QString {
            stack = engine.liveStack(id);
            if (!stack)
                return {};
            for (const CoroutineStack &c : stack->children)
                if (c.name == u"waiter")
                    return c.awaiting;
            return {};
        };
        QTRY_COMPARE(waiter(), QStringLiteral("Semaphore:acquire — held by late #2 and 8 taken "
                                              "before its first wait (0 of 9 free)"));
        QCOMPARE(stack->resources->resources.value(0).taken, 9);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    // ---- merged siblings, cleanup shown ----

    void identicalSiblingsAreMergedWithACount()
    {
        ScriptDir dir;
        Engine engine;
        const TaskId id =
            engine.submit(dir.spec("m.lua", "local function fetch_page(i)\n"
                                            "  sleep(30)\n"
                                            "end\n"
                                            "for i = 1, 50 do spawn(fetch_page, i) end\n"
                                            "local function other() sleep(40) end\n"
                                            "spawn(other)\n"
                                            "sleep(30)\n"));
        std::shared_ptr<const CoroutineStack> stack;
        QTRY_VERIFY((stack = engine.liveStack(id)) && stack->children.size() == 2 &&
                    stack->children[1].count == 50);
        const CoroutineStack &other = stack->children[0];
        QCOMPARE(other.name, QStringLiteral("other"));
        QCOMPARE(other.count, 1);
        const CoroutineStack &pages = stack->children[1];
        QCOMPARE(pages.name, QStringLiteral("fetch_page"));
        QCOMPARE(pages.awaiting, QStringLiteral("sleep(30)"));
        QCOMPARE(pages.mergedIds.size(), 50);
        QVERIFY(pages.mergedIds.contains(2) && pages.mergedIds.contains(51));
        QCOMPARE(functions(pages), QStringList{"fetch_page:2"});
        const QJsonObject json = TaskJson::stack(*stack);
        const QJsonObject merged = json.value("children").toArray().at(1).toObject();
        QCOMPARE(merged.value("count").toInt(), 50);
        QCOMPARE(merged.value("ids").toArray().size(), 50);
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
    }

    void childRunningItsCleanupStaysShownUntilItEnds()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.gracePeriodMs = 120000}); // its cleanup waits on us
        const QString gate = dir.path() + "/gate";
        const TaskId id = engine.submit(dir.spec("c.lua", "local function worker()\n"
                                                          "  pcall(sleep, 30)\n"
                                                          "  while not io.open('" +
                                                              gate.toUtf8() +
                                                              "') do sleep(0.2) end\n"
                                                              "end\n"
                                                              "spawn(worker)\n"
                                                              "sleep(0.01)\n"
                                                              "return 'main done'\n"));
        std::shared_ptr<const CoroutineStack> stack;
        QTRY_VERIFY_WITH_TIMEOUT((stack = engine.liveStack(id)) && stack->children.size() == 1 &&
                                     stack->children[0].awaiting == u"sleep(0.2)",
                                 10000);
        QCOMPARE(stack->awaiting, QStringLiteral("its children to end (the main chunk has ended)"));
        QCOMPARE(stack->children[0].name, QStringLiteral("worker"));
        QCOMPARE(stack->children[0].frames.value(0).line, 3);
        QVERIFY(QFile(gate).open(QIODevice::WriteOnly));
        QTRY_COMPARE(stateOf(engine, id), TaskState::Succeeded);
    }
};

QTEST_GUILESS_MAIN(tst_LuaInsight)
#include "tst_luainsight.moc"
