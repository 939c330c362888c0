// ClusterProtocol's submit, claim and complete against a real redis-server: what they
// leave in Redis, and how many Redis commands they cost per task (SPEC section 8: at most
// 3 on average across submit, claim and complete; INFO commandstats counts the commands
// run inside scripts too).

#include "cluster/clusterprotocol.h"
#include "cluster/redisclient.h"
#include "redisserver.h"

#include <QTest>

#include <memory>

namespace {

constexpr int WaitMs = 20000; // generous: these machines are shared and noisy

TaskSpec trivialSpec(int priority = 0, const QString &group = QStringLiteral("default"))
{
    TaskSpec spec;
    spec.file = QStringLiteral("/tmp/ret1.lua");
    spec.name = QStringLiteral("ret1");
    spec.source = "return 1\n";
    spec.priority = priority;
    spec.group = group;
    return spec;
}

} // namespace

class TestClusterProtocol : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();

    void submitInBatchesCostsAboutOneCommandPerTask();
    void submitAddsToTheWakeStreamWorkersBlockOn();
    void claimGivesPriorityThenIdOrderAtAboutTwoCommandsPerTask();
    void claimKeepsWeightedTurnsAcrossGroups();
    void completeFencesAndCostsAtMostThreeCommandsPerTask();

private:
    RedisReply command(const QList<QByteArray> &argv);
    qint64 commandCalls();
    QList<TaskId> submit(const QList<TaskSpec> &specs);
    QList<ClusterProtocol::Claimed> claim(const QString &worker, int free);
    void beat(const QString &worker);

    std::unique_ptr<RedisServer> m_redis;
    std::unique_ptr<RedisClient> m_client;
    std::unique_ptr<ClusterProtocol> m_protocol;
    QString m_namespace;
    int m_test = 0;
};

void TestClusterProtocol::initTestCase()
{
    REDIS_SERVER_OR_SKIP(false);
    m_redis = std::make_unique<RedisServer>();
    QVERIFY2(m_redis->start(), qPrintable(m_redis->errorString()));
}

void TestClusterProtocol::init()
{
    RedisClient::Options options;
    options.url = m_redis->url();
    m_client = std::make_unique<RedisClient>(options);
    m_client->open();
    QTRY_VERIFY_WITH_TIMEOUT(m_client->isReady(), WaitMs);
    m_namespace = QStringLiteral("p%1").arg(++m_test); // each test a cluster of its own
    m_protocol = std::make_unique<ClusterProtocol>(m_client.get(), m_namespace);
}

void TestClusterProtocol::cleanup()
{
    m_protocol.reset();
    m_client.reset();
}

RedisReply TestClusterProtocol::command(const QList<QByteArray> &argv)
{
    RedisReply out;
    bool done = false;
    m_client->command(argv, [&](const RedisReply &reply) {
        out = reply;
        done = true;
    });
    m_client->runUntil([&] { return done; }, WaitMs);
    return out;
}

// Every command's calls since the last CONFIG RESETSTAT (INFO commandstats).
qint64 TestClusterProtocol::commandCalls()
{
    const QByteArray info = command({"INFO", "commandstats"}).string;
    qint64 calls = 0;
    for (const QByteArray &line : info.split('\n')) {
        const qsizetype at = line.indexOf(":calls=");
        if (line.startsWith("cmdstat_") && at > 0)
            calls += line.mid(at + 7, line.indexOf(',', at) - at - 7).toLongLong();
    }
    return calls;
}

QList<TaskId> TestClusterProtocol::submit(const QList<TaskSpec> &specs)
{
    QList<TaskId> ids;
    bool done = false;
    m_protocol->submit(specs, ClusterProtocol::DefaultKeepMs,
                       [&](const QList<TaskId> &got, const QString &error) {
                           QVERIFY2(error.isEmpty(), qPrintable(error));
                           ids = got;
                           done = true;
                       });
    m_client->runUntil([&] { return done; }, WaitMs);
    return ids;
}

