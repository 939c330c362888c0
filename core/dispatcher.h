#pragma once

#include "concurrencylimit.h"
#include "enginejournal.h"
#include "logbuffer.h"
#include "runfactory.h"
#include "taskqueue.h"
#include "taskrun.h"
#include "tasksnapshot.h"
#include "timerheap.h"

#include <QObject>
#include <QTimer>

#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

class QSemaphore;
class QThreadPool;
class WorkQueue;

// The engine proper: owns every task, the pending queue, the limits, the timers and the
// runs, and publishes what changed in batches. Lives on the engine thread and is used
// only there; Engine (the public facade) reaches it through queued calls.
class Dispatcher : public QObject, public RunObserver
{
    Q_OBJECT
public:
    struct Settings
    {
        int maxRunning = 16;
        qint64 gracePeriodMs = 5000;
        int publishIntervalMs = 100;
        qint64 logBytesPerTask = LogBuffer::DefaultMaxBytes; // each task's log, head and tail
        qint64 logBytesTotal = qint64(256) << 20; // all logs: finished ones trimmed past it
    };

    // `runs` makes every run (the engine passes one that picks by script kind).
    Dispatcher(QThreadPool *pool, const Settings &settings, std::shared_ptr<RunFactory> runs);
    ~Dispatcher() override;

    void submit(const QList<TaskId> &ids, const QList<std::shared_ptr<const TaskSpec>> &specs);
    // Brings back tasks from a journal (not journalled again as submissions).
    void restore(const QList<RestoredTask> &tasks);
    // Submits each known task's definition again as a new task, newIds[i] for ids[i].
    void rerun(const QList<TaskId> &ids, const QList<TaskId> &newIds);
    // Also samples running tasks' stacks for it every second while it is set.
    void setJournal(EngineJournal *journal);
    void cancel(const QList<TaskId> &ids);
    void cancelAllPending();
    void cancelAll();
    // Drops finished tasks the user removed (the dashboard's "Clear finished"): they leave
    // the counts and the listings, so that every count means the tasks still kept.
    void forget(const QList<TaskId> &ids);
    void setPriority(TaskId id, int priority);
    void moveToTop(TaskId id);
    void moveToBottom(TaskId id);
    void moveBefore(TaskId id, TaskId before);

    void setMaxRunning(int limit);
    void setGroupLimit(const QString &group, int limit);
    void setGroupWeight(const QString &group, int weight);
    void setPaused(bool paused);
    void setGroupPaused(const QString &group, bool paused);
    void setGracePeriod(qint64 ms) { m_settings.gracePeriodMs = ms; }
    void setPublishInterval(int ms) { m_settings.publishIntervalMs = ms; }

    std::optional<TaskSnapshot> snapshot(TaskId id) const;
    QList<TaskSnapshot> snapshots() const;
    QStringList log(TaskId id) const;
    EngineCounts counts() const { return m_counts; }
    // Why a pending task has not started yet, in the user's words.
    QString waitReason(TaskId id) const;
    QStringList waitReasons(const QList<TaskId> &ids) const; // queue places found once
    std::shared_ptr<const CoroutineStack> liveStack(TaskId id) const;
    // The limits and paused state as they stand (batches carry them when they change).
    EngineLimits limits() const;

    // Stops every run now and releases `done` once none is left.
    void shutdown(QSemaphore *done);
    // Worker threads given up on (stuck in a call) that have not come back. Any thread.
    int stuckWorkers() const;
    // Publishes the pending batch at once (tests, the end of a headless run).
    void publishNow() { publish(); }

    // RunObserver
    void runLog(TaskId id, QStringList lines) override;
    void runProgress(TaskId id, double fraction, const QString &message) override;
    void runFinished(TaskId id, RunOutcome outcome) override;

Q_SIGNALS:
    void published(const EngineUpdate &update);

private:
    enum class CancelReason : quint8 { None, User, Timeout };
    struct Task
    {
        TaskId id = 0;
        std::shared_ptr<const TaskSpec> spec;
        ConcurrencyLimit::Slot *slot = nullptr; // its group's
        int priority = 0;
        qint64 sequence = 0;
        TaskState state = TaskState::Pending;
        CancelReason cancelReason = CancelReason::None;
        bool dirty = false;
        bool waitingRetry = false;
        int attempt = 0;
        qint64 submittedAtMs = -1;
        qint64 startedAtMs = -1;
        qint64 finishedAtMs = -1;
        TimerHeap::Id timeoutTimer = 0;
        TimerHeap::Id graceTimer = 0;
        TimerHeap::Id retryTimer = 0;
        double progress = -1;
        QString status;
        QJsonValue result;
        QString error;
        std::shared_ptr<const CoroutineStack> stack;
        std::unique_ptr<TaskRun> run;
        std::unique_ptr<LogBuffer> log;
        Task *livePrev = nullptr; // the list of tasks with a run, for pokeRuns()
        Task *liveNext = nullptr;
    };

    Task &addTask(TaskId id, std::shared_ptr<const TaskSpec> spec);
    Task *find(TaskId id);
    const Task *find(TaskId id) const;
    void schedule();
    void startTask(Task &task);
    void requestCancel(Task &task, CancelReason reason);
    void cancelTask(Task &task);
    void graceExpired(TaskId id, int attempt, bool stopped);
    void finishTask(Task &task, TaskState state);
    void retryLater(Task &task);
    void setState(Task &task, TaskState state);
    void queueMoved(TaskId id, int priority);
    void markDirty(Task &task);
    void limitsChanged(); // publishes the limits with the next batch
    void publish();
    void armTimer();
    void fireTimers();
    void buryRuns();
    void checkShutdown();
    void pokeRuns();
    void appendLog(Task &task, const QStringList &lines);
    void trimLogs();
    void sampleStacks();
    QString waitReason(TaskId id, const std::function<int(TaskId)> &position) const;
    TaskSnapshot makeSnapshot(const Task &task) const;
    RunServices services();

    Settings m_settings;
    EngineJournal *m_journal = nullptr;
    std::unique_ptr<WorkQueue> m_work;
    std::shared_ptr<RunFactory> m_runFactory;
    std::unordered_map<TaskId, Task> m_tasks;
    TaskQueue m_queue;
    ConcurrencyLimit m_limit;
    TimerHeap m_timers;
    // Children, so that they move to the engine thread with the dispatcher.
    QTimer m_timer; // armed for m_timers' next deadline
    qint64 m_timerArmedFor = -1;
    QTimer m_publishTimer;      // batches changes
    QTimer m_pokeTimer;         // looks in on running tasks every 50 ms
    QTimer m_sampleTimer;       // the journal's stack samples, every second while it is set
    TaskId m_sampleCursor = 0;  // the last task sampled, when they take turns
    Task *m_liveRuns = nullptr; // head of the tasks that have a run (no allocation)
    std::vector<TaskId> m_dirty;
    QHash<TaskId, QStringList> m_newLogs;
    QHash<TaskId, qint64> m_newLogBytes; // what m_newLogs holds, per task
    qint64 m_logBytes = 0;               // held by every task's LogBuffer
    std::deque<TaskId> m_finishedLogs;   // finished tasks with a log, oldest first
    EngineCounts m_counts;
    std::vector<std::unique_ptr<TaskRun>> m_graveyard;
    bool m_scheduling = false;
    bool m_limitsChanged = true; // the first batch says what they are
    bool m_shuttingDown = false;
    QSemaphore *m_shutdownDone = nullptr;
};
