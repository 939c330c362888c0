// taskdeck-dashboard-bench [--mode synthetic|engine|cluster] [--tasks N] [--changes-per-s N]
//                          [--seconds S] [--sort COLUMN] [--filter TEXT] [--store DIR]
//                          [--ps-every MS]
// SPEC section 6 "dashboard": the dashboard window lists 100,000 tasks while 5,000 change
// state per second, and the GUI event loop must never stall more than 50 ms (p99 < 16 ms).
//
// The stall probe is a 1 ms precise timer on the GUI thread: each gap between two of its
// firings beyond 1 ms is a stall. Prints one JSON line:
// {"scenario":"dashboard","max_stall_ms":..,"p99_ms":..,...}
//
// --mode synthetic (default): the window is fed EngineUpdate batches directly, exactly as
//   the engine publishes them (every 100 ms): first one batch of N new pending tasks, then
//   batches of state changes (start, finish, progress) at the requested rate.
// --mode engine: the real engine runs N Lua tasks that sleep 0.5-1.5 s, with enough of
//   them running at once to make about that many state changes per second. With --store
//   the engine records into a task store in DIR, as the dashboard's does.
// --mode cluster: the window over a RedisTaskSource on a redis-server of its own, a fake
//   worker driving the cluster's scripts (dashboard-bench-cluster.h); also prints the
//   Redis commands per second of the dashboard alone on the idle cluster.
// --ps-every MS: meanwhile a client on another thread asks the window's instance socket
//   for `ps` (what `taskdeck ps --json` asks) every MS, as soon as the last reply came
//   (issue 11: answered without stalling the GUI thread); the replies are counted.
#include "engine.h"
#include "instanceservice.h"
#include "ipc/instanceserver.h"
#include "localtasksource.h"
#include "mainwindow.h"
#include "scriptloader.h"
#include "store/taskstore.h"
#include "taskfilterproxymodel.h"
#include "tasktablemodel.h"
#include "taskview.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalSocket>
#include <QRandomGenerator>
#include <QTableView>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

namespace {

// Gaps between firings of a 1 ms timer on the GUI thread.
class StallProbe : public QObject
{
public:
    void start()
    {
        m_gapsUs.reserve(20000);
        m_clock.start();
        m_last = 0;
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(1);
        QObject::connect(&m_timer, &QTimer::timeout, this, [this] {
            const qint64 now = m_clock.nsecsElapsed() / 1000;
            if (m_verbose && now - m_last > 16000)
                std::fprintf(stderr, "stall %.1f ms at %.3f s\n", (now - m_last) / 1000.0,
                             m_last / 1e6);
            m_gapsUs.push_back(now - m_last);
            m_last = now;
        });
        m_timer.start();
    }
    void stop() { m_timer.stop(); }
    void setVerbose(bool verbose) { m_verbose = verbose; }
    // Stalls in ms: each gap minus the 1 ms the timer was asked for.
    std::vector<double> stallsMs() const
    {
        std::vector<double> stalls;
        stalls.reserve(m_gapsUs.size());
        for (qint64 gap : m_gapsUs)
            stalls.push_back(std::max<double>(0, (gap - 1000) / 1000.0));
        return stalls;
    }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_last = 0;
    bool m_verbose = false;
    std::vector<qint64> m_gapsUs;
};

// A scheduler simulated on the GUI thread that produces the batches the engine would.
class SyntheticFeed
{
public:
    SyntheticFeed(MainWindow *window, int tasks, int changesPerSecond)
        : m_window(window)
        , m_changesPerBatch(changesPerSecond / 10)
        , m_states(size_t(tasks), TaskState::Pending)
        , m_started(size_t(tasks), -1)
    {
        m_pending.reserve(size_t(tasks));
        for (int i = tasks - 1; i >= 0; --i)
            m_pending.push_back(i);
    }

    EngineUpdate flood()
    {
        EngineUpdate update;
        update.changed.reserve(qsizetype(m_states.size()));
        for (size_t i = 0; i < m_states.size(); ++i)
            update.changed.append(snapshot(int(i)));
        m_counts.pending = int(m_states.size());
        update.counts = m_counts;
        return update;
    }

