// The cluster's Redis connection (issue 12, SPEC section 8): URLs, replies, pipelining,
// scripts that survive a flush or a restart, timeouts, reconnects, and the three
// failures that must end a command line quickly (unreachable, wrong password, Redis < 7).
// Each test starts its own redis-server on a unix socket in a temporary directory.
#include "cluster/redisclient.h"
#include "redisserver.h"

#include <QElapsedTimer>
#include <QLocalServer>
#include <QLocalSocket>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <hiredis/hiredis.h>

#include <memory>

using namespace std::chrono_literals;

namespace {

constexpr int WaitMs = 20000; // generous: these machines are shared and noisy

RedisClient::Options optionsFor(const RedisUrl &url)
{
    RedisClient::Options options;
    options.url = url;
    options.connectTimeoutMs = 5000;
    options.commandTimeoutMs = 5000;
    options.minBackoffMs = 20;
    options.maxBackoffMs = 200;
    return options;
}

// Replies in the order their callbacks ran.
struct Replies
{
    QList<RedisReply> list;
    RedisClient::Callback add()
    {
        return [this](const RedisReply &reply) { list.append(reply); };
    }
};

QList<QByteArray> args(const QString &text)
{
    QList<QByteArray> argv;
    for (const QString &word : text.split(u' ', Qt::SkipEmptyParts))
        argv.append(word.toUtf8());
    return argv;
}

// A server that speaks RESP but is not Redis: it answers INFO with `info` and anything
// else with +OK, or nothing at all when `silent`.
class FakeRedis
{
public:
    FakeRedis(QByteArray info, bool silent) : m_info(std::move(info)), m_silent(silent)
    {
        m_server.listen(m_dir.filePath(QStringLiteral("fake.sock")));
        QObject::connect(&m_server, &QLocalServer::newConnection, &m_server, [this] {
            while (QLocalSocket *socket = m_server.nextPendingConnection())
                serve(socket);
        });
    }
    RedisUrl url() const
    {
        RedisUrl url;
        url.scheme = RedisUrl::Scheme::Unix;
        url.socketPath = m_server.fullServerName();
        return url;
    }
    int connections() const { return m_connections; }

private:
    void serve(QLocalSocket *socket)
    {
        ++m_connections;
        auto reader = std::shared_ptr<redisReader>(redisReaderCreate(), redisReaderFree);
        QObject::connect(socket, &QLocalSocket::readyRead, socket, [this, socket, reader] {
            const QByteArray data = socket->readAll();
            redisReaderFeed(reader.get(), data.constData(), size_t(data.size()));
            void *object = nullptr;
            while (redisReaderGetReply(reader.get(), &object) == REDIS_OK && object) {
                auto *command = static_cast<redisReply *>(object);
                const QByteArray name = command->type == REDIS_REPLY_ARRAY && command->elements
                                            ? QByteArray(command->element[0]->str).toUpper()
                                            : QByteArray();
                freeReplyObject(object);
                if (m_silent)
                    continue;
                if (name == "INFO")
                    socket->write("$" + QByteArray::number(m_info.size()) + "\r\n" + m_info
                                  + "\r\n");
                else
                    socket->write("+OK\r\n");
            }
        });
    }

    QTemporaryDir m_dir;
    QLocalServer m_server;
    QByteArray m_info;
    bool m_silent;
    int m_connections = 0;
};

} // namespace

class TestRedisClient : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void parsesUrls_data();
    void parsesUrls();
    void rejectsMalformedUrls_data();
    void rejectsMalformedUrls();
    void displayNeverShowsThePassword();
    void scriptSha1IsOfItsSource();
    void repliesKeepTheirTypes();
    void pipelinedRepliesComeInOrder();
    void commandsBeforeOpenAreSentOnceReady();
    void queueBeyondItsLimitIsRefused();
    void selectsTheDbAndNamesTheClient();
    void evalLoadsTheScriptAfterFlushAndRestart();
    void evalOfABrokenScriptGivesTheCompileError();
    void commandTimeoutDisconnectsThenReconnects();
    void stoppedServerTimesOutUntilItResumes();
    void reconnectsAfterKillAndSendsQueuedCommands();
    void unreachableServerFailsWithinTheTimeout();
    void silentServerFailsWithinTheConnectTimeout();
    void wrongPasswordIsFatal();
    void missingPasswordIsFatal();
    void aclUserLogsIn();
    void serverOlderThan7IsFatal();
    void closeFailsWaitingCommands();
    void tlsWithTheTestsCa();
    void tlsWithoutTheCaIsRefused();
};

