// The single instance: the local-socket protocol (InstanceServer with a fake handler,
// InstanceClient), and the real binary's `taskdeck FILE...`, `submit`, `ps` and `cancel`
// against a running dashboard (offscreen).
#include "ipc/instanceclient.h"
#include "ipc/instanceprotocol.h"
#include "ipc/instanceserver.h"
#include "testsupport.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalServer>
#include <QLocalSocket>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cstring>
#include <memory>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using InstanceProtocol::Request;

// A handler that answers every valid request with what it understood.
QJsonObject echo(const Request &request)
{
    return InstanceProtocol::ok({{QStringLiteral("echo"), InstanceProtocol::toJson(request)}});
}

QJsonObject parseLine(const QByteArray &line)
{
    return QJsonDocument::fromJson(line).object();
}

// Waits for one reply line on `socket` and returns it parsed (empty if none came).
QJsonObject readReply(QLocalSocket &socket, int timeoutMs = 5000)
{
    if (!QTest::qWaitFor([&] { return socket.canReadLine(); }, timeoutMs))
        return {};
    return parseLine(socket.readLine().trimmed());
}

using Run = ProgramRun;

// The JSON objects a run printed, a line each.
QList<QJsonObject> jsonLines(const Run &run)
{
    QList<QJsonObject> objects;
    for (const QString &line : run.outLines())
        objects.append(parseLine(line.toUtf8()));
    return objects;
}

QJsonObject taskById(const QList<QJsonObject> &tasks, qint64 id)
{
    for (const QJsonObject &task : tasks)
        if (task.value(QStringLiteral("id")).toInteger() == id)
            return task;
    return {};
}

// The ids in "submitted FILE as task 17" lines, in order.
QList<qint64> submittedIds(const Run &run)
{
    static const QRegularExpression re(QStringLiteral("^submitted .* as tasks? (\\d+)$"));
    QList<qint64> ids;
    for (const QString &line : run.outLines())
        if (const auto match = re.match(line); match.hasMatch())
            ids.append(match.captured(1).toLongLong());
    return ids;
}

} // namespace

class tst_Instance : public QObject
{
    Q_OBJECT

private:
    // Sends two cancels and a line that is not JSON to the server listening on m_name
    // (which echoes requests) and checks the three replies come back in that order.
    void verifyThreeRequestsAnsweredInOrder();
    // Runs `taskdeck args...` and waits for it to end.
    Run run(const QStringList &args, const QString &workDir = QString()) const;
    // The JSON lines of `taskdeck ps --json [--stacks]` for `dataDir`.
    QList<QJsonObject> ps(const QString &dataDir, bool stacks = false) const;
    QString psState(const QString &dataDir, qint64 id) const;
    // Starts a dashboard for `dataDir` and waits until it answers `ps`; with
    // `fileSizeLimit`, it cannot grow a file past so many bytes (a full disk).
    std::unique_ptr<QProcess> startDashboard(const QString &dataDir, const QStringList &files = {},
                                             qint64 fileSizeLimit = 0) const;
    // Ends it with SIGTERM; fails the test unless it exits cleanly (status 0).
    void stopDashboard(QProcess &dashboard) const;
    // A new connection sends `ps` and gets an ok reply.
    bool serverAnswers(const QString &name) const;

    QString m_bin;
    QTemporaryDir m_home; // XDG directories of the binary under test
    QProcessEnvironment m_env;
    QString m_name; // the fake server's socket

private slots:
    void initTestCase();
    void init();

    // The protocol, with a fake handler.
    void validRequestIsHandedToTheHandlerAndAnswered();
    void malformedRequestGetsAnErrorAndTheServerGoesOn_data();
    void malformedRequestGetsAnErrorAndTheServerGoesOn();
    void lineOverOneMebibyteIsRefusedAndItsConnectionClosed();
    void halfALineThenDisconnectLeavesTheServerFine();
    void twoRequestsInOneWriteGetTwoRepliesInOrder();
    void laterRepliesGoOutInTheOrderOfTheirRequests();
    void requestSplitAcrossWritesIsAnsweredOnce();
    void hundredClientsAtOnceAreServedUpToTheLimitAndTheRestToldSo();
    void idleConnectionIsClosed();
    void clientTricklingBytesIsDroppedAtTheIdleTimeout();
    void idleClientsAtTheLimitGiveWayToANewClient();
    void socketLeftByACrashedInstanceIsReplaced();
    void secondServerOnALiveSocketFails();
    void socketNameIsPrivateAndDependsOnTheCanonicalDataDir();
    void clientSendsARequestAndReadsItsReply();
    void clientWithoutServerSaysNobodyListens();

    // The real binary against a running dashboard.
    void submitPsAndCancelTalkToTheRunningDashboard();
    void psStacksShowsWhereARunningTaskIsSuspended();
    void psShowsControlCharactersOfATaskInsteadOfObeyingThem();
    void fileArgumentIsHandedToTheRunningDashboard();
    void garbageOnTheDashboardsSocketLeavesItWorking();
    void submitOptionsReachTheTasks();
    void rejectedFileIsReportedAndExitsOne();
    void commandsWithoutARunningDashboardExitOne();
    void otherDataDirIsASeparateInstance();
    void twoDashboardsStartingTogetherMakeOneInstance();
    void acknowledgedSubmitSurvivesAKill9();
    void submitThatTheStoreCannotWriteExitsOneAndSaysTheTasksAreNotSaved();
    void submitWithoutAStoreSaysTheTasksWillNotSurviveARestart();
    void usageErrorExitsTwo_data();
    void usageErrorExitsTwo();
    void helpExitsZero_data();
    void helpExitsZero();
};

