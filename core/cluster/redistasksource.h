#pragma once

#include "cluster/clusterprotocol.h"
#include "cluster/redisclient.h"
#include "enginejournal.h"
#include "tasksource.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHash>
#include <QSet>
#include <QTimer>

#include <memory>

class TaskStore;

// The cluster (SPEC section 8) as a TaskSource, for the dashboard on `--redis URL`.
// Changes come from the stream "events" (XREAD BLOCK on a connection of its own), then one
// `tasks` script call for the ids that changed, at most every BatchIntervalMs: an idle
// cluster costs an XREAD every few seconds and the Workers poll, never a poll of every
// task. Commands are the cluster's scripts; what they change comes back through the
// events like anyone else's change. A watched running task's live stack and log are
// fetched from its worker (the keys stacks:wanted and watched, which its heartbeat
// reads) only while watched. Finished tasks are archived into a TaskStore when one is
// set, and the tasks it kept come back as history. Main thread: both connections, every
// callback and timer run on the event loop, nothing waits for Redis.
class RedisTaskSource : public TaskSource
{
    Q_OBJECT
public:
    static constexpr int BatchIntervalMs = 100;
    static constexpr int BlockMs = 5000;           // one XREAD per BlockMs when idle
    static constexpr int WorkersIntervalMs = 2000; // the Workers dock's poll
    static constexpr int LimitsIntervalMs = 10000; // limits set by `taskdeck limits`
    static constexpr int WatchIntervalMs = 1000;   // SPEC 8: stacks at most 1 s old
    static constexpr int FetchChunk = 500; // ids per `tasks` call: one is parsed per loop turn
    // The limits panel's highest value: the cluster's "no global limit" (0) shows as it.
    static constexpr int NoLimit = 100000;

    // A worker as the Workers dock shows it, with what the dashboard saw of it.
    struct WorkerInfo
    {
        ClusterProtocol::Worker worker;
        QList<int> ended;   // tasks it ended per WorkersIntervalMs, oldest first (<= 30)
        QString lostReport; // lost: what happened to its tasks
    };

    RedisTaskSource(const RedisClient::Options &options, const QString &ns,
                    QObject *parent = nullptr);
    ~RedisTaskSource() override;

    // Archives finished tasks into `store` (null: none) and shows those it kept from
    // earlier runs. Call before start(); the store must outlive this or be unset.
    void setStore(TaskStore *store);
    // Tasks the store kept from earlier runs (its recovery): the finished ones are shown
    // as history (in start()'s first batch), and Re-run takes their definitions from there.
    void addHistory(const QList<RestoredTask> &history);
    // Connects (and reconnects by itself for as long as this lives).
    void start();
    QString url() const { return m_url; }
    QString ns() const { return m_ns; }
    // Every id of the cluster (and the archive) this source knows, and whether the first
    // full listing after (re)connecting has arrived.
    qsizetype taskCount() const { return m_tasks.size(); }
    bool isLoaded() const { return m_loaded; }
    QList<WorkerInfo> workers() const { return m_workers; }
    // The dashboard's own Redis commands, for the benchmark.
    RedisClient *client() const { return m_client.get(); }

    void submit(const QList<std::pair<TaskSpec, int>> &specsAndCopies, QObject *context = nullptr,
                Submitted done = {}) override;
    using TaskSource::submit;
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
    void commit(QObject *context, std::function<void(const QString &problem)> done) override;
    bool keepsTasks() const override { return true; } // Redis keeps them (AOF)
    bool hasWorkers() const override { return true; }

Q_SIGNALS:
    void workersChanged();

protected:
    void watchStarted(TaskId id) override;
    void watchEnded(TaskId id) override;

private:
    void onReady();
    void onDisconnected(const QString &reason);
    // Reads every task kept (after the stream's last id, so that nothing is missed).
    void reload();
    void fetchChunk(std::shared_ptr<QList<TaskId>> ids, qsizetype from, quint64 generation);
    void readEvents();
    void markDirty(TaskId id);
    void flushDirty();
    // Takes tasks as Redis has them now into the cache and delivers them as one batch.
    void apply(const QList<ClusterProtocol::Task> &tasks, bool initial);
    void archive(const QList<TaskSnapshot> &ended);
    void refreshLimits(const QList<QByteArray> &verbs = {});
    void refreshWorkers();
    void refreshWatched();
    void announce(const QByteArray &type, TaskId id);
    void notice(const QString &text);
    QString waitReason(const TaskSnapshot &task) const;
    void adjustCounts(const TaskSnapshot *before, const TaskSnapshot &after);

    QString m_url;
    QString m_ns;
    std::unique_ptr<RedisClient> m_client; // commands, look-ups
    std::unique_ptr<RedisClient> m_events; // XREAD BLOCK only
    std::unique_ptr<ClusterProtocol> m_protocol;
    TaskStore *m_store = nullptr;

    QHash<TaskId, TaskSnapshot> m_tasks;
    QHash<TaskId, std::shared_ptr<const TaskSpec>> m_archivedSpecs; // archive-only tasks
    QSet<TaskId> m_archived;                                        // ended, in the store
    EngineCounts m_taskCounts;
    EngineLimits m_limitsSeen;
    ClusterProtocol::Limits m_clusterLimits;
    bool m_limitsKnown = false;

    QByteArray m_lastEvent = "0-0";
    bool m_reading = false;
    bool m_loaded = false;
    quint64 m_generation = 0; // of reload(): a stale listing's chunks are dropped
    QSet<TaskId> m_dirty;
    bool m_fetching = false;
    QTimer m_flush;

    QTimer m_workersTimer;
    QTimer m_limitsTimer;
    QList<WorkerInfo> m_workers;
    QHash<QString, int> m_endedBy;     // per worker, tasks ended since the last poll
    QHash<TaskId, QString> m_lostFrom; // tasks given back after a worker was lost

    QTimer m_watchTimer;
    QElapsedTimer m_wantedAt; // when stacks:wanted was last set
    bool m_watchInFlight = false;
    QHash<TaskId, qint64> m_logSeen;       // watched: lines of its log seen (the worker's count)
    QHash<TaskId, QStringList> m_watchLog; // watched: the log tail last seen
    QHash<TaskId, std::shared_ptr<const CoroutineStack>> m_lastStack;

    bool m_connected = false;
    bool m_everConnected = false;
    QDateTime m_disconnectedAt;
    QString m_disconnectReason;
};