void TestRedisClient::parsesUrls_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("scheme");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("socketPath");
    QTest::addColumn<QString>("user");
    QTest::addColumn<QString>("password");
    QTest::addColumn<int>("db");
    using S = RedisUrl::Scheme;
    QTest::newRow("host") << "redis://example.org" << int(S::Tcp) << "example.org" << 6379
                          << "" << "" << "" << 0;
    QTest::newRow("host port db") << "redis://10.0.0.2:7000/3" << int(S::Tcp) << "10.0.0.2"
                                  << 7000 << "" << "" << "" << 3;
    QTest::newRow("password only") << "redis://:s3cret@h" << int(S::Tcp) << "h" << 6379 << ""
                                   << "" << "s3cret" << 0;
    QTest::newRow("password without colon") << "redis://s3cret@h/" << int(S::Tcp) << "h"
                                            << 6379 << "" << "" << "s3cret" << 0;
    QTest::newRow("user and password") << "redis://worker:p%40ss%2Fw%3Ard@h:1/2" << int(S::Tcp)
                                       << "h" << 1 << "" << "worker" << "p@ss/w:rd" << 2;
    QTest::newRow("tls") << "rediss://alice:pw@redis.example:6380" << int(S::Tls)
                         << "redis.example" << 6380 << "" << "alice" << "pw" << 0;
    QTest::newRow("ipv6") << "redis://[::1]:6390/1" << int(S::Tcp) << "::1" << 6390 << ""
                          << "" << "" << 1;
    QTest::newRow("db as parameter") << "redis://h?db=5" << int(S::Tcp) << "h" << 6379 << ""
                                     << "" << "" << 5;
    QTest::newRow("unix") << "unix:///run/redis/redis.sock" << int(S::Unix) << "127.0.0.1"
                          << 6379 << "/run/redis/redis.sock" << "" << "" << 0;
    QTest::newRow("unix with login and db")
        << "unix://bob:pw@/tmp/my%20dir/r.sock?db=4" << int(S::Unix) << "127.0.0.1" << 6379
        << "/tmp/my dir/r.sock" << "bob" << "pw" << 4;
    QTest::newRow("scheme case, spaces") << "  REDIS://h  " << int(S::Tcp) << "h" << 6379 << ""
                                         << "" << "" << 0;
}

void TestRedisClient::parsesUrls()
{
    QFETCH(QString, text);
    QString error;
    const std::optional<RedisUrl> url = RedisUrl::parse(text, &error);
    QVERIFY2(url, qPrintable(error));
    QFETCH(int, scheme);
    QCOMPARE(int(url->scheme), scheme);
    QFETCH(QString, host);
    QFETCH(int, port);
    QFETCH(QString, socketPath);
    QFETCH(QString, user);
    QFETCH(QString, password);
    QFETCH(int, db);
    QCOMPARE(url->host, host);
    QCOMPARE(int(url->port), port);
    QCOMPARE(url->socketPath, socketPath);
    QCOMPARE(url->user, user);
    QCOMPARE(url->password, password);
    QCOMPARE(url->db, db);
}