QList<ClusterProtocol::Claimed> TestClusterProtocol::claim(const QString &worker, int free)
{
    QList<ClusterProtocol::Claimed> claimed;
    bool done = false;
    m_protocol->claim(worker, free,
                      [&](const QList<ClusterProtocol::Claimed> &got, const QString &error) {
                          QVERIFY2(error.isEmpty(), qPrintable(error));
                          claimed = got;
                          done = true;
                      });
    m_client->runUntil([&] { return done; }, WaitMs);
    return claimed;
}

// Registers `worker` with a long lease, as its first heartbeat does.
void TestClusterProtocol::beat(const QString &worker)
{
    ClusterProtocol::Beat beat;
    beat.worker = worker;
    beat.leaseMs = 600000;
    beat.capacity = 1000;
    bool done = false;
    m_protocol->heartbeat(beat, [&](const QList<TaskId> &, bool, const QString &error) {
        QVERIFY2(error.isEmpty(), qPrintable(error));
        done = true;
    });
    m_client->runUntil([&] { return done; }, WaitMs);
}

void TestClusterProtocol::submitInBatchesCostsAboutOneCommandPerTask()
{
    submit({trivialSpec()}); // the script loaded once, outside the count
    const QList<TaskSpec> specs(2500, trivialSpec());
    command({"CONFIG", "RESETSTAT"});
    const QList<TaskId> ids = submit(specs);
    const qint64 calls = commandCalls();
    QCOMPARE(ids.size(), 2500);
    for (qsizetype i = 0; i < ids.size(); ++i)
        QCOMPARE(ids[i], TaskId(2 + i)); // one submitter: consecutive, in the order given
    const QByteArray p = m_namespace.toUtf8() + ':';
    QCOMPARE(command({"ZCARD", p + "ready:default"}).integer, 2501);
    QCOMPARE(command({"ZCARD", p + "tasks"}).integer, 2501);
    QCOMPARE(command({"HGET", p + "task:2501", "state"}).string, QByteArray("pending"));
    // One HSET per task, a few commands per batch of 1,000.
    QVERIFY2(calls <= 2500 + 3 * 12, qPrintable(QString::number(calls)));
}

