// taskdeck-bench SCENARIO [--workers N] [--n TASKS] [--store DIR]
// Runs one scenario of SPEC section 6 through the public Engine API and prints one JSON
// line, in the same shape as ../shared/bench/asyncio_bench.py, so figures can be set side
// by side: {"peer", "scenario", "n", "wall_s", "tasks_per_s", "peak_rss_kb", ...}.
// With --store DIR the engines record into a task store there, as the dashboard's do.
#include "engine.h"
#include "scriptloader.h"
#include "store/taskstore.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QHash>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QThread>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sys/resource.h>
#include <vector>

namespace {

QString g_storeDir; // --store

// The task store of one scenario when --store is given: made before its engine, so that
// it outlives it, as the app does.
class Recording
{
public:
    Recording()
    {
        if (g_storeDir.isEmpty())
            return;
        m_store = std::make_unique<TaskStore>();
        const TaskStore::OpenResult opened = m_store->open(g_storeDir);
        if (opened.status == TaskStore::OpenStatus::Failed)
            qFatal("%s", qPrintable(opened.message));
    }
    void attach(Engine &engine)
    {
        if (m_store)
            engine.setJournal(m_store.get());
    }
    // Seconds until the store has committed everything so far (0 without a store).
    double sync()
    {
        if (!m_store)
            return 0;
        QElapsedTimer clock;
        clock.start();
        m_store->sync();
        return clock.nsecsElapsed() / 1e9;
    }

private:
    std::unique_ptr<TaskStore> m_store;
};

long peakRssKb()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

long currentRssKb()
{
    QFile statm(QStringLiteral("/proc/self/statm"));
    if (!statm.open(QIODevice::ReadOnly))
        return 0;
    const QList<QByteArray> fields = statm.readAll().split(' ');
    return fields.value(1).toLong() * 4; // pages of 4 KiB
}

TaskSpec script(const QTemporaryDir &dir, const QString &name, const QByteArray &source)
{
    const QString path = dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(source) != source.size())
        qFatal("cannot write %s", qPrintable(path));
    file.close();
    auto loaded = ScriptLoader::load(path);
    if (!loaded.spec)
        qFatal("%s", qPrintable(loaded.error));
    return *loaded.spec;
}

// Runs the event loop until `done` holds after an update.
void waitUntil(Engine &engine, const std::function<bool(const EngineCounts &)> &done)
{
    QEventLoop loop;
    QObject::connect(&engine, &Engine::updated, &loop, [&](const EngineUpdate &update) {
        if (done(update.counts))
            loop.quit();
    });
    loop.exec();
}