void TestRedisClient::rejectsMalformedUrls_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("reason");
    QTest::newRow("no scheme") << "localhost:6379" << "not a Redis URL";
    QTest::newRow("unknown scheme") << "http://h" << "unknown scheme \"http://\"";
    QTest::newRow("no host") << "redis://" << "no host";
    QTest::newRow("login, no host") << "redis://:pw@" << "no host";
    QTest::newRow("bad port") << "redis://h:65536" << "bad port \"65536\"";
    QTest::newRow("port zero") << "redis://h:0" << "bad port \"0\"";
    QTest::newRow("port letters") << "redis://h:abc" << "bad port \"abc\"";
    QTest::newRow("empty port") << "redis://h:" << "empty port";
    QTest::newRow("bad db") << "redis://h/x1" << "bad db \"x1\"";
    QTest::newRow("negative db") << "redis://h/-1" << "bad db \"-1\"";
    QTest::newRow("db twice") << "redis://h/1?db=2" << "the db is given twice";
    QTest::newRow("unknown parameter") << "redis://h?timeout=5" << "unknown parameter \"timeout\"";
    QTest::newRow("bad escape") << "redis://:p%zz@h" << "bad percent-encoding";
    QTest::newRow("user without password") << "redis://bob:@h" << "user \"bob\" has no password";
    QTest::newRow("unix with host") << "unix://localhost/tmp/r.sock" << "not a host";
    QTest::newRow("unix without path") << "unix://" << "absolute socket path";
    QTest::newRow("unclosed ipv6") << "redis://[::1:6379" << "unclosed [";
}

void TestRedisClient::rejectsMalformedUrls()
{
    QFETCH(QString, text);
    QFETCH(QString, reason);
    QString error;
    QVERIFY(!RedisUrl::parse(text, &error));
    QVERIFY2(error.contains(reason), qPrintable(error));
    QVERIFY(!error.contains(u'\n'));
}

void TestRedisClient::displayNeverShowsThePassword()
{
    QString error;
    const auto tcp = RedisUrl::parse(QStringLiteral("rediss://bob:hunter2@h:6380/2"), &error);
    QVERIFY(tcp);
    QCOMPARE(tcp->display(), QStringLiteral("rediss://bob@h:6380/2"));
    const auto local = RedisUrl::parse(QStringLiteral("unix://:hunter2@/tmp/r.sock?db=1"), &error);
    QVERIFY(local);
    QCOMPARE(local->display(), QStringLiteral("unix:///tmp/r.sock?db=1"));
}

void TestRedisClient::scriptSha1IsOfItsSource()
{
    const RedisScript script("return 1");
    QCOMPARE(script.sha1, QByteArray("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"));
}

void TestRedisClient::repliesKeepTheirTypes()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);
    QVERIFY(client.isReady());
    QVERIFY2(client.serverVersion().startsWith(u'7'), qPrintable(client.serverVersion()));

    Replies replies;
    client.command(args("SET k v"), replies.add());
    client.command(args("GET k"), replies.add());
    client.command(args("GET missing"), replies.add());
    client.command(args("INCR n"), replies.add());
    client.command({"RPUSH", "l", QByteArray("a\0b", 3), ""}, replies.add());
    client.command(args("LRANGE l 0 -1"), replies.add());
    client.command(args("NOSUCHCOMMAND"), replies.add());
    client.command(args("EVAL") << "return {1, 'x', {2, false}}" << "0", replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 8, WaitMs);
    const QList<RedisReply> &r = replies.list;
    QCOMPARE(r[0].type, RedisReply::Type::Status);
    QCOMPARE(r[0].string, QByteArray("OK"));
    QCOMPARE(r[1].type, RedisReply::Type::String);
    QCOMPARE(r[1].string, QByteArray("v"));
    QVERIFY(r[2].isNil());
    QCOMPARE(r[3].type, RedisReply::Type::Integer);
    QCOMPARE(r[3].integer, 1);
    QCOMPARE(r[4].integer, 2);
    QCOMPARE(r[5].type, RedisReply::Type::Array);
    QCOMPARE(r[5].elements.size(), 2);
    QCOMPARE(r[5].elements[0].string, QByteArray("a\0b", 3));
    QCOMPARE(r[5].elements[1].string, QByteArray(""));
    QVERIFY(r[6].isError());
    QVERIFY2(r[6].string.startsWith("ERR unknown command"), r[6].string.constData());
    QCOMPARE(r[7].elements.size(), 3);
    QCOMPARE(r[7].elements[1].string, QByteArray("x"));
    QCOMPARE(r[7].elements[2].elements.size(), 2);
    QVERIFY(r[7].elements[2].elements[1].isNil()); // Lua false is a nil reply
}