void TestClusterProtocol::submitAddsToTheWakeStreamWorkersBlockOn()
{
    RedisClient::Options options;
    options.url = m_redis->url();
    RedisClient waker(options);
    waker.open();
    QTRY_VERIFY_WITH_TIMEOUT(waker.isReady(), WaitMs);
    bool woken = false;
    waker.command(
        {"XREAD", "BLOCK", "0", "STREAMS", m_namespace.toUtf8() + ":wake", "0-0"},
        [&](const RedisReply &reply) { woken = !reply.isError() && !reply.isNil(); }, 0);
    QCOMPARE(submit({trivialSpec()}).size(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(woken, WaitMs);
}

void TestClusterProtocol::claimGivesPriorityThenIdOrderAtAboutTwoCommandsPerTask()
{
    beat(QStringLiteral("w"));
    const QList<TaskId> low = submit(QList<TaskSpec>(100, trivialSpec(0)));
    const QList<TaskId> high = submit(QList<TaskSpec>(100, trivialSpec(5)));
    claim(QStringLiteral("w"), 0); // the script loaded once, outside the count
    command({"CONFIG", "RESETSTAT"});
    const QList<ClusterProtocol::Claimed> got = claim(QStringLiteral("w"), 150);
    const qint64 calls = commandCalls();
    QCOMPARE(got.size(), 150);
    for (qsizetype i = 0; i < got.size(); ++i) {
        QCOMPARE(got[i].id, i < 100 ? high[i] : low[i - 100]);
        QCOMPARE(got[i].attempt, 1);
        QVERIFY(got[i].spec);
        QCOMPARE(got[i].spec->source, QByteArray("return 1\n"));
    }
    const QByteArray p = m_namespace.toUtf8() + ':';
    QCOMPARE(command({"HGET", p + "running", "*"}).string, QByteArray("150"));
    QCOMPARE(command({"SCARD", p + "wtasks:w"}).integer, 150);
    QCOMPARE(command({"HGET", p + "task:" + QByteArray::number(qint64(high[0])), "state"}).string,
             QByteArray("running"));
    // One HMGET and one HSET per task, a few commands per call.
    QVERIFY2(calls <= 2 * 150 + 25, qPrintable(QString::number(calls)));
}

void TestClusterProtocol::claimKeepsWeightedTurnsAcrossGroups()
{
    beat(QStringLiteral("w"));
    const QByteArray p = m_namespace.toUtf8() + ':';
    command({"HSET", p + "gweight", "b", "3"});
    const QList<TaskId> a = submit(QList<TaskSpec>(10, trivialSpec(0, QStringLiteral("a"))));
    const QList<TaskId> b = submit(QList<TaskSpec>(10, trivialSpec(0, QStringLiteral("b"))));
    const QList<ClusterProtocol::Claimed> got = claim(QStringLiteral("w"), 8);
    // Smooth weighted round-robin 1:3, ties to the first name: b a b b, b a b b.
    const QList<TaskId> expected{b[0], a[0], b[1], b[2], b[3], a[1], b[4], b[5]};
    QList<TaskId> ids;
    for (const auto &task : got)
        ids.append(task.id);
    QCOMPARE(ids, expected);
    QCOMPARE(command({"HGET", p + "running", "a"}).string, QByteArray("2"));
    QCOMPARE(command({"HGET", p + "running", "b"}).string, QByteArray("6"));
}

void TestClusterProtocol::completeFencesAndCostsAtMostThreeCommandsPerTask()
{
    beat(QStringLiteral("w"));
    submit(QList<TaskSpec>(150, trivialSpec()));
    const QList<ClusterProtocol::Claimed> got = claim(QStringLiteral("w"), 150);
    QCOMPARE(got.size(), 150);
    QList<ClusterProtocol::Ending> endings;
    for (const auto &task : got)
        endings.append({task.id, task.attempt, QStringLiteral("succeeded"), "1", {}, {}, {}});
    endings.append({got[0].id, got[0].attempt + 1, QStringLiteral("succeeded"), "2", {}, {}, {}});
    command({"CONFIG", "RESETSTAT"});
    QList<TaskId> refused;
    bool done = false;
    m_protocol->complete(QStringLiteral("w"), endings,
                         [&](const QList<TaskId> &ids, const QString &error) {
                             QVERIFY2(error.isEmpty(), qPrintable(error));
                             refused = ids;
                             done = true;
                         });
    m_client->runUntil([&] { return done; }, WaitMs);
    const qint64 calls = commandCalls();
    QCOMPARE(refused, QList<TaskId>{got[0].id}); // the second end of the same task
    const QByteArray p = m_namespace.toUtf8() + ':';
    const QByteArray first = p + "task:" + QByteArray::number(qint64(got[0].id));
    QCOMPARE(command({"HGET", first, "state"}).string, QByteArray("succeeded"));
    QCOMPARE(command({"HGET", first, "result"}).string, QByteArray("1"));
    QVERIFY(command({"PTTL", first}).integer > 0);
    QCOMPARE(command({"HGET", p + "running", "*"}).string, QByteArray("0"));
    QCOMPARE(command({"HGET", p + "running", "default"}).string, QByteArray("0"));
    QCOMPARE(command({"SCARD", p + "wtasks:w"}).integer, 0);
    // One HMGET, one HSET and one PEXPIRE per task, a few commands per call.
    QVERIFY2(calls <= 3 * 151 + 15, qPrintable(QString::number(calls)));
}

QTEST_GUILESS_MAIN(TestClusterProtocol)
#include "tst_clusterprotocol.moc"
