// The cluster (SPEC section 8) end to end: a real redis-server on a socket of its own and
// `taskdeck worker` processes, driven by the command line as a user would.
#include "cluster/clusterprotocol.h"
#include "redisserver.h"
#include "testsupport.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalServer>
#include <QLocalSocket>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <memory>
#include <unistd.h>

class tst_Cluster : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();

    void submittedTaskRunsOnWorkerAndWaitPrintsResult();
    void unreachableRedisIsOneLineAndExit1();
    void killedWorkersTaskRunsAgainOnAnotherWorkerOnce();
    void stalledWorkersLateResultIsRefused();
    void groupLimitHoldsAcrossThreeWorkers();
    void prioritiesThenSubmissionOrderAcrossWorkers();
    void pausedClusterStartsNothingUntilResumed();
    void cancelReachesRunningTaskOnWorker();
    void sigtermDrainsThenHandsBackWithoutAttempt();
    void failedTaskRetriesAfterDelay();
    void resultOverOneMebibyteFailsTask();
    void redisRestartWithAofLosesNoTask();
    void reprioritizedPendingTaskStartsFirstOnWorker();
    void retryDelayLongerThanLeaseRunsOncePerAttempt();
    void cancelWhileNoWorkerRunsStaysCancelled();
    void wrongPasswordAndOldRedisAreOneLineAndExit1();
    void workerAndSubmitOverTlsWithTheirCa();
    void partitionedWorkerCancelsItsTaskAndItsLateResultIsRefused();
    void psShowsProgressAndTaskSeesClustersAttempt();
    void idleWorkerCostsRedisAFewCommandsPerSecond();
    void readmeAclUsersSubmitOnlyAndWork();
    void systemdUnitRunsWorkerFromEnvironmentFile();

private:
    QProcessEnvironment env(const QString &mark = {}) const;
    ProgramRun taskdeck(const QStringList &args, int timeoutMs = 30000) const;
    // Its stderr goes to the test's unless `errors` is QProcess::SeparateChannels.
    QProcess *startWorker(const QString &name, const QStringList &extra = {},
                          QProcess::ProcessChannelMode errors = QProcess::ForwardedErrorChannel);
    QString redisCli(const QStringList &args) const;
    // The ids of the tasks started so far, in the order the claim script recorded them
    // (its "started" events).
    QList<qint64> startOrder() const;
    QList<qint64> submit(const QString &file, const QStringList &extra = {});
    QJsonObject waitFor(qint64 id);
    QJsonObject psTask(qint64 id);
    int startedLines(const QString &file) const;
    QList<std::pair<QString, QString>> eventsOf(qint64 id) const;
    QString reprioritize(qint64 id, ClusterProtocol::Move move, int priority, int *result);

    QString m_bin;
    std::unique_ptr<RedisServer> m_redis;
    QString m_socket;
    QList<QProcess *> m_workers;
    ScriptDir *m_scripts = nullptr;
    QString m_namespace;
    int m_test = 0;
    QString m_redisUrl;       // TASKDECK_REDIS; empty: the unix socket of m_redis
    QStringList m_commonArgs; // after the command name, e.g. --redis-ca FILE
    QStringList m_cliTarget;  // how redis-cli reaches the Redis in use; empty: m_socket
};

void tst_Cluster::initTestCase()
{
    m_bin = qEnvironmentVariable("TASKDECK_BIN");
    QVERIFY2(QFileInfo(m_bin).isExecutable(), "TASKDECK_BIN must name the taskdeck binary");
    REDIS_SERVER_OR_SKIP(false);
    m_redis = std::make_unique<RedisServer>();
    RedisServer::Options options;
    options.appendOnly = true; // the restart test: nothing acknowledged is lost
    // "everysec" (the README's advice) may postpone writing the AOF by up to 2 s on a loaded
    // machine (Redis's documented loss window, not Taskdeck's); the test is of the restart.
    options.appendFsync = QStringLiteral("always");
    QVERIFY2(m_redis->start(options), qPrintable(m_redis->errorString()));
    m_socket = m_redis->socketPath();
}

void tst_Cluster::init()
{
    m_namespace = QStringLiteral("t%1").arg(++m_test); // each test a cluster of its own
    m_scripts = new ScriptDir;
}

void tst_Cluster::cleanup()
{
    for (QProcess *worker : std::as_const(m_workers)) {
        if (worker->state() != QProcess::NotRunning) {
            ::kill(pid_t(worker->processId()), SIGCONT);
            worker->kill();
            worker->waitForFinished(5000);
        }
        delete worker;
    }
    m_workers.clear();
    delete m_scripts;
    m_scripts = nullptr;
    m_redisUrl.clear();
    m_commonArgs.clear();
    m_cliTarget.clear();
    if (m_redis && !m_redis->isRunning())
        QVERIFY2(m_redis->restart(), qPrintable(m_redis->errorString()));
}

QProcessEnvironment tst_Cluster::env(const QString &mark) const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("TASKDECK_REDIS"),
               m_redisUrl.isEmpty() ? QStringLiteral("unix://") + m_socket : m_redisUrl);
    env.insert(QStringLiteral("MARK"), mark);
    return env;
}

ProgramRun tst_Cluster::taskdeck(const QStringList &args, int timeoutMs) const
{
    QStringList all = args;
    all.insert(1, QStringLiteral("--namespace=") + m_namespace);
    for (qsizetype i = 0; i < m_commonArgs.size(); ++i)
        all.insert(2 + i, m_commonArgs[i]);
    return runProgram(m_bin, all, env(), m_scripts->path(), timeoutMs);
}

QProcess *tst_Cluster::startWorker(const QString &name, const QStringList &extra,
                                   QProcess::ProcessChannelMode errors)
{
    auto *worker = new QProcess;
    worker->setProcessEnvironment(env(name));
    worker->setProcessChannelMode(errors);
    worker->start(m_bin, QStringList{QStringLiteral("worker"),
                                     QStringLiteral("--namespace=") + m_namespace,
                                     QStringLiteral("--name"), name, QStringLiteral("--lease"),
                                     QStringLiteral("1s")} +
                             m_commonArgs + extra);
    worker->waitForStarted();
    m_workers.append(worker);
    return worker;
}

