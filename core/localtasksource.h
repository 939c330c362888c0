#pragma once

#include "tasksource.h"

#include <QThreadPool>
#include <QTimer>

class Dispatcher;
class Engine;
class TaskStore;

// The local engine as a TaskSource. Commands go to the engine's queue; look-ups and
// watched tasks are asked of the engine thread and answered through queued calls, so
// the caller never waits for it. Batches are the engine's, with the log lines of
// watched tasks only, plus a report on each watched task every WatchIntervalMs and after
// each batch that changed it. Main thread (the engine it wraps must live there too).
class LocalTaskSource : public TaskSource
{
    Q_OBJECT
public:
    static constexpr int WatchIntervalMs = 250;

    explicit LocalTaskSource(Engine *engine, QObject *parent = nullptr);
    ~LocalTaskSource() override;

    Engine *engine() const { return m_engine; }
    // The store recording the engine (null: none): forget() goes there and commit()
    // waits for it. It must outlive this or be unset.
    void setStore(TaskStore *store) { m_store = store; }

    void submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies, QObject *context = nullptr,
                Submitted done = {}) override;
    using TaskSource::submit;
    void submitAfter(const QList<std::pair<TaskSpec, int>> &specsAndCopies,
                     const DependencyOptions &dependencies, QObject *context,
                     Answered done) override;
    void addDependencies(const QList<TaskId> &ids, const TaskDependencies &dependencies,
                         QObject *context, std::function<void(const QString &)> done) override;
    void rerun(const QList<TaskId> &ids, QObject *context = nullptr, Submitted done = {}) override;
    void cancel(const QList<TaskId> &ids) override;
    using TaskSource::cancel;
    void cancelAllPending() override;
    void cancelAll() override;
    void setPriority(TaskId id, int priority) override;
    void moveToTop(TaskId id) override;
    void moveToBottom(TaskId id) override;
    void moveBefore(TaskId id, TaskId before) override;
    void setMaxRunning(int limit) override;
    void setGroupLimit(const QString &group, int limit) override;
    void setPaused(bool paused) override;
    void setGroupPaused(const QString &group, bool paused) override;
    void forget(const QList<TaskId> &ids) override;

    void lookUp(const QList<TaskId> &ids, QObject *context,
                std::function<void(const QList<std::optional<TaskSnapshot>> &)> done) override;
    void list(bool withStacks, QObject *context,
              std::function<void(const Listing &)> done) override;
    void sync(QObject *context, std::function<void()> done) override;
    // Waits for the store on a thread of its own, never on the caller's.
    void commit(QObject *context, std::function<void(const QString &problem)> done) override;
    bool keepsTasks() const override { return m_store != nullptr; }
    QString keepProblem() const override; // the store's writeProblem()

protected:
    void watchStarted(TaskId id) override;
    void watchEnded(TaskId id) override;

private:
    // Runs `request` on the engine thread, then `done` with its result on the main
    // thread if `context` still lives.
    template <typename Result>
    void ask(std::function<Result(Dispatcher *)> request, QObject *context,
             std::function<void(const Result &)> done);
    void onUpdate(const EngineUpdate &update);
    // Asks for a report on every watched task (one request in flight at a time).
    void refreshWatched();

    Engine *m_engine;
    TaskStore *m_store = nullptr;
    QThreadPool m_storeWaits; // commit()s waiting for the store; waited for at the end
    QTimer m_watchTimer;
    bool m_refreshing = false;
    bool m_refreshAgain = false;
};
