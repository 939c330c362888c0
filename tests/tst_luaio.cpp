// exec() and http.* from Lua tasks (SPEC section 2): results, errors that name what
// failed, timeouts, and cancellation that kills the process or aborts the request.
#include "testsupport.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QTimer>

#include <csignal>

// A small HTTP/1.1 server on loopback: GET /echo/X answers X, /missing 404, /slow
// answers after 3 s, /forever streams a body without end, /big announces and sends 2 MiB,
// POST echoes the body. Counts the connections open at once.
class TestServer : public QObject
{
    Q_OBJECT
public:
    TestServer()
    {
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *s = m_server.nextPendingConnection()) {
                m_peak = qMax(m_peak, ++m_open);
                connect(s, &QTcpSocket::disconnected, this, [this, s] {
                    --m_open;
                    s->deleteLater();
                });
                connect(s, &QTcpSocket::readyRead, this, [this, s] { serve(s); });
            }
        });
        m_server.listen(QHostAddress::LocalHost);
    }
    QString url(const QString &path) const
    {
        return QStringLiteral("http://127.0.0.1:%1%2").arg(m_server.serverPort()).arg(path);
    }
    int peak() const { return m_peak; }
    int open() const { return m_open; }
    qint64 streamed() const { return m_streamed; }

private:
    void serve(QTcpSocket *s)
    {
        QByteArray &buffer = m_buffers[s];
        buffer += s->readAll();
        const qsizetype end = buffer.indexOf("\r\n\r\n");
        if (end < 0)
            return;
        const QList<QByteArray> head = buffer.left(end).split('\n');
        const QList<QByteArray> line = head.value(0).trimmed().split(' ');
        qsizetype length = 0;
        for (const QByteArray &h : head)
            if (h.toLower().startsWith("content-length:"))
                length = h.mid(15).trimmed().toLongLong();
        if (buffer.size() < end + 4 + length)
            return;
        const QByteArray body = buffer.mid(end + 4, length);
        buffer.remove(0, end + 4 + length);
        const QByteArray method = line.value(0), path = line.value(1);
        auto reply = [s](int status, const QByteArray &content) {
            if (s->state() != QAbstractSocket::ConnectedState)
                return;
            s->write("HTTP/1.1 " + QByteArray::number(status) +
                     " X\r\nContent-Type: text/plain\r\n"
                     "X-Test: yes\r\nContent-Length: " +
                     QByteArray::number(content.size()) + "\r\n\r\n" + content);
        };
        if (method == "POST")
            reply(200, "posted:" + body);
        else if (path == "/missing")
            reply(404, "no such page");
        else if (path.startsWith("/slow"))
            QTimer::singleShot(3000, s, [reply] { reply(200, "late"); });
        else if (path.startsWith("/forever"))
            streamForever(s);
        else if (path.startsWith("/big"))
            reply(200, QByteArray(2 * 1024 * 1024, 'b'));
        else if (path.startsWith("/hold"))
            QTimer::singleShot(300, s, [reply, path] { reply(200, path); });
        else
            reply(200, path.mid(6));
    }
    // A body with no length, so it ends only when the connection does: 256 KiB whenever
    // less than 1 MiB waits to be sent, until the client goes away.
    void streamForever(QTcpSocket *s)
    {
        s->write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
        auto *pump = new QTimer(s);
        connect(pump, &QTimer::timeout, s, [this, s] {
            if (s->state() != QAbstractSocket::ConnectedState || s->bytesToWrite() > (1 << 20))
                return;
            s->write(QByteArray(256 * 1024, 'x'));
            m_streamed += 256 * 1024;
        });
        pump->start(2);
    }

    QTcpServer m_server;
    QHash<QTcpSocket *, QByteArray> m_buffers;
    qint64 m_streamed = 0;
    int m_open = 0;
    int m_peak = 0;
};