QString tst_Cluster::redisCli(const QStringList &args) const
{
    QProcess cli;
    const QStringList target =
        m_cliTarget.isEmpty() ? QStringList{QStringLiteral("-s"), m_socket} : m_cliTarget;
    cli.start(QStringLiteral("redis-cli"), target + args);
    cli.waitForFinished(10000);
    return QString::fromUtf8(cli.readAllStandardOutput()).trimmed();
}

QList<qint64> tst_Cluster::startOrder() const
{
    const QStringList events =
        redisCli({QStringLiteral("XRANGE"), m_namespace + QStringLiteral(":events"),
                  QStringLiteral("-"), QStringLiteral("+")})
            .split(u'\n');
    QList<qint64> started;
    for (qsizetype i = 0; i + 3 < events.size(); ++i)
        if (events[i] == u"type" && events[i + 1] == u"started")
            started.append(events[i + 3].toLongLong());
    return started;
}

QList<qint64> tst_Cluster::submit(const QString &file, const QStringList &extra)
{
    const ProgramRun run =
        taskdeck(QStringList{QStringLiteral("submit"), QStringLiteral("--json")} + extra +
                 QStringList{file});
    QList<qint64> ids;
    if (run.exitCode != 0) {
        qWarning() << run.describe();
        return ids;
    }
    for (const QString &line : run.outLines())
        ids.append(QJsonDocument::fromJson(line.toUtf8())
                       .object()
                       .value(QStringLiteral("id"))
                       .toInteger());
    return ids;
}

QJsonObject tst_Cluster::waitFor(qint64 id)
{
    const ProgramRun run =
        taskdeck({QStringLiteral("wait"), QStringLiteral("--json"), QString::number(id)}, 60000);
    if (!run.finished)
        return {};
    return QJsonDocument::fromJson(run.out).object();
}

QJsonObject tst_Cluster::psTask(qint64 id)
{
    const ProgramRun run = taskdeck({QStringLiteral("ps"), QStringLiteral("--json")});
    for (const QString &line : run.outLines()) {
        const QJsonObject task = QJsonDocument::fromJson(line.toUtf8()).object();
        if (task.value(QStringLiteral("id")).toInteger() == id)
            return task;
    }
    return {};
}

// How many runs a task that appends "started" to `file` has begun.
int tst_Cluster::startedLines(const QString &file) const
{
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    return int(f.readAll().count("started\n"));
}

// A Lua task that notes each start in `marks`, then runs `body`.
static QByteArray markingTask(const QString &marks, const QByteArray &body)
{
    return "local f = io.open('" + marks.toUtf8() + "', 'a') f:write('started\\n') f:close()\n" +
           body;
}

// The events of task `id` in the cluster's stream, oldest first: (type, state) pairs;
// "started" has the worker as its state.
QList<std::pair<QString, QString>> tst_Cluster::eventsOf(qint64 id) const
{
    const QStringList lines =
        redisCli({QStringLiteral("XRANGE"), m_namespace + QStringLiteral(":events"),
                  QStringLiteral("-"), QStringLiteral("+")})
            .split(u'\n');
    QList<std::pair<QString, QString>> events;
    // An entry for several tasks names the first in "id" and every one in "ids".
    const QString idText = QString::number(id);
    for (qsizetype i = 0; i + 5 < lines.size(); ++i) {
        if (lines[i] != u"type" || lines[i + 2] != u"id")
            continue;
        const bool many = i + 7 < lines.size() && lines[i + 6] == u"ids";
        if (many ? lines[i + 7].split(u' ').contains(idText) : lines[i + 3] == idText)
            events.append({lines[i + 1], lines[i + 5]});
    }
    return events;
}

// ClusterProtocol::reprioritize through a connection of the test's own: the error, or
// empty with the task's new priority in *result.
QString tst_Cluster::reprioritize(qint64 id, ClusterProtocol::Move move, int priority, int *result)
{
    RedisClient::Options options;
    options.url = m_redis->url();
    options.reconnect = false;
    RedisClient client(options);
    client.open();
    if (!client.runUntil([&client] { return client.isReady(); }, 10000))
        return QStringLiteral("no connection");
    ClusterProtocol protocol(&client, m_namespace);
    bool done = false;
    QString error;
    protocol.reprioritize(TaskId(id), move, priority, [&](int p, const QString &e) {
        *result = p;
        error = e;
        done = true;
    });
    if (!client.runUntil([&done] { return done; }, 10000))
        return QStringLiteral("no answer");
    return error;
}

void tst_Cluster::submittedTaskRunsOnWorkerAndWaitPrintsResult()
{
    const QString file = m_scripts->write(QStringLiteral("answer.lua"), "return 6 * 7\n");
    const QList<qint64> ids = submit(file);
    QCOMPARE(ids.size(), 1);
    startWorker(QStringLiteral("w1"));
    const QJsonObject task = waitFor(ids[0]);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("result")).toInt(), 42);
    QCOMPARE(task.value(QStringLiteral("worker")).toString(), QStringLiteral("w1"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 1);
    QCOMPARE(task.value(QStringLiteral("file")).toString(), file);

    const ProgramRun workers = taskdeck({QStringLiteral("workers"), QStringLiteral("--json")});
    QCOMPARE(workers.exitCode, 0);
    const QJsonObject w = QJsonDocument::fromJson(workers.out).object();
    QCOMPARE(w.value(QStringLiteral("name")).toString(), QStringLiteral("w1"));
    QCOMPARE(w.value(QStringLiteral("alive")).toBool(), true);
    QCOMPARE(w.value(QStringLiteral("capacity")).toInt(), 16);
}

void tst_Cluster::unreachableRedisIsOneLineAndExit1()
{
    QProcessEnvironment e = env();
    e.insert(QStringLiteral("TASKDECK_REDIS"),
             QStringLiteral("unix://") + m_redis->dir() + QStringLiteral("/nobody.sock"));
    const ProgramRun run = runProgram(m_bin, {QStringLiteral("ps")}, e, {}, 20000);
    QVERIFY2(run.finished, qPrintable(run.describe()));
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(run.errLines().size(), 1);
    const ProgramRun worker = runProgram(m_bin, {QStringLiteral("worker")}, e, {}, 20000);
    QVERIFY2(worker.finished, qPrintable(worker.describe()));
    QCOMPARE(worker.exitCode, 1);
}

