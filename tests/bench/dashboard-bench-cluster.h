// Included by dashboard-bench.cpp after its StallProbe (one executable, one probe).
#pragma once
// taskdeck-dashboard-bench --mode cluster (issue 13): the dashboard on a cluster. A
// redis-server of its own (a unix socket in a temporary directory), N tasks submitted,
// then a fake worker on a thread of its own drives the cluster's scripts (heartbeat, claim,
// complete) at about `rate` state changes per second (a start and an end per task) while
// the window, over a RedisTaskSource, lists every task. Measures the GUI thread's stalls
// as the other modes do, then the Redis commands per second (INFO commandstats) while the
// dashboard alone stays connected to the idle cluster.
#include "cluster/clusterprotocol.h"
#include "cluster/redistasksource.h"
#include "mainwindow.h"
#include "tasktablemodel.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <atomic>
#include <cstdio>
#include <functional>

namespace {

qint64 commandCalls(const QString &socket)
{
    QProcess cli;
    cli.start(QStringLiteral("redis-cli"), {QStringLiteral("-s"), socket, QStringLiteral("INFO"),
                                            QStringLiteral("commandstats")});
    cli.waitForFinished(10000);
    qint64 total = 0;
    for (const QByteArray &line : cli.readAllStandardOutput().split('\n')) {
        const qsizetype at = line.indexOf("calls=");
        if (at >= 0)
            total += line.mid(at + 6).split(',').value(0).toLongLong();
    }
    return total;
}

// The fake worker: submits `tasks`, then every 100 ms ends what it claimed the tick before
// and claims as many again. Owns its client on its own thread.
void fakeWorker(const RedisUrl &url, int tasks, int rate, std::atomic<int> *phase,
                std::atomic<int> *submitted)
{
    RedisClient::Options options;
    options.url = url;
    options.commandTimeoutMs = 60000;
    RedisClient client(options);
    ClusterProtocol protocol(&client, QStringLiteral("bench"));
    QEventLoop loop;
    QObject::connect(&client, &RedisClient::ready, &loop, [&] {
        TaskSpec spec;
        spec.file = QStringLiteral("/bench/trivial.lua");
        spec.name = QStringLiteral("trivial.lua");
        spec.source = "return 1\n";
        QList<TaskSpec> specs(tasks, spec);
        protocol.submit(
            specs, ClusterProtocol::DefaultKeepMs,
            [&](const QList<TaskId> &ids, const QString &) { submitted->store(int(ids.size())); });
    });
    QList<ClusterProtocol::Claimed> held;
    QTimer tick;
    tick.setInterval(100);
    const int perTick = qMax(1, rate / 2 / 10);
    bool busy = false;
    QObject::connect(&tick, &QTimer::timeout, &loop, [&] {
        if (phase->load() == 2) {
            loop.quit();
            return;
        }
        if (phase->load() != 1 || busy)
            return;
        busy = true;
        ClusterProtocol::Beat beat;
        beat.worker = QStringLiteral("fake");
        beat.leaseMs = 60000;
        beat.host = QStringLiteral("bench");
        beat.capacity = perTick;
        protocol.heartbeat(beat, [](const QList<TaskId> &, bool, const QString &) {});
        QList<ClusterProtocol::Ending> endings;
        for (const ClusterProtocol::Claimed &c : std::as_const(held))
            endings.append({c.id, c.attempt, QStringLiteral("succeeded"), "1", {}, {}, {}});
        if (!endings.isEmpty())
            protocol.complete(QStringLiteral("fake"), endings,
                              [](const QList<TaskId> &, const QString &) {});
        protocol.claim(QStringLiteral("fake"), perTick,
                       [&](const QList<ClusterProtocol::Claimed> &claimed, const QString &) {
                           held = claimed;
                           busy = false;
                       });
    });
    tick.start();
    client.open();
    loop.exec();
}

} // namespace