void TestRedisClient::pipelinedRepliesComeInOrder()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);

    // All written before the first reply can arrive: one pipeline.
    constexpr int Count = 20000;
    int answered = 0;
    int outOfOrder = 0;
    for (int i = 1; i <= Count; ++i) {
        client.command(args("INCR counter"), [&answered, &outOfOrder, i](const RedisReply &r) {
            ++answered;
            if (r.integer != i)
                ++outOfOrder;
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(answered, Count, 60000);
    QCOMPARE(outOfOrder, 0);
}

void TestRedisClient::commandsBeforeOpenAreSentOnceReady()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    Replies replies;
    client.command(args("RPUSH l first"), replies.add());
    client.command(args("RPUSH l second"), replies.add());
    QTest::qWait(50);
    QVERIFY(replies.list.isEmpty());
    // A ready() handler's command goes after those queued before.
    connect(&client, &RedisClient::ready, &client,
            [&] { client.command(args("LRANGE l 0 -1"), replies.add()); });
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 3, WaitMs);
    QCOMPARE(replies.list[0].integer, 1);
    QCOMPARE(replies.list[1].integer, 2);
    QCOMPARE(replies.list[2].elements.size(), 2);
    QCOMPARE(replies.list[2].elements[1].string, QByteArray("second"));
}

void TestRedisClient::queueBeyondItsLimitIsRefused()
{
    RedisUrl url;
    url.scheme = RedisUrl::Scheme::Unix;
    url.socketPath = QStringLiteral("/nonexistent/redis.sock");
    RedisClient::Options options = optionsFor(url);
    options.maxQueued = 2;
    RedisClient client(options);
    Replies replies;
    client.command(args("PING"), replies.add());
    client.command(args("PING"), replies.add());
    client.command(args("PING"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 1, WaitMs);
    QCOMPARE(replies.list[0].string, QByteArray("DISCONNECTED queue full"));
}

void TestRedisClient::selectsTheDbAndNamesTheClient()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisUrl db3 = server.url();
    db3.db = 3;
    RedisClient::Options options = optionsFor(db3);
    options.clientName = QStringLiteral("taskdeck-test");
    RedisClient client(options);
    RedisClient other(optionsFor(server.url()));
    client.open();
    other.open();
    Replies replies;
    client.command(args("SET where three"), replies.add());
    client.command(args("CLIENT GETNAME"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 2, WaitMs);
    other.command(args("EXISTS where"), replies.add());
    other.command(args("SELECT 3"), replies.add());
    other.command(args("GET where"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 5, WaitMs);
    QCOMPARE(replies.list[1].string, QByteArray("taskdeck-test"));
    QCOMPARE(replies.list[2].integer, 0);
    QCOMPARE(replies.list[4].string, QByteArray("three"));
}

void TestRedisClient::evalLoadsTheScriptAfterFlushAndRestart()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    RedisServer::Options serverOptions;
    serverOptions.appendOnly = true;
    QVERIFY2(server.start(serverOptions), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);

    const RedisScript script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    Replies replies;
    client.eval(script, {"n"}, {"5"}, replies.add());
    client.eval(script, {"n"}, {"5"}, replies.add()); // NOSCRIPT twice in one pipeline
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 2, WaitMs);
    QCOMPARE(replies.list[0].integer, 5);
    QCOMPARE(replies.list[1].integer, 10);

    client.command(args("SCRIPT FLUSH"), replies.add());
    client.eval(script, {"n"}, {"1"}, replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 4, WaitMs);
    QCOMPARE(replies.list[3].integer, 11);

    server.kill();
    // (A command sent before the client sees the loss would fail with DISCONNECTED.)
    QTRY_VERIFY_WITH_TIMEOUT(!client.isReady(), WaitMs);
    QVERIFY2(server.restart(), qPrintable(server.errorString()));
    client.eval(script, {"n"}, {"1"}, replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 5, WaitMs);
    QVERIFY(ready.size() >= 2);
    QCOMPARE(replies.list[4].integer, 12); // the AOF kept n; the script cache is new
}