    // One publish interval's worth of changes: finish some running tasks, start as many
    // pending ones, and move the progress of a few others.
    EngineUpdate next()
    {
        EngineUpdate update;
        QRandomGenerator *rng = QRandomGenerator::global();
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        int budget = m_changesPerBatch;
        const int finish = std::min<int>(budget * 2 / 5, int(m_running.size()));
        for (int k = 0; k < finish; ++k) {
            const size_t at = rng->bounded(quint32(m_running.size()));
            const int i = m_running[at];
            m_running[at] = m_running.back();
            m_running.pop_back();
            m_states[i] = rng->bounded(20) == 0 ? TaskState::Failed : TaskState::Succeeded;
            --m_counts.running;
            ++(m_states[i] == TaskState::Failed ? m_counts.failed : m_counts.succeeded);
            TaskSnapshot t = snapshot(i);
            t.finishedAtMs = now;
            update.changed.append(t);
            --budget;
        }
        const int start = std::min<int>(budget * 2 / 3, int(m_pending.size()));
        for (int k = 0; k < start; ++k) {
            const int i = m_pending.back();
            m_pending.pop_back();
            m_states[i] = TaskState::Running;
            m_started[i] = now;
            m_running.push_back(i);
            --m_counts.pending;
            ++m_counts.running;
            update.changed.append(snapshot(i));
            --budget;
        }
        for (; budget > 0 && !m_running.empty(); --budget) {
            const int i = m_running[rng->bounded(quint32(m_running.size()))];
            TaskSnapshot t = snapshot(i);
            t.progress = rng->bounded(1000) / 1000.0;
            t.status = QStringLiteral("step %1").arg(rng->bounded(100));
            update.changed.append(t);
            update.logs.append(LogLines{t.id, {QStringLiteral("working on %1").arg(t.status)}});
        }
        update.counts = m_counts;
        return update;
    }

private:
    TaskSnapshot snapshot(int i) const
    {
        TaskSnapshot t;
        t.id = TaskId(i + 1);
        t.name = QStringLiteral("task-%1").arg(i % 977);
        t.file = QStringLiteral("/bench/task-%1.lua").arg(i % 977);
        t.group = i % 3 == 0 ? QStringLiteral("net") : QStringLiteral("default");
        t.priority = i % 7;
        t.state = m_states[size_t(i)];
        t.attempt = t.state == TaskState::Pending ? 0 : 1;
        t.startedAtMs = m_started[size_t(i)];
        if (t.state == TaskState::Succeeded)
            t.result = i;
        else if (t.state == TaskState::Failed)
            t.error = QStringLiteral("task-%1.lua:3: simulated failure").arg(i % 977);
        return t;
    }

    MainWindow *m_window;
    int m_changesPerBatch;
    std::vector<TaskState> m_states;
    std::vector<qint64> m_started;
    std::vector<int> m_pending; // stack, lowest id on top
    std::vector<int> m_running;
    EngineCounts m_counts;
};

// A client of the instance socket on a thread of its own: asks `ps` again and again.
class PsClient
{
public:
    PsClient(const QString &socketName, int everyMs)
        : m_thread([this, socketName, everyMs] { run(socketName, everyMs); })
    {
    }
    ~PsClient() { stop(); }
    void stop()
    {
        m_stop = true;
        if (m_thread.joinable())
            m_thread.join();
    }
    int replies() const { return m_replies; }
    int lastTasks() const { return m_lastTasks; }
    double slowestReplyMs() const { return m_slowestMs; }
    qint64 lastBytes() const { return m_lastBytes; }

private:
    void run(const QString &socketName, int everyMs)
    {
        while (!m_stop) {
            QLocalSocket socket;
            socket.connectToServer(socketName);
            if (socket.waitForConnected(5000)) {
                QElapsedTimer clock;
                clock.start();
                socket.write("{\"cmd\":\"ps\"}\n");
                socket.waitForBytesWritten(5000);
                QByteArray line;
                while (!m_stop && !line.endsWith('\n') && clock.elapsed() < 60000)
                    if (socket.waitForReadyRead(100))
                        line += socket.readAll();
                if (line.endsWith('\n')) {
                    m_slowestMs = std::max(m_slowestMs.load(), clock.nsecsElapsed() / 1e6);
                    const QJsonObject reply = QJsonDocument::fromJson(line).object();
                    m_lastTasks = int(reply.value(QStringLiteral("tasks")).toArray().size());
                    m_lastBytes = line.size();
                    ++m_replies;
                }
            }
            for (int waited = 0; waited < everyMs && !m_stop; waited += 10)
                QThread::msleep(10);
        }
    }

