#include "localtasksource.h"

#include "dispatcher.h"
#include "engine.h"
#include "store/taskstore.h"

#include <QCoreApplication>
#include <QPointer>

namespace {

// One watched task as the dispatcher has it now (engine thread).
WatchedTask lookAt(const Dispatcher *d, TaskId id, bool withLog)
{
    WatchedTask watched;
    watched.id = id;
    watched.snapshot = d->snapshot(id);
    if (watched.snapshot) {
        if (watched.snapshot->state == TaskState::Running)
            watched.stack = d->liveStack(id);
        else if (watched.snapshot->state == TaskState::Pending)
            watched.waitReason = d->waitReason(id);
    }
    if (withLog) {
        watched.fullLog = true;
        watched.log = d->log(id);
    }
    return watched;
}

} // namespace

LocalTaskSource::LocalTaskSource(Engine *engine, QObject *parent)
    : TaskSource(parent)
    , m_engine(engine)
{
    qRegisterMetaType<TaskSourceBatch>();
    connect(m_engine, &Engine::updated, this, &LocalTaskSource::onUpdate);
    m_watchTimer.setInterval(WatchIntervalMs);
    connect(&m_watchTimer, &QTimer::timeout, this, &LocalTaskSource::refreshWatched);
    // The first batch: the counts and limits as they stand.
    ask<TaskSourceBatch>(
        [](Dispatcher *d) {
            TaskSourceBatch batch;
            batch.update.counts = d->counts();
            batch.update.limits = d->limits();
            return batch;
        },
        this, [this](const TaskSourceBatch &batch) { deliver(batch); });
}

LocalTaskSource::~LocalTaskSource()
{
    m_storeWaits.waitForDone();
}

template <typename Result>
void LocalTaskSource::ask(std::function<Result(Dispatcher *)> request, QObject *context,
                          std::function<void(const Result &)> done)
{
    // Checked on the main thread only; copied and dropped elsewhere (atomic counts).
    QPointer<QObject> receiver(context);
    m_engine->request(
        [request = std::move(request), receiver, done = std::move(done)](Dispatcher *d) mutable {
            Result result = request(d);
            QMetaObject::invokeMethod(
                QCoreApplication::instance(),
                [receiver, done = std::move(done), result = std::move(result)] {
                    if (receiver && done)
                        done(result);
                },
                Qt::QueuedConnection);
        });
}

void LocalTaskSource::onUpdate(const EngineUpdate &update)
{
    TaskSourceBatch batch;
    batch.update = update;
    // Log lines of watched tasks only: what a cluster would send.
    if (!batch.update.logs.isEmpty()) {
        QList<LogLines> logs;
        if (!watched().isEmpty())
            for (const LogLines &log : update.logs)
                if (isWatched(log.id))
                    logs.append(log);
        batch.update.logs = logs;
    }
    if (!watched().isEmpty()) {
        for (const TaskSnapshot &task : update.changed) {
            if (isWatched(task.id)) {
                refreshWatched();
                break;
            }
        }
    }
    deliver(batch);
}

void LocalTaskSource::refreshWatched()
{
    if (m_refreshing) {
        m_refreshAgain = true;
        return;
    }
    const QList<TaskId> ids = watched();
    if (ids.isEmpty())
        return;
    m_refreshing = true;
    ask<TaskSourceBatch>(
        [ids](Dispatcher *d) {
            TaskSourceBatch batch;
            batch.update.counts = d->counts();
            for (TaskId id : ids)
                batch.watched.append(lookAt(d, id, false));
            return batch;
        },
        this,
        [this](const TaskSourceBatch &batch) {
            m_refreshing = false;
            deliver(batch);
            if (std::exchange(m_refreshAgain, false))
                refreshWatched();
        });
}

void LocalTaskSource::watchStarted(TaskId id)
{
    if (!m_watchTimer.isActive())
        m_watchTimer.start();
    // Lines not yet published go out first, in a batch queued ahead of this report: the
    // batches before it hold only lines the whole log below already has.
    ask<TaskSourceBatch>(
        [id](Dispatcher *d) {
            d->publishNow();
            TaskSourceBatch batch;
            batch.update.counts = d->counts();
            batch.watched.append(lookAt(d, id, true));
            return batch;
        },
        this, [this](const TaskSourceBatch &batch) { deliver(batch); });
}

void LocalTaskSource::watchEnded(TaskId)
{
    if (watched().isEmpty())
        m_watchTimer.stop();
}