void TestRedisClient::evalOfABrokenScriptGivesTheCompileError()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    client.open();
    Replies replies;
    client.eval(RedisScript("return (("), {}, {}, replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 1, WaitMs);
    QVERIFY(replies.list[0].isError());
    QVERIFY2(replies.list[0].string.contains("Error compiling script"),
             replies.list[0].string.constData());
}

void TestRedisClient::commandTimeoutDisconnectsThenReconnects()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    QSignalSpy ready(&client, &RedisClient::ready);
    QSignalSpy disconnected(&client, &RedisClient::disconnected);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);

    Replies replies;
    client.command(args("BLPOP nothing 0"), replies.add(), 300); // never answered
    client.command(args("PING"), replies.add(), 0); // behind it in the pipeline
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 2, WaitMs);
    for (const RedisReply &r : replies.list) {
        QVERIFY(r.isError());
        QVERIFY2(r.string.startsWith("DISCONNECTED ") && r.string.contains("within 300 ms"),
                 r.string.constData());
    }
    QCOMPARE(disconnected.size(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 2, WaitMs);
    client.command(args("PING"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 3, WaitMs);
    QCOMPARE(replies.list[2].string, QByteArray("PONG"));

    // A command that may wait for ever (timeout 0) is not cut off by the others' timeouts.
    client.command(args("BLPOP later 0"), replies.add(), 0);
    client.command(args("PING"), replies.add(), 200); // waits behind BLPOP: times out
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 5, WaitMs);
    QVERIFY(replies.list[3].string.startsWith("DISCONNECTED"));
    QVERIFY(replies.list[4].string.contains("within 200 ms"));
}

void TestRedisClient::stoppedServerTimesOutUntilItResumes()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisClient::Options options = optionsFor(server.url());
    options.commandTimeoutMs = 300;
    options.connectTimeoutMs = 300;
    RedisClient client(options);
    QSignalSpy ready(&client, &RedisClient::ready);
    QSignalSpy disconnected(&client, &RedisClient::disconnected);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);

    server.pause();
    Replies replies;
    client.command(args("PING"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 1, WaitMs);
    QVERIFY2(replies.list[0].string.contains("no reply within 300 ms"),
             replies.list[0].string.constData());
    // Attempts against the stopped server: accepted by the kernel, never answered.
    QTRY_VERIFY_WITH_TIMEOUT(disconnected.size() >= 2, WaitMs);
    QVERIFY2(disconnected.last().at(0).toString().contains("no answer from"),
             qPrintable(disconnected.last().at(0).toString()));
    client.command(args("PING"), replies.add()); // queued meanwhile
    QCOMPARE(ready.size(), 1);
    server.resume();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 2, WaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 2, WaitMs);
    QCOMPARE(replies.list[1].string, QByteArray("PONG"));
}

void TestRedisClient::reconnectsAfterKillAndSendsQueuedCommands()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    RedisServer::Options serverOptions;
    serverOptions.appendOnly = true;
    QVERIFY2(server.start(serverOptions), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    QSignalSpy ready(&client, &RedisClient::ready);
    QSignalSpy disconnected(&client, &RedisClient::disconnected);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);
    Replies replies;
    client.command(args("SET kept yes"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 1, WaitMs);

    server.kill();
    QTRY_VERIFY_WITH_TIMEOUT(disconnected.size() >= 1, WaitMs);
    QVERIFY(!client.isReady());
    client.command(args("GET kept"), replies.add());
    client.command(args("INCR after"), replies.add());
    QTest::qWait(200); // several failed attempts while it is down
    QCOMPARE(replies.list.size(), 1);
    QVERIFY2(server.restart(), qPrintable(server.errorString()));
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 2, WaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 3, WaitMs);
    QCOMPARE(replies.list[1].string, QByteArray("yes"));
    QCOMPARE(replies.list[2].integer, 1);
}