// Sidekiq and RQ lose a job whose worker is killed (sidekiq#1831, rq#2015): here the task
// of a worker killed with SIGKILL runs again on another worker, attempt 2, once.
void tst_Cluster::killedWorkersTaskRunsAgainOnAnotherWorkerOnce()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file =
        m_scripts->write(QStringLiteral("slow.lua"),
                         markingTask(marks, "if os.getenv('MARK') == 'a' then sleep(60) end\n"
                                            "return os.getenv('MARK')\n"));
    const QList<qint64> ids = submit(file);
    QCOMPARE(ids.size(), 1);
    QProcess *a = startWorker(QStringLiteral("a"));
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 1, 20000);
    a->kill(); // SIGKILL: no drain, no hand-back; only the lease tells
    a->waitForFinished(5000);
    startWorker(QStringLiteral("b"));
    const QJsonObject task = waitFor(ids[0]);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("result")).toString(), QStringLiteral("b"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 2);
    QCOMPARE(startedLines(marks), 2);
    // Sidekiq and RQ lose a job whose worker is killed: here it ends once, succeeded.
    int ends = 0;
    for (const auto &[type, state] : eventsOf(ids[0]))
        if (type == u"ended") {
            ++ends;
            QCOMPARE(state, QStringLiteral("succeeded"));
        }
    QCOMPARE(ends, 1);
    const ProgramRun workers = taskdeck({QStringLiteral("workers")});
    QVERIFY2(workers.out.contains("a  ") && workers.out.contains("lost"),
             qPrintable(workers.describe()));
}

// Bull kept running a job after its worker lost the lock, so two workers ran it (bull
// PR#311): here a worker stopped past its lease has its late result refused and cancels
// the task itself when it comes back.
void tst_Cluster::stalledWorkersLateResultIsRefused()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file = m_scripts->write(QStringLiteral("stall.lua"),
                                          markingTask(marks, "sleep(2)\n"
                                                             "return os.getenv('MARK')\n"));
    const QList<qint64> ids = submit(file);
    QProcess *a = startWorker(QStringLiteral("a"));
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 1, 20000);
    ::kill(pid_t(a->processId()), SIGSTOP); // past its lease: the task goes to b
    startWorker(QStringLiteral("b"));
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 2, 20000);
    ::kill(pid_t(a->processId()), SIGCONT); // a's run ends or is cancelled; never recorded
    const QJsonObject task = waitFor(ids[0]);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("result")).toString(), QStringLiteral("b"));
    QCOMPARE(task.value(QStringLiteral("worker")).toString(), QStringLiteral("b"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 2);
    // a is alive again and holds nothing: its heartbeat told it to drop the task.
    QTRY_VERIFY_WITH_TIMEOUT(
        redisCli({QStringLiteral("HGET"), m_namespace + QStringLiteral(":worker:a"),
                  QStringLiteral("running")}) == u"0",
        20000);
    QCOMPARE(startedLines(marks), 2);
}

void tst_Cluster::groupLimitHoldsAcrossThreeWorkers()
{
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--group"), QStringLiteral("g=2")})
                 .exitCode,
             0);
    const QString file =
        m_scripts->write(QStringLiteral("g.lua"), "-- @group g\nsleep(0.3)\nreturn 1\n");
    const QList<qint64> ids = submit(file, {QStringLiteral("--repeat"), QStringLiteral("12")});
    QCOMPARE(ids.size(), 12);
    for (const QString &name : {QStringLiteral("x"), QStringLiteral("y"), QStringLiteral("z")})
        startWorker(name, {QStringLiteral("-j"), QStringLiteral("4")});
    // Sampled while they run; the claim script also refuses to exceed the limit.
    int most = 0;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 60000) {
        const int running =
            redisCli({QStringLiteral("HGET"), m_namespace + QStringLiteral(":running"),
                      QStringLiteral("g")})
                .toInt();
        most = qMax(most, running);
        const int ready =
            redisCli({QStringLiteral("ZCARD"), m_namespace + QStringLiteral(":ready:g")}).toInt();
        if (ready == 0 && running == 0)
            break;
        QTest::qWait(50);
    }
    QVERIFY2(most <= 2, qPrintable(QString::number(most)));
    QVERIFY(most >= 1);
    for (qint64 id : ids)
        QCOMPARE(waitFor(id).value(QStringLiteral("state")).toString(),
                 QStringLiteral("succeeded"));
}

void tst_Cluster::prioritiesThenSubmissionOrderAcrossWorkers()
{
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--pause")}).exitCode, 0);
    const QString file = m_scripts->write(QStringLiteral("p.lua"), "return 1\n");
    const qint64 a = submit(file).value(0);
    const qint64 b = submit(file).value(0);
    const qint64 c = submit(file, {QStringLiteral("--priority"), QStringLiteral("5")}).value(0);
    const qint64 d = submit(file).value(0);
    startWorker(QStringLiteral("w1"), {QStringLiteral("-j"), QStringLiteral("1")});
    startWorker(QStringLiteral("w2"), {QStringLiteral("-j"), QStringLiteral("1")});
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--resume")}).exitCode, 0);
    for (qint64 id : {a, b, c, d})
        QCOMPARE(waitFor(id).value(QStringLiteral("state")).toString(),
                 QStringLiteral("succeeded"));
    // The order of claims, as the claim script recorded them.
    const QList<qint64> started = startOrder();
    QCOMPARE(started, (QList<qint64>{c, a, b, d}));
}

void tst_Cluster::pausedClusterStartsNothingUntilResumed()
{
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--pause"), QStringLiteral("g")})
                 .exitCode,
             0);
    const QString file = m_scripts->write(QStringLiteral("g.lua"), "-- @group g\nreturn 1\n");
    const qint64 id = submit(file).value(0);
    startWorker(QStringLiteral("w1"));
    QTRY_VERIFY_WITH_TIMEOUT(
        redisCli({QStringLiteral("EXISTS"), m_namespace + QStringLiteral(":worker:w1")}) == u"1",
        20000);
    QTest::qWait(1500); // several claims have come and gone
    QCOMPARE(psTask(id).value(QStringLiteral("state")).toString(), QStringLiteral("pending"));
    const ProgramRun shown = taskdeck({QStringLiteral("limits")});
    QVERIFY2(shown.out.contains("group g: limit none, 0 running, 1 ready (paused)"),
             qPrintable(shown.describe()));
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--resume"), QStringLiteral("g")})
                 .exitCode,
             0);
    QCOMPARE(waitFor(id).value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
}

