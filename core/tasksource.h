#pragma once

#include "tasksnapshot.h"

#include <QHash>
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QStringList>

#include <functional>
#include <memory>
#include <optional>
#include <utility>

// One watched task as its source last saw it: the snapshot, where it is (the live stack
// of a running task, why a pending one waits) and, in the first report after watch(),
// its whole log.
struct WatchedTask
{
    TaskId id = 0;
    std::optional<TaskSnapshot> snapshot;        // nullopt: the source does not know the task
    std::shared_ptr<const CoroutineStack> stack; // running: its live stack (or processes)
    QString waitReason;                          // pending: why it has not started
    bool fullLog = false; // `log` is the whole log; batches' logs extend it from here on
    QStringList log;
};

enum class TaskSourceStatus : quint8 { Connected, Disconnected };

// One batch from a task source: what changed since the previous one. A value type (its
// lists are implicitly shared), delivered as one signal, never one per task.
struct TaskSourceBatch
{
    // Counts, changed snapshots, the new log lines of watched tasks only, and the limits
    // and paused state when they changed (always in the source's first batch).
    EngineUpdate update;
    // Watched tasks looked at again (at least every second while watched).
    QList<WatchedTask> watched;
    TaskSourceStatus status = TaskSourceStatus::Connected;
    QString statusText;  // why it is disconnected, for the user
    QStringList notices; // one line each the user must see (a command the source refused)
};

Q_DECLARE_METATYPE(TaskSourceBatch)

// A place where tasks run, as a dashboard or a command sees it: the local engine
// (LocalTaskSource) or, later, a cluster. Every command returns at once; what happens
// comes back in batches (batch()), and look-ups answer through a callback, run on the
// main thread only while `context` lives. Nothing here ever waits for the place where
// the tasks run. Main thread.
class TaskSource : public QObject
{
    Q_OBJECT
public:
    // The ids of tasks queued, once the source has them; empty when it refused them.
    using Submitted = std::function<void(const QList<TaskId> &ids)>;
    struct Listing
    {
        QList<TaskSnapshot> tasks; // every task, by id
        // With stacks: running tasks' live stacks, pending tasks' wait reasons.
        QHash<TaskId, std::shared_ptr<const CoroutineStack>> stacks;
        QHash<TaskId, QString> waitReasons;
    };

    using QObject::QObject;

    // Each spec `copies` times, all queued at once; `done` (optional) gets the ids.
    virtual void submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies,
                        QObject *context = nullptr, Submitted done = {}) = 0;
    void submit(const QList<TaskSpec> &specs);
    // With dependencies (SPEC section 4): `done` gets the ids, or no ids and one line
    // saying why the source refused them all (an unknown dependency, a cycle). Without
    // dependencies it is submit(); a source that cannot keep dependencies refuses them.
    using Answered = std::function<void(const QList<TaskId> &ids, const QString &refusal)>;
    virtual void submitAfter(const QList<std::pair<TaskSpec, int>> &specsAndCopies,
                             const DependencyOptions &dependencies, QObject *context,
                             Answered done);
    // Pending tasks `ids` wait for `dependencies` too (Run after...); `done` gets why
    // the source refused, or an empty string.
    virtual void addDependencies(const QList<TaskId> &ids, const TaskDependencies &dependencies,
                                 QObject *context, std::function<void(const QString &)> done);
    // Known tasks run again with the same definition, as new tasks.
    virtual void rerun(const QList<TaskId> &ids, QObject *context = nullptr,
                       Submitted done = {}) = 0;
    virtual void cancel(const QList<TaskId> &ids) = 0;
    void cancel(TaskId id) { cancel(QList<TaskId>{id}); }
    virtual void cancelAllPending() = 0;
    virtual void cancelAll() = 0;
    virtual void setPriority(TaskId id, int priority) = 0;
    virtual void moveToTop(TaskId id) = 0;
    virtual void moveToBottom(TaskId id) = 0;
    virtual void moveBefore(TaskId id, TaskId before) = 0;
    virtual void setMaxRunning(int limit) = 0;
    virtual void setGroupLimit(const QString &group, int limit) = 0; // 0: no limit
    virtual void setPaused(bool paused) = 0;
    virtual void setGroupPaused(const QString &group, bool paused) = 0;
    // Finished tasks the user removed: not history any more (the store forgets them), nor
    // counted or listed by `ps`.
    virtual void forget(const QList<TaskId> &ids) = 0;

    // Asynchronous look-ups.
    virtual void lookUp(const QList<TaskId> &ids, QObject *context,
                        std::function<void(const QList<std::optional<TaskSnapshot>> &)> done) = 0;
    virtual void list(bool withStacks, QObject *context,
                      std::function<void(const Listing &)> done) = 0;
    // `done` once every command made before this call has been taken.
    virtual void sync(QObject *context, std::function<void()> done) = 0;
    // `done` once every command made before this call has been taken and what it queued
    // is kept (on disk, for a source that keeps tasks): with an empty string, or one line
    // saying why it is not.
    virtual void commit(QObject *context, std::function<void(const QString &problem)> done) = 0;
    // Whether queued tasks survive a restart of the source (a local engine with a store).
    virtual bool keepsTasks() const = 0;
    // One line saying why what is queued is not being kept (a store that cannot write),
    // empty while it is. Never waits.
    virtual QString keepProblem() const { return {}; }
    // Whether tasks run on workers the snapshots name (a cluster), not here.
    virtual bool hasWorkers() const { return false; }

    // While a task is watched (counted: each watch() needs its unwatch()), batches carry
    // its new log lines and, at least every second, a WatchedTask; the first one after
    // it became watched holds its whole log.
    void watch(TaskId id);
    void unwatch(TaskId id);
    bool isWatched(TaskId id) const { return m_watched.contains(id); }
    QList<TaskId> watched() const { return m_watched.keys(); }

    // What the last batches said.
    EngineCounts counts() const { return m_counts; }
    EngineLimits limits() const { return m_limits; }
    TaskSourceStatus status() const { return m_status; }

Q_SIGNALS:
    void batch(const TaskSourceBatch &batch);

protected:
    virtual void watchStarted(TaskId id) = 0;
    virtual void watchEnded(TaskId id) = 0;
    // Records what `batch` says (counts, limits, status) and emits it.
    void deliver(const TaskSourceBatch &batch);

private:
    QHash<TaskId, int> m_watched;
    EngineCounts m_counts;
    EngineLimits m_limits;
    TaskSourceStatus m_status = TaskSourceStatus::Connected;
};
