#pragma once

#include "storedatabase.h"
#include "taskstore.h"

#include <QHash>
#include <QMultiHash>
#include <QSet>
#include <QString>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <variant>
#include <vector>

class QThread;

// The task store's writer. Its thread owns the database connection and everything below
// "writer thread only"; other threads hand work over through a mutex-protected queue
// (O(1) per call) or run a blocking call on it (open, recover, sync).
//
// A drain takes the queue as a whole after a batch window and writes it in one
// transaction, per task only the latest state: a task submitted and finished within one
// drain is one INSERT. Log tails (the last 200 lines) are kept here while a task is
// unfinished and written when its state changes, when it ends, and with the 1 s samples
// of the live stacks of running tasks that the engine pushes. A failed transaction keeps
// its work and is tried again later (warning once per distinct error); until one commits,
// writeProblem() says why, and sync() returns false.
//
// Under a flood the writer keeps out of the engine's way:
// - A submission is kept as runs of tasks (consecutive ids of one spec), written as one
//   submissions row per drain rather than a tasks row each. A task gets its tasks row
//   with its first change, or when the submissions rows are materialized: by a quiet
//   drain a while later, sync(), forget() and recover(). Until then the writer keeps no
//   record of it.
// - A drain that a submission brings forward during a flood of changes writes the
//   submission only; the changes wait for a drain MaxBatchWindow later. Otherwise the
//   batch window grows with the time the last drain took (ten times it, up to 1 s), so
//   that the writer takes about a tenth of the time at most. A submission is written
//   within 50 ms of its arrival either way.
class TaskStore::Writer
{
public:
    Writer();
    ~Writer(); // writes what is queued, closes the database, ends the thread

    // Starts the thread and opens the store on it; on Failed the thread has ended and
    // nothing else may be called.
    OpenResult open(const QString &dataDir);
    QString path() const { return m_path; }
    Recovery recover(int historyLimit);
    bool sync(QString *problem);
    QString writeProblem() const; // any thread

    // Any thread.
    void submitted(const QList<TaskId> &ids, const QList<std::shared_ptr<const TaskSpec>> &specs,
                   qint64 firstSequence);
    void published(const EngineUpdate &update);
    void sampled(const QList<StackSample> &stacks);
    void forget(const QList<TaskId> &ids);

private:
    using Clock = std::chrono::steady_clock;
    struct Submission
    {
        QList<TaskId> ids;
        QList<std::shared_ptr<const TaskSpec>> specs;
        qint64 firstSequence = 0;
        qint64 atMs = 0;
    };
    struct Batch
    {
        EngineUpdate update;
        qint64 atMs = 0;
    };
    struct Forgetting
    {
        QList<TaskId> ids;
    };
    struct Samples
    {
        QList<StackSample> stacks;
    };
    struct Call
    {
        std::function<void()> run; // after a flush; m_flushed says whether it wrote all
    };
    using Item = std::variant<Submission, Batch, Forgetting, Samples, Call>;

    // What the writer knows of a task that is unfinished, or finished but not yet written.
    struct Record
    {
        std::shared_ptr<const TaskSpec> spec; // until its row is inserted
        qint64 submittedAtMs = -1;
        qint64 sequence = -1;                 // its queue sequence when submitted
        TaskState state = TaskState::Pending; // as last observed
        bool inDb = false;
        bool dirty = false;       // listed in m_dirty
        bool tailChanged = false; // since last written
        bool sampleChanged = false;
        QString transitions; // observed since last written: "running@<ms> ..."
        QStringList tail;    // the last TailLines lines of its log
        QString sample;      // its last live stack (StoreCodec text)
    };
    // What one task's write in a transaction covered, to be settled once it commits.
    struct Written
    {
        TaskId id = 0;
        bool tail = false;
        bool sample = false;
    };
    // Tasks of one submission with consecutive ids (from the key of m_submitted), of one
    // spec, at consecutive queue sequences, with no record yet.
    struct Run
    {
        qint64 count = 0;
        std::shared_ptr<const TaskSpec> spec;
        qint64 firstSequence = 0;
        qint64 atMs = 0;
        bool written = false; // in a submissions row
    };

