#include "dispatcher.h"

#include "deadline.h"

#include "workqueue.h"

#include <QDateTime>
#include <QSemaphore>
#include <QThreadPool>

#include <algorithm>
#include <utility>

namespace {

qint64 epochMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

QString formatDuration(qint64 ms)
{
    if (ms % 3600000 == 0)
        return QStringLiteral("%1h").arg(ms / 3600000);
    if (ms % 60000 == 0)
        return QStringLiteral("%1m").arg(ms / 60000);
    if (ms % 1000 == 0)
        return QStringLiteral("%1s").arg(ms / 1000);
    return QStringLiteral("%1ms").arg(ms);
}

} // namespace

Dispatcher::Dispatcher(QThreadPool *pool, const Settings &settings,
                       std::shared_ptr<RunFactory> runs)
    : m_settings(settings)
    , m_work(std::make_unique<WorkQueue>(pool, this))
    , m_runFactory(std::move(runs))
    , m_timer(this)
    , m_publishTimer(this)
    , m_pokeTimer(this)
    , m_sampleTimer(this)
{
    m_sampleTimer.setInterval(1000);
    connect(&m_sampleTimer, &QTimer::timeout, this, &Dispatcher::sampleStacks);
    m_pokeTimer.setInterval(50);
    connect(&m_pokeTimer, &QTimer::timeout, this, &Dispatcher::pokeRuns);
    m_limit.setMaxRunning(settings.maxRunning);
    m_timer.setSingleShot(true);
    m_timer.setTimerType(Qt::PreciseTimer);
    connect(&m_timer, &QTimer::timeout, this, &Dispatcher::fireTimers);
    m_timers.setEarliestChanged([this](qint64) { armTimer(); });
    m_publishTimer.setSingleShot(true);
    connect(&m_publishTimer, &QTimer::timeout, this, &Dispatcher::publish);
}

Dispatcher::~Dispatcher()
{
    // Runs go first: they may hand things back to their factory (Lua hosts to its pool).
    for (auto &[id, task] : m_tasks)
        TaskRun::retire(std::move(task.run));
    for (auto &run : m_graveyard)
        TaskRun::retire(std::move(run));
}

int Dispatcher::stuckWorkers() const
{
    return m_work->stuckThreads();
}

RunServices Dispatcher::services()
{
    return RunServices{m_timers, *m_work, *this};
}

Dispatcher::Task *Dispatcher::find(TaskId id)
{
    auto it = m_tasks.find(id);
    return it == m_tasks.end() ? nullptr : &it->second;
}

const Dispatcher::Task *Dispatcher::find(TaskId id) const
{
    auto it = m_tasks.find(id);
    return it == m_tasks.end() ? nullptr : &it->second;
}

// ---- submitting and scheduling ----

void Dispatcher::submit(const QList<TaskId> &ids,
                        const QList<std::shared_ptr<const TaskSpec>> &specs)
{
    if (m_shuttingDown)
        return;
    m_tasks.reserve(m_tasks.size() + size_t(ids.size()));
    const qint64 now = epochMs();
    const qint64 firstSequence = m_queue.upcomingSequence();
    QList<qsizetype> known; // ids already here (never, from Engine::submit)
    for (qsizetype i = 0; i < ids.size(); ++i) {
        if (m_tasks.count(ids[i])) {
            known.append(i);
            continue;
        }
        Task &task = addTask(ids[i], specs[i]);
        task.submittedAtMs = now;
        ++m_counts.pending;
        m_queue.push(task.id, task.spec->group, task.priority, task.sequence);
        markDirty(task);
    }
    if (m_journal && known.isEmpty()) {
        m_journal->submitted(ids, specs, firstSequence);
    } else if (m_journal && known.size() < ids.size()) {
        QList<TaskId> added = ids;
        QList<std::shared_ptr<const TaskSpec>> addedSpecs = specs;
        for (auto it = known.crbegin(); it != known.crend(); ++it) {
            added.removeAt(*it);
            addedSpecs.removeAt(*it);
        }
        m_journal->submitted(added, addedSpecs, firstSequence);
    }
    schedule();
}