void tst_Instance::initTestCase()
{
    m_bin = qEnvironmentVariable("TASKDECK_BIN");
    if (m_bin.isEmpty()) // run by hand from the build tree
        m_bin = QCoreApplication::applicationDirPath() + QStringLiteral("/../taskdeck");
    QVERIFY2(QFileInfo(m_bin).isExecutable(), qPrintable(m_bin + " is not built"));
    QVERIFY(m_home.isValid());
    // The binary's settings, data and sockets stay in this test's own directories.
    m_env = QProcessEnvironment::systemEnvironment();
    m_env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    for (const char *name :
         {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"}) {
        const QString dir = m_home.filePath(QString::fromLatin1(name).toLower());
        QVERIFY(QDir().mkpath(dir));
        QVERIFY(QFile::setPermissions(dir, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner));
        m_env.insert(QString::fromLatin1(name), dir);
    }
    // So that InstanceProtocol::serverName() here names the binary's sockets.
    qputenv("XDG_RUNTIME_DIR", QFile::encodeName(m_env.value("XDG_RUNTIME_DIR")));
    m_name = m_home.filePath(QStringLiteral("fake.sock"));
}

void tst_Instance::init()
{
    QLocalServer::removeServer(m_name);
}

bool tst_Instance::serverAnswers(const QString &name) const
{
    QLocalSocket socket;
    socket.connectToServer(name);
    if (!QTest::qWaitFor([&] { return socket.state() == QLocalSocket::ConnectedState; }, 5000))
        return false;
    socket.write("{\"cmd\":\"ps\"}\n");
    const QJsonObject reply = readReply(socket);
    return reply.value(QStringLiteral("ok")).toBool() &&
           reply.value(QStringLiteral("echo")).toObject().value(QStringLiteral("cmd")) ==
               QStringLiteral("ps");
}

// ---- the protocol ----

void tst_Instance::validRequestIsHandedToTheHandlerAndAnswered()
{
    QList<Request> seen;
    InstanceServer server([&](const Request &request) {
        seen.append(request);
        return echo(request);
    });
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));

    QLocalSocket socket;
    socket.connectToServer(m_name);
    QVERIFY(socket.waitForConnected(5000));
    socket.write(R"({"cmd":"submit","files":["/a.lua","/b.lua"],"priority":-3,"timeout_ms":250,)"
                 R"("retries":2,"memory_bytes":65536,"args":["k=v","x=1=2"],"repeat":3})"
                 "\n");
    const QJsonObject reply = readReply(socket);
    QCOMPARE(reply.value("ok"), QJsonValue(true));
    QCOMPARE(seen.size(), 1);
    const Request &r = seen.first();
    QCOMPARE(r.command, InstanceProtocol::Command::Submit);
    QCOMPARE(r.files, (QStringList{"/a.lua", "/b.lua"}));
    QCOMPARE(r.overrides.priority, std::optional<int>(-3));
    QCOMPARE(r.overrides.timeoutMs, std::optional<qint64>(250));
    QCOMPARE(r.overrides.retries, std::optional<int>(2));
    QCOMPARE(r.overrides.memoryBytes, std::optional<qint64>(65536));
    QCOMPARE(r.overrides.args.size(), 2);
    QCOMPARE(r.overrides.args.at(1), (std::pair<QString, QString>{"x", "1=2"}));
    QCOMPARE(r.repeat, 3);
    // What the client library sends is what the server reads back.
    QCOMPARE(reply.value("echo").toObject(), InstanceProtocol::toJson(r));
    QCOMPARE(InstanceProtocol::toJson(r).value("args").toArray().at(1).toString(),
             QStringLiteral("x=1=2"));

    socket.write("{\"cmd\":\"cancel\",\"ids\":[17,9007199254740992]}\n");
    QCOMPARE(readReply(socket).value("ok"), QJsonValue(true));
    QCOMPARE(seen.last().ids, (QList<TaskId>{17, 9007199254740992ull}));
    socket.write("{\"cmd\":\"ps\",\"stacks\":true}\r\n");
    QCOMPARE(readReply(socket).value("ok"), QJsonValue(true));
    QVERIFY(seen.last().stacks);
    socket.write("{\"cmd\":\"open\",\"files\":[]}\n");
    QCOMPARE(readReply(socket).value("ok"), QJsonValue(true));
    QCOMPARE(seen.last().command, InstanceProtocol::Command::Open);
    QCOMPARE(seen.size(), 4);
}

void tst_Instance::malformedRequestGetsAnErrorAndTheServerGoesOn_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<QString>("error"); // a part of the error message

    QTest::newRow("not JSON") << QByteArray("hello") << "not JSON";
    QTest::newRow("truncated JSON") << QByteArray("{\"cmd\":\"ps\"") << "not JSON";
    QTest::newRow("a JSON array") << QByteArray("[\"ps\"]") << "JSON object";
    QTest::newRow("a JSON string") << QByteArray("\"ps\"") << "not JSON";
    QTest::newRow("empty object") << QByteArray("{}") << "\"cmd\"";
    QTest::newRow("cmd a number") << QByteArray("{\"cmd\":5}") << "\"cmd\"";
    QTest::newRow("cmd null") << QByteArray("{\"cmd\":null}") << "\"cmd\"";
    QTest::newRow("unknown cmd") << QByteArray("{\"cmd\":\"rm -rf\"}") << "unknown command";
    QTest::newRow("open without files") << QByteArray("{\"cmd\":\"open\"}") << "\"files\"";
    QTest::newRow("submit without files") << QByteArray("{\"cmd\":\"submit\"}") << "\"files\"";
    QTest::newRow("submit no files")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[]}") << "\"files\"";
    QTest::newRow("files a string")
        << QByteArray("{\"cmd\":\"submit\",\"files\":\"/a.lua\"}") << "\"files\"";
    QTest::newRow("file a number") << QByteArray("{\"cmd\":\"open\",\"files\":[1]}") << "\"files\"";
    QTest::newRow("relative file")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"a.lua\"]}") << "absolute";
    QTest::newRow("file with NUL")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\\u0000.lua\"]}") << "\"files\"";
    QTest::newRow("priority a string")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"priority\":\"high\"}")
        << "\"priority\"";
    QTest::newRow("priority a fraction")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"priority\":1.5}") << "\"priority\"";
    QTest::newRow("priority too big")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"priority\":1e40}")
        << "\"priority\"";
    QTest::newRow("zero timeout") << QByteArray(
                                         "{\"cmd\":\"submit\",\"files\":[\"/a\"],\"timeout_ms\":0}")
                                  << "\"timeout_ms\"";
    QTest::newRow("memory under 64KiB")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"memory_bytes\":1}")
        << "\"memory_bytes\"";
    QTest::newRow("timeout past 365 days")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"timeout_ms\":9223372036854}")
        << "\"timeout_ms\"";
    QTest::newRow("negative retries")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"retries\":-1}") << "\"retries\"";
    QTest::newRow("huge repeat")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"repeat\":2147483648}")
        << "\"repeat\"";
    QTest::newRow("too many tasks")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\",\"/b\"],\"repeat\":1000000}")
        << "at most";
    QTest::newRow("args an object")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"args\":{\"k\":\"v\"}}")
        << "\"args\"";
    QTest::newRow("arg without =")
        << QByteArray("{\"cmd\":\"submit\",\"files\":[\"/a\"],\"args\":[\"kv\"]}") << "\"args\"";
    QTest::newRow("stacks a string")
        << QByteArray("{\"cmd\":\"ps\",\"stacks\":\"yes\"}") << "\"stacks\"";
    QTest::newRow("cancel without ids") << QByteArray("{\"cmd\":\"cancel\"}") << "\"ids\"";
    QTest::newRow("cancel no ids") << QByteArray("{\"cmd\":\"cancel\",\"ids\":[]}") << "\"ids\"";
    QTest::newRow("id a string") << QByteArray("{\"cmd\":\"cancel\",\"ids\":[\"17\"]}")
                                 << "\"ids\"";
    QTest::newRow("id negative") << QByteArray("{\"cmd\":\"cancel\",\"ids\":[-1]}") << "\"ids\"";
    QTest::newRow("id zero") << QByteArray("{\"cmd\":\"cancel\",\"ids\":[0]}") << "\"ids\"";
    QTest::newRow("id beyond 2^53")
        << QByteArray("{\"cmd\":\"cancel\",\"ids\":[1e300]}") << "\"ids\"";
    QTest::newRow("binary garbage with NULs")
        << QByteArray("\x00\x01\xff\xfe{\x00\"cmd\"\x00:\x80\x81\x00}\x7f", 16) << "not JSON";
    QTest::newRow("invalid UTF-8 in a string")
        << QByteArray("{\"cmd\":\"p\xc3\x28\"}") << "not JSON";
    QTest::newRow("deep nesting") << QByteArray(5000, '[') << "not JSON";
}