    void run(const QString &dataDir, std::promise<OpenResult> *opened);
    bool deferFlood(std::vector<Item> &items);
    void drain(std::vector<Item> &items, bool stopping);
    void enqueue(Item &&item, bool urgent);
    void call(const std::function<void()> &function);
    void waitForWork(std::vector<Item> *items, bool *stopping);
    void apply(Item &item);
    void applySubmission(const Submission &submission);
    void applyBatch(const Batch &batch);
    void applyForgetting(const Forgetting &forgetting);
    void applySamples(const Samples &samples);
    Record *recordFor(TaskId id);
    const std::pair<const TaskId, Run> *runOf(TaskId id) const;
    void observe(TaskId id, Record &record, const TaskSnapshot &snapshot, qint64 atMs);
    void markDirty(TaskId id, Record &record);
    bool flush(bool materialize = false);
    bool write(TaskId id, Record &record, std::optional<Written> *written);
    qint64 specRow(const std::shared_ptr<const TaskSpec> &spec);
    struct SpecRow;
    void keepSpecRow(const SpecRow &row);
    void dropSpecRow(qint64 row);
    void settle(const std::vector<Written> &written);
    void report(const QString &problem);
    void setWriteProblem(const QString &problem);

    QString m_path;
    std::unique_ptr<QThread> m_thread;

    std::mutex m_mutex; // guards the queue
    std::condition_variable m_wake;
    std::vector<Item> m_queue;
    bool m_urgent = false;
    bool m_stopping = false;
    std::optional<Clock::time_point> m_submissionAt; // of the first queued submission

    mutable std::mutex m_problemMutex; // guards m_writeProblem
    QString m_writeProblem;            // set and cleared by the writer thread

    // ---- writer thread only ----
    std::unique_ptr<StoreDatabase> m_db;
    StoreDatabase::TaskRows m_rows; // of the transaction being written
    std::unordered_map<TaskId, Record> m_records;
    std::vector<TaskId> m_dirty;
    std::unordered_map<TaskId, TaskSnapshot> m_unwritten; // latest snapshot per task
    std::set<TaskId> m_running;
    bool m_sampleTick = false; // samples came since the last write: running tails are due
    std::vector<TaskId> m_forgets;
    Clock::duration m_window;                          // the batch window, after the last drain
    std::map<TaskId, Run> m_submitted;                 // by first id
    std::optional<Clock::time_point> m_submittedSince; // the oldest written run's drain
    // Spec rows by each shared spec that uses them (kept alive while mapped, so that the
    // address is never another spec's), and by content (a hash of the spec: equal specs
    // share a row, however they were copied); the staged ones await their commit.
    struct SpecRow
    {
        qint64 row = 0;
        std::shared_ptr<const TaskSpec> spec;
    };
    std::unordered_map<const TaskSpec *, SpecRow> m_specRows;
    std::unordered_map<const TaskSpec *, SpecRow> m_stagedSpecs;
    QMultiHash<qint64, const TaskSpec *> m_specOfRow;
    std::unordered_multimap<size_t, SpecRow> m_rowsByContent;
    std::unordered_multimap<size_t, SpecRow> m_stagedContent;
    // The tasks recover() returned, as it returned them: Engine::restore publishes each
    // once, and that batch tells nothing new unless the task changed meanwhile.
    struct Restored
    {
        TaskState state = TaskState::Pending;
        int priority = 0;
        int attempt = 0;
        qint64 sequence = 0;
    };
    std::unordered_map<TaskId, Restored> m_restored;
    QSet<TaskId> m_unknown; // published, but never submitted to the store
    EngineLimits m_limits;  // as last published; written when m_limitsDirty
    bool m_limitsDirty = false;
    int m_exitInterrupted = 0; // tasks the shutdown interrupted, not yet written
    QStringList m_exitInterruptedGroups;
    QSet<QString> m_reported;
    int m_failures = 0;
    std::optional<Clock::time_point> m_retryAt;
    bool m_flushed = true; // the last flush wrote everything
    QString m_writeError;  // of the last failed flush, until one succeeds
};
