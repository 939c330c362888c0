#pragma once

#include "taskstore.h"

#include <QSqlDatabase>
#include <QString>

#include <memory>
#include <optional>

class QSqlQuery;

// One connection to a task store's SQLite file and the statements the store runs on it.
// Owned by the store's writer thread and used only there (a Qt Sql connection may not
// cross threads). Every method reports failure by its return value and lastError();
// none throws or aborts.
//
// Schema (PRAGMA user_version 1):
//   specs(id, file, kind, command, name, group_name, priority, timeout_ms, retries,
//         retry_delay_ms, memory_bytes, args, source)  one row per distinct definition
//   tasks(id = TaskId, spec_id, priority, sequence, state, attempt, max_attempts,
//         submitted_at, started_at, finished_at, progress, status, result, error, stack,
//         log_tail, transitions)
// Times are epoch ms (NULL for never); command, args, result, stack and log_tail are
// JSON text (StoreCodec); transitions reads "pending@<ms> running@<ms> failed@<ms>".
class StoreDatabase
{
public:
    static constexpr int SchemaVersion = 1;

    StoreDatabase();
    ~StoreDatabase();
    StoreDatabase(const StoreDatabase &) = delete;
    StoreDatabase &operator=(const StoreDatabase &) = delete;

    // Opens `dataDir`/taskdeck.db (see TaskStore::open) in WAL mode.
    TaskStore::OpenResult open(const QString &dataDir);
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
        bool sequenceKnown = true;    // false: submitted, never published (NULL)
        std::optional<QString> stack; // StoreCodec::stackText
        std::optional<QString> logTail;
        QString transitions;
    };
    // Returns the new spec row's id, or 0.
    qint64 insertSpec(const TaskSpec &spec);
    bool insertTask(const TaskRow &row);
    bool updateTask(const TaskRow &row);
    // Writes only the stack and/or the log tail of a task (the 1 s samples).
    bool updateLive(TaskId id, const std::optional<QString> &stack,
                    const std::optional<QString> &logTail);

    struct StoredTask
    {
        TaskState state = TaskState::Pending;
        qint64 specRow = 0;
        QStringList logTail;
    };
    // A task's row as last written; nullopt when there is none (or on error).
    std::optional<StoredTask> storedTask(TaskId id);

    // Deletes a task's row; `specRow` gets the spec row it used (0 if there was none).
    bool deleteTask(TaskId id, qint64 *specRow);
    // Deletes a spec row that no task uses any more; `deleted` says whether it did.
    bool deleteSpecIfUnused(qint64 specRow, bool *deleted);

    struct Recovered
    {
        TaskStore::Recovery recovery;
        QList<qint64> specRows; // specRows[i] is the row of recovery.tasks[i].spec
    };
    // TaskStore::recover, in one transaction: running tasks become interrupted at
    // `nowMs`; spec rows no task uses are deleted if `deleteUnusedSpecs`. nullopt on error.
    std::optional<Recovered> recover(int historyLimit, qint64 nowMs, bool deleteUnusedSpecs);

private:
    enum class Outcome { Ready, Corrupt, Unusable };
    struct Statements;

    Outcome connect(QString *problem);
    Outcome createSchema(QString *problem);
    Outcome prepareStatements(QString *problem);
    void close();
    QString moveAside(QString *error) const;
    bool fail(const QSqlQuery &query);

    QString m_connection;
    QString m_path;
    QSqlDatabase m_db;
    std::unique_ptr<Statements> m_statements;
    QString m_lastError;
};