Dispatcher::Task &Dispatcher::addTask(TaskId id, std::shared_ptr<const TaskSpec> spec)
{
    Task &task = m_tasks[id];
    task.id = id;
    task.spec = std::move(spec);
    task.slot = m_limit.slot(task.spec->group);
    task.priority = task.spec->priority;
    task.sequence = m_queue.nextSequence();
    return task;
}

void Dispatcher::restore(const QList<RestoredTask> &tasks)
{
    if (m_shuttingDown)
        return;
    m_tasks.reserve(m_tasks.size() + size_t(tasks.size()));
    // Pending tasks keep their queue sequences (so the journal has nothing to rewrite);
    // those without one (0), and every task after them, come after all of them.
    qint64 lowest = 0;
    qint64 highest = 0;
    for (const RestoredTask &restored : tasks) {
        if (restored.snapshot.state == TaskState::Pending) {
            lowest = qMin(lowest, restored.snapshot.sequence);
            highest = qMax(highest, restored.snapshot.sequence);
        }
    }
    m_queue.reserveSequences(lowest, highest);
    for (const RestoredTask &restored : tasks) {
        const TaskSnapshot &s = restored.snapshot;
        if (!restored.spec || m_tasks.count(s.id))
            continue;
        Task &task = addTask(s.id, restored.spec);
        if (s.state == TaskState::Pending && s.sequence != 0)
            task.sequence = s.sequence;
        task.priority = s.priority;
        task.attempt = s.attempt;
        task.submittedAtMs = s.submittedAtMs;
        task.startedAtMs = s.startedAtMs;
        if (!restored.log.isEmpty())
            appendLog(task, restored.log);
        // A task cannot come back running: whoever restores decides what it became.
        const TaskState state = s.state == TaskState::Running ? TaskState::Interrupted : s.state;
        if (state == TaskState::Pending) {
            ++m_counts.pending;
            m_queue.push(task.id, task.spec->group, task.priority, task.sequence);
        } else {
            task.state = TaskState::Pending;
            ++m_counts.pending;
            task.result = s.result;
            task.error = s.error;
            task.stack = s.stack;
            task.progress = s.progress;
            task.status = s.status;
            task.finishedAtMs = s.finishedAtMs;
            setState(task, state);
            if (task.log && isFinished(state))
                m_finishedLogs.push_back(task.id);
        }
        markDirty(task);
    }
    schedule();
}

void Dispatcher::rerun(const QList<TaskId> &ids, const QList<TaskId> &newIds)
{
    QList<TaskId> accepted;
    QList<std::shared_ptr<const TaskSpec>> specs;
    for (qsizetype i = 0; i < ids.size() && i < newIds.size(); ++i) {
        if (const Task *task = find(ids[i])) {
            accepted.append(newIds[i]);
            specs.append(task->spec);
        }
    }
    if (!accepted.isEmpty())
        submit(accepted, specs);
}

void Dispatcher::schedule()
{
    if (m_scheduling || m_shuttingDown)
        return;
    m_scheduling = true;
    while (auto id = m_queue.takeNext(m_limit))
        startTask(*find(*id));
    m_scheduling = false;
}

void Dispatcher::startTask(Task &task)
{
    ++task.attempt;
    setState(task, TaskState::Running);
    task.cancelReason = CancelReason::None;
    task.progress = -1;
    task.status.clear();
    if (task.startedAtMs < 0)
        task.startedAtMs = epochMs();
    m_limit.started(task.slot);
    if (task.spec->timeoutMs > 0) {
        const TaskId id = task.id;
        const int attempt = task.attempt;
        task.timeoutTimer =
            m_timers.add(deadlineAfterMs(task.spec->timeoutMs), [this, id, attempt] {
                Task *t = find(id);
                if (!t || t->state != TaskState::Running || t->attempt != attempt)
                    return;
                t->timeoutTimer = 0;
                requestCancel(*t, CancelReason::Timeout);
            });
    }
    task.run = m_runFactory->create(task.id, task.spec, task.attempt, services());
    task.livePrev = nullptr;
    task.liveNext = m_liveRuns;
    if (m_liveRuns)
        m_liveRuns->livePrev = &task;
    m_liveRuns = &task;
    if (!m_pokeTimer.isActive())
        m_pokeTimer.start();
    task.run->start();
}