void print(QJsonObject result)
{
    result.insert(QStringLiteral("peer"), QStringLiteral("taskdeck"));
    result.insert(QStringLiteral("peak_rss_kb"), qint64(peakRssKb()));
    std::puts(QJsonDocument(result).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
}

// 100,000 top-level Lua tasks `return 1` through the queue, limit 64.
QJsonObject queueTrivial(const QTemporaryDir &dir, int workers, int N)
{
    const TaskSpec spec = script(dir, QStringLiteral("one.lua"), "return 1\n");
    Recording recording;
    Engine engine(
        Engine::Options{.workerThreads = workers, .maxRunning = 64, .publishIntervalMs = 10});
    recording.attach(engine);
    const long rssBefore = currentRssKb();
    QElapsedTimer clock;
    clock.start();
    engine.pause();
    engine.submit(spec, N);
    while (engine.liveCounts().pending < N)
        QThread::usleep(100);
    const long rssPending = currentRssKb();
    const qint64 submitNs = clock.nsecsElapsed();
    engine.resume();
    waitUntil(engine, [N](const EngineCounts &c) { return c.succeeded == N; });
    const double wall = clock.nsecsElapsed() / 1e9;
    const double storeLag = recording.sync();
    return QJsonObject{
        {QStringLiteral("scenario"), QStringLiteral("queue-trivial")},
        {QStringLiteral("store_behind_s"), storeLag},
        {QStringLiteral("n"), N},
        {QStringLiteral("wall_s"), wall},
        {QStringLiteral("submit_s"), submitNs / 1e9},
        {QStringLiteral("tasks_per_s"), qRound64(N / wall)},
        {QStringLiteral("bytes_per_pending_task"), qRound64((rssPending - rssBefore) * 1024.0 / N)},
    };
}

// 16 top-level tasks each looping 2,000,000 times.
QJsonObject cpu(const QTemporaryDir &dir, int workers)
{
    constexpr int N = 16;
    const TaskSpec spec = script(dir, QStringLiteral("spin.lua"),
                                 "local s = 0\nfor i = 0, 2e6 - 1 do s = s + i % 7 end\n"
                                 "return s\n");
    Recording recording;
    Engine engine(
        Engine::Options{.workerThreads = workers, .maxRunning = N, .publishIntervalMs = 5});
    recording.attach(engine);
    QElapsedTimer clock;
    clock.start();
    engine.submit(spec, N);
    waitUntil(engine, [](const EngineCounts &c) { return c.succeeded == N; });
    const double wall = clock.nsecsElapsed() / 1e9;
    return QJsonObject{
        {QStringLiteral("scenario"), QStringLiteral("cpu")},
        {QStringLiteral("n"), N},
        {QStringLiteral("workers"), workers > 0 ? workers : QThread::idealThreadCount()},
        {QStringLiteral("wall_s"), wall},
        {QStringLiteral("tasks_per_s"), qRound64(N / wall)},
    };
}

// One Lua task running `source`; wall time from submit to its end.
QJsonObject oneTask(const QTemporaryDir &dir, const QString &scenario, int n,
                    const QByteArray &source, int workers)
{
    const TaskSpec spec = script(dir, scenario + QStringLiteral(".lua"), source);
    Recording recording;
    Engine engine(Engine::Options{.workerThreads = workers, .publishIntervalMs = 1});
    recording.attach(engine);
    const long rssBefore = currentRssKb();
    QElapsedTimer clock;
    clock.start();
    const TaskId id = engine.submit(spec);
    waitUntil(engine, [](const EngineCounts &c) { return c.finished() == 1; });
    const double wall = clock.nsecsElapsed() / 1e9;
    const auto task = engine.task(id);
    if (!task || task->state != TaskState::Succeeded)
        qFatal("%s failed: %s", qPrintable(scenario), qPrintable(task ? task->error : QString()));
    return QJsonObject{
        {QStringLiteral("scenario"), scenario},
        {QStringLiteral("n"), n},
        {QStringLiteral("wall_s"), wall},
        {QStringLiteral("tasks_per_s"), qRound64(n / wall)},
        {QStringLiteral("bytes_per_child"), qRound64((peakRssKb() - rssBefore) * 1024.0 / n)},
    };
}

// One task spawns 100,000 children that return at once under Semaphore(64), gathers them.
QJsonObject spawnTrivial(const QTemporaryDir &dir, int workers)
{
    return oneTask(dir, QStringLiteral("spawn-trivial"), 100000,
                   "local sem = Semaphore(64)\n"
                   "local function job(i) sem:acquire() sem:release() return i end\n"
                   "local hs = {}\n"
                   "for i = 1, 100000 do hs[i] = spawn(job, i) end\n"
                   "local r = gather(hs)\n"
                   "assert(#r == 100000 and r[100000] == 100000)\n",
                   workers);
}

// One task spawns 100,000 children that each sleep(1), gathers them.
QJsonObject spawnSleepers(const QTemporaryDir &dir, int workers)
{
    return oneTask(dir, QStringLiteral("spawn-sleepers"), 100000,
                   "local hs = {}\n"
                   "for i = 1, 100000 do hs[i] = spawn(sleep, 1) end\n"
                   "gather(hs)\n",
                   workers);
}

// 1,000 children sleep(0.01) under Semaphore(50): the ideal is 0.2 s.
QJsonObject limited(const QTemporaryDir &dir, int workers)
{
    QJsonObject result =
        oneTask(dir, QStringLiteral("limited"), 1000,
                "local sem = Semaphore(50)\n"
                "local function job() sem:acquire() sleep(0.01) sem:release() end\n"
                "local hs = {}\n"
                "for i = 1, 1000 do hs[i] = spawn(job) end\n"
                "gather(hs)\n",
                workers);
    result.insert(QStringLiteral("ratio_to_ideal"), result.value("wall_s").toDouble() / 0.2);
    return result;
}

// 500 process tasks running /bin/true, at most 8 at once.
QJsonObject procs(int workers)
{
    constexpr int N = 500;
    auto loaded = ScriptLoader::load(QStringLiteral("/bin/true"));
    if (!loaded.spec)
        qFatal("%s", qPrintable(loaded.error));
    Recording recording;
    Engine engine(
        Engine::Options{.workerThreads = workers, .maxRunning = 8, .publishIntervalMs = 1});
    recording.attach(engine);
    QElapsedTimer clock;
    clock.start();
    engine.submit(*loaded.spec, N);
    waitUntil(engine, [](const EngineCounts &c) { return c.finished() == N; });
    const double wall = clock.nsecsElapsed() / 1e9;
    if (engine.counts().succeeded != N)
        qFatal("procs: only %d of %d succeeded", engine.counts().succeeded, N);
    return QJsonObject{
        {QStringLiteral("scenario"), QStringLiteral("procs")},
        {QStringLiteral("n"), N},
        {QStringLiteral("wall_s"), wall},
        {QStringLiteral("tasks_per_s"), qRound64(N / wall)},
    };
}
// A chain of N (10,000) `return 1` tasks submitted at once (--chain), on an idle engine:
// they run one at a time in order; the gap from each end to the next start (whole
// milliseconds, as tasks record times) is what a dependency costs (issue 18).
QJsonObject chain(const QTemporaryDir &dir, int workers, int N)
{
    const TaskSpec spec = script(dir, QStringLiteral("one.lua"), "return 1\n");
    Recording recording;
    Engine engine(
        Engine::Options{.workerThreads = workers, .maxRunning = 64, .publishIntervalMs = 10});
    recording.attach(engine);
    QHash<TaskId, std::pair<qint64, qint64>> times; // started, finished (epoch ms)
    QObject::connect(&engine, &Engine::updated, &engine, [&](const EngineUpdate &update) {
        for (const TaskSnapshot &task : update.changed)
            if (task.state == TaskState::Succeeded)
                times.insert(task.id, {task.startedAtMs, task.finishedAtMs});
    });
    DependencyOptions chained;
    chained.chain = true;
    QElapsedTimer clock;
    clock.start();
    QString refusal;
    const QList<TaskId> ids = engine.submit({{spec, N}}, chained, &refusal);
    if (ids.size() != N)
        qFatal("chain refused: %s", qPrintable(refusal));
    waitUntil(engine, [N](const EngineCounts &c) { return c.succeeded + c.failed >= N; });
    const double wall = clock.nsecsElapsed() / 1e9;
    const double storeLag = recording.sync();
    std::vector<qint64> gaps;
    bool inOrder = true;
    for (int i = 1; i < N; ++i) {
        const auto previous = times.value(ids[i - 1]);
        const auto current = times.value(ids[i]);
        gaps.push_back(current.first - previous.second);
        inOrder = inOrder && current.first >= previous.second;
    }
    std::sort(gaps.begin(), gaps.end());
    const auto at = [&](double q) {
        return gaps.empty() ? 0 : gaps[size_t(q * (gaps.size() - 1))];
    };
    return QJsonObject{
        {QStringLiteral("scenario"), QStringLiteral("chain")},
        {QStringLiteral("store_behind_s"), storeLag},
        {QStringLiteral("n"), N},
        {QStringLiteral("wall_s"), wall},
        {QStringLiteral("tasks_per_s"), qRound64(N / wall)},
        {QStringLiteral("in_order"), inOrder},
        {QStringLiteral("gap_ms_median"), at(0.5)},
        {QStringLiteral("gap_ms_p99"), at(0.99)},
        {QStringLiteral("gap_ms_max"), gaps.empty() ? 0 : gaps.back()},
        {QStringLiteral("gaps_over_1ms"),
         qint64(gaps.end() - std::upper_bound(gaps.begin(), gaps.end(), qint64(1)))},
    };
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments().mid(1);
    const QString scenario = args.value(0);
    int workers = 0;
    int n = 0;
    if (const qsizetype at = args.indexOf(QStringLiteral("--n")); at >= 0)
        n = args.value(at + 1).toInt();
    if (const qsizetype at = args.indexOf(QStringLiteral("--workers")); at >= 0)
        workers = args.value(at + 1).toInt();
    if (const qsizetype at = args.indexOf(QStringLiteral("--store")); at >= 0)
        g_storeDir = args.value(at + 1);
    QTemporaryDir dir;
    if (scenario == u"queue-trivial")
        print(queueTrivial(dir, workers, n > 0 ? n : 100000));
    else if (scenario == u"cpu")
        print(cpu(dir, workers));
    else if (scenario == u"spawn-trivial")
        print(spawnTrivial(dir, workers));
    else if (scenario == u"spawn-sleepers")
        print(spawnSleepers(dir, workers));
    else if (scenario == u"limited")
        print(limited(dir, workers));
    else if (scenario == u"procs")
        print(procs(workers));
    else if (scenario == u"chain")
        print(chain(dir, workers, n > 0 ? n : 10000));
    else {
        std::fprintf(
            stderr,
            "usage: taskdeck-bench queue-trivial|cpu|spawn-trivial|spawn-sleepers|limited|procs|"
            "chain "
            "[--workers N] [--n TASKS] [--store DIR]\n");
        return 2;
    }
    return 0;
}