// BullMQ cannot cancel a running job from the queue side (bullmq#3814): here a cancel from
// any machine reaches the task on its worker within a second, and its cleanup runs.
void tst_Cluster::cancelReachesRunningTaskOnWorker()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file = m_scripts->write(QStringLiteral("forever.lua"),
                                          markingTask(marks, "while true do sleep(0.1) end\n"));
    const qint64 id = submit(file).value(0);
    startWorker(QStringLiteral("w1"));
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 1, 20000);
    // ps --stacks: the live stack of the task, from its worker through Redis.
    const ProgramRun stacks = taskdeck({QStringLiteral("ps"), QStringLiteral("--stacks")});
    QVERIFY2(stacks.out.contains("awaiting sleep(0.1)") && stacks.out.contains("forever.lua:2"),
             qPrintable(stacks.describe()));
    const ProgramRun cancel = taskdeck({QStringLiteral("cancel"), QString::number(id)});
    QCOMPARE(cancel.exitCode, 0);
    const ProgramRun wait = taskdeck({QStringLiteral("wait"), QString::number(id)}, 30000);
    QVERIFY2(wait.finished, qPrintable(wait.describe()));
    QCOMPARE(wait.exitCode, 1); // as run: a task that did not succeed
    QCOMPARE(psTask(id).value(QStringLiteral("state")).toString(), QStringLiteral("cancelled"));
    QCOMPARE(taskdeck({QStringLiteral("cancel"), QStringLiteral("999")}).exitCode, 1);
}

void tst_Cluster::sigtermDrainsThenHandsBackWithoutAttempt()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file =
        m_scripts->write(QStringLiteral("drain.lua"),
                         markingTask(marks, "if os.getenv('MARK') == 'a' then sleep(60) end\n"
                                            "return os.getenv('MARK')\n"));
    const qint64 id = submit(file).value(0);
    QProcess *a =
        startWorker(QStringLiteral("a"), {QStringLiteral("--drain"), QStringLiteral("300ms")});
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 1, 20000);
    a->terminate();
    QVERIFY(a->waitForFinished(30000));
    QCOMPARE(a->exitCode(), 0);
    const QJsonObject back = psTask(id);
    QCOMPARE(back.value(QStringLiteral("state")).toString(), QStringLiteral("pending"));
    QCOMPARE(back.value(QStringLiteral("attempts")).toInt(), 0);
    startWorker(QStringLiteral("b"));
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("result")).toString(), QStringLiteral("b"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 1);
}

void tst_Cluster::failedTaskRetriesAfterDelay()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file =
        m_scripts->write(QStringLiteral("flaky.lua"), "-- @retries 2\n-- @retry-delay 100ms\n" +
                                                          markingTask(marks, "error('boom')\n"));
    const qint64 id = submit(file).value(0);
    startWorker(QStringLiteral("w1"));
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("failed"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 3);
    QVERIFY(task.value(QStringLiteral("error")).toString().contains(u"boom"));
    QVERIFY(task.value(QStringLiteral("stack")).isObject());
    QCOMPARE(startedLines(marks), 3);
}

void tst_Cluster::resultOverOneMebibyteFailsTask()
{
    const QString file =
        m_scripts->write(QStringLiteral("big.lua"), "return string.rep('x', 2 * 1024 * 1024)\n");
    const qint64 id = submit(file).value(0);
    startWorker(QStringLiteral("w1"));
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("failed"));
    QVERIFY2(task.value(QStringLiteral("error")).toString().contains(u"result too large"),
             qPrintable(task.value(QStringLiteral("error")).toString()));
}

void tst_Cluster::redisRestartWithAofLosesNoTask()
{
    const QString file = m_scripts->write(QStringLiteral("r.lua"), "return 1\n");
    const QList<qint64> ids = submit(file, {QStringLiteral("--repeat"), QStringLiteral("5")});
    QCOMPARE(ids.size(), 5);
    m_redis->kill(); // SIGKILL
    QVERIFY2(m_redis->restart(), qPrintable(m_redis->errorString()));
    startWorker(QStringLiteral("w1"));
    for (qint64 id : ids)
        QCOMPARE(waitFor(id).value(QStringLiteral("state")).toString(),
                 QStringLiteral("succeeded"));
}

void tst_Cluster::reprioritizedPendingTaskStartsFirstOnWorker()
{
    using Move = ClusterProtocol::Move;
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--pause")}).exitCode, 0);
    const QString file = m_scripts->write(QStringLiteral("p.lua"), "return 1\n");
    const qint64 a = submit(file).value(0);
    const qint64 b = submit(file).value(0);
    const qint64 c = submit(file).value(0);
    const qint64 d = submit(file, {QStringLiteral("--priority"), QStringLiteral("3")}).value(0);
    int priority = 0;
    QCOMPARE(reprioritize(c, Move::ToTop, 0, &priority), QString());
    QCOMPARE(priority, 3); // the group's highest, ahead of d that has it too
    QCOMPARE(reprioritize(a, Move::ToBottom, 0, &priority), QString());
    QCOMPARE(priority, 0);
    QCOMPARE(reprioritize(b, Move::SetPriority, 1, &priority), QString());
    QCOMPARE(priority, 1);
    QCOMPARE(psTask(c).value(QStringLiteral("priority")).toInt(), 3);
    startWorker(QStringLiteral("w1"), {QStringLiteral("-j"), QStringLiteral("1")});
    QCOMPARE(taskdeck({QStringLiteral("limits"), QStringLiteral("--resume")}).exitCode, 0);
    for (qint64 id : {a, b, c, d})
        QCOMPARE(waitFor(id).value(QStringLiteral("state")).toString(),
                 QStringLiteral("succeeded"));
    const QList<qint64> started = startOrder();
    QCOMPARE(started, (QList<qint64>{c, d, b, a}));
    // Only a pending task moves.
    const QString refused = reprioritize(a, Move::ToTop, 0, &priority);
    QVERIFY2(refused.startsWith(u"NOTPENDING task") && refused.endsWith(u"is succeeded"),
             qPrintable(refused));
    QVERIFY(reprioritize(999, Move::SetPriority, 1, &priority).startsWith(u"UNKNOWN"));
}