// ---- cancelling ----

void Dispatcher::requestCancel(Task &task, CancelReason reason)
{
    if (task.cancelReason != CancelReason::None)
        return;
    task.cancelReason = reason;
    markDirty(task);
    const TaskId id = task.id;
    const int attempt = task.attempt;
    task.graceTimer = m_timers.add(deadlineAfterMs(m_settings.gracePeriodMs),
                                   [this, id, attempt] { graceExpired(id, attempt, false); });
    task.run->cancel();
}

// After one grace period a cancelled run is stopped; after another one still running, it
// is given up (a worker stuck in C: see TaskRun::giveUp).
void Dispatcher::graceExpired(TaskId id, int attempt, bool stopped)
{
    Task *t = find(id);
    if (!t || !t->run || t->attempt != attempt)
        return;
    t->graceTimer = 0;
    if (stopped) {
        t->run->giveUp();
        return;
    }
    t->graceTimer = m_timers.add(deadlineAfterMs(m_settings.gracePeriodMs),
                                 [this, id, attempt] { graceExpired(id, attempt, true); });
    t->run->stop();
}

void Dispatcher::cancelTask(Task &task)
{
    if (task.state == TaskState::Running) {
        requestCancel(task, CancelReason::User);
    } else if (task.state == TaskState::Pending) {
        m_queue.remove(task.id);
        m_timers.cancel(std::exchange(task.retryTimer, 0));
        task.waitingRetry = false;
        task.error = QStringLiteral("cancelled");
        finishTask(task, TaskState::Cancelled);
    }
}

void Dispatcher::cancel(const QList<TaskId> &ids)
{
    for (TaskId id : ids)
        if (Task *task = find(id))
            cancelTask(*task);
    schedule();
}

void Dispatcher::cancelAllPending()
{
    for (auto &[id, task] : m_tasks)
        if (task.state == TaskState::Pending)
            cancelTask(task);
    schedule();
}

void Dispatcher::forget(const QList<TaskId> &ids)
{
    bool forgot = false;
    for (TaskId id : ids) {
        const auto it = m_tasks.find(id);
        if (it == m_tasks.end() || !isFinished(it->second.state))
            continue;
        Task &task = it->second;
        int *count = task.state == TaskState::Succeeded   ? &m_counts.succeeded
                     : task.state == TaskState::Failed    ? &m_counts.failed
                     : task.state == TaskState::TimedOut  ? &m_counts.timedOut
                     : task.state == TaskState::Cancelled ? &m_counts.cancelled
                                                          : &m_counts.interrupted;
        --*count;
        if (task.log)
            m_logBytes -= task.log->bytes();
        m_tasks.erase(it); // m_dirty and m_finishedLogs look ids up: they skip it
        forgot = true;
    }
    // The counts changed: published even when no task did.
    if (forgot && !m_publishTimer.isActive())
        m_publishTimer.start(m_settings.publishIntervalMs);
}

void Dispatcher::cancelAll()
{
    cancelAllPending();
    for (auto &[id, task] : m_tasks)
        if (task.state == TaskState::Running)
            cancelTask(task);
}

// ---- the end of a run ----

