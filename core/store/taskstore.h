#pragma once

#include "enginejournal.h"
#include "storetypes.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <memory>

// Taskdeck's memory across restarts: a SQLite database (Qt Sql, WAL mode) in the data
// directory, holding every task's definition, its state as last published, result or
// error with its stack, attempts, timings and the tail of its log.
//
// Writing happens on a thread of the store's own, in one transaction per batch: the
// engine hands over (as an EngineJournal, on the engine thread) only what it submits and
// publishes anyway, and its 1 s samples of running tasks' stacks; the store copies it
// into a queue and returns. The store never calls the engine. A transaction that
// committed survives `kill -9` of Taskdeck (WAL, synchronous=NORMAL).
//
// Owned and called by one thread (the app's main thread), except for the EngineJournal
// calls, which come from the engine thread. Order of use: open(), recover(),
// Engine::restore(), Engine::setJournal(store), ..., destroy the engine, destroy the
// store: the engine tells its journal until it is destroyed (its last batch holds the
// tasks that shutdown interrupted), so the store must outlive it (or be unset with
// Engine::setJournal(nullptr) first). Nothing here throws or aborts: a store that failed
// to open does nothing, and errors while writing are warned about (once per distinct
// error), kept (writeProblem(), sync()) and retried.
class TaskStore : public EngineJournal
{
public:
    // QStandardPaths::AppDataLocation (e.g. ~/.local/share/Taskdeck/taskdeck).
    static QString defaultDataDir();
    static constexpr const char *fileName = StoreFiles::FileName;
    // See StoreFiles::makeDataDir.
    static bool makeDataDir(const QString &dir) { return StoreFiles::makeDataDir(dir); }

    TaskStore();
    ~TaskStore() override; // writes what is queued, then closes

    using OpenStatus = StoreOpenStatus;
    using OpenResult = StoreOpenResult;
    // Opens (creating the directory and the database if needed) `dataDir`/taskdeck.db.
    // Call once, before the store is any engine's journal.
    // A corrupt or foreign file is renamed to taskdeck.db.corrupt-YYYYMMDD-HHMMSS and a
    // fresh store made; an unwritable location gives Failed and leaves everything alone.
    OpenResult open(const QString &dataDir);
    bool isOpen() const;
    QString path() const;

    using Recovery = StoreRecovery;
    // Reads back what the last run left. Call once, after open() and before the store is
    // any engine's journal. Tasks still marked running are written back as interrupted
    // (with their last sampled stack and log tail) before this returns.
    Recovery recover(int historyLimit = 20000);

    // Blocks until everything handed over so far is committed to disk, or writing it has
    // failed once. Returns whether it is on disk; if not, `problem` gets one line saying
    // why (as writeProblem()). Without an open store there is nothing to write: true.
    bool sync(QString *problem = nullptr);

    // Empty while the store writes; else one line naming the file and why the last write
    // failed ("cannot write the task store /x/taskdeck.db: database or disk is full"),
    // until a write succeeds again (the writer retries what failed, backing off up to
    // 32 s; sync() retries at once). Any thread.
    QString writeProblem() const;

    // Deletes finished tasks from the store (the dashboard's "clear finished").
    void forget(const QList<TaskId> &ids);

    // EngineJournal, called on the engine thread. The samples' stacks and the log tails of
    // running tasks are written every second, so that after a crash an interrupted task
    // shows where it was.
    void submitted(const QList<TaskId> &ids, const QList<std::shared_ptr<const TaskSpec>> &specs,
                   qint64 firstSequence) override;
    void published(const EngineUpdate &update) override;
    void sampled(const QList<StackSample> &stacks) override;
    void submittedWithDependencies(const QList<TaskId> &ids,
                                   const QList<std::shared_ptr<const TaskSpec>> &specs,
                                   qint64 firstSequence,
                                   const QList<TaskDependencies> &dependencies) override;
    void dependenciesSet(const QList<TaskId> &ids,
                         const QList<TaskDependencies> &dependencies) override;

private:
    class Writer;
    std::unique_ptr<Writer> m_writer; // null unless open
    QString m_path;
};
