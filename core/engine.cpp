#include "engine.h"

#include "dispatcher.h"
#include "lua/luarunfactory.h"
#include "process/processrunfactory.h"

#include <QCoreApplication>
#include <QSemaphore>
#include <QThread>
#include <QThreadPool>

#include <type_traits>

Engine::Engine(QObject *parent)
    : Engine(Options(), parent)
{
}

Engine::Engine(const Options &options, QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<EngineUpdate>();
    m_pool = new QThreadPool;
    if (options.workerThreads > 0)
        m_pool->setMaxThreadCount(options.workerThreads);
    m_pool->setExpiryTimeout(-1); // keep workers: a thread start costs more than a task

    Dispatcher::Settings settings;
    settings.maxRunning = options.maxRunning;
    settings.gracePeriodMs = options.gracePeriodMs;
    settings.publishIntervalMs = options.publishIntervalMs;
    settings.logBytesPerTask = options.logBytesPerTask;
    settings.logBytesTotal = options.logBytesTotal;

    m_thread = new QThread;
    m_thread->setObjectName(QStringLiteral("taskdeck-engine"));
    std::shared_ptr<RunFactory> runs = options.runFactory;
    if (!runs) {
        auto byKind = std::make_shared<RunFactoryByKind>();
        byKind->add(ScriptKind::Lua, std::make_unique<LuaRunFactory>(options.defaultMemoryLimit));
        byKind->add(ScriptKind::Process, std::make_unique<ProcessRunFactory>());
        runs = std::move(byKind);
    }
    m_dispatcher = new Dispatcher(m_pool, settings, std::move(runs));
    m_dispatcher->moveToThread(m_thread);
    connect(m_dispatcher, &Dispatcher::published, this, [this](const EngineUpdate &update) {
        m_counts = update.counts;
        Q_EMIT updated(update);
    });
    m_thread->start();
}

Engine::~Engine()
{
    if (!shutdown()) {
        m_thread->quit();
        m_thread->wait(1000);
        return;
    }
    m_pool->waitForDone();
    QMetaObject::invokeMethod(
        m_dispatcher, [d = m_dispatcher] { delete d; }, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
    delete m_thread;
    delete m_pool;
}

bool Engine::shutdown()
{
    if (m_shutdown >= 0)
        return m_shutdown == 1;
    m_shutdown = 0;
    QSemaphore done;
    post([&done](Dispatcher *d) { d->shutdown(&done); });
    // A worker stuck in a C call cannot be interrupted; give up on it rather than hang.
    if (!done.tryAcquire(1, 15000)) {
        qWarning("taskdeck: tasks still running at exit; leaving them behind");
        return false;
    }
    // A worker given up on (stuck in a C call) may come back soon; if not, leave it and
    // what it may still touch (pool, dispatcher) behind rather than wait for ever.
    for (int i = 0; i < 200 && m_dispatcher->stuckWorkers() > 0; ++i)
        QThread::msleep(10);
    if (m_dispatcher->stuckWorkers() > 0) {
        qWarning("taskdeck: a worker thread is stuck in a call; leaving it behind");
        return false;
    }
    m_shutdown = 1;
    return true;
}

template <typename F> void Engine::post(F &&request)
{
    QMetaObject::invokeMethod(
        m_dispatcher, [d = m_dispatcher, r = std::forward<F>(request)]() mutable { r(d); },
        Qt::QueuedConnection);
}

namespace {
std::atomic<int> s_mainThreadLookUps{0};
}

int Engine::mainThreadLookUps()
{
    return s_mainThreadLookUps.load();
}

void Engine::request(std::function<void(Dispatcher *)> request)
{
    post(std::move(request));
}

template <typename F> auto Engine::query(F &&request) const
{
    Q_ASSERT(QThread::currentThread() != m_thread);
    if (const QCoreApplication *app = QCoreApplication::instance();
        app && QThread::currentThread() == app->thread())
        s_mainThreadLookUps.fetch_add(1);
    std::invoke_result_t<F, Dispatcher *> result;
    QMetaObject::invokeMethod(
        m_dispatcher, [&] { result = request(m_dispatcher); }, Qt::BlockingQueuedConnection);
    return result;
}

TaskId Engine::submit(const TaskSpec &spec)
{
    return submit(QList<TaskSpec>{spec}).constFirst();
}

QList<TaskId> Engine::submit(const TaskSpec &spec, int copies)
{
    return submit(QList<std::pair<TaskSpec, int>>{{spec, copies}});
}

QList<TaskId> Engine::submit(const QList<TaskSpec> &list)
{
    QList<std::pair<TaskSpec, int>> each;
    each.reserve(list.size());
    for (const TaskSpec &spec : list)
        each.append({spec, 1});
    return submit(each);
}

QList<TaskId> Engine::submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies)
{
    auto [ids, specs] = number(specsAndCopies);
    post([ids = ids, specs = specs](Dispatcher *d) { d->submit(ids, specs); });
    return ids;
}

QList<TaskId> Engine::submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies,
                             const DependencyOptions &dependencies, QString *refusal)
{
    if (dependencies.isEmpty())
        return submit(specsAndCopies);
    auto [ids, specs] = number(specsAndCopies);
    const QString refused = query([&, ids = ids, specs = specs](Dispatcher *d) {
        return d->submit(ids, specs, dependencies);
    });
    if (refusal)
        *refusal = refused;
    return refused.isEmpty() ? ids : QList<TaskId>();
}

QString Engine::addDependencies(const QList<TaskId> &ids, const TaskDependencies &dependencies)
{
    return query([&](Dispatcher *d) { return d->addDependencies(ids, dependencies); });
}