void Dispatcher::runFinished(TaskId id, RunOutcome outcome)
{
    Task *found = find(id);
    if (!found || !found->run)
        return;
    Task &task = *found;
    m_limit.released(task.slot);
    m_timers.cancel(std::exchange(task.timeoutTimer, 0));
    m_timers.cancel(std::exchange(task.graceTimer, 0));
    if (task.livePrev)
        task.livePrev->liveNext = task.liveNext;
    else
        m_liveRuns = task.liveNext;
    if (task.liveNext)
        task.liveNext->livePrev = task.livePrev;
    task.livePrev = task.liveNext = nullptr;
    if (!m_liveRuns)
        m_pokeTimer.stop();
    if (m_graveyard.empty())
        QMetaObject::invokeMethod(this, &Dispatcher::buryRuns, Qt::QueuedConnection);
    m_graveyard.push_back(std::move(task.run));

    task.stack = outcome.stack;
    task.result = QJsonValue();
    task.error.clear();
    if (m_shuttingDown) {
        // Taskdeck itself is stopping: the task did not fail, it was cut short.
        task.error = QStringLiteral("interrupted: Taskdeck stopped while it ran");
        finishTask(task, TaskState::Interrupted);
        checkShutdown();
        return;
    }
    if (outcome.givenUp) {
        // Never retried: another attempt could take another thread for good.
        task.error = (task.cancelReason == CancelReason::Timeout
                          ? QStringLiteral("timed out after %1, then ")
                                .arg(formatDuration(task.spec->timeoutMs))
                          : QStringLiteral("cancelled, then ")) +
                     outcome.error;
        finishTask(task, TaskState::Failed);
        schedule();
        checkShutdown();
        return;
    }
    switch (task.cancelReason) {
    case CancelReason::User:
        task.error = outcome.kind == RunOutcome::Failed && !outcome.error.isEmpty()
                         ? QStringLiteral("cancelled (then: %1)").arg(outcome.error)
                         : QStringLiteral("cancelled");
        finishTask(task, TaskState::Cancelled);
        break;
    case CancelReason::Timeout:
        task.error = QStringLiteral("timed out after %1").arg(formatDuration(task.spec->timeoutMs));
        if (task.attempt <= task.spec->retries && !m_shuttingDown)
            retryLater(task);
        else
            finishTask(task, TaskState::TimedOut);
        break;
    case CancelReason::None:
        if (outcome.kind == RunOutcome::Succeeded) {
            task.result = outcome.result;
            task.stack.reset();
            finishTask(task, TaskState::Succeeded);
        } else if (outcome.kind == RunOutcome::Cancelled) {
            task.error = outcome.error;
            finishTask(task, TaskState::Cancelled);
        } else {
            task.error = outcome.error;
            if (task.attempt <= task.spec->retries && !m_shuttingDown)
                retryLater(task);
            else
                finishTask(task, TaskState::Failed);
        }
        break;
    }
    schedule();
    checkShutdown();
}

void Dispatcher::retryLater(Task &task)
{
    setState(task, TaskState::Pending);
    task.waitingRetry = true;
    const int doublings = qMin(task.attempt - 1, 20);
    const qint64 delayMs = doubledMs(task.spec->retryDelayMs, doublings);
    const TaskId id = task.id;
    task.retryTimer = m_timers.add(deadlineAfterMs(delayMs), [this, id] {
        Task *t = find(id);
        if (!t || !t->waitingRetry)
            return;
        t->waitingRetry = false;
        t->retryTimer = 0;
        m_queue.push(t->id, t->spec->group, t->priority, t->sequence);
        markDirty(*t);
    });
}

void Dispatcher::finishTask(Task &task, TaskState state)
{
    task.finishedAtMs = epochMs();
    setState(task, state);
    if (task.log) {
        m_finishedLogs.push_back(task.id);
        trimLogs();
    }
}

void Dispatcher::buryRuns()
{
    for (auto &run : m_graveyard)
        TaskRun::retire(std::move(run));
    m_graveyard.clear();
    checkShutdown();
}

// ---- reprioritizing and limits ----

void Dispatcher::setPriority(TaskId id, int priority)
{
    Task *task = find(id);
    if (!task || isFinished(task->state))
        return;
    task->priority = priority;
    m_queue.setPriority(id, priority);
    markDirty(*task);
    schedule();
}

void Dispatcher::moveToTop(TaskId id)
{
    if (auto priority = m_queue.moveToTop(id))
        queueMoved(id, *priority);
    schedule();
}

void Dispatcher::moveToBottom(TaskId id)
{
    if (auto priority = m_queue.moveToBottom(id))
        queueMoved(id, *priority);
    schedule();
}

void Dispatcher::moveBefore(TaskId id, TaskId before)
{
    std::vector<TaskId> renumbered;
    if (auto priority = m_queue.moveBefore(id, before, &renumbered)) {
        queueMoved(id, *priority);
        for (TaskId other : renumbered)
            if (Task *task = find(other)) {
                task->sequence = m_queue.sequenceOf(other);
                markDirty(*task);
            }
    }
    schedule();
}