int runClusterBench(QApplication &app, int tasks, int rate, int seconds, int idleSeconds,
                    bool verbose)
{
    QTemporaryDir dir;
    const QString socket = dir.filePath(QStringLiteral("redis.sock"));
    QProcess redis;
    redis.start(QStringLiteral("redis-server"),
                {QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--unixsocket"),
                 socket, QStringLiteral("--save"), QString(), QStringLiteral("--appendonly"),
                 QStringLiteral("no")});
    if (!redis.waitForStarted(5000))
        qFatal("cannot start redis-server");
    for (int i = 0; i < 100 && !QFile::exists(socket); ++i)
        QThread::msleep(50);
    RedisUrl url;
    url.scheme = RedisUrl::Scheme::Unix;
    url.socketPath = socket;

    std::atomic<int> phase{0};
    std::atomic<int> submitted{0};
    QThread *worker = QThread::create(fakeWorker, url, tasks, rate, &phase, &submitted);
    worker->start();
    // The tasks first, then the dashboard lists them all while they change.
    QElapsedTimer wait;
    wait.start();
    while (submitted.load() < tasks && wait.elapsed() < 120000)
        QThread::msleep(20);

    RedisClient::Options options;
    options.url = url;
    RedisTaskSource source(options, QStringLiteral("bench"));
    MainWindow window(&source);
    window.resize(1400, 900);
    window.show();

    StallProbe probe;
    probe.setVerbose(verbose);
    QElapsedTimer clock;
    qint64 listedMs = -1;
    qint64 changes = 0;
    QObject::connect(&source, &TaskSource::batch, &window, [&](const TaskSourceBatch &batch) {
        if (listedMs >= 0)
            changes += batch.update.changed.size();
        if (listedMs < 0 && window.taskModel()->rowCount() >= tasks) {
            listedMs = clock.elapsed();
            if (verbose)
                std::fprintf(stderr, "listed at %.3f s\n", listedMs / 1000.0);
            phase.store(1); // the fake worker starts changing them
        }
    });
    qint64 idleCalls = 0;
    QTimer::singleShot(500, [&] {
        probe.start();
        clock.start();
        source.start();
    });
    std::function<void()> waitListed = [&] {
        if (listedMs < 0) {
            QTimer::singleShot(100, waitListed);
            return;
        }
        QTimer::singleShot(seconds * 1000, [&] {
            probe.stop();
            phase.store(2);
            worker->wait();
            // The idle cluster: only the dashboard talks to Redis.
            QTimer::singleShot(2000, [&] {
                const qint64 before = commandCalls(socket);
                QTimer::singleShot(idleSeconds * 1000, [&, before] {
                    idleCalls = commandCalls(socket) - before - 1; // minus our INFO
                    app.quit();
                });
            });
        });
    };
    QTimer::singleShot(600, waitListed);
    app.exec();
    delete worker;
    redis.kill();
    redis.waitForFinished(5000);

    std::vector<double> stalls = probe.stallsMs();
    std::sort(stalls.begin(), stalls.end());
    const double maxStall = stalls.empty() ? 0 : stalls.back();
    const double p99 = stalls.empty() ? 0 : stalls[size_t(double(stalls.size() - 1) * 0.99)];
    const QJsonObject out{
        {QStringLiteral("scenario"), QStringLiteral("dashboard")},
        {QStringLiteral("mode"), QStringLiteral("cluster")},
        {QStringLiteral("tasks"), tasks},
        {QStringLiteral("rows_listed"), window.taskModel()->rowCount()},
        {QStringLiteral("listed_after_ms"), listedMs},
        {QStringLiteral("changes_per_s"), double(changes) / seconds},
        {QStringLiteral("seconds"), seconds},
        {QStringLiteral("max_stall_ms"), qRound(maxStall * 10) / 10.0},
        {QStringLiteral("p99_ms"), qRound(p99 * 100) / 100.0},
        {QStringLiteral("idle_redis_commands_per_s"), double(idleCalls) / idleSeconds},
    };
    std::printf("%s\n", QJsonDocument(out).toJson(QJsonDocument::Compact).constData());
    return 0;
}
