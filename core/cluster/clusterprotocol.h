#pragma once

#include "cluster/redisclient.h"
#include "tasksnapshot.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>
#include <optional>

// The cluster's protocol on Redis (SPEC section 8): the key layout under "<namespace>:"
// and one call per operation, each an atomic Lua script (core/cluster/scripts/*.lua, Qt
// resources, loaded once and called by SHA; common.lua documents the keys). Every call
// is asynchronous: its callback runs on the thread that owns the RedisClient, with an
// empty error string or a one-line reason. Owned by the thread of its client.
class ClusterProtocol
{
public:
    static constexpr qint64 DefaultKeepMs = qint64(7) * 24 * 3600 * 1000;
    static constexpr qint64 MaxResultBytes = 1024 * 1024;
    static constexpr qsizetype SubmitBatch = 1000; // tasks per submit script call

    // A task a worker claimed: its cluster id, which attempt this is, its definition.
    struct Claimed
    {
        TaskId id = 0;
        int attempt = 0;
        std::shared_ptr<const TaskSpec> spec;
    };

    // One end a worker reports. state: "succeeded", "failed", "timed_out", "cancelled",
    // or "handback" (not run to its end; no attempt counted).
    struct Ending
    {
        TaskId id = 0;
        int attempt = 0;
        QString state;
        QByteArray result; // JSON text, empty for none
        QString error;
        QByteArray stack; // JSON text of TaskJson::stack, empty for none
        QStringList log;  // its last lines
    };

    // What a worker says of itself on each heartbeat.
    struct Beat
    {
        QString worker;
        qint64 leaseMs = 5000;
        QString host;
        qint64 pid = 0;
        int capacity = 0;
        QList<std::pair<TaskId, int>> held; // id, attempt of every task it runs
        // Progress set by tasks it runs since its last beat (those still its own get it).
        struct Progress
        {
            TaskId id = 0;
            int attempt = 0;
            double fraction = 0; // 0..1
            QString status;
        };
        QList<Progress> progress;
    };

    // A task as Redis keeps it, for ps and wait.
    struct Task
    {
        TaskSnapshot snapshot;
        QString worker; // empty: none
        QStringList log;
    };

    struct GroupLimits
    {
        QString group;
        int limit = 0; // 0: none
        int running = 0;
        bool paused = false;
        int pending = 0;
    };
    struct Limits
    {
        int max = 0; // 0: none
        bool paused = false;
        QList<GroupLimits> groups;
    };

    struct Worker
    {
        QString name;
        QString host;
        qint64 pid = 0;
        int running = 0;
        int capacity = 0;
        qint64 heartbeatAgeMs = -1;
        bool alive = false;
    };

    ClusterProtocol(RedisClient *client, const QString &ns);

    QByteArray prefix() const { return m_prefix; }
    RedisClient *client() const { return m_client; }

    // In pipelined calls of SubmitBatch tasks (ids of one call are consecutive). With
    // dependencies (SPEC section 4, submit.lua), a --chain of at most SubmitBatch tasks.
    void submit(const QList<TaskSpec> &specs, qint64 keepMs,
                std::function<void(const QList<TaskId> &ids, const QString &error)> done,
                const DependencyOptions &dependencies = {});
    // stacksWanted: someone runs ps --stacks, so the worker should putStacks().
    void heartbeat(
        const Beat &beat,
        std::function<void(const QList<TaskId> &cancels, bool stacksWanted, const QString &error)>
            done);
    // Live stacks of running tasks (id -> TaskJson::stack JSON), kept a few seconds.
    void putStacks(const QList<std::pair<TaskId, QByteArray>> &stacks);
    // Asks workers for live stacks; `fresh` is false when nobody had asked in the last
    // seconds (the caller then waits a heartbeat before reading them).
    void wantStacks(std::function<void(bool fresh, const QString &error)> done);
    void
    stacks(std::function<void(const QHash<TaskId, QByteArray> &stacks, const QString &error)> done);
    void claim(const QString &worker, int freeSlots,
               std::function<void(const QList<Claimed> &tasks, const QString &error)> done);
    // The same, and when it gave fewer than asked the ms until the earliest delayed retry
    // is due (-1: none), so that an idle worker claims again then instead of polling.
    void claimWithDue(
        const QString &worker, int freeSlots,
        std::function<void(const QList<Claimed> &tasks, qint64 nextDueMs, const QString &error)>
            done);
    void complete(const QString &worker, const QList<Ending> &endings,
                  std::function<void(const QList<TaskId> &refused, const QString &error)> done);
    void reap(const QByteArray &token, qint64 periodMs,
              std::function<void(int count, const QString &error)> done);
    // Per id its state after the call: "" unknown, else the task's state name.
    void cancel(const QList<TaskId> &ids,
                std::function<void(const QStringList &states, const QString &error)> done);
    // How reprioritize() moves a pending task: to a priority, or first or last of its group.
    enum class Move { SetPriority, ToTop, ToBottom };
    // A pending task's new priority (priority.lua); refused ("NOTPENDING task N is running",
    // "UNKNOWN no task N") for any other. `priority` counts for Move::SetPriority only.
    void reprioritize(TaskId id, Move move, int priority,
                      std::function<void(int priority, const QString &error)> done);
    // verbs: pairs of "max" N, "group" G=N, "weight" G=N, "pause"/"resume" G or "".
    void limits(const QList<QByteArray> &verbs,
                std::function<void(const Limits &limits, const QString &error)> done);
    // ids empty: every task kept.
    void tasks(const QList<TaskId> &ids,
               std::function<void(const QList<Task> &tasks, const QString &error)> done);
    void workers(std::function<void(const QList<Worker> &workers, const QString &error)> done);

    // A spec as JSON text, source included (base64), and back; nullopt if malformed.
    static QByteArray encodeSpec(const TaskSpec &spec);
    static std::optional<TaskSpec> decodeSpec(const QByteArray &json);
    // A stack as TaskJson::stack wrote it (null for empty or malformed text).
    static std::shared_ptr<const CoroutineStack> decodeStack(const QByteArray &json);

private:
    void run(const RedisScript &script, const QList<QByteArray> &args,
             std::function<void(const RedisReply &reply, const QString &error)> done);

    RedisClient *m_client;
    QByteArray m_prefix;
};