void TestRedisClient::unreachableServerFailsWithinTheTimeout()
{
    QTemporaryDir dir;
    RedisUrl url;
    url.scheme = RedisUrl::Scheme::Unix;
    url.socketPath = dir.filePath(QStringLiteral("nobody.sock"));
    RedisClient::Options options = optionsFor(url);
    options.reconnect = false;
    RedisClient client(options);
    QSignalSpy disconnected(&client, &RedisClient::disconnected);
    Replies replies;
    client.command(args("PING"), replies.add());
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(disconnected.size(), 1, options.connectTimeoutMs + 2000);
    const QString reason = disconnected.first().at(0).toString();
    QVERIFY2(reason.startsWith(QStringLiteral("cannot connect to unix://")), qPrintable(reason));
    QVERIFY(!reason.contains(u'\n'));
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 1, WaitMs);
    QVERIFY(replies.list[0].string.startsWith("DISCONNECTED cannot connect"));
    client.command(args("PING"), replies.add()); // stopped: refused, not queued
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 2, WaitMs);
    QVERIFY(replies.list[1].string.startsWith("DISCONNECTED cannot connect"));
}

void TestRedisClient::silentServerFailsWithinTheConnectTimeout()
{
    FakeRedis fake("", true);
    RedisClient::Options options = optionsFor(fake.url());
    options.connectTimeoutMs = 300;
    RedisClient client(options);
    QSignalSpy disconnected(&client, &RedisClient::disconnected);
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_VERIFY_WITH_TIMEOUT(disconnected.size() >= 2, WaitMs); // and it keeps trying
    QVERIFY2(disconnected.first().at(0).toString().contains(QStringLiteral("within 300 ms")),
             qPrintable(disconnected.first().at(0).toString()));
    QCOMPARE(ready.size(), 0);
    QVERIFY(fake.connections() >= 2);
}

void TestRedisClient::wrongPasswordIsFatal()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    RedisServer::Options serverOptions;
    serverOptions.password = QStringLiteral("right");
    QVERIFY2(server.start(serverOptions), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url({}, QStringLiteral("wrong"))));
    QSignalSpy fatal(&client, &RedisClient::fatalError);
    QSignalSpy disconnected(&client, &RedisClient::disconnected);
    Replies replies;
    client.command(args("PING"), replies.add());
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(fatal.size(), 1, WaitMs);
    const QString message = fatal.first().at(0).toString();
    QVERIFY2(message.contains(QStringLiteral("refused the login: WRONGPASS")), qPrintable(message));
    QVERIFY(!message.contains(QStringLiteral("wrong")));
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 1, WaitMs);
    QVERIFY(replies.list[0].string.startsWith("DISCONNECTED Redis at unix://"));
    QTest::qWait(300); // no reconnect, no second report
    QCOMPARE(fatal.size(), 1);
    QCOMPARE(disconnected.size(), 0);

    RedisClient right(optionsFor(server.url({}, QStringLiteral("right"))));
    QSignalSpy ready(&right, &RedisClient::ready);
    right.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);
}

void TestRedisClient::missingPasswordIsFatal()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    RedisServer::Options serverOptions;
    serverOptions.password = QStringLiteral("right");
    QVERIFY2(server.start(serverOptions), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    QSignalSpy fatal(&client, &RedisClient::fatalError);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(fatal.size(), 1, WaitMs);
    QVERIFY2(fatal.first().at(0).toString().contains(QStringLiteral("needs a password")),
             qPrintable(fatal.first().at(0).toString()));
}