// Celery runs a task twice when its ETA is past the broker's visibility timeout
// (kombu#337): here a retry waiting longer than the lease runs once per attempt.
void tst_Cluster::retryDelayLongerThanLeaseRunsOncePerAttempt()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file =
        m_scripts->write(QStringLiteral("late.lua"),
                         "-- @retries 1\n-- @retry-delay 4s\n" +
                             markingTask(marks, "local n = 0\n"
                                                "for _ in io.lines('" +
                                                    marks.toUtf8() +
                                                    "') do n = n + 1 end\n"
                                                    "if n == 1 then error('first run fails') end\n"
                                                    "return n\n"));
    const qint64 id = submit(file).value(0);
    startWorker(QStringLiteral("w1"));
    startWorker(QStringLiteral("w2"));
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("result")).toInt(), 2);
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 2);
    QCOMPARE(startedLines(marks), 2);
    int starts = 0;
    for (const auto &[type, state] : eventsOf(id))
        starts += type == u"started";
    QCOMPARE(starts, 2);
}

// Celery loses revokes sent while no worker is online (celery#7529): here a task
// cancelled then never runs once workers come.
void tst_Cluster::cancelWhileNoWorkerRunsStaysCancelled()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file =
        m_scripts->write(QStringLiteral("never.lua"), markingTask(marks, "return 1\n"));
    const qint64 id = submit(file).value(0);
    QCOMPARE(taskdeck({QStringLiteral("cancel"), QString::number(id)}).exitCode, 0);
    startWorker(QStringLiteral("w1"));
    // The worker claims: a task submitted after runs, the cancelled one never.
    const QString other = m_scripts->write(QStringLiteral("other.lua"), "return 2\n");
    const qint64 next = submit(other).value(0);
    QCOMPARE(waitFor(next).value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("cancelled"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 0);
    QCOMPARE(startedLines(marks), 0);
    QCOMPARE(taskdeck({QStringLiteral("cancel"), QString::number(id)}).exitCode, 0);
    QCOMPARE(psTask(id).value(QStringLiteral("state")).toString(), QStringLiteral("cancelled"));
}

namespace {

// Runs `program` to its end while this thread's event loop runs (a server of the test's
// own answers meanwhile); killed after `timeoutMs`.
ProgramRun runServed(const QString &program, const QStringList &args,
                     const QProcessEnvironment &env, int timeoutMs)
{
    ProgramRun run;
    QProcess process;
    process.setProcessEnvironment(env);
    QElapsedTimer clock;
    clock.start();
    process.start(program, args);
    process.closeWriteChannel();
    while (process.state() != QProcess::NotRunning && clock.elapsed() < timeoutMs)
        QTest::qWait(20);
    run.elapsedMs = clock.elapsed();
    run.finished = process.state() == QProcess::NotRunning;
    if (!run.finished) {
        process.kill();
        process.waitForFinished(5000);
    } else if (process.exitStatus() == QProcess::NormalExit) {
        run.exitCode = process.exitCode();
    }
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    return run;
}

// A RESP server that is not Redis 7: INFO says 6.2.7, anything else is +OK (the idea of
// tst_redisclient's FakeRedis, which lives inside that suite).
class OldRedis
{
public:
    OldRedis()
    {
        m_server.listen(m_dir.filePath(QStringLiteral("old.sock")));
        QObject::connect(&m_server, &QLocalServer::newConnection, &m_server, [this] {
            while (QLocalSocket *socket = m_server.nextPendingConnection()) {
                auto buffer = std::make_shared<QByteArray>();
                QObject::connect(socket, &QLocalSocket::readyRead, socket, [socket, buffer] {
                    *buffer += socket->readAll();
                    while (const auto name = takeCommand(*buffer)) {
                        const QByteArray info = "# Server\r\nredis_version:6.2.7\r\n";
                        if (name->toUpper() == "INFO")
                            socket->write("$" + QByteArray::number(info.size()) + "\r\n" + info +
                                          "\r\n");
                        else
                            socket->write("+OK\r\n");
                    }
                });
            }
        });
    }
    QString path() const { return m_server.fullServerName(); }

private:
    // The name of the first whole command in `buffer`, taken out of it; none until one
    // has come whole.
    static std::optional<QByteArray> takeCommand(QByteArray &buffer)
    {
        if (!buffer.isEmpty() && !buffer.startsWith('*'))
            buffer.clear(); // not RESP: nothing to answer
        const qsizetype head = buffer.indexOf("\r\n");
        if (head < 0)
            return std::nullopt;
        const int count = buffer.mid(1, head - 1).toInt();
        qsizetype at = head + 2;
        QByteArray name;
        for (int i = 0; i < count; ++i) {
            const qsizetype end = buffer.indexOf("\r\n", at);
            if (at >= buffer.size() || buffer[at] != '$' || end < 0)
                return std::nullopt;
            const qsizetype length = buffer.mid(at + 1, end - at - 1).toLongLong();
            if (buffer.size() < end + 2 + length + 2)
                return std::nullopt;
            if (i == 0)
                name = buffer.mid(end + 2, length);
            at = end + 2 + length + 2;
        }
        buffer.remove(0, at);
        return name;
    }

    QTemporaryDir m_dir;
    QLocalServer m_server;
};

// Runs a tool to its end: empty, or what went wrong (its output).
QString runTool(const QString &program, const QStringList &args)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program, args);
    if (!process.waitForFinished(20000))
        return QStringLiteral("%1 %2: did not end").arg(program, args.join(u' '));
    if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0)
        return QStringLiteral("%1 %2: %3")
            .arg(program, args.join(u' '), QString::fromUtf8(process.readAll()).trimmed());
    return {};
}

// A network namespace, removed (with the veth pair into it) when this goes.
struct NetNamespace
{
    QString name;
    ~NetNamespace()
    {
        if (!name.isEmpty())
            runTool(QStringLiteral("ip"), {QStringLiteral("netns"), QStringLiteral("del"), name});
    }
};