void LocalTaskSource::submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies,
                             QObject *context, Submitted done)
{
    const QList<TaskId> ids = m_engine->submit(specsAndCopies);
    if (done)
        ask<bool>([](Dispatcher *) { return true; }, context,
                  [ids, done](const bool &) { done(ids); });
}

void LocalTaskSource::rerun(const QList<TaskId> &ids, QObject *context, Submitted done)
{
    const QList<TaskId> started = m_engine->rerun(ids);
    if (done)
        ask<bool>([](Dispatcher *) { return true; }, context,
                  [started, done](const bool &) { done(started); });
}

void LocalTaskSource::cancel(const QList<TaskId> &ids)
{
    m_engine->cancel(ids);
}

void LocalTaskSource::cancelAllPending()
{
    m_engine->cancelAllPending();
}

void LocalTaskSource::cancelAll()
{
    m_engine->cancelAll();
}

void LocalTaskSource::setPriority(TaskId id, int priority)
{
    m_engine->setPriority(id, priority);
}

void LocalTaskSource::moveToTop(TaskId id)
{
    m_engine->moveToTop(id);
}

void LocalTaskSource::moveToBottom(TaskId id)
{
    m_engine->moveToBottom(id);
}

void LocalTaskSource::moveBefore(TaskId id, TaskId before)
{
    m_engine->moveBefore(id, before);
}

void LocalTaskSource::setMaxRunning(int limit)
{
    m_engine->setMaxRunning(limit);
}

void LocalTaskSource::setGroupLimit(const QString &group, int limit)
{
    m_engine->setGroupLimit(group, limit);
}

void LocalTaskSource::setPaused(bool paused)
{
    if (paused)
        m_engine->pause();
    else
        m_engine->resume();
}

void LocalTaskSource::setGroupPaused(const QString &group, bool paused)
{
    if (paused)
        m_engine->pauseGroup(group);
    else
        m_engine->resumeGroup(group);
}

void LocalTaskSource::forget(const QList<TaskId> &ids)
{
    if (ids.isEmpty())
        return;
    m_engine->forget(ids);
    if (m_store)
        m_store->forget(ids);
}

void LocalTaskSource::lookUp(const QList<TaskId> &ids, QObject *context,
                             std::function<void(const QList<std::optional<TaskSnapshot>> &)> done)
{
    ask<QList<std::optional<TaskSnapshot>>>(
        [ids](Dispatcher *d) {
            QList<std::optional<TaskSnapshot>> tasks;
            tasks.reserve(ids.size());
            for (TaskId id : ids)
                tasks.append(d->snapshot(id));
            return tasks;
        },
        context, std::move(done));
}

void LocalTaskSource::list(bool withStacks, QObject *context,
                           std::function<void(const Listing &)> done)
{
    ask<Listing>(
        [withStacks](Dispatcher *d) {
            Listing listing;
            listing.tasks = d->snapshots();
            if (!withStacks)
                return listing;
            QList<TaskId> pending;
            for (const TaskSnapshot &task : std::as_const(listing.tasks)) {
                if (task.state == TaskState::Running)
                    listing.stacks.insert(task.id, d->liveStack(task.id));
                else if (task.state == TaskState::Pending)
                    pending.append(task.id);
            }
            const QStringList reasons = d->waitReasons(pending); // queue places found once
            for (qsizetype i = 0; i < pending.size(); ++i)
                listing.waitReasons.insert(pending[i], reasons[i]);
            return listing;
        },
        context, std::move(done));
}

void LocalTaskSource::commit(QObject *context, std::function<void(const QString &)> done)
{
    // Once the engine has taken every request made so far, the submissions among them
    // have been handed to the store: wait for it to commit them, off this thread.
    QPointer<QObject> receiver(context);
    sync(this, [this, receiver, done = std::move(done)] {
        if (!m_store) {
            if (receiver && done)
                done(QString());
            return;
        }
        m_storeWaits.start([store = m_store, receiver, done] {
            QString problem;
            if (!store->sync(&problem) && problem.isEmpty())
                problem = QStringLiteral("cannot write the task store");
            QMetaObject::invokeMethod(
                QCoreApplication::instance(),
                [receiver, done, problem] {
                    if (receiver && done)
                        done(problem);
                },
                Qt::QueuedConnection);
        });
    });
}

QString LocalTaskSource::keepProblem() const
{
    return m_store ? m_store->writeProblem() : QString();
}

void LocalTaskSource::sync(QObject *context, std::function<void()> done)
{
    ask<bool>([](Dispatcher *) { return true; }, context,
              [done = std::move(done)](const bool &) {
                  if (done)
                      done();
              });
}
