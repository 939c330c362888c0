#pragma once

#include "enginejournal.h"
#include "runfactory.h"
#include "tasksnapshot.h"

#include <QObject>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

class Dispatcher;
class QThread;
class QThreadPool;

// The engine's public face, for the dashboard, the command line and tests. Every
// method is thread-safe and returns at once: requests are queued to the engine thread
// in the order they were made. What changed comes back in batches through updated(),
// delivered on the thread that owns this object, never one signal per task.
//
// The engine runs on its own thread (the dispatcher and its timers) and runs task code
// on a QThreadPool of its own.
class Engine : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        int workerThreads = 0; // 0: one per core
        int maxRunning = 16;
        qint64 gracePeriodMs = 5000;
        int publishIntervalMs = 100;
        qint64 defaultMemoryLimit = qint64(1) << 30; // Lua tasks without @memory
        qint64 logBytesPerTask = qint64(1) << 20;    // each task's log keeps its head and tail
        qint64 logBytesTotal = qint64(256) << 20;    // finished tasks' logs trimmed past it
        // Makes every run instead of the default kinds (Lua, process): a test's fake.
        std::shared_ptr<RunFactory> runFactory = nullptr;
    };

    explicit Engine(QObject *parent = nullptr);
    explicit Engine(const Options &options, QObject *parent = nullptr);
    ~Engine() override;

    TaskId submit(const TaskSpec &spec);
    QList<TaskId> submit(const TaskSpec &spec, int copies);
    QList<TaskId> submit(const QList<TaskSpec> &specs);
    // Each spec `copies` times (its copies share it), all queued at once: none starts
    // before the last is queued. Ids in the order given.
    QList<TaskId> submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies);

    // Tasks brought back from a journal keep their ids; new ids continue after them and
    // after `lastUsedId` (ids a journal has seen but does not bring back).
    void restore(const QList<RestoredTask> &tasks, TaskId lastUsedId = 0);
    // Runs known tasks again with the same definition, as new tasks; returns the new
    // ids in order (an unknown id's new id is never used).
    QList<TaskId> rerun(const QList<TaskId> &ids);
    // Every submission and published batch from now on is told to `journal`, on the
    // engine thread, and every second the live stacks of running tasks; it must outlive
    // the engine or be detached with nullptr. Blocks until the engine has it, so nothing
    // submitted after this call is missed.
    void setJournal(EngineJournal *journal);

    void cancel(TaskId id);
    void cancel(const QList<TaskId> &ids);
    void cancelAllPending();
    void cancelAll();
    // Finished tasks the user removed: no longer counted or listed (unfinished ones stay).
    void forget(const QList<TaskId> &ids);
    void setPriority(TaskId id, int priority);
    void moveToTop(TaskId id);
    void moveToBottom(TaskId id);
    void moveBefore(TaskId id, TaskId before);

    void setMaxRunning(int limit);
    void setGroupLimit(const QString &group, int limit); // 0: no limit
    void setGroupWeight(const QString &group, int weight);
    void pause();
    void resume();
    void pauseGroup(const QString &group);
    void resumeGroup(const QString &group);
    void setGracePeriod(qint64 ms);

    // The counts as of the last update delivered to this object's thread.
    EngineCounts counts() const { return m_counts; }

    // Blocking look-ups on the engine thread (cheap; not for the engine thread itself).
    std::optional<TaskSnapshot> task(TaskId id) const;
    QList<TaskSnapshot> tasks() const;
    QStringList log(TaskId id) const;
    QString waitReason(TaskId id) const;
    std::shared_ptr<const CoroutineStack> liveStack(TaskId id) const;
    // The same for many tasks in one look-up, in the order of `ids`.
    QList<std::optional<TaskSnapshot>> tasks(const QList<TaskId> &ids) const;
    QStringList waitReasons(const QList<TaskId> &ids) const;
    QList<std::shared_ptr<const CoroutineStack>> liveStacks(const QList<TaskId> &ids) const;
    EngineCounts liveCounts() const;
    // Delivers the changes made so far through updated() now, without waiting for the
    // publish interval.
    void flush();

    // How many blocking look-ups (the ones above, setJournal) were made on the
    // application's main thread so far. The dashboard never makes one (it uses a
    // TaskSource); tests read this to prove it. Any thread.
    static int mainThreadLookUps();

Q_SIGNALS:
    void updated(const EngineUpdate &update);

private:
    friend class LocalTaskSource; // asks through request(), never waiting
    // Runs `request` on the engine thread after every request made so far.
    void request(std::function<void(Dispatcher *)> request);
    template <typename F> void post(F &&request);
    template <typename F> auto query(F &&request) const;

    QThreadPool *m_pool = nullptr; // leaked on purpose if a worker never comes back
    QThread *m_thread = nullptr;
    Dispatcher *m_dispatcher = nullptr;
    std::atomic<TaskId> m_nextId{1};
    EngineCounts m_counts;
};