// The ACL SETUSER commands of README.md's "Running on many machines", as words.
QList<QStringList> readmeAclRules()
{
    QFile readme(QFINDTESTDATA("../README.md"));
    if (!readme.open(QIODevice::ReadOnly))
        return {};
    QList<QStringList> rules;
    QString rule;
    for (const QString &line : QString::fromUtf8(readme.readAll()).split(u'\n')) {
        if (rule.isEmpty() && !line.startsWith(u"    ACL SETUSER "))
            continue;
        rule += line.trimmed();
        if (rule.endsWith(u'\\')) {
            rule.chop(1);
            rule += u' ';
            continue;
        }
        rules.append(rule.split(u' ', Qt::SkipEmptyParts));
        rule.clear();
    }
    return rules;
}

} // namespace

void tst_Cluster::wrongPasswordAndOldRedisAreOneLineAndExit1()
{
    RedisServer guarded;
    RedisServer::Options options;
    options.password = QStringLiteral("right");
    QVERIFY2(guarded.start(options), qPrintable(guarded.errorString()));
    OldRedis old;
    const QString file = m_scripts->write(QStringLiteral("x.lua"), "return 1\n");
    const QList<QStringList> commands = {
        {QStringLiteral("ps")},
        {QStringLiteral("submit"), file},
        {QStringLiteral("wait"), QStringLiteral("1")},
        {QStringLiteral("cancel"), QStringLiteral("1")},
        {QStringLiteral("limits")},
        {QStringLiteral("workers")},
        {QStringLiteral("worker")},
    };
    const QList<std::pair<QString, QString>> servers = {
        {QStringLiteral("unix://default:wrong@") + guarded.socketPath(), QStringLiteral("wrong")},
        {QStringLiteral("unix://") + old.path(), QStringLiteral("6.2.7")},
    };
    for (const auto &[url, why] : servers) {
        QProcessEnvironment e = env();
        e.insert(QStringLiteral("TASKDECK_REDIS"), url);
        for (const QStringList &command : commands) {
            const ProgramRun run = runServed(m_bin, command, e, 30000);
            const QString what =
                command.first() + u' ' + url + QStringLiteral(": ") + run.describe();
            QVERIFY2(run.finished, qPrintable(what));
            QVERIFY2(run.exitCode == 1, qPrintable(what));
            QVERIFY2(run.errLines().size() == 1, qPrintable(what));
            QVERIFY2(run.elapsedMs < 10000, qPrintable(what)); // SPEC 8: within 10 s
            QVERIFY2(run.err.contains(why.toUtf8()) || why == u"wrong", qPrintable(what));
        }
    }
}

void tst_Cluster::workerAndSubmitOverTlsWithTheirCa()
{
    REDIS_SERVER_OR_SKIP(true);
    RedisServer secure;
    RedisServer::Options options;
    options.tls = true;
    QVERIFY2(secure.start(options), qPrintable(secure.errorString()));
    m_redisUrl = QStringLiteral("rediss://localhost:%1").arg(secure.tlsPort());
    // Without the test's CA the server is not trusted: one line, exit 1.
    const ProgramRun untrusted = taskdeck({QStringLiteral("ps")}, 30000);
    QVERIFY2(untrusted.exitCode == 1 && untrusted.errLines().size() == 1,
             qPrintable(untrusted.describe()));
    m_commonArgs = {QStringLiteral("--redis-ca"), secure.caFile()};
    const QString file = m_scripts->write(QStringLiteral("answer.lua"), "return 6 * 7\n");
    const QList<qint64> ids = submit(file);
    QCOMPARE(ids.size(), 1);
    startWorker(QStringLiteral("tls1"));
    const QJsonObject task = waitFor(ids[0]);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("result")).toInt(), 42);
    QCOMPARE(task.value(QStringLiteral("worker")).toString(), QStringLiteral("tls1"));
}