// Keeps a moved task's own record of its place in step with the queue, so that its
// snapshot (and a journal) can put it back in the same place.
void Dispatcher::queueMoved(TaskId id, int priority)
{
    Task *task = find(id);
    task->priority = priority;
    task->sequence = m_queue.sequenceOf(id);
    markDirty(*task);
}

void Dispatcher::setMaxRunning(int limit)
{
    m_limit.setMaxRunning(limit);
    limitsChanged();
    schedule();
}

void Dispatcher::setGroupLimit(const QString &group, int limit)
{
    m_limit.setGroupLimit(group, limit);
    limitsChanged();
    schedule();
}

void Dispatcher::setGroupWeight(const QString &group, int weight)
{
    m_queue.setGroupWeight(group, weight);
}

void Dispatcher::setPaused(bool paused)
{
    m_queue.setPaused(paused);
    limitsChanged();
    schedule();
}

void Dispatcher::setGroupPaused(const QString &group, bool paused)
{
    m_queue.setGroupPaused(group, paused);
    limitsChanged();
    schedule();
}

// ---- timers ----

void Dispatcher::armTimer()
{
    const qint64 deadline = m_timers.nextDeadline();
    if (deadline < 0) {
        m_timer.stop();
        m_timerArmedFor = -1;
        return;
    }
    if (m_timer.isActive() && m_timerArmedFor == deadline)
        return;
    // Qt timers count whole milliseconds: wake at the last whole millisecond before the
    // deadline and poll from there, so sub-millisecond sleeps are not rounded up.
    const qint64 ms = qMax<qint64>(0, (deadline - steadyNowNs()) / 1000000);
    m_timerArmedFor = deadline;
    m_timer.start(int(qMin<qint64>(ms, 24 * 3600 * 1000)));
}

void Dispatcher::fireTimers()
{
    m_timerArmedFor = -1;
    m_timers.fireDue(steadyNowNs());
    armTimer();
    schedule();
}

// ---- runs reporting ----

void Dispatcher::runLog(TaskId id, QStringList lines)
{
    Task *task = find(id);
    if (!task)
        return;
    appendLog(*task, lines);
    // Observers get at most this many new lines (and bytes) per task per batch; the rest
    // is in the task's LogBuffer.
    constexpr qsizetype MaxLinesPerBatch = 5000;
    QStringList &pending = m_newLogs[id];
    qint64 &pendingBytes = m_newLogBytes[id];
    const qint64 maxBytes = qMin(m_settings.logBytesPerTask, LogBuffer::DefaultMaxBytes);
    for (const QString &line : lines) {
        if (pending.size() >= MaxLinesPerBatch || pendingBytes >= maxBytes)
            break;
        pendingBytes += LogBuffer::cost(line);
        pending.append(line);
    }
    markDirty(*task);
}

// Appends to the task's log, keeping the total held by all logs in view: past
// logBytesTotal, finished tasks' logs are trimmed, oldest first.
void Dispatcher::appendLog(Task &task, const QStringList &lines)
{
    if (!task.log)
        task.log = std::make_unique<LogBuffer>(m_settings.logBytesPerTask);
    const qint64 before = task.log->bytes();
    for (const QString &line : lines)
        task.log->append(line);
    m_logBytes += task.log->bytes() - before;
    trimLogs();
}

void Dispatcher::trimLogs()
{
    // A trimmed log keeps a little of its beginning and end, and the marker.
    constexpr qint64 TrimmedLogBytes = 16 * 1024;
    while (m_logBytes > m_settings.logBytesTotal && !m_finishedLogs.empty()) {
        Task *task = find(m_finishedLogs.front());
        m_finishedLogs.pop_front();
        if (!task || !task->log || !isFinished(task->state))
            continue;
        const qint64 before = task->log->bytes();
        task->log->shrink(TrimmedLogBytes);
        m_logBytes += task->log->bytes() - before;
    }
}

void Dispatcher::runProgress(TaskId id, double fraction, const QString &message)
{
    if (Task *task = find(id)) {
        task->progress = fraction;
        task->status = message;
        markDirty(*task);
    }
}