std::pair<QList<TaskId>, QList<std::shared_ptr<const TaskSpec>>>
Engine::number(const QList<std::pair<TaskSpec, int>> &specsAndCopies)
{
    qsizetype count = 0;
    for (const auto &[spec, copies] : specsAndCopies)
        count += qMax(0, copies);
    QList<TaskId> ids;
    QList<std::shared_ptr<const TaskSpec>> specs;
    ids.reserve(count);
    specs.reserve(count);
    TaskId next = m_nextId.fetch_add(TaskId(count));
    for (const auto &[spec, copies] : specsAndCopies) {
        auto shared = std::make_shared<const TaskSpec>(spec);
        for (int i = 0; i < copies; ++i) {
            ids.append(next++);
            specs.append(shared);
        }
    }
    return {ids, specs};
}

void Engine::restore(const QList<RestoredTask> &tasks, TaskId lastUsedId)
{
    TaskId last = lastUsedId;
    for (const RestoredTask &task : tasks)
        last = qMax(last, task.snapshot.id);
    TaskId next = m_nextId.load();
    while (next <= last && !m_nextId.compare_exchange_weak(next, last + 1)) {
    }
    post([tasks](Dispatcher *d) { d->restore(tasks); });
}

QList<TaskId> Engine::rerun(const QList<TaskId> &ids)
{
    QList<TaskId> newIds;
    const TaskId first = m_nextId.fetch_add(TaskId(ids.size()));
    for (qsizetype i = 0; i < ids.size(); ++i)
        newIds.append(first + TaskId(i));
    post([ids, newIds](Dispatcher *d) { d->rerun(ids, newIds); });
    return newIds;
}

void Engine::setJournal(EngineJournal *journal)
{
    query([journal](Dispatcher *d) {
        d->setJournal(journal);
        return true;
    });
}

void Engine::cancel(TaskId id)
{
    cancel(QList<TaskId>{id});
}

void Engine::cancel(const QList<TaskId> &ids)
{
    post([ids](Dispatcher *d) { d->cancel(ids); });
}

void Engine::cancelAllPending()
{
    post([](Dispatcher *d) { d->cancelAllPending(); });
}

void Engine::cancelAll()
{
    post([](Dispatcher *d) { d->cancelAll(); });
}

void Engine::forget(const QList<TaskId> &ids)
{
    post([ids](Dispatcher *d) { d->forget(ids); });
}

void Engine::setPriority(TaskId id, int priority)
{
    post([id, priority](Dispatcher *d) { d->setPriority(id, priority); });
}

void Engine::moveToTop(TaskId id)
{
    post([id](Dispatcher *d) { d->moveToTop(id); });
}

void Engine::moveToBottom(TaskId id)
{
    post([id](Dispatcher *d) { d->moveToBottom(id); });
}

void Engine::moveBefore(TaskId id, TaskId before)
{
    post([id, before](Dispatcher *d) { d->moveBefore(id, before); });
}

void Engine::setMaxRunning(int limit)
{
    post([limit](Dispatcher *d) { d->setMaxRunning(limit); });
}

void Engine::setGroupLimit(const QString &group, int limit)
{
    post([group, limit](Dispatcher *d) { d->setGroupLimit(group, limit); });
}

void Engine::setGroupWeight(const QString &group, int weight)
{
    post([group, weight](Dispatcher *d) { d->setGroupWeight(group, weight); });
}

void Engine::pause()
{
    post([](Dispatcher *d) { d->setPaused(true); });
}

void Engine::resume()
{
    post([](Dispatcher *d) { d->setPaused(false); });
}

void Engine::pauseGroup(const QString &group)
{
    post([group](Dispatcher *d) { d->setGroupPaused(group, true); });
}

void Engine::resumeGroup(const QString &group)
{
    post([group](Dispatcher *d) { d->setGroupPaused(group, false); });
}

void Engine::setGracePeriod(qint64 ms)
{
    post([ms](Dispatcher *d) { d->setGracePeriod(ms); });
}

void Engine::flush()
{
    post([](Dispatcher *d) { d->publishNow(); });
}

std::optional<TaskSnapshot> Engine::task(TaskId id) const
{
    return query([id](Dispatcher *d) { return d->snapshot(id); });
}

QList<TaskSnapshot> Engine::tasks() const
{
    return query([](Dispatcher *d) { return d->snapshots(); });
}

QList<std::optional<TaskSnapshot>> Engine::tasks(const QList<TaskId> &ids) const
{
    return query([&ids](Dispatcher *d) {
        QList<std::optional<TaskSnapshot>> snapshots;
        snapshots.reserve(ids.size());
        for (TaskId id : ids)
            snapshots.append(d->snapshot(id));
        return snapshots;
    });
}

QStringList Engine::log(TaskId id) const
{
    return query([id](Dispatcher *d) { return d->log(id); });
}

QString Engine::waitReason(TaskId id) const
{
    return query([id](Dispatcher *d) { return d->waitReason(id); });
}

std::shared_ptr<const CoroutineStack> Engine::liveStack(TaskId id) const
{
    return query([id](Dispatcher *d) { return d->liveStack(id); });
}

QStringList Engine::waitReasons(const QList<TaskId> &ids) const
{
    return query([&ids](Dispatcher *d) { return d->waitReasons(ids); });
}

QList<std::shared_ptr<const CoroutineStack>> Engine::liveStacks(const QList<TaskId> &ids) const
{
    return query([&ids](Dispatcher *d) {
        QList<std::shared_ptr<const CoroutineStack>> stacks;
        stacks.reserve(ids.size());
        for (TaskId id : ids)
            stacks.append(d->liveStack(id));
        return stacks;
    });
}

EngineCounts Engine::liveCounts() const
{
    return query([](Dispatcher *d) { return d->counts(); });
}