// A worker cut off from Redis by a network partition (a network namespace of the test's
// own, an nft drop rule) cancels its task itself once it cannot renew the lease; the task
// runs again elsewhere as attempt 2, and the cut-off worker's late end is refused.
void tst_Cluster::partitionedWorkerCancelsItsTaskAndItsLateResultIsRefused()
{
    if (::geteuid() != 0)
        QSKIP("a network partition needs root (network namespaces, nft)");
    for (const QString &tool : {QStringLiteral("ip"), QStringLiteral("nft")})
        if (QStandardPaths::findExecutable(tool).isEmpty() &&
            QStandardPaths::findExecutable(tool, {QStringLiteral("/usr/sbin")}).isEmpty())
            QSKIP(qPrintable(tool + QStringLiteral(" is not installed (tests/install-deps.sh)")));
    const qint64 pid = QCoreApplication::applicationPid();
    const QString subnet = QStringLiteral("10.213.%1.").arg(pid % 250);
    const QString outside = subnet + u'1';
    const QString inside = subnet + u'2';
    const QString ip = QStringLiteral("ip");
    NetNamespace ns;
    const QString name = QStringLiteral("tdpart%1").arg(pid);
    if (const QString e = runTool(ip, {QStringLiteral("netns"), QStringLiteral("add"), name});
        !e.isEmpty())
        QSKIP(qPrintable(QStringLiteral("no network namespace here: ") + e));
    ns.name = name;
    const QString vethOut = QStringLiteral("tdo%1").arg(pid);
    const QString vethIn = QStringLiteral("tdi%1").arg(pid);
    const QString n = QStringLiteral("-n");
    const QList<QStringList> setup = {
        {"link", "add", vethOut, "type", "veth", "peer", "name", vethIn},
        {"link", "set", vethIn, "netns", name},
        {"addr", "add", outside + "/30", "dev", vethOut},
        {"link", "set", vethOut, "up"},
        {n, name, "addr", "add", inside + "/30", "dev", vethIn},
        {n, name, "link", "set", vethIn, "up"},
        {n, name, "link", "set", "lo", "up"},
    };
    for (const QStringList &args : setup) {
        const QString e = runTool(ip, args);
        QVERIFY2(e.isEmpty(), qPrintable(e));
    }
    // A Redis on TCP, on the host's side of the pair and on loopback.
    QTemporaryDir redisDir;
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const QString port = QString::number(probe.serverPort());
    probe.close();
    QProcess redis;
    redis.setStandardOutputFile(QProcess::nullDevice());
    redis.start(QStringLiteral("redis-server"),
                {"--port", port, "--bind", "127.0.0.1", outside, "--protected-mode", "no", "--save",
                 "", "--appendonly", "no", "--dir", redisDir.path()});
    QVERIFY(redis.waitForStarted());
    m_redisUrl = QStringLiteral("redis://127.0.0.1:") + port;
    m_cliTarget = {QStringLiteral("-h"), QStringLiteral("127.0.0.1"), QStringLiteral("-p"), port};
    QTRY_COMPARE_WITH_TIMEOUT(redisCli({QStringLiteral("PING")}), QStringLiteral("PONG"), 20000);

    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString ticks = m_scripts->path() + QStringLiteral("/ticks");
    const QString file = m_scripts->write(
        QStringLiteral("cut.lua"), markingTask(marks, "if os.getenv('MARK') == 'a' then\n"
                                                      "    for i = 1, 600 do\n"
                                                      "        local f = io.open('" +
                                                          ticks.toUtf8() +
                                                          "', 'a')\n"
                                                          "        f:write('t\\n') f:close()\n"
                                                          "        sleep(0.1)\n"
                                                          "    end\n"
                                                          "end\n"
                                                          "return os.getenv('MARK')\n"));
    const qint64 id = submit(file).value(0);
    QVERIFY(id > 0);
    auto *a = new QProcess;
    QProcessEnvironment aEnv = env(QStringLiteral("a"));
    aEnv.insert(QStringLiteral("TASKDECK_REDIS"),
                QStringLiteral("redis://%1:%2").arg(outside, port));
    a->setProcessEnvironment(aEnv);
    a->start(ip, {"netns", "exec", name, m_bin, "worker", "--namespace=" + m_namespace, "--name",
                  "a", "--lease", "1s"});
    m_workers.append(a);
    QVERIFY(a->waitForStarted());
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 1, 20000);

    const QStringList nft{QStringLiteral("netns"), QStringLiteral("exec"), name,
                          QStringLiteral("nft")};
    const QList<QStringList> partition = {
        {"add", "table", "inet", "tdpart"},
        {"add", "chain", "inet", "tdpart", "out", "{ type filter hook output priority 0 ; }"},
        {"add", "rule", "inet", "tdpart", "out", "ip", "daddr", outside, "drop"},
    };
    for (const QStringList &args : partition) {
        const QString e = runTool(ip, nft + args);
        QVERIFY2(e.isEmpty(), qPrintable(e));
    }
    startWorker(QStringLiteral("b"));
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 2, 30000);
    // Still cut off, a has stopped its run: the ticks no longer grow.
    auto ticksStopped = [&ticks] {
        const qint64 before = QFileInfo(ticks).size();
        QTest::qWait(700);
        return QFileInfo(ticks).size() == before;
    };
    QTRY_VERIFY_WITH_TIMEOUT(ticksStopped(), 30000);

    const QString healed = runTool(ip, nft + QStringList{"delete", "table", "inet", "tdpart"});
    QVERIFY2(healed.isEmpty(), qPrintable(healed));
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("result")).toString(), QStringLiteral("b"));
    QCOMPARE(task.value(QStringLiteral("worker")).toString(), QStringLiteral("b"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 2);
    QByteArray aErr;
    const QByteArray refused = "the end of task " + QByteArray::number(id) + " was refused";
    QTRY_VERIFY2_WITH_TIMEOUT((aErr += a->readAllStandardError()).contains(refused),
                              aErr.constData(), 60000);
    QCOMPARE(startedLines(marks), 2);
    for (QProcess *worker : std::as_const(m_workers)) { // before the namespace and Redis go
        worker->kill();
        worker->waitForFinished(5000);
    }
    redis.kill();
    redis.waitForFinished(5000);
}

void tst_Cluster::psShowsProgressAndTaskSeesClustersAttempt()
{
    const QString marks = m_scripts->path() + QStringLiteral("/marks");
    const QString file =
        m_scripts->write(QStringLiteral("attempt.lua"),
                         markingTask(marks, "progress(0.25, 'a quarter')\n"
                                            "if os.getenv('MARK') == 'a' then sleep(60) end\n"
                                            "return task.attempt\n"));
    const qint64 id = submit(file).value(0);
    QCOMPARE(psTask(id).value(QStringLiteral("progress")), QJsonValue(QJsonValue::Null));
    QProcess *a = startWorker(QStringLiteral("a"));
    QTRY_COMPARE_WITH_TIMEOUT(startedLines(marks), 1, 20000);
    QTRY_COMPARE_WITH_TIMEOUT(psTask(id).value(QStringLiteral("progress")).toDouble(), 0.25, 20000);
    a->kill(); // attempt 1 lost
    a->waitForFinished(5000);
    startWorker(QStringLiteral("b"));
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("attempts")).toInt(), 2);
    QCOMPARE(task.value(QStringLiteral("result")).toInt(), 2); // task.attempt inside
}