// ---- publishing ----

void Dispatcher::setJournal(EngineJournal *journal)
{
    m_journal = journal;
    if (journal && journal->wantsSamples())
        m_sampleTimer.start();
    else
        m_sampleTimer.stop();
}

// Every second while a journal is set: the live stacks of running tasks, in one call. When
// more than EngineJournal::MaxSampledStacks run, they take turns in the order of their ids.
void Dispatcher::sampleStacks()
{
    if (!m_journal || m_shuttingDown)
        return;
    std::vector<TaskId> running;
    for (const Task *task = m_liveRuns; task; task = task->liveNext) {
        if (task->state == TaskState::Running)
            running.push_back(task->id);
    }
    if (running.empty())
        return;
    std::sort(running.begin(), running.end());
    std::rotate(running.begin(), std::upper_bound(running.begin(), running.end(), m_sampleCursor),
                running.end());
    running.resize(std::min(running.size(), size_t(EngineJournal::MaxSampledStacks)));
    QList<StackSample> samples;
    samples.reserve(qsizetype(running.size()));
    for (TaskId id : running)
        samples.append(StackSample{id, liveStack(id)});
    m_sampleCursor = running.back();
    m_journal->sampled(samples);
}

void Dispatcher::setState(Task &task, TaskState state)
{
    auto counter = [this](TaskState s) -> int * {
        switch (s) {
        case TaskState::Pending:
            return &m_counts.pending;
        case TaskState::Running:
            return &m_counts.running;
        case TaskState::Succeeded:
            return &m_counts.succeeded;
        case TaskState::Failed:
            return &m_counts.failed;
        case TaskState::TimedOut:
            return &m_counts.timedOut;
        case TaskState::Cancelled:
            return &m_counts.cancelled;
        case TaskState::Interrupted:
            return &m_counts.interrupted;
        }
        return nullptr;
    };
    --*counter(task.state);
    ++*counter(state);
    task.state = state;
    markDirty(task);
}

void Dispatcher::markDirty(Task &task)
{
    if (!task.dirty) {
        task.dirty = true;
        m_dirty.push_back(task.id);
    }
    if (!m_publishTimer.isActive())
        m_publishTimer.start(m_settings.publishIntervalMs);
}

void Dispatcher::limitsChanged()
{
    m_limitsChanged = true;
    if (!m_publishTimer.isActive())
        m_publishTimer.start(m_settings.publishIntervalMs);
}

EngineLimits Dispatcher::limits() const
{
    EngineLimits limits;
    limits.maxRunning = m_limit.maxRunning();
    limits.paused = m_queue.isPaused();
    limits.groupLimits = m_limit.groupLimits();
    limits.pausedGroups = m_queue.pausedGroups(); // from a std::map: sorted
    return limits;
}

void Dispatcher::publish()
{
    EngineUpdate update;
    update.counts = m_counts;
    if (std::exchange(m_limitsChanged, false))
        update.limits = limits();
    update.changed.reserve(qsizetype(m_dirty.size()));
    for (TaskId id : m_dirty) {
        if (Task *task = find(id)) {
            task->dirty = false;
            update.changed.append(makeSnapshot(*task));
        }
    }
    m_dirty.clear();
    update.logs.reserve(m_newLogs.size());
    for (auto it = m_newLogs.begin(); it != m_newLogs.end(); ++it)
        update.logs.append(LogLines{it.key(), std::move(it.value())});
    m_newLogs.clear();
    m_newLogBytes.clear();
    if (m_journal)
        m_journal->published(update);
    Q_EMIT published(update);
}

TaskSnapshot Dispatcher::makeSnapshot(const Task &task) const
{
    TaskSnapshot s;
    s.id = task.id;
    s.name = task.spec->name;
    s.file = task.spec->file;
    s.group = task.spec->group;
    s.kind = task.spec->kind;
    s.priority = task.priority;
    s.sequence = task.sequence;
    s.state = task.state;
    s.attempt = task.attempt;
    s.maxAttempts = task.spec->retries + 1;
    s.cancelRequested = task.cancelReason != CancelReason::None;
    s.progress = task.progress;
    s.status = task.status;
    s.result = task.result;
    s.error = task.error;
    s.stack = task.stack;
    s.spec = task.spec;
    s.submittedAtMs = task.submittedAtMs;
    s.startedAtMs = task.startedAtMs;
    s.finishedAtMs = task.finishedAtMs;
    return s;
}

