// ClusterProtocol's submit, claim and complete against a real redis-server: what they
// leave in Redis, and how many Redis commands they cost (SPEC section 8: at most 3 per task
// on average across submit, claim and complete; INFO commandstats counts the commands run
// inside scripts too). Tasks are kept by column (common.lua), so each costs a few commands
// per call whatever the number of tasks in it.

#include "cluster/clusterprotocol.h"
#include "cluster/redisclient.h"
#include "redisserver.h"

#include <QJsonDocument>
#include <QJsonObject>
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

    void submitCostsAFewCommandsPerCallNotPerTask();
    void submitAddsToTheWakeStreamWorkersBlockOn();
    void claimGivesPriorityThenIdOrderInAFewCommandsPerCall();
    void claimKeepsWeightedTurnsAcrossGroups();
    void completeFencesInAFewCommandsPerCall();
    void endedTasksAreForgottenAfterTheirKeep();

private:
    RedisReply command(const QList<QByteArray> &argv);
    qint64 commandCalls();
    QJsonObject column(const char *hash, TaskId id);
    QList<TaskId> submit(const QList<TaskSpec> &specs,
                         qint64 keepMs = ClusterProtocol::DefaultKeepMs);
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

// A task's JSON object in one of the column hashes of common.lua ("task", "out").
QJsonObject TestClusterProtocol::column(const char *hash, TaskId id)
{
    const RedisReply reply =
        command({"HGET", m_namespace.toUtf8() + ':' + hash, QByteArray::number(qint64(id))});
    return QJsonDocument::fromJson(reply.string).object();
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

QList<TaskId> TestClusterProtocol::submit(const QList<TaskSpec> &specs, qint64 keepMs)
{
    QList<TaskId> ids;
    bool done = false;
    m_protocol->submit(specs, keepMs, [&](const QList<TaskId> &got, const QString &error) {
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

void TestClusterProtocol::submitCostsAFewCommandsPerCallNotPerTask()
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
    QCOMPARE(column("task", 2501).value(QStringLiteral("state")).toString(),
             QStringLiteral("pending"));
    QCOMPARE(command({"HLEN", p + "spec"}).integer, 2501);
    // Three calls of at most 1,000 tasks: about ten commands each (before: 2,536).
    QVERIFY2(calls <= 3 * 12, qPrintable(QString::number(calls)));
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

void TestClusterProtocol::claimGivesPriorityThenIdOrderInAFewCommandsPerCall()
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
    QCOMPARE(column("task", high[0]).value(QStringLiteral("state")).toString(),
             QStringLiteral("running"));
    QCOMPARE(column("task", high[0]).value(QStringLiteral("worker")).toString(),
             QStringLiteral("w"));
    // One call: about twenty commands for 150 tasks (before: 312).
    QVERIFY2(calls <= 25, qPrintable(QString::number(calls)));
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

void TestClusterProtocol::completeFencesInAFewCommandsPerCall()
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
    QCOMPARE(column("task", got[0].id).value(QStringLiteral("state")).toString(),
             QStringLiteral("succeeded"));
    QCOMPARE(column("out", got[0].id).value(QStringLiteral("result")).toString(),
             QStringLiteral("1"));
    // Kept for its `keep`: a time in the sorted set the reaper sweeps.
    QVERIFY(
        command({"ZSCORE", p + "expire", QByteArray::number(qint64(got[0].id))}).string.toDouble() >
        0);
    QCOMPARE(command({"ZCARD", p + "expire"}).integer, 150);
    QCOMPARE(command({"HGET", p + "running", "*"}).string, QByteArray("0"));
    QCOMPARE(command({"HGET", p + "running", "default"}).string, QByteArray("0"));
    QCOMPARE(command({"SCARD", p + "wtasks:w"}).integer, 0);
    // One call: about fifteen commands for 151 ends (before: 461).
    QVERIFY2(calls <= 20, qPrintable(QString::number(calls)));
}

void TestClusterProtocol::endedTasksAreForgottenAfterTheirKeep()
{
    beat(QStringLiteral("w"));
    submit(QList<TaskSpec>(3, trivialSpec()), 1);
    const QList<TaskId> kept = submit({trivialSpec()});
    const QList<ClusterProtocol::Claimed> got = claim(QStringLiteral("w"), 4);
    QCOMPARE(got.size(), 4);
    QList<ClusterProtocol::Ending> endings;
    for (const auto &task : got)
        endings.append({task.id, task.attempt, QStringLiteral("succeeded"), "1", {}, {}, {}});
    bool done = false;
    m_protocol->complete(QStringLiteral("w"), endings,
                         [&](const QList<TaskId> &, const QString &) { done = true; });
    m_client->runUntil([&] { return done; }, WaitMs);
    QTest::qWait(20); // the three kept 1 ms are past it
    QList<TaskId> listed;
    done = false;
    m_protocol->tasks({}, [&](const QList<ClusterProtocol::Task> &tasks, const QString &error) {
        QVERIFY2(error.isEmpty(), qPrintable(error));
        for (const auto &task : tasks)
            listed.append(task.snapshot.id);
        done = true;
    });
    m_client->runUntil([&] { return done; }, WaitMs);
    QCOMPARE(listed, kept); // reading leaves them out at once
    const QByteArray p = m_namespace.toUtf8() + ':';
    QCOMPARE(command({"HLEN", p + "task"}).integer, 4); // ... and writes nothing
    done = false;
    m_protocol->reap("token", 1000, [&](int, const QString &) { done = true; });
    m_client->runUntil([&] { return done; }, WaitMs);
    // The reaper's sweep forgets them in every column.
    QCOMPARE(command({"HLEN", p + "task"}).integer, 1);
    QCOMPARE(command({"HLEN", p + "spec"}).integer, 1);
    QCOMPARE(command({"HLEN", p + "out"}).integer, 1);
    QCOMPARE(command({"ZCARD", p + "tasks"}).integer, 1);
    QCOMPARE(command({"ZCARD", p + "expire"}).integer, 1);
}

QTEST_GUILESS_MAIN(TestClusterProtocol)
#include "tst_clusterprotocol.moc"