void tst_Instance::malformedRequestGetsAnErrorAndTheServerGoesOn()
{
    QFETCH(QByteArray, line);
    QFETCH(QString, error);

    int handled = 0;
    InstanceServer server([&](const Request &request) {
        ++handled;
        return echo(request);
    });
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    QLocalSocket socket;
    socket.connectToServer(m_name);
    QVERIFY(socket.waitForConnected(5000));
    socket.write(line + '\n');
    const QJsonObject reply = readReply(socket);
    QCOMPARE(reply.value("ok"), QJsonValue(false));
    const QString message = reply.value("error").toString();
    QVERIFY2(message.contains(error), qPrintable(message));
    QVERIFY(!message.contains(u'\n'));
    QCOMPARE(handled, 0);

    // The same connection still works, and so does a new one.
    socket.write("{\"cmd\":\"ps\"}\n");
    QCOMPARE(readReply(socket).value("ok"), QJsonValue(true));
    QVERIFY(serverAnswers(m_name));
    QCOMPARE(handled, 2);
}

void tst_Instance::lineOverOneMebibyteIsRefusedAndItsConnectionClosed()
{
    InstanceServer server(echo);
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    QLocalSocket socket;
    // Whatever arrives is kept as it arrives: once the socket is unconnected Qt may
    // already have closed it, and what it had read is no longer readable.
    QByteArray received;
    connect(&socket, &QLocalSocket::readyRead, &socket, [&] { received += socket.readAll(); });
    socket.connectToServer(m_name);
    QVERIFY(socket.waitForConnected(5000));
    // One byte over the limit without a newline, written while the server reads. Not
    // more: bytes still being written when the server closes would fail the client's
    // write, and Qt then drops the refusal unread (a race with the server's close).
    qint64 left = InstanceProtocol::MaxRequestBytes + 1;
    while (left > 0 && socket.state() == QLocalSocket::ConnectedState) {
        const qint64 n = qMin<qint64>(left, 64 * 1024);
        socket.write(QByteArray(n, 'x'));
        left -= n;
        QTest::qWait(0);
    }
    QCOMPARE(left, 0);
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QLocalSocket::UnconnectedState, 10000);
    if (socket.isOpen())
        received += socket.readAll();
    const QJsonObject reply = parseLine(received.trimmed());
    QCOMPARE(reply.value("ok"), QJsonValue(false));
    QVERIFY2(reply.value("error").toString().contains("1 MiB"),
             qPrintable(reply.value("error").toString()));
    QTRY_COMPARE(server.clientCount(), 0);
    QVERIFY(serverAnswers(m_name));

    // The same with the newline at the end: a complete line is still too long.
    QLocalSocket second;
    second.connectToServer(m_name);
    QVERIFY(second.waitForConnected(5000));
    second.write("{\"cmd\":\"ps\",\"pad\":\"" + QByteArray(InstanceProtocol::MaxRequestBytes, ' ') +
                 "\"}\n");
    QTRY_COMPARE_WITH_TIMEOUT(second.state(), QLocalSocket::UnconnectedState, 10000);
    QVERIFY(serverAnswers(m_name));
}

void tst_Instance::halfALineThenDisconnectLeavesTheServerFine()
{
    int handled = 0;
    InstanceServer server([&](const Request &request) {
        ++handled;
        return echo(request);
    });
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    {
        QLocalSocket socket;
        socket.connectToServer(m_name);
        QVERIFY(socket.waitForConnected(5000));
        socket.write("{\"cmd\":\"submit\",\"fil");
        QVERIFY(socket.waitForBytesWritten(5000));
        QTRY_COMPARE(server.clientCount(), 1);
        socket.abort();
    }
    QTRY_COMPARE(server.clientCount(), 0);
    QCOMPARE(handled, 0);
    QVERIFY(serverAnswers(m_name));
}

void tst_Instance::twoRequestsInOneWriteGetTwoRepliesInOrder()
{
    InstanceServer server(echo);
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    verifyThreeRequestsAnsweredInOrder();
}

void tst_Instance::verifyThreeRequestsAnsweredInOrder()
{
    QLocalSocket socket;
    socket.connectToServer(m_name);
    QVERIFY(socket.waitForConnected(5000));
    socket.write("{\"cmd\":\"cancel\",\"ids\":[1]}\n{\"cmd\":\"cancel\",\"ids\":[2]}\nnonsense\n");
    const QJsonObject first = readReply(socket);
    const QJsonObject second = readReply(socket);
    const QJsonObject third = readReply(socket);
    QCOMPARE(first.value("echo").toObject().value("ids").toArray(), QJsonArray{1});
    QCOMPARE(second.value("echo").toObject().value("ids").toArray(), QJsonArray{2});
    QCOMPARE(third.value("ok"), QJsonValue(false));
}

// Issue 11: a handler may answer later (the dashboard asks its task source, which never
// blocks); a connection's replies still go out in the order of its requests.
void tst_Instance::laterRepliesGoOutInTheOrderOfTheirRequests()
{
    InstanceServer server([](const Request &request, InstanceServer::Reply reply) {
        const QByteArray line = InstanceProtocol::line(echo(request));
        if (request.ids.value(0) == 1)
            QTimer::singleShot(300, [reply, line] { reply(line); });
        else
            reply(line);
    });
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    verifyThreeRequestsAnsweredInOrder();
}

void tst_Instance::requestSplitAcrossWritesIsAnsweredOnce()
{
    int handled = 0;
    InstanceServer server([&](const Request &request) {
        ++handled;
        return echo(request);
    });
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    QLocalSocket socket;
    socket.connectToServer(m_name);
    QVERIFY(socket.waitForConnected(5000));
    const QByteArray request = "{\"cmd\":\"cancel\",\"ids\":[42]}\n";
    for (char c : request) {
        socket.write(&c, 1);
        QVERIFY(socket.waitForBytesWritten(5000));
        QCoreApplication::processEvents(); // the server may read each piece on its own
    }
    const QJsonObject reply = readReply(socket);
    QCOMPARE(reply.value("echo").toObject().value("ids").toArray(), QJsonArray{42});
    // The next reply is the next request's: none came twice.
    socket.write("{\"cmd\":\"cancel\",\"ids\":[43]}\n");
    QCOMPARE(readReply(socket).value("echo").toObject().value("ids").toArray(), QJsonArray{43});
    QCOMPARE(handled, 2);
}