std::optional<TaskSnapshot> Dispatcher::snapshot(TaskId id) const
{
    const Task *task = find(id);
    if (!task)
        return std::nullopt;
    return makeSnapshot(*task);
}

QList<TaskSnapshot> Dispatcher::snapshots() const
{
    QList<TaskSnapshot> all;
    all.reserve(qsizetype(m_tasks.size()));
    for (const auto &[id, task] : m_tasks)
        all.append(makeSnapshot(task));
    std::sort(all.begin(), all.end(),
              [](const TaskSnapshot &a, const TaskSnapshot &b) { return a.id < b.id; });
    return all;
}

QStringList Dispatcher::log(TaskId id) const
{
    const Task *task = find(id);
    return task && task->log ? task->log->lines() : QStringList();
}

std::shared_ptr<const CoroutineStack> Dispatcher::liveStack(TaskId id) const
{
    const Task *task = find(id);
    if (!task)
        return {};
    return task->run ? task->run->liveStack() : task->stack;
}

QString Dispatcher::waitReason(TaskId id) const
{
    return waitReason(id, [this](TaskId queued) { return m_queue.position(queued); });
}

QStringList Dispatcher::waitReasons(const QList<TaskId> &ids) const
{
    std::optional<QHash<TaskId, int>> positions; // only when a reason needs one
    const auto position = [&](TaskId queued) {
        if (!positions)
            positions = m_queue.positions();
        return positions->value(queued);
    };
    QStringList reasons;
    reasons.reserve(ids.size());
    for (TaskId id : ids)
        reasons.append(waitReason(id, position));
    return reasons;
}

// Why `id` is still pending; `position` gives its place in the queue.
QString Dispatcher::waitReason(TaskId id, const std::function<int(TaskId)> &position) const
{
    const Task *task = find(id);
    if (!task || task->state != TaskState::Pending)
        return {};
    const QString &group = task->spec->group;
    if (task->waitingRetry)
        return QStringLiteral("waiting to retry (attempt %1 of %2)")
            .arg(task->attempt + 1)
            .arg(task->spec->retries + 1);
    if (m_queue.isPaused())
        return QStringLiteral("the queue is paused");
    if (m_queue.isGroupPaused(group))
        return QStringLiteral("group %1 is paused").arg(group);
    if (const int limit = m_limit.groupLimit(group); limit > 0 && m_limit.running(group) >= limit)
        return QStringLiteral("group %1: %2/%3 running")
            .arg(group)
            .arg(m_limit.running(group))
            .arg(limit);
    if (m_limit.running() >= m_limit.maxRunning())
        return QStringLiteral("all %1 slots running; #%2 in the queue")
            .arg(m_limit.maxRunning())
            .arg(position(id));
    return QStringLiteral("#%1 in the queue").arg(position(id));
}

void Dispatcher::pokeRuns()
{
    for (Task *task = m_liveRuns; task; task = task->liveNext)
        task->run->poke();
}

// ---- shutting down ----

void Dispatcher::shutdown(QSemaphore *done)
{
    m_shuttingDown = true;
    m_shutdownDone = done;
    for (auto &[id, task] : m_tasks) {
        if (!task.run)
            continue;
        // A run still there after a grace period is stuck where it cannot be stopped.
        m_timers.cancel(task.graceTimer);
        task.graceTimer = m_timers.add(
            deadlineAfterMs(m_settings.gracePeriodMs),
            [this, id = task.id, attempt = task.attempt] { graceExpired(id, attempt, true); });
        task.run->stop();
    }
    checkShutdown();
}

void Dispatcher::checkShutdown()
{
    if (!m_shuttingDown || !m_shutdownDone || m_limit.running() > 0 || !m_graveyard.empty())
        return;
    publish();
    std::exchange(m_shutdownDone, nullptr)->release();
}
