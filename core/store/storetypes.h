#pragma once

#include "enginejournal.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

// What the task store's layers hand each other and its users: the store's file, how
// opening it went and what recovery read back. Below both TaskStore (the facade) and
// StoreDatabase (the SQLite connection), so that the lower one needs nothing above it.
namespace StoreFiles {

// The store's file in its data directory.
inline constexpr const char *FileName = "taskdeck.db";

// Creates `dir` (and missing parents) for the store, the leaf private to the user (0700):
// the store holds script sources and @arg values. An existing directory is left as it is
// (it may be one the user named). False when it cannot be created.
bool makeDataDir(const QString &dir);

} // namespace StoreFiles

enum class StoreOpenStatus {
    Opened,    // an existing store, or a new empty one
    Recreated, // the old file was unreadable or corrupt: moved aside, fresh store made
    Failed,    // cannot be used (e.g. the directory is not writable): no store
};

struct StoreOpenResult
{
    StoreOpenStatus status = StoreOpenStatus::Failed;
    // One line for the user, naming the files and what happened; empty when opened.
    QString message;
};

struct StoreRecovery
{
    // Every task to hand to Engine::restore: the finished ones (the `historyLimit` most
    // recently finished, interrupted ones always included) by id, then the pending ones in
    // their queue order.
    QList<RestoredTask> tasks;
    // Groups of the tasks that were running when Taskdeck stopped: now interrupted (written
    // back as such, with their last stack); pause these so the user decides.
    QStringList interruptedGroups;
    int pending = 0;     // pending tasks in `tasks`
    int interrupted = 0; // tasks this call found running and marked interrupted
    int finished = 0;    // finished tasks in `tasks` (the interrupted included)
    TaskId lastId = 0;   // the highest id ever stored: new tasks start after it
    // The limits and paused state last published (kept as they change, so a crash keeps
    // them); nullopt for a store that never saw any.
    std::optional<EngineLimits> limits;
    // One line for the user when something could not be read back (also warned about);
    // empty when all was.
    QString problem;
};