// README.md's ACL users on a real server: the submit-only user submits, watches and
// cancels but cannot take a lease or claim; the worker user runs tasks.
void tst_Cluster::readmeAclUsersSubmitOnlyAndWork()
{
    const QList<QStringList> rules = readmeAclRules();
    QCOMPARE(rules.size(), 2);
    RedisServer server;
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    m_namespace = QStringLiteral("taskdeck"); // the README's rules name its keys
    m_cliTarget = {QStringLiteral("-s"), server.socketPath()};
    for (const QStringList &rule : rules)
        QCOMPARE(redisCli(rule), QStringLiteral("OK"));
    const QString submitter = QStringLiteral("unix://submitter:SECRET1@") + server.socketPath();
    const QString worker = QStringLiteral("unix://worker:SECRET2@") + server.socketPath();

    m_redisUrl = submitter;
    const QString file = m_scripts->write(QStringLiteral("acl.lua"), "return 7\n");
    const qint64 id = submit(file).value(0);
    QVERIFY(id > 0);
    const qint64 dropped = submit(file).value(0);
    QVERIFY(dropped > 0);
    QCOMPARE(psTask(id).value(QStringLiteral("state")).toString(), QStringLiteral("pending"));
    const ProgramRun cancel = taskdeck({QStringLiteral("cancel"), QString::number(dropped)});
    QVERIFY2(cancel.exitCode == 0, qPrintable(cancel.describe()));
    QCOMPARE(taskdeck({QStringLiteral("limits")}).exitCode, 0);
    // A worker with the submitter's user gets no lease, so it claims nothing, and says so
    // once (not once a second).
    QProcess *intruder = startWorker(QStringLiteral("intruder"), {}, QProcess::SeparateChannels);
    QTest::qWait(3000); // many heartbeats and claims have been tried
    QCOMPARE(redisCli({QStringLiteral("ZSCORE"), QStringLiteral("taskdeck:leases"),
                       QStringLiteral("intruder")}),
             QString());
    QCOMPARE(psTask(id).value(QStringLiteral("state")).toString(), QStringLiteral("pending"));
    intruder->kill();
    intruder->waitForFinished(5000);
    const QString said = QString::fromLocal8Bit(intruder->readAllStandardError());
    QVERIFY2(said.count(QStringLiteral("heartbeat refused")) == 1, qPrintable(said));

    m_redisUrl = worker;
    startWorker(QStringLiteral("w1"));
    m_redisUrl = submitter;
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("result")).toInt(), 7);
    const ProgramRun workers = taskdeck({QStringLiteral("workers"), QStringLiteral("--json")});
    QVERIFY2(workers.exitCode == 0 && workers.out.contains("\"w1\""),
             qPrintable(workers.describe()));
}

// An idle worker blocks on the stream "wake" instead of polling: it costs Redis its
// heartbeat, the reaper's turn and a safety-net claim a second (it polled every 50 ms,
// ~140 commands a second); a submit still starts at once.
void tst_Cluster::idleWorkerCostsRedisAFewCommandsPerSecond()
{
    // The default beat (a second); the other tests' 1 s lease beats three times as often.
    startWorker(QStringLiteral("idle"), {QStringLiteral("--lease"), QStringLiteral("6s")});
    QTRY_VERIFY_WITH_TIMEOUT(
        !redisCli({QStringLiteral("ZSCORE"), m_namespace + QStringLiteral(":leases"),
                   QStringLiteral("idle")})
             .isEmpty(),
        20000);
    QTest::qWait(1000);
    QCOMPARE(redisCli({QStringLiteral("CONFIG"), QStringLiteral("RESETSTAT")}),
             QStringLiteral("OK"));
    QElapsedTimer clock;
    clock.start();
    QTest::qWait(4000);
    const QString info = redisCli({QStringLiteral("INFO"), QStringLiteral("commandstats")});
    const double seconds = clock.elapsed() / 1000.0;
    qint64 calls = 0;
    static const QRegularExpression count(QStringLiteral(":calls=(\\d+),"));
    for (auto it = count.globalMatch(info); it.hasNext();)
        calls += it.next().captured(1).toLongLong();
    calls -= 1; // the INFO itself
    QVERIFY2(
        calls / seconds < 40,
        qPrintable(QStringLiteral("%1 commands in %2 s\n%3").arg(calls).arg(seconds).arg(info)));
    const QString file = m_scripts->write(QStringLiteral("one.lua"), "return 1\n");
    const qint64 id = submit(file).value(0);
    QCOMPARE(waitFor(id).value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
}

// resources/taskdeck-worker.service: its ExecStart, with TASKDECK_REDIS (and the extra
// arguments) from its EnvironmentFile, runs a worker that runs tasks and drains on the
// unit's KillSignal.
void tst_Cluster::systemdUnitRunsWorkerFromEnvironmentFile()
{
    QFile unit(QFINDTESTDATA("../resources/taskdeck-worker.service"));
    QVERIFY2(unit.open(QIODevice::ReadOnly), "resources/taskdeck-worker.service");
    QHash<QString, QString> keys;
    for (const QString &line : QString::fromUtf8(unit.readAll()).split(u'\n'))
        if (line.contains(u'=') && !line.startsWith(u'#'))
            keys.insert(line.section(u'=', 0, 0), line.section(u'=', 1));
    QCOMPARE(keys.value(QStringLiteral("KillSignal")), QStringLiteral("SIGTERM"));
    QCOMPARE(keys.value(QStringLiteral("KillMode")), QStringLiteral("mixed"));
    QVERIFY(keys.value(QStringLiteral("EnvironmentFile")).endsWith(u"worker.env"));
    QStringList exec = keys.value(QStringLiteral("ExecStart")).split(u' ', Qt::SkipEmptyParts);
    QVERIFY2(exec.size() >= 2 && exec[0].endsWith(u"/taskdeck") && exec[1] == u"worker",
             qPrintable(exec.join(u' ')));
    // What systemd would do: the file's variables in the environment, $VAR and %H expanded.
    QProcessEnvironment e = env(QStringLiteral("unit"));
    e.insert(QStringLiteral("TASKDECK_REDIS"), QStringLiteral("unix://") + m_socket);
    const QStringList extra = {QStringLiteral("--namespace=") + m_namespace,
                               QStringLiteral("--lease"), QStringLiteral("1s")};
    QStringList args;
    for (const QString &word : exec.mid(1)) {
        if (word == u"$TASKDECK_WORKER_ARGS")
            args += extra;
        else
            args.append(QString(word).replace(QStringLiteral("%H"), QStringLiteral("unit-host")));
    }
    QVERIFY2(args.contains(QStringLiteral("--namespace=") + m_namespace),
             "ExecStart takes $TASKDECK_WORKER_ARGS");
    auto *worker = new QProcess;
    worker->setProcessEnvironment(e);
    worker->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    worker->start(m_bin, args);
    m_workers.append(worker);
    QVERIFY(worker->waitForStarted());
    const QString file = m_scripts->write(QStringLiteral("unit.lua"), "return 5\n");
    const qint64 id = submit(file).value(0);
    const QJsonObject task = waitFor(id);
    QCOMPARE(task.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QCOMPARE(task.value(QStringLiteral("worker")).toString(), QStringLiteral("unit-host"));
    worker->terminate(); // the unit's KillSignal: drains, exit status 0
    QVERIFY(worker->waitForFinished(30000));
    QCOMPARE(worker->exitCode(), 0);
}

QTEST_GUILESS_MAIN(tst_Cluster)
#include "tst_cluster.moc"
