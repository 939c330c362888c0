#pragma once

#include "taskdependency.h"
#include "taskspec.h"
#include "taskstate.h"

#include <QHash>
#include <QJsonValue>
#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>

struct SyncRegistry; // lua/syncregistry.h

struct StackFrame
{
    QString file;
    int line = 0;
    QString function;
};

// A process of a process task's tree, as /proc showed it when the tree was read.
struct ProcessInfo
{
    qint64 pid = 0;
    QString commandLine;     // its arguments joined by spaces ("sleep 100")
    QString name;            // its name (/proc/PID/comm); empty once exited
    char state = '?';        // as in /proc/PID/stat: R, S, D, Z, T...
    bool exited = false;     // the leader, exited and reaped: what it left is shown
    double cpuSeconds = -1;  // user + system CPU time; -1: not known (an older store)
    qint64 rssBytes = -1;    // resident memory when read; -1: not known (or exited)
    qint64 startedAtMs = -1; // epoch ms
    qint64 runningMs = 0;    // how long it had run when read

    // Its state in words, as stacks show it: "sleeping", "stopped", "exited"...
    QString stateText() const
    {
        if (exited)
            return QStringLiteral("exited");
        switch (state) {
        case 'R':
            return QStringLiteral("running");
        case 'S':
            return QStringLiteral("sleeping");
        case 'D':
            return QStringLiteral("in uninterruptible wait");
        case 'T':
            return QStringLiteral("stopped");
        case 't':
            return QStringLiteral("stopped by a tracer");
        case 'Z':
            return QStringLiteral("exited");
        case 'I':
            return QStringLiteral("idle");
        default:
            return QStringLiteral("in state %1").arg(QLatin1Char(state));
        }
    }
    // "pid 4711 sleep, running 3.2s", or "pid 4711, exited".
    QString summary() const
    {
        if (exited)
            return QStringLiteral("pid %1, exited").arg(pid);
        return QStringLiteral("pid %1 %2, running %3s")
            .arg(pid)
            .arg(name)
            .arg(double(runningMs) / 1000.0, 0, 'f', 1);
    }
};

// One node of a task's stack as it stood when looked at: a coroutine of a Lua task (its
// frames, innermost first, what it was waiting on and since when) or a process of a
// process task. Either has children: the coroutines it spawned, the processes it
// started (a process task's group members whose parent has gone hang under its leader).
struct StackNode
{
    enum class Kind : quint8 { Coroutine, Process };
    Kind kind = Kind::Coroutine;

    // A coroutine
    int id = 0;
    QString name; // as the code names it at its spawn (SPEC section 9): "fetch_page", "main"
    // Identical siblings merged into this node (SPEC section 9): how many, and their ids.
    int count = 1;
    QList<int> mergedIds; // empty unless count > 1
    QList<StackFrame> frames;
    QString awaiting;            // "sleep(5)", empty when not waiting
    qint64 awaitingSinceMs = -1; // epoch ms

    // A process
    ProcessInfo process;

    QList<StackNode> children;

    // The root of a Lua task's stack only (SPEC section 9): its Locks, Semaphores, Queues
    // and Events as they stood, and a deadlock the engine found (`@deadlock warn`).
    std::shared_ptr<const SyncRegistry> resources;
    QString deadlock;

    bool isProcess() const { return kind == Kind::Process; }

    // The node in SPEC section 5's one shape, made for coroutines, that the JSON and the
    // command line's text print: a process is one frame (file: its command line, line: its
    // pid, function: its summary) awaiting "process <state>".
    QList<StackFrame> shownFrames() const
    {
        if (!isProcess())
            return frames;
        return {StackFrame{process.commandLine, int(process.pid), process.summary()}};
    }
    QString shownAwaiting() const
    {
        return isProcess() ? QStringLiteral("process ") + process.stateText() : awaiting;
    }
};

// A task's stack: the node of its main coroutine, or of its leader process, with the
// tree under it. (The name the engine's interfaces have always used for it.)
using CoroutineStack = StackNode;

// An attempt of a task that failed (or timed out) and was retried: what it ended with.
struct TaskAttempt
{
    int attempt = 0;
    qint64 endedAtMs = -1; // epoch ms
    QString error;
    std::shared_ptr<const CoroutineStack> stack;
};

// A value copy of one task's state, made on the engine thread and handed to observers.
struct TaskSnapshot
{
    TaskId id = 0;
    QString name;
    QString file;
    QString group;
    ScriptKind kind = ScriptKind::Lua;
    int priority = 0;
    qint64 sequence = 0; // orders equal priorities in the queue (lower first)
    TaskState state = TaskState::Pending;
    int attempt = 0; // 0 until the first start
    int maxAttempts = 1;
    bool cancelRequested = false;
    double progress = -1; // 0..1, -1 when the task never set it
    QString status;       // progress message
    QJsonValue result;
    QString error;
    std::shared_ptr<const CoroutineStack> stack; // set for tasks that ended unsuccessfully
    std::shared_ptr<const TaskSpec> spec;        // its definition (args, limits); may be null
    QList<TaskAttempt> earlierAttempts;          // the retried ones, first first (this run)
    qint64 submittedAtMs = -1;                   // epoch ms
    qint64 startedAtMs = -1;                     // epoch ms of the first start, -1 if never started
    qint64 finishedAtMs = -1;
    TaskDependencies dependencies; // what it waits (or waited) for, as submitted
    QString worker; // a cluster's task: the worker it runs or ran on (empty: none, local)
};

// The one definition of each count, for the counts bar, the status bar, the tray, the state
// filter and `ps` alike: tasks the engine keeps (those the user cleared are forgotten),
// "failed" with the timed out ones (as the Failed filter), "running" what a dashboard calls
// active, "unfinished" pending + running.
struct EngineCounts
{
    int pending = 0;
    int running = 0;
    int succeeded = 0;
    int failed = 0;
    int timedOut = 0;
    int cancelled = 0;
    int interrupted = 0;

    int active() const { return pending + running; }
    int failedOrTimedOut() const { return failed + timedOut; }
    int total() const { return active() + finished(); }
    int finished() const { return succeeded + failed + timedOut + cancelled + interrupted; }
};

// The limits and paused state the engine schedules by.
struct EngineLimits
{
    int maxRunning = 16;
    bool paused = false;
    QHash<QString, int> groupLimits; // groups with a limit (0 = none is left out)
    QStringList pausedGroups;        // sorted

    bool operator==(const EngineLimits &) const = default;
};

struct LogLines
{
    TaskId id = 0;
    QStringList lines;
};

// One batch of what changed since the previous batch: published at most every
// publish interval, never per task.
struct EngineUpdate
{
    EngineCounts counts;
    QList<TaskSnapshot> changed;
    QList<LogLines> logs;
    // Set in the first batch and in each one after the limits or paused state changed.
    std::optional<EngineLimits> limits;
};

Q_DECLARE_METATYPE(EngineUpdate)