void tst_Instance::hundredClientsAtOnceAreServedUpToTheLimitAndTheRestToldSo()
{
    InstanceServer server(echo);
    server.setEvictIdleAfter(600000); // however slowly they come, none counts as idle
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    std::vector<std::unique_ptr<QLocalSocket>> sockets;
    for (int i = 0; i < 100; ++i) {
        auto socket = std::make_unique<QLocalSocket>();
        QLocalSocket *s = socket.get();
        connect(s, &QLocalSocket::connected, s, [s] { s->write("{\"cmd\":\"ps\"}\n"); });
        s->connectToServer(m_name);
        sockets.push_back(std::move(socket));
    }
    auto allAnswered = [&] {
        for (const auto &s : sockets)
            if (!s->canReadLine())
                return false;
        return true;
    };
    QTRY_VERIFY_WITH_TIMEOUT(allAnswered(), 20000);
    int served = 0;
    int refused = 0;
    for (const auto &s : sockets) {
        const QJsonObject reply = parseLine(s->readLine().trimmed());
        if (reply.value("ok").toBool())
            ++served;
        else if (reply.value("error").toString().contains("too many clients"))
            ++refused;
    }
    QCOMPARE(served, InstanceServer::DefaultMaxClients);
    QCOMPARE(refused, 100 - InstanceServer::DefaultMaxClients);
    QCOMPARE(server.clientCount(), InstanceServer::DefaultMaxClients);

    sockets.clear();
    QTRY_COMPARE(server.clientCount(), 0);
    QVERIFY(serverAnswers(m_name));
}

void tst_Instance::idleConnectionIsClosed()
{
    InstanceServer server(echo);
    server.setIdleTimeout(300);
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    QLocalSocket socket;
    socket.connectToServer(m_name);
    QVERIFY(socket.waitForConnected(5000));
    socket.write("{\"cmd\":\"ps\"}\n"); // activity restarts the idle time
    QCOMPARE(readReply(socket).value("ok"), QJsonValue(true));
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QLocalSocket::UnconnectedState, 5000);
    QTRY_COMPARE(server.clientCount(), 0);
    QVERIFY(serverAnswers(m_name));
}

void tst_Instance::clientTricklingBytesIsDroppedAtTheIdleTimeout()
{
    InstanceServer server(echo);
    server.setIdleTimeout(500);
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    QLocalSocket socket;
    socket.connectToServer(m_name);
    QVERIFY(socket.waitForConnected(5000));
    // A byte every 50 ms, never a whole request: bytes alone must not keep the slot.
    QTimer trickle;
    connect(&trickle, &QTimer::timeout, &socket, [&] {
        if (socket.state() == QLocalSocket::ConnectedState)
            socket.write(" ");
    });
    trickle.start(50);
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QLocalSocket::UnconnectedState, 10000);
    QTRY_COMPARE(server.clientCount(), 0);
    QVERIFY(serverAnswers(m_name));
}

void tst_Instance::idleClientsAtTheLimitGiveWayToANewClient()
{
    InstanceServer server(echo);
    server.setMaxClients(4);
    server.setEvictIdleAfter(200);
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    // Four clients that connect and then say nothing hold every slot...
    std::vector<std::unique_ptr<QLocalSocket>> idle;
    for (int i = 0; i < 4; ++i) {
        idle.push_back(std::make_unique<QLocalSocket>());
        idle.back()->connectToServer(m_name);
        QVERIFY(idle.back()->waitForConnected(5000));
    }
    QTRY_COMPARE(server.clientCount(), 4);
    QTest::qWait(300); // ...for longer than the eviction time

    // ...yet the command line is served, and only one idle client lost its slot.
    QLocalSocket client;
    client.connectToServer(m_name);
    QVERIFY(client.waitForConnected(5000));
    client.write("{\"cmd\":\"ps\"}\n");
    QCOMPARE(readReply(client).value("ok"), QJsonValue(true));
    QTRY_COMPARE(server.clientCount(), 4);
    QTRY_VERIFY(std::count_if(idle.begin(), idle.end(), [](const auto &s) {
                    return s->state() == QLocalSocket::UnconnectedState;
                }) == 1);
}