void TestRedisClient::aclUserLogsIn()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    RedisServer::Options serverOptions;
    serverOptions.users = {QStringLiteral("worker pw1")};
    QVERIFY2(server.start(serverOptions), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url(QStringLiteral("worker"), QStringLiteral("pw1"))));
    client.open();
    Replies replies;
    client.command(args("ACL WHOAMI"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 1, WaitMs);
    QCOMPARE(replies.list[0].string, QByteArray("worker"));

    RedisClient wrong(optionsFor(server.url(QStringLiteral("worker"), QStringLiteral("pw2"))));
    QSignalSpy fatal(&wrong, &RedisClient::fatalError);
    wrong.open();
    QTRY_COMPARE_WITH_TIMEOUT(fatal.size(), 1, WaitMs);
}

void TestRedisClient::serverOlderThan7IsFatal()
{
    FakeRedis fake("# Server\r\nredis_version:6.2.7\r\nredis_mode:standalone\r\n", false);
    RedisClient client(optionsFor(fake.url()));
    QSignalSpy fatal(&client, &RedisClient::fatalError);
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(fatal.size(), 1, WaitMs);
    QCOMPARE(fatal.first().at(0).toString(),
             QStringLiteral("Redis 6.2.7 at %1 is older than 7.0").arg(fake.url().display()));
    QCOMPARE(ready.size(), 0);
    QTest::qWait(300);
    QCOMPARE(fake.connections(), 1); // never tried again
}

void TestRedisClient::closeFailsWaitingCommands()
{
    REDIS_SERVER_OR_SKIP(false);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.url()));
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);
    Replies replies;
    client.command(args("BLPOP nothing 0"), replies.add(), 0);
    client.close();
    QCOMPARE(replies.list.size(), 1);
    QCOMPARE(replies.list[0].string, QByteArray("DISCONNECTED closed"));
    QVERIFY(!client.isReady());
    client.command(args("PING"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 2, WaitMs);
    QCOMPARE(replies.list[1].string, QByteArray("DISCONNECTED closed"));
    client.open(); // and it can open again
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 2, WaitMs);
}

void TestRedisClient::tlsWithTheTestsCa()
{
    REDIS_SERVER_OR_SKIP(true);
    RedisServer server;
    RedisServer::Options serverOptions;
    serverOptions.tls = true;
    serverOptions.password = QStringLiteral("tls-pw");
    QVERIFY2(server.start(serverOptions), qPrintable(server.errorString()));
    RedisClient client(optionsFor(server.tlsUrl({}, QStringLiteral("tls-pw"))));
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, WaitMs);
    Replies replies;
    client.command(args("PING"), replies.add());
    client.command(args("CLIENT INFO"), replies.add());
    QTRY_COMPARE_WITH_TIMEOUT(replies.list.size(), 2, WaitMs);
    QCOMPARE(replies.list[0].string, QByteArray("PONG"));
    QVERIFY2(replies.list[1].string.contains("laddr=127.0.0.1:"),
             replies.list[1].string.constData());
}

void TestRedisClient::tlsWithoutTheCaIsRefused()
{
    REDIS_SERVER_OR_SKIP(true);
    RedisServer server;
    RedisServer::Options serverOptions;
    serverOptions.tls = true;
    QVERIFY2(server.start(serverOptions), qPrintable(server.errorString()));
    RedisUrl url = server.tlsUrl();
    url.caFile.clear();
    RedisClient::Options options = optionsFor(url);
    options.reconnect = false;
    RedisClient client(options);
    QSignalSpy disconnected(&client, &RedisClient::disconnected);
    QSignalSpy ready(&client, &RedisClient::ready);
    client.open();
    QTRY_COMPARE_WITH_TIMEOUT(disconnected.size(), 1, WaitMs);
    QVERIFY2(disconnected.first().at(0).toString().contains(QStringLiteral("TLS")),
             qPrintable(disconnected.first().at(0).toString()));
    QCOMPARE(ready.size(), 0);
}

QTEST_GUILESS_MAIN(TestRedisClient)
#include "tst_redisclient.moc"