class tst_LuaIo : public QObject
{
    Q_OBJECT

private:
    TaskSnapshot runToEnd(Engine &engine, ScriptDir &dir, const QByteArray &source)
    {
        const TaskId id = engine.submit(dir.spec("t.lua", source));
        [&] { QTRY_VERIFY_WITH_TIMEOUT(isFinished(stateOf(engine, id)), 20000); }();
        return *engine.task(id);
    }

private Q_SLOTS:
    // An endless body once grew to 1.8 GB in 3 s and ended the process in bad_alloc.
    void anEndlessBodyFailsAtMaxBodyNamingTheUrlAndTheTransferStops()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const QString url = server.url("/forever");
        const TaskSnapshot t =
            runToEnd(engine, dir,
                     QStringLiteral("-- @timeout 10s\n"
                                    "local ok, err = pcall(http.get, '%1', {max_body = 1000000})\n"
                                    "return err")
                         .arg(url)
                         .toUtf8());
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(t.result.toString(),
                 QStringLiteral("http.get(%1): the response body is larger than 1000000 bytes "
                                "(raise max_body, within @memory)")
                     .arg(url));
        QTRY_COMPARE_WITH_TIMEOUT(server.open(), 0, 10000);
    }

    void bodiesAreCappedByTheTaskMemoryByDefault()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t =
            runToEnd(engine, dir,
                     QStringLiteral("-- @timeout 10s\n-- @memory 1MiB\n"
                                    "local ok, err = pcall(http.get, '%1')\n"
                                    "local ok2, err2 = pcall(http.get, '%2', {max_body = 1e12})\n"
                                    "return {err, err2}")
                         .arg(server.url("/forever"), server.url("/big"))
                         .toUtf8());
        QCOMPARE(t.state, TaskState::Succeeded);
        const QJsonArray r = t.result.toArray();
        for (const QJsonValue &error : r)
            QVERIFY2(error.toString().contains("larger than 1048576 bytes"),
                     qPrintable(error.toString()));
        QCOMPARE(r.size(), 2);
        QTRY_COMPARE_WITH_TIMEOUT(server.open(), 0, 10000);
        // Within the cap, a body is whole.
        const TaskSnapshot whole =
            runToEnd(engine, dir,
                     QStringLiteral("return #http.get('%1', {max_body = 2 * 1024 * 1024}).body")
                         .arg(server.url("/big"))
                         .toUtf8());
        QCOMPARE(whole.result.toInteger(), 2 * 1024 * 1024);
    }

    void aTimeoutOrACancelStopsAnEndlessTransfer()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const QString get =
            QStringLiteral("http.get('%1', {max_body = 1e9})\n").arg(server.url("/forever"));
        const TaskSnapshot timedOut = runToEnd(engine, dir, "-- @timeout 300ms\n" + get.toUtf8());
        QCOMPARE(timedOut.state, TaskState::TimedOut);
        QTRY_COMPARE_WITH_TIMEOUT(server.open(), 0, 10000);
        const TaskSnapshot own =
            runToEnd(engine, dir,
                     QStringLiteral("return select(2, pcall(http.get, '%1', {timeout = 0.3}))")
                         .arg(server.url("/forever"))
                         .toUtf8());
        QVERIFY2(own.result.toString().contains("timed out"), qPrintable(own.result.toString()));
        QTRY_COMPARE_WITH_TIMEOUT(server.open(), 0, 10000);
        const TaskId id = engine.submit(dir.spec("t.lua", get.toUtf8()));
        QTRY_VERIFY_WITH_TIMEOUT(server.open() == 1 && server.streamed() > 0, 10000);
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(server.open(), 0, 10000);
    }

    void execReturnsCodeAndOutputsNotAnError()
    {
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t =
            runToEnd(engine, dir,
                     "local r = exec({'sh', '-c', 'echo out; echo err >&2; exit 3'})\n"
                     "return {r.code, r.stdout, r.stderr}");
        QCOMPARE(t.state, TaskState::Succeeded);
        QCOMPARE(t.result.toArray(), QJsonArray({3, "out\n", "err\n"}));
    }

    void execTakesStdinEnvAndCwd()
    {
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t =
            runToEnd(engine, dir,
                     "local a = exec('cat', {stdin = 'piped in'})\n"
                     "local b = exec('printf %s \"$GREETING\"', {env = {GREETING = 'hi'}})\n"
                     "local c = exec('pwd', {cwd = '/tmp'})\n"
                     "local d = exec('pwd')\n"
                     "return {a.stdout, b.stdout, c.stdout, d.stdout}");
        const QJsonArray r = t.result.toArray();
        QCOMPARE(r[0].toString(), QStringLiteral("piped in"));
        QCOMPARE(r[1].toString(), QStringLiteral("hi"));
        QCOMPARE(r[2].toString(), QStringLiteral("/tmp\n"));
        QCOMPARE(r[3].toString(), dir.path() + "\n"); // the script's folder by default
    }

    void execTimeoutRaisesNamingTheCommand()
    {
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t = runToEnd(engine, dir,
                                        "local ok, err = pcall(exec, 'sleep 30', {timeout = 0.2})\n"
                                        "return err");
        QCOMPARE(t.result.toString(), QStringLiteral("exec(sleep 30) timed out after 0.2s"));
    }

    void execOfAMissingProgramRaisesClearly()
    {
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t = runToEnd(engine, dir, "exec({'no-such-program-here'})");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.contains("no-such-program-here"), qPrintable(t.error));
    }

    void cancellingKillsTheExecutedProcess()
    {
        ScriptDir dir;
        const QString pidFile = dir.path() + "/pid";
        Engine engine;
        const TaskId id = engine.submit(dir.spec(
            "t.lua",
            QStringLiteral("exec('echo $$ > %1; exec sleep 30')\n").arg(pidFile).toUtf8()));
        QTRY_VERIFY(!readLines(pidFile).isEmpty());
        const pid_t pid = readLines(pidFile).first().toInt();
        QVERIFY(pid > 0);
        QVERIFY(isSuspended(engine, id));
        QCOMPARE(engine.liveStack(id)->awaiting,
                 QStringLiteral("exec(echo $$ > %1; exec sleep 30)").arg(pidFile));
        engine.cancel(id);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Cancelled);
        QTRY_VERIFY(::kill(pid, 0) != 0); // gone, and reaped
    }

    void httpGetReturnsStatusHeadersAndBody()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t = runToEnd(
            engine, dir,
            QStringLiteral("local r = http.get('%1')\n"
                           "local m = http.get('%2')\n"
                           "return {r.status, r.body, r.headers['x-test'], m.status, m.body}")
                .arg(server.url("/echo/hello"), server.url("/missing"))
                .toUtf8());
        QVERIFY2(t.state == TaskState::Succeeded, qPrintable(t.error));
        QCOMPARE(t.result.toArray(), QJsonArray({200, "hello", "yes", 404, "no such page"}));
    }

    void httpPostAndRequestSendBodies()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t = runToEnd(
            engine, dir,
            QStringLiteral("local a = http.post('%1', 'data', {headers = {['X-A'] = '1'}})\n"
                           "local b = http.request({method = 'post', url = '%1', body = 'more'})\n"
                           "return {a.body, b.body}")
                .arg(server.url("/p"))
                .toUtf8());
        QCOMPARE(t.result.toArray(), QJsonArray({"posted:data", "posted:more"}));
    }

    void httpErrorsNameTheUrl()
    {
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t = runToEnd(engine, dir, "http.get('http://127.0.0.1:1/x')");
        QCOMPARE(t.state, TaskState::Failed);
        QVERIFY2(t.error.startsWith("http.get(http://127.0.0.1:1/x): "), qPrintable(t.error));
        const TaskSnapshot u = runToEnd(engine, dir, "http.get('ftp://example/x')");
        QVERIFY2(u.error.contains("not an http(s) URL"), qPrintable(u.error));
    }

    void httpTimeoutRaises()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t = runToEnd(
            engine, dir,
            QStringLiteral("local ok, err = pcall(http.get, '%1', {timeout = 0.2})\nreturn err")
                .arg(server.url("/slow"))
                .toUtf8());
        QVERIFY2(t.result.toString().endsWith("timed out after 0.2s"),
                 qPrintable(t.result.toString()));
    }

    void manyRequestsToOneHostRunBeyondQtsSixConnections()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const TaskSnapshot t = runToEnd(
            engine, dir,
            QStringLiteral(
                "local hs = {}\n"
                "for i = 1, 40 do hs[i] = spawn(http.get, '%1' .. i) end\n"
                "local n = 0\n"
                "for _, r in ipairs(gather(hs)) do if r.status == 200 then n = n + 1 end end\n"
                "return n")
                .arg(server.url("/hold/"))
                .toUtf8());
        QCOMPARE(t.result.toInt(), 40);
        QVERIFY2(server.peak() > 6, qPrintable(QString::number(server.peak())));
    }

    void cancellingAbortsTheRequest()
    {
        TestServer server;
        ScriptDir dir;
        Engine engine;
        const TaskId id = engine.submit(
            dir.spec("t.lua", QStringLiteral("http.get('%1')").arg(server.url("/slow")).toUtf8()));
        QTRY_VERIFY(isSuspended(engine, id));
        QVERIFY(engine.liveStack(id)->awaiting.startsWith("http.get("));
        engine.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 2000);
    }
};

QTEST_GUILESS_MAIN(tst_LuaIo)
#include "tst_luaio.moc"
