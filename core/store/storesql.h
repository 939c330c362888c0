#pragma once

// Internal to core/store: what the files of StoreDatabase share. storeschema.cpp opens,
// checks and migrates the file; storerows.cpp writes rows; storerecovery.cpp reads them
// back; storedatabase.cpp holds the connection and its transactions.
#include "storedatabase.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

#include <memory>
#include <unordered_map>

namespace StoreSql {

inline QString describe(const QSqlError &error)
{
    return error.databaseText().isEmpty() ? error.text() : error.databaseText();
}

// ---- task rows as JSON text (see StoreDatabase::TaskRows) ----
//
// The statement of a shape unpacks its one bound value, an array of rows that are arrays
// of values: json_each() walks the rows (materialized, so that each row's text is made
// once), json_extract() takes the values. Integers, reals and strings come back as the
// same SQLite values that binding them gives.

enum class RowKind : quint32 { Insert, Update, Live };

// The columns a row may leave NULL (or, for an update's stack and log tail, untouched),
// in the order of their values in a row.
enum Optional {
    Sequence,
    SubmittedAt,
    StartedAt,
    FinishedAt,
    Progress,
    Status,
    Result,
    Error,
    Transitions, // appended to the column by updates; '' when NULL in an insert
    Stack,
    LogTail,
    OptionalCount
};

// A shape: the kind of row (bits 0-1), the state it writes (2-4), a bit per optional
// column that has a value in the row (the others are NULL), and whether an update sets
// the stack and the log tail at all. A row's values: the task id; spec_id and
// max_attempts (inserts); priority and attempt (all but live updates); then its optional
// values, in Optional order.
inline constexpr quint32 KindMask = 0x3;
inline constexpr int StateShift = 2;
inline constexpr quint32 StateMask = 0x7 << StateShift;
constexpr quint32 hasValue(int column)
{
    return 1u << (5 + column);
}
inline constexpr quint32 StackWritten = 1u << (5 + OptionalCount);
inline constexpr quint32 LogTailWritten = StackWritten << 1;
static_assert(quint32(TaskState::Interrupted) <= StateMask >> StateShift);
static_assert(5 + OptionalCount + 2 <= 32);

// The SQL of the rows of `shape`, its one placeholder the JSON array of the rows
// (storerows.cpp).
QString rowsStatement(quint32 shape);

} // namespace StoreSql

// The statements the store runs. Task rows are written a transaction's worth at a time
// (see TaskRows): binding a dozen values per task through Qt Sql cost more than SQLite's
// work on the rows.
struct StoreDatabase::Statements
{
    explicit Statements(const QSqlDatabase &db)
        : db(db)
        , insertSpec(db)
        , insertSubmission(db)
        , materializeSubmissions(db)
        , countDamagedSubmissions(db)
        , deleteSubmissions(db)
        , removeMade(db)
        , updateExact(db)
        , storedTask(db)
        , specsOfTasks(db)
        , deleteTasks(db)
        , rememberForgotten(db)
        , deleteSpecIfUnused(db)
        , writeDependencies(db)
        , deleteDependencies(db)
    {
    }

    // The query that failed, or nullptr (storeschema.cpp).
    QSqlQuery *prepare();
    // The statement of a shape of task rows, prepared the first time; on failure, the
    // query that failed (and rows[shape] is null) (storerows.cpp).
    QSqlQuery *rowStatement(quint32 shape);

    QSqlDatabase db;
    QSqlQuery insertSpec;
    QSqlQuery insertSubmission;
    QSqlQuery materializeSubmissions;
    QSqlQuery countDamagedSubmissions;
    QSqlQuery deleteSubmissions;
    std::unordered_map<quint32, std::unique_ptr<QSqlQuery>> rows; // by shape
    std::unique_ptr<QSqlQuery> failed;                            // the last that failed
    QSqlQuery removeMade;
    QSqlQuery updateExact;
    QSqlQuery storedTask;
    QSqlQuery specsOfTasks;
    QSqlQuery deleteTasks;
    QSqlQuery rememberForgotten;
    QSqlQuery deleteSpecIfUnused;
    QSqlQuery writeDependencies;
    QSqlQuery deleteDependencies;
};