void tst_Instance::socketLeftByACrashedInstanceIsReplaced()
{
    // What a killed instance leaves: a socket file nobody listens on.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    QVERIFY(fd >= 0);
    sockaddr_un address = {};
    address.sun_family = AF_UNIX;
    const QByteArray path = QFile::encodeName(m_name);
    QVERIFY(size_t(path.size()) < sizeof address.sun_path);
    std::memcpy(address.sun_path, path.constData(), size_t(path.size()));
    QCOMPARE(::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
    ::close(fd);
    QVERIFY(QFileInfo::exists(m_name));

    InstanceServer server(echo);
    QVERIFY2(server.listen(m_name), qPrintable(server.errorString()));
    QVERIFY(serverAnswers(m_name));
}

void tst_Instance::secondServerOnALiveSocketFails()
{
    InstanceServer first(echo);
    QVERIFY2(first.listen(m_name), qPrintable(first.errorString()));
    InstanceServer second(echo);
    QVERIFY(!second.listen(m_name));
    QVERIFY2(second.errorString().contains("another Taskdeck"), qPrintable(second.errorString()));
    QVERIFY(serverAnswers(m_name)); // the first one is untouched
}

void tst_Instance::socketNameIsPrivateAndDependsOnTheCanonicalDataDir()
{
    QTemporaryDir dir;
    QVERIFY(QDir().mkpath(dir.filePath("data")));
    QVERIFY(QFile::link(dir.filePath("data"), dir.filePath("link")));
    const QString name = InstanceProtocol::serverName(dir.filePath("data"));
    QVERIFY(!name.isEmpty());
    QCOMPARE(InstanceProtocol::serverName(dir.filePath("link")), name);
    QCOMPARE(InstanceProtocol::serverName(dir.filePath("data/../data/")), name);
    QVERIFY(InstanceProtocol::serverName(dir.filePath("other")) != name);
    // Not existing yet: named as it will be once made.
    QCOMPARE(InstanceProtocol::serverName(dir.filePath("link/new")),
             InstanceProtocol::serverName(dir.filePath("data/new")));
    QVERIFY2(QFileInfo(name).fileName().startsWith(QStringLiteral("taskdeck-%1-").arg(::getuid())),
             qPrintable(name));
    const QFileInfo socketDir(QFileInfo(name).path());
    QVERIFY(socketDir.isDir());
    QCOMPARE(socketDir.ownerId(), uint(::getuid()));
    QCOMPARE(socketDir.permissions() & (QFile::ReadGroup | QFile::WriteGroup | QFile::ExeGroup |
                                        QFile::ReadOther | QFile::WriteOther | QFile::ExeOther),
             QFile::Permissions());
}

void tst_Instance::clientSendsARequestAndReadsItsReply()
{
    // The client blocks, so the server runs on a thread of its own here.
    QThread thread;
    thread.start();
    auto *server = new InstanceServer(echo);
    server->moveToThread(&thread);
    bool listening = false;
    QMetaObject::invokeMethod(
        server, [&] { listening = server->listen(m_name); }, Qt::BlockingQueuedConnection);
    QVERIFY(listening);

    InstanceClient client;
    QVERIFY2(client.connectTo(m_name), qPrintable(client.errorString()));
    Request request;
    request.command = InstanceProtocol::Command::Cancel;
    request.ids = {3, 4};
    auto reply = client.request(request);
    QVERIFY2(reply, qPrintable(client.errorString()));
    QCOMPARE(reply->value("ok"), QJsonValue(true));
    QCOMPARE(reply->value("echo").toObject(), InstanceProtocol::toJson(request));
    reply = client.request(QJsonObject{{"cmd", "nonsense"}}); // same connection, again
    QVERIFY(reply);
    QCOMPARE(reply->value("ok"), QJsonValue(false));

    QMetaObject::invokeMethod(
        server, [server] { delete server; }, Qt::BlockingQueuedConnection);
    thread.quit();
    thread.wait();
    reply = client.request(request, 2000);
    QVERIFY(!reply);
    QVERIFY(!client.errorString().isEmpty());
}

void tst_Instance::clientWithoutServerSaysNobodyListens()
{
    InstanceClient client;
    QVERIFY(!client.connectTo(m_name));
    QVERIFY(client.isNobodyListening());
    QVERIFY(!client.request(QJsonObject{{"cmd", "ps"}}));
}

// ---- the binary ----

Run tst_Instance::run(const QStringList &args, const QString &workDir) const
{
    return runProgram(m_bin, args, m_env, workDir, 60000);
}

QList<QJsonObject> tst_Instance::ps(const QString &dataDir, bool stacks) const
{
    QStringList args{"ps", "--json", "--data-dir", dataDir};
    if (stacks)
        args.append("--stacks");
    const Run r = run(args);
    if (r.exitCode != 0)
        qWarning("ps failed: %s", qPrintable(r.describe()));
    return jsonLines(r);
}

QString tst_Instance::psState(const QString &dataDir, qint64 id) const
{
    return taskById(ps(dataDir), id).value(QStringLiteral("state")).toString();
}

std::unique_ptr<QProcess> tst_Instance::startDashboard(const QString &dataDir,
                                                       const QStringList &files,
                                                       qint64 fileSizeLimit) const
{
    auto dashboard = std::make_unique<QProcess>();
    if (fileSizeLimit > 0)
        dashboard->setChildProcessModifier(
            [fileSizeLimit] { FileSizeLimit::setInChild(fileSizeLimit); });
    dashboard->setProcessEnvironment(m_env);
    dashboard->setStandardInputFile(QProcess::nullDevice());
    dashboard->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    dashboard->start(m_bin, QStringList{"--data-dir", dataDir} + files);
    if (!dashboard->waitForStarted(10000))
        return nullptr;
    const bool answers = QTest::qWaitFor(
        [&] {
            return dashboard->state() != QProcess::Running ||
                   run({"ps", "--data-dir", dataDir}).exitCode == 0;
        },
        30000);
    if (!answers || dashboard->state() != QProcess::Running)
        return nullptr;
    return dashboard;
}

void tst_Instance::stopDashboard(QProcess &dashboard) const
{
    dashboard.terminate();
    QVERIFY2(dashboard.waitForFinished(30000), "the dashboard did not quit on SIGTERM");
    QCOMPARE(dashboard.exitStatus(), QProcess::NormalExit);
    QCOMPARE(dashboard.exitCode(), 0);
}

void tst_Instance::submitPsAndCancelTalkToTheRunningDashboard()
{
    QTemporaryDir data;
    ScriptDir scripts;
    scripts.write("sleeper.lua", "sleep(60)\n");
    scripts.write("quick.lua", "-- @name quick one\nreturn 2\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);

    // Relative paths: the dashboard runs elsewhere, the client makes them absolute.
    const Run submitted =
        run({"submit", "--data-dir", data.path(), "sleeper.lua", "quick.lua"}, scripts.path());
    QCOMPARE(submitted.exitCode, 0);
    const QList<qint64> ids = submittedIds(submitted);
    QCOMPARE(ids.size(), 2);
    QVERIFY2(submitted.outLines().at(0).startsWith("submitted sleeper.lua as task "),
             qPrintable(submitted.describe()));
    const qint64 sleeper = ids.at(0);
    const qint64 quick = ids.at(1);

    QTRY_COMPARE_WITH_TIMEOUT(psState(data.path(), quick), QStringLiteral("succeeded"), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(psState(data.path(), sleeper), QStringLiteral("running"), 10000);
    const QList<QJsonObject> tasks = ps(data.path());
    QCOMPARE(tasks.size(), 2);
    const QJsonObject done = taskById(tasks, quick);
    QStringList keys{"id",         "name",     "file",     "state",      "result",
                     "error",      "stack",    "attempts", "started_at", "finished_at",
                     "duration_s", "priority", "group",    "progress",   "after"};
    keys.sort();
    QCOMPARE(done.keys(), keys);
    QCOMPARE(done.value("name").toString(), QStringLiteral("quick one"));
    QCOMPARE(done.value("file").toString(), scripts.path() + QStringLiteral("/quick.lua"));
    QCOMPARE(done.value("result"), QJsonValue(2));
    QCOMPARE(done.value("group").toString(), QStringLiteral("default"));
    QCOMPARE(done.value("priority").toInt(), 0);

    const Run table = run({"ps", "--data-dir", data.path()});
    QCOMPARE(table.exitCode, 0);
    QVERIFY2(table.outLines().first().startsWith(QStringLiteral("ID")),
             qPrintable(table.describe()));
    QVERIFY2(table.outLines()
                     .filter(QRegularExpression(
                         QStringLiteral("^\\s*%1\\s+quick one\\s+succeeded\\s").arg(quick)))
                     .size() == 1,
             qPrintable(table.describe()));

    const Run cancelled = run({"cancel", "--data-dir", data.path(), QString::number(sleeper)});
    QCOMPARE(cancelled.exitCode, 0);
    QCOMPARE(cancelled.outLines(), QStringList{QStringLiteral("cancelled task %1").arg(sleeper)});
    QTRY_COMPARE_WITH_TIMEOUT(psState(data.path(), sleeper), QStringLiteral("cancelled"), 10000);

    const Run ended = run({"cancel", "--data-dir", data.path(), "--json", QString::number(quick)});
    QCOMPARE(ended.exitCode, 0);
    const QJsonObject endedReply = parseLine(ended.out.trimmed());
    QCOMPARE(endedReply.value("finished").toArray().first().toObject().value("state"),
             QJsonValue("succeeded"));

    const Run unknown = run({"cancel", "--data-dir", data.path(), "999999"});
    QCOMPARE(unknown.exitCode, 1);
    QVERIFY2(unknown.err.contains("no task 999999"), qPrintable(unknown.describe()));

    stopDashboard(*dashboard);
}

void tst_Instance::psStacksShowsWhereARunningTaskIsSuspended()
{
    QTemporaryDir data;
    ScriptDir scripts;
    const QString path = scripts.write("nap.lua", "local function nap()\n"
                                                  "  sleep(60)\n"
                                                  "end\n"
                                                  "nap()\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);
    const Run submitted = run({"submit", "--data-dir", data.path(), path});
    QCOMPARE(submitted.exitCode, 0);
    const qint64 id = submittedIds(submitted).value(0);

    auto awaiting = [&] {
        return taskById(ps(data.path(), true), id)
            .value("stack")
            .toObject()
            .value("awaiting")
            .toString();
    };
    QTRY_COMPARE_WITH_TIMEOUT(awaiting(), QStringLiteral("sleep(60)"), 10000);
    const QJsonObject task = taskById(ps(data.path(), true), id);
    QCOMPARE(task.value("state").toString(), QStringLiteral("running"));
    const QJsonObject innermost =
        task.value("stack").toObject().value("frames").toArray().first().toObject();
    QCOMPARE(innermost.value("file").toString(), path);
    QCOMPARE(innermost.value("line").toInt(), 2);
    QVERIFY(ps(data.path(), false).first().value("stack").isNull());

    const Run table = run({"ps", "--stacks", "--data-dir", data.path()});
    QCOMPARE(table.exitCode, 0);
    const QString text = QString::fromUtf8(table.out);
    QVERIFY2(text.contains(QStringLiteral("\n    awaiting sleep(60)\n      at %1:2 in ").arg(path)),
             qPrintable(table.describe()));

    stopDashboard(*dashboard);
}

// An escape sequence in a name or an error once reached the terminal of `taskdeck ps`.
void tst_Instance::psShowsControlCharactersOfATaskInsteadOfObeyingThem()
{
    QTemporaryDir data;
    ScriptDir scripts;
    const QString path = scripts.write("hostile.lua", "-- @name \x1b]0;owned\x07"
                                                      "evil\n"
                                                      "error('\\27[2Jred\\194\\155x', 0)\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);
    const Run submitted = run({"submit", "--data-dir", data.path(), path});
    QCOMPARE(submitted.exitCode, 0);
    const qint64 id = submittedIds(submitted).value(0);
    QTRY_COMPARE_WITH_TIMEOUT(psState(data.path(), id), QStringLiteral("failed"), 10000);

    const Run table = run({"ps", "--stacks", "--data-dir", data.path()});
    QCOMPARE(table.exitCode, 0);
    const QString text = QString::fromUtf8(table.out);
    QVERIFY2(!text.contains(QChar(0x1b)) && !text.contains(QChar(0x07)) &&
                 !text.contains(QChar(0x9b)),
             table.out.toPercentEncoding().constData());
    QVERIFY2(text.contains(QStringLiteral("\\x1b]0;owned\\x07evil")), qPrintable(table.describe()));
    QVERIFY2(text.contains(QStringLiteral("\\x1b[2Jred\\u009bx")), qPrintable(table.describe()));
    stopDashboard(*dashboard);
}

void tst_Instance::fileArgumentIsHandedToTheRunningDashboard()
{
    QTemporaryDir data;
    ScriptDir scripts;
    scripts.write("c.lua", "return 'from c'\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);

    const Run second = run({"--data-dir", data.path(), "c.lua"}, scripts.path());
    QVERIFY2(second.finished && second.exitCode == 0, qPrintable(second.describe()));
    QVERIFY2(second.elapsedMs < 10000, qPrintable(QString::number(second.elapsedMs)));
    QCOMPARE(second.outLines(), QStringList{"taskdeck: handed 1 file(s) to the running Taskdeck"});
    QCOMPARE(dashboard->state(), QProcess::Running);
    auto cTask = [&] {
        for (const QJsonObject &task : ps(data.path()))
            if (task.value("file").toString() == scripts.path() + QStringLiteral("/c.lua"))
                return task;
        return QJsonObject();
    };
    QTRY_COMPARE_WITH_TIMEOUT(cTask().value("state").toString(), QStringLiteral("succeeded"),
                              10000);
    QCOMPARE(cTask().value("result"), QJsonValue("from c"));

    // Without files it only brings the running window forward.
    const Run bare = run({"--data-dir", data.path()});
    QCOMPARE(bare.exitCode, 0);
    QCOMPARE(bare.outLines(), QStringList{"taskdeck: raised the running Taskdeck"});
    QCOMPARE(ps(data.path()).size(), 1);

    stopDashboard(*dashboard);
}

void tst_Instance::garbageOnTheDashboardsSocketLeavesItWorking()
{
    QTemporaryDir data;
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);
    const QString name = InstanceProtocol::serverName(data.path());
    QVERIFY(QFileInfo::exists(name));

    QLocalSocket garbage;
    garbage.connectToServer(name);
    QVERIFY(garbage.waitForConnected(5000));
    const char bytes[] = "\x00\xff{\"cmd\":\x00}\n[1,2]\n{\"cmd\":\"cancel\",\"ids\":\"all\"}\n";
    garbage.write(bytes, sizeof bytes - 1);
    for (int i = 0; i < 3; ++i) {
        QVERIFY(QTest::qWaitFor([&] { return garbage.canReadLine(); }, 10000));
        QCOMPARE(parseLine(garbage.readLine()).value("ok"), QJsonValue(false));
    }
    QLocalSocket endless;
    endless.connectToServer(name);
    QVERIFY(endless.waitForConnected(5000));
    const QByteArray chunk(256 * 1024, '{');
    for (int i = 0; i < 8 && endless.state() == QLocalSocket::ConnectedState; ++i) {
        endless.write(chunk);
        endless.waitForBytesWritten(1000);
    }
    QTRY_COMPARE_WITH_TIMEOUT(endless.state(), QLocalSocket::UnconnectedState, 10000);
    {
        QLocalSocket half;
        half.connectToServer(name);
        QVERIFY(half.waitForConnected(5000));
        half.write("{\"cmd\":\"sub");
        QVERIFY(half.waitForBytesWritten(5000));
    }

    const Run r = run({"ps", "--json", "--data-dir", data.path()});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(dashboard->state(), QProcess::Running);
    stopDashboard(*dashboard);
}

void tst_Instance::submitOptionsReachTheTasks()
{
    QTemporaryDir data;
    ScriptDir scripts;
    const QString path = scripts.write("args.lua", "-- @priority 1\n"
                                                   "-- @arg who=script\n"
                                                   "return task.args.who .. task.args.n\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);
    const Run submitted = run({"submit", "--data-dir", data.path(), "--json", "--priority", "7",
                               "--arg", "who=cli", "--arg", "n=1", "--repeat", "3", path});
    QCOMPARE(submitted.exitCode, 0);
    const QJsonObject reply = parseLine(submitted.out.trimmed());
    QCOMPARE(reply.value("ok"), QJsonValue(true));
    const QJsonArray ids = reply.value("ids").toArray();
    QCOMPARE(ids.size(), 3);
    QCOMPARE(reply.value("submitted").toArray().first().toObject().value("ids").toArray(), ids);
    QCOMPARE(reply.value("rejected").toArray(), QJsonArray());

    auto allSucceeded = [&] {
        const QList<QJsonObject> tasks = ps(data.path());
        for (const QJsonValue &id : ids)
            if (taskById(tasks, id.toInteger()).value("state") != QStringLiteral("succeeded"))
                return false;
        return true;
    };
    QTRY_VERIFY_WITH_TIMEOUT(allSucceeded(), 10000);
    for (const QJsonValue &id : ids) {
        const QJsonObject task = taskById(ps(data.path()), id.toInteger());
        QCOMPARE(task.value("priority").toInt(), 7);
        QCOMPARE(task.value("result"), QJsonValue("cli1"));
    }

    // Human output names the range of ids.
    const Run repeated = run({"submit", "--data-dir", data.path(), "--repeat", "2", path});
    QCOMPARE(repeated.exitCode, 0);
    QVERIFY2(repeated.outLines().value(0).contains(QRegularExpression(" as tasks \\d+-\\d+$")),
             qPrintable(repeated.describe()));
    stopDashboard(*dashboard);
}

void tst_Instance::rejectedFileIsReportedAndExitsOne()
{
    QTemporaryDir data;
    ScriptDir scripts;
    const QString good = scripts.write("good.lua", "return 1\n");
    const QString bad = scripts.write("bad.lua", "-- @bogus 1\nreturn 1\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);
    const Run r =
        run({"submit", "--data-dir", data.path(), good, bad, scripts.path() + "/missing.lua"});
    QCOMPARE(r.exitCode, 1);
    QCOMPARE(submittedIds(r).size(), 1);
    QVERIFY2(r.err.contains(
                 QStringLiteral("taskdeck: %1:1: unknown directive @bogus").arg(bad).toUtf8()),
             qPrintable(r.describe()));
    QVERIFY2(r.err.contains("missing.lua: no such file"), qPrintable(r.describe()));

    const Run json = run({"submit", "--json", "--data-dir", data.path(), bad});
    QCOMPARE(json.exitCode, 1);
    const QJsonObject reply = parseLine(json.out.trimmed());
    QCOMPARE(reply.value("ids").toArray(), QJsonArray());
    QCOMPARE(reply.value("rejected").toArray().size(), 1);
    QCOMPARE(ps(data.path()).size(), 1);
    stopDashboard(*dashboard);
}

void tst_Instance::commandsWithoutARunningDashboardExitOne()
{
    QTemporaryDir data;
    ScriptDir scripts;
    const QString path = scripts.write("a.lua", "return 1\n");
    const QString expected =
        QStringLiteral("taskdeck: no running Taskdeck for %1 (start the dashboard with "
                       "`taskdeck`)\n")
            .arg(data.path());
    for (const QStringList &args : {QStringList{"submit", path}, QStringList{"ps"},
                                    QStringList{"ps", "--json"}, QStringList{"cancel", "1"}}) {
        const Run r = run(args + QStringList{"--data-dir", data.path()});
        QCOMPARE(r.exitCode, 1);
        QCOMPARE(QString::fromUtf8(r.err), expected);
        QVERIFY(r.out.isEmpty());
    }
}

void tst_Instance::otherDataDirIsASeparateInstance()
{
    QTemporaryDir first;
    QTemporaryDir second;
    ScriptDir scripts;
    const QString path = scripts.write("a.lua", "return 1\n");
    auto one = startDashboard(first.path());
    QVERIFY(one);
    auto two = startDashboard(second.path());
    QVERIFY2(two, "a dashboard for another data directory did not start on its own");
    QCOMPARE(one->state(), QProcess::Running);

    QCOMPARE(run({"submit", "--data-dir", second.path(), path}).exitCode, 0);
    QCOMPARE(ps(second.path()).size(), 1);
    QCOMPARE(ps(first.path()).size(), 0);
    stopDashboard(*two);
    stopDashboard(*one);
}

void tst_Instance::twoDashboardsStartingTogetherMakeOneInstance()
{
    QTemporaryDir data;
    QProcess a;
    QProcess b;
    for (QProcess *p : {&a, &b}) {
        p->setProcessEnvironment(m_env);
        p->setStandardInputFile(QProcess::nullDevice());
        p->start(m_bin, {"--data-dir", data.path()});
    }
    QVERIFY(a.waitForStarted() && b.waitForStarted());
    // One of them hands over to the other and ends; the other stays.
    QTRY_VERIFY_WITH_TIMEOUT(a.state() == QProcess::NotRunning || b.state() == QProcess::NotRunning,
                             30000);
    QProcess &ended = a.state() == QProcess::NotRunning ? a : b;
    QProcess &primary = &ended == &a ? b : a;
    QCOMPARE(ended.exitStatus(), QProcess::NormalExit);
    QCOMPARE(ended.exitCode(), 0);
    QVERIFY2(ended.readAllStandardOutput().contains("raised the running Taskdeck"),
             ended.readAllStandardError().constData());
    QCOMPARE(primary.state(), QProcess::Running);
    QCOMPARE(run({"ps", "--data-dir", data.path()}).exitCode, 0);
    stopDashboard(primary);
}

void tst_Instance::acknowledgedSubmitSurvivesAKill9()
{
    QTemporaryDir data;
    ScriptDir scripts;
    const QString path = scripts.write("long.lua", "-- @group slow\nsleep(60)\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);
    const Run submitted = run({"submit", "--data-dir", data.path(), path});
    QCOMPARE(submitted.exitCode, 0);
    const qint64 id = submittedIds(submitted).value(0);
    dashboard->kill(); // SIGKILL at once: nothing but what was committed remains
    QVERIFY(dashboard->waitForFinished(10000));

    // The lock and the socket it left behind do not stop the next start.
    auto again = startDashboard(data.path());
    QVERIFY2(again, "a dashboard did not start after the last one was killed");
    const QJsonObject task = taskById(ps(data.path()), id);
    QVERIFY2(!task.isEmpty(), "the acknowledged task was lost");
    QCOMPARE(task.value("file").toString(), path);
    // Pending if it was killed before its start was recorded (it runs again), else
    // interrupted.
    QVERIFY2(
        QStringList({"pending", "running", "interrupted"}).contains(task.value("state").toString()),
        qPrintable(task.value("state").toString()));
    stopDashboard(*again);
}

// A full disk (the dashboard may not grow a file past 256 KiB): a submit the store cannot
// write exits 1 and says so, and its tasks are queued all the same.
void tst_Instance::submitThatTheStoreCannotWriteExitsOneAndSaysTheTasksAreNotSaved()
{
    QTemporaryDir data;
    ScriptDir scripts;
    const QString small = scripts.write("small.lua", "return 1\n");
    // Its source goes into the store with it: more than the store's files may grow.
    const QString big =
        scripts.write("big.lua", "--" + QByteArray(600 * 1024, 'x') + "\nreturn 2\n");
    auto dashboard = startDashboard(data.path(), {}, 256 * 1024);
    QVERIFY(dashboard);

    const Run saved = run({"submit", "--data-dir", data.path(), small});
    QCOMPARE(saved.exitCode, 0);
    QVERIFY2(saved.err.isEmpty(), qPrintable(saved.describe()));

    const Run full = run({"submit", "--data-dir", data.path(), big});
    QCOMPARE(full.exitCode, 1);
    const QList<qint64> ids = submittedIds(full);
    QCOMPARE(ids.size(), 1);
    const QString store = QDir(data.path()).filePath("taskdeck.db");
    const QStringList err = full.errLines();
    QCOMPARE(err.size(), 1);
    const QString expected =
        QStringLiteral("taskdeck: NOT SAVED: cannot write the task store %1: ").arg(store);
    QVERIFY2(err.first().startsWith(expected), qPrintable(full.describe()));
    QVERIFY2(err.first().endsWith(QStringLiteral("; task %1 is queued and will run, but will be "
                                                 "lost if Taskdeck stops before its store can "
                                                 "write again")
                                      .arg(ids.first())),
             qPrintable(full.describe()));
    QTRY_COMPARE_WITH_TIMEOUT(psState(data.path(), ids.first()), QStringLiteral("succeeded"),
                              20000);

    // The store keeps failing (what it could not write is still due) and says so each time.
    const Run json = run({"submit", "--json", "--data-dir", data.path(), small, small});
    QCOMPARE(json.exitCode, 1);
    const QJsonObject reply = parseLine(json.out.trimmed());
    QCOMPARE(reply.value("ok"), QJsonValue(false));
    QCOMPARE(reply.value("saved"), QJsonValue(false));
    QVERIFY2(reply.value("error").toString().startsWith("cannot write the task store "),
             qPrintable(json.describe()));
    QCOMPARE(reply.value("ids").toArray().size(), 2);
    QVERIFY2(json.err.contains("NOT SAVED"), qPrintable(json.describe()));

    // Files handed over by `taskdeck FILE...` are in the same case.
    const Run handed = run({"--data-dir", data.path(), small});
    QCOMPARE(handed.exitCode, 1);
    QVERIFY2(handed.out.contains("handed 1 file(s)"), qPrintable(handed.describe()));
    QVERIFY2(handed.err.startsWith("taskdeck: NOT SAVED: cannot write the task store "),
             qPrintable(handed.describe()));
    stopDashboard(*dashboard);
}

// A dashboard that runs without a store (its file is a directory) queues what is
// submitted, and the submit says on stderr that it will not survive a restart.
void tst_Instance::submitWithoutAStoreSaysTheTasksWillNotSurviveARestart()
{
    QTemporaryDir data;
    QVERIFY(QDir(data.path()).mkdir("taskdeck.db"));
    ScriptDir scripts;
    const QString path = scripts.write("a.lua", "return 1\n");
    const QString other = scripts.write("b.lua", "return 2\n");
    auto dashboard = startDashboard(data.path());
    QVERIFY(dashboard);
    const Run r = run({"submit", "--data-dir", data.path(), path, other});
    QCOMPARE(r.exitCode, 0);
    const QList<qint64> ids = submittedIds(r);
    QCOMPARE(ids.size(), 2);
    QCOMPARE(r.errLines(),
             QStringList{QStringLiteral("taskdeck: NOT SAVED: the running Taskdeck has no task "
                                        "store (see its window for why); tasks %1-%2 will run, "
                                        "but will not survive a restart of Taskdeck")
                             .arg(ids.first())
                             .arg(ids.first() + 1)});
    const Run json = run({"submit", "--json", "--data-dir", data.path(), path});
    QCOMPARE(json.exitCode, 0);
    QCOMPARE(parseLine(json.out.trimmed()).value("saved"), QJsonValue(false));
    stopDashboard(*dashboard);
}

void tst_Instance::usageErrorExitsTwo_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::newRow("submit without files") << QStringList{"submit"};
    QTest::newRow("submit unknown option") << QStringList{"submit", "--bogus", "a.lua"};
    QTest::newRow("submit word --timeout") << QStringList{"submit", "--timeout", "soon", "a.lua"};
    QTest::newRow("submit zero --repeat") << QStringList{"submit", "--repeat", "0", "a.lua"};
    QTest::newRow("submit bad --arg") << QStringList{"submit", "--arg", "novalue", "a.lua"};
    QTest::newRow("ps with an argument") << QStringList{"ps", "extra"};
    QTest::newRow("ps unknown option") << QStringList{"ps", "--bogus"};
    QTest::newRow("cancel without ids") << QStringList{"cancel"};
    QTest::newRow("cancel a word") << QStringList{"cancel", "abc"};
    QTest::newRow("cancel a negative id") << QStringList{"cancel", "-5"};
    QTest::newRow("cancel a number and a word") << QStringList{"cancel", "3", "x3"};
    QTest::newRow("--data-dir without value") << QStringList{"ps", "--data-dir"};
}

void tst_Instance::usageErrorExitsTwo()
{
    QFETCH(QStringList, args);
    const Run r = run(args);
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains("Try 'taskdeck " + args.first().toUtf8() + " --help'"),
             qPrintable(r.describe()));
    QVERIFY(r.out.isEmpty());
}

void tst_Instance::helpExitsZero_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("expected");
    QTest::newRow("submit --help") << QStringList{"submit", "--help"} << "--priority";
    QTest::newRow("submit --help usage")
        << QStringList{"submit", "--help"} << "Usage: taskdeck submit [options] FILE...";
    QTest::newRow("ps --help") << QStringList{"ps", "--help"} << "--stacks";
    QTest::newRow("cancel -h") << QStringList{"cancel", "-h"} << "--data-dir";
    QTest::newRow("--help") << QStringList{"--help"} << "taskdeck submit";
}

void tst_Instance::helpExitsZero()
{
    QFETCH(QStringList, args);
    QFETCH(QString, expected);
    const Run r = run(args);
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(QString::fromUtf8(r.out).contains(expected), qPrintable(r.describe()));
}

QTEST_GUILESS_MAIN(tst_Instance)
#include "tst_instance.moc"