    std::atomic<bool> m_stop{false};
    std::atomic<int> m_replies{0};
    std::atomic<int> m_lastTasks{0};
    std::atomic<double> m_slowestMs{0};
    std::atomic<qint64> m_lastBytes{0};
    std::thread m_thread;
};

TaskSpec sleeper(const QTemporaryDir &dir, int centiseconds)
{
    const QString path = dir.filePath(QStringLiteral("sleep-%1.lua").arg(centiseconds));
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    file.write(QStringLiteral("-- @name sleep %1 cs\nprogress(0.5, 'sleeping')\nsleep(%2)\n"
                              "return %1\n")
                   .arg(centiseconds)
                   .arg(centiseconds / 100.0)
                   .toUtf8());
    file.close();
    const auto loaded = ScriptLoader::load(path);
    if (!loaded.spec)
        qFatal("%s", qPrintable(loaded.error));
    return *loaded.spec;
}

} // namespace

#include "dashboard-bench-cluster.h" // --mode cluster (issue 13)

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addHelpOption();
    parser.addOption({QStringLiteral("mode"), QStringLiteral("synthetic or engine"),
                      QStringLiteral("mode"), QStringLiteral("synthetic")});
    parser.addOption({QStringLiteral("tasks"), QStringLiteral("tasks listed"), QStringLiteral("n"),
                      QStringLiteral("100000")});
    parser.addOption({QStringLiteral("changes-per-s"), QStringLiteral("state changes per second"),
                      QStringLiteral("n"), QStringLiteral("5000")});
    parser.addOption({QStringLiteral("seconds"), QStringLiteral("measured time"),
                      QStringLiteral("s"), QStringLiteral("10")});
    parser.addOption({QStringLiteral("sort"), QStringLiteral("column to sort by (0-9)"),
                      QStringLiteral("column"), QStringLiteral("0")});
    parser.addOption(
        {QStringLiteral("filter"), QStringLiteral("text filter"), QStringLiteral("text")});
    parser.addOption({QStringLiteral("verbose"), QStringLiteral("print each stall > 16 ms")});
    parser.addOption({QStringLiteral("store"), QStringLiteral("record into a task store in dir"),
                      QStringLiteral("dir")});
    parser.addOption({QStringLiteral("ps-every"),
                      QStringLiteral("ask the instance socket for ps every ms (0: never)"),
                      QStringLiteral("ms"), QStringLiteral("0")});
    parser.process(app);
    const bool engineMode = parser.value(QStringLiteral("mode")) == QStringLiteral("engine");
    const int tasks = parser.value(QStringLiteral("tasks")).toInt();
    const int rate = parser.value(QStringLiteral("changes-per-s")).toInt();
    const int seconds = parser.value(QStringLiteral("seconds")).toInt();
    const int psEveryMs = parser.value(QStringLiteral("ps-every")).toInt();
    if (parser.value(QStringLiteral("mode")) == QStringLiteral("cluster"))
        return runClusterBench(app, tasks, rate, seconds, 10,
                               parser.isSet(QStringLiteral("verbose")));

    // In engine mode, enough tasks run at once that starts and ends (two changes per
    // task, 1 s on average each) make `rate` changes per second.
    Engine::Options options;
    options.maxRunning = engineMode ? std::max(1, rate / 2) : 16;
    TaskStore store; // outlives the engine, which tells it until its end
    if (parser.isSet(QStringLiteral("store"))) {
        const TaskStore::OpenResult opened = store.open(parser.value(QStringLiteral("store")));
        if (opened.status == TaskStore::OpenStatus::Failed)
            qFatal("%s", qPrintable(opened.message));
        store.recover();
    }
    Engine engine(options);
    LocalTaskSource source(&engine);
    if (store.isOpen())
        source.setStore(&store);
    MainWindow window(&source);
    if (store.isOpen()) {
        engine.setJournal(&store);
    }
    window.resize(1400, 900);
    window.taskView()->sortByColumn(parser.value(QStringLiteral("sort")).toInt(),
                                    Qt::AscendingOrder);
    if (parser.isSet(QStringLiteral("filter")))
        window.filterModel()->setText(parser.value(QStringLiteral("filter")));
    window.show();

    // The window's instance socket, as the dashboard has it.
    QTemporaryDir socketDir;
    InstanceService service(&source, [](const QStringList &) { return 0; });
    InstanceServer server(
        [&service](const InstanceProtocol::Request &request, InstanceServer::Reply reply) {
            service.handle(request, std::move(reply));
        });
    const QString socketName = socketDir.filePath(QStringLiteral("bench.sock"));
    if (psEveryMs > 0 && !server.listen(socketName))
        qFatal("%s", qPrintable(server.errorString()));
    std::unique_ptr<PsClient> psClient;

    StallProbe probe;
    probe.setVerbose(parser.isSet(QStringLiteral("verbose")));
    QElapsedTimer clock;
    qint64 listedMs = -1;
    int batches = 0;
    int changes = 0;
    QObject::connect(&engine, &Engine::updated, &window, [&](const EngineUpdate &update) {
        ++batches;
        changes += int(update.changed.size());
    });
    QTimer listed;
    listed.setInterval(5);
    QObject::connect(&listed, &QTimer::timeout, [&] {
        if (window.taskModel()->rowCount() >= tasks && listedMs < 0) {
            listedMs = clock.elapsed();
            listed.stop();
        }
    });

    QTemporaryDir dir;
    // The engine makes its snapshots on its own thread: the feed's are made before the
    // measurement, so that only the window's work is measured.
    std::unique_ptr<SyntheticFeed> feed;
    EngineUpdate flood;
    if (!engineMode) {
        feed = std::make_unique<SyntheticFeed>(&window, tasks, rate);
        flood = feed->flood();
    }
    QTimer publish;
    auto begin = [&] {
        probe.start();
        clock.start();
        listed.start();
        if (psEveryMs > 0)
            psClient = std::make_unique<PsClient>(socketName, psEveryMs);
        if (engineMode) {
            // Submitted from another thread (the engine is thread-safe), as its batches
            // are made on the engine thread: the GUI thread only lists and shows them.
            QThread *submitter = QThread::create([&engine, &dir, tasks] {
                QList<TaskSpec> kinds;
                for (int cs = 50; cs <= 150; cs += 10)
                    kinds.append(sleeper(dir, cs));
                QList<TaskSpec> specs;
                specs.reserve(tasks);
                for (int i = 0; i < tasks; ++i)
                    specs.append(kinds[i % kinds.size()]);
                engine.submit(specs);
            });
            QObject::connect(submitter, &QThread::finished, submitter, &QObject::deleteLater);
            submitter->start();
            return;
        }
        QElapsedTimer floodClock;
        floodClock.start();
        window.applyUpdate(std::exchange(flood, EngineUpdate()));
        if (parser.isSet(QStringLiteral("verbose")))
            std::fprintf(stderr, "flood batch applied in %.1f ms\n",
                         floodClock.nsecsElapsed() / 1e6);
        ++batches;
        changes += tasks;
        publish.setInterval(100);
        QObject::connect(&publish, &QTimer::timeout, [&] {
            const EngineUpdate update = feed->next();
            ++batches;
            changes += int(update.changed.size());
            window.applyUpdate(update);
        });
        publish.start();
    };
    // Let the window settle (first show, layout) before measuring.
    QTimer::singleShot(500, begin);
    QTimer::singleShot(500 + seconds * 1000, [&] {
        probe.stop();
        if (psClient)
            psClient->stop();
        publish.stop();
        engine.cancelAll();
        app.quit();
    });
    app.exec();
    source.setStore(nullptr);

    std::vector<double> stalls = probe.stallsMs();
    std::sort(stalls.begin(), stalls.end());
    const double maxStall = stalls.empty() ? 0 : stalls.back();
    const double p99 = stalls.empty() ? 0 : stalls[size_t(double(stalls.size() - 1) * 0.99)];
    QJsonObject out{
        {QStringLiteral("scenario"), QStringLiteral("dashboard")},
        {QStringLiteral("mode"),
         engineMode ? QStringLiteral("engine") : QStringLiteral("synthetic")},
        {QStringLiteral("store"), store.isOpen()},
        {QStringLiteral("tasks"), tasks},
        {QStringLiteral("rows_listed"), window.taskModel()->rowCount()},
        {QStringLiteral("listed_after_ms"), listedMs},
        {QStringLiteral("changes_per_s"), (changes - tasks) / double(seconds)},
        {QStringLiteral("batches"), batches},
        {QStringLiteral("seconds"), seconds},
        {QStringLiteral("probe_samples"), qint64(stalls.size())},
        {QStringLiteral("max_stall_ms"), qRound(maxStall * 10) / 10.0},
        {QStringLiteral("p99_ms"), qRound(p99 * 100) / 100.0},
    };
    if (psClient) {
        out.insert(QStringLiteral("ps_replies"), psClient->replies());
        out.insert(QStringLiteral("ps_tasks_last"), psClient->lastTasks());
        out.insert(QStringLiteral("ps_bytes_last"), psClient->lastBytes());
        out.insert(QStringLiteral("ps_slowest_reply_ms"), qRound(psClient->slowestReplyMs()));
    }
    std::printf("%s\n", QJsonDocument(out).toJson(QJsonDocument::Compact).constData());
    return 0;
}
