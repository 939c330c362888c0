#pragma once

#include "storetypes.h"

#include <QSqlDatabase>
#include <QString>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

class QSqlQuery;

// One connection to a task store's SQLite file and the statements the store runs on it.
// Owned by the store's writer thread and used only there (a Qt Sql connection may not
// cross threads). Every method reports failure by its return value and lastError();
// none throws or aborts.
//
// Schema (PRAGMA user_version 2; a version 1 store gains the submissions table):
//   specs(id, file, kind, command, name, group_name, priority, timeout_ms, retries,
//         retry_delay_ms, memory_bytes, args, source)  one row per distinct definition
//   tasks(id = TaskId, spec_id, priority, sequence, state, attempt, max_attempts,
//         submitted_at, started_at, finished_at, progress, status, result, error, stack,
//         log_tail, transitions)
//   submissions(id, tasks)  tasks as submitted, a row per transaction that wrote some:
//         JSON [[first_id, count, spec_id, max_attempts, priority, first_sequence,
//         submitted_at], ...] (SubmittedRun); materializeSubmissions() makes their rows
//   settings(key, value)  version 3: the user's decisions, JSON text (storesettings.cpp):
//         "limits" (EngineLimits as last published), "interrupted_at_exit" (tasks a
//         shutdown cut short: {"count", "groups"}, read and cleared by recovery)
// Times are epoch ms (NULL for never); command, args, result, stack and log_tail are
// JSON text (StoreCodec); transitions reads "pending@<ms> running@<ms> failed@<ms>".
class StoreDatabase
{
public:
    static constexpr int SchemaVersion = 3;

    StoreDatabase();
    ~StoreDatabase();
    StoreDatabase(const StoreDatabase &) = delete;
    StoreDatabase &operator=(const StoreDatabase &) = delete;

    // Opens `dataDir`/taskdeck.db (see TaskStore::open) in WAL mode.
    StoreOpenResult open(const QString &dataDir);
    QString path() const { return m_path; }
    QString lastError() const { return m_lastError; }

    bool begin();
    bool commit(); // rolls back when the commit fails
    void rollback();

    // The values of one tasks row. `values` gives everything but the stack and the log
    // tail, which are written only when set; `transitions` is appended.
    struct TaskRow
    {
        TaskId id = 0;
        qint64 specRow = 0; // inserts only
        const TaskSnapshot *values = nullptr;
        std::optional<QString> stack; // StoreCodec::stackText
        std::optional<QString> logTail;
        QString transitions;
    };
    // Returns the new spec row's id, or 0.
    qint64 insertSpec(const TaskSpec &spec);

    // The task rows of one transaction, gathered as compact JSON text and written with one
    // bound value per statement, which SQLite unpacks (json_each): a drain binds a few
    // values in all rather than a dozen per task. Rows are grouped by shape (the kind of
    // write, the state, which columns it sets and which of those are not NULL): a row holds
    // only its values, and each shape has its statement.
    class TaskRows
    {
    public:
        void insert(const TaskRow &row);
        void update(const TaskRow &row);
        // Writes only the stack and/or the log tail of a task (the 1 s samples).
        void updateLive(TaskId id, const std::optional<QString> &stack,
                        const std::optional<QString> &logTail);
        void clear();

    private:
        friend class StoreDatabase;
        // Rows of one shape, at most ChunkRows (so that SQLite's parse of them stays small):
        // "[[values],[values]" until written.
        struct Rows
        {
            quint32 shape = 0;
            int count = 0;
            std::string json;
        };
        Rows &rowsOf(quint32 shape);
        void add(quint32 shape);

        std::vector<Rows> m_rows;
        size_t m_last = 0;    // in m_rows, the rows added to last
        std::string m_values; // ",value,value" of the row being added
        // SQLite's JSON functions cut a string short at "\u0000": the status and error of
        // these rows are written again, bound as they are, after the others.
        struct Exact
        {
            TaskId id = 0;
            QString status;
            QString error;
        };
        std::vector<Exact> m_exact;
    };
    // Writes (and clears) `rows`.
    bool writeTasks(TaskRows &rows);

    // Tasks of one submission with consecutive ids and queue sequences and one spec.
    struct SubmittedRun
    {
        TaskId firstId = 0;
        qint64 count = 0;
        qint64 specRow = 0;
        int maxAttempts = 1;
        int priority = 0;
        qint64 firstSequence = 0;
        qint64 submittedAtMs = 0;
    };
    // Records submitted tasks as one submissions row: a durable record of them that costs
    // next to nothing per task, where a tasks row each costs a B-tree insert per index.
    bool insertSubmissions(const std::vector<SubmittedRun> &runs);
    // The highest task id the store has ever held (rows, forgotten ones, submissions), or
    // nullopt on error.
    std::optional<TaskId> highestId();
    // Gives every task of the submissions rows that has no tasks row one (pending, with
    // what its submission told), and deletes the submissions rows.
    bool materializeSubmissions();

    struct StoredTask
    {
        TaskState state = TaskState::Pending;
        qint64 specRow = 0;
        QStringList logTail;
    };
    // A task's row as last written; nullopt when there is none (or on error).
    std::optional<StoredTask> storedTask(TaskId id);

    // Deletes the rows of `ids` (remembering the highest id, so that none is used again);
    // `specRows` gets the spec rows they used.
    bool deleteTasks(const std::vector<TaskId> &ids, std::set<qint64> *specRows);
    // Deletes a spec row that no task uses any more; `deleted` says whether it did.
    bool deleteSpecIfUnused(qint64 specRow, bool *deleted);

    struct Recovered
    {
        StoreRecovery recovery;
        QList<qint64> specRows;     // specRows[i] is the row of recovery.tasks[i].spec
        int damagedSubmissions = 0; // submissions rows or runs skipped as unreadable
    };
    // TaskStore::recover, in one transaction: submitted tasks without a row get theirs
    // (pending), running tasks become interrupted at `nowMs`; spec rows no task uses are
    // deleted if `deleteUnusedSpecs`. nullopt on error.
    std::optional<Recovered> recover(int historyLimit, qint64 nowMs, bool deleteUnusedSpecs);

    // The settings table (storesettings.cpp), in the caller's transaction for writes.
    bool writeLimits(const EngineLimits &limits);
    // Adds `count` tasks of `groups` to those a shutdown interrupted since the last recovery.
    bool addInterruptedAtExit(int count, const QStringList &groups);
    // Reads the limits and takes the tasks interrupted at exit into `recovery` (clearing
    // them); false on error.
    bool recoverSettings(StoreRecovery *recovery);

private:
    enum class Outcome { Ready, Corrupt, Unusable };
    struct Statements;

    Outcome connect(QString *problem);
    Outcome createSchema(int version, QString *problem);
    Outcome prepareStatements(QString *problem);
    void close();
    QString moveAside(QString *error) const;
    bool fail(const QSqlQuery &query);
    QSqlQuery *rowStatement(quint32 shape);
    bool execRows(QSqlQuery &q, std::string &rows);

    QString m_connection;
    QString m_path;
    QSqlDatabase m_db;
    std::unique_ptr<Statements> m_statements;
    QString m_lastError;
};
