#pragma once

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

struct StackFrame
{
    QString file;
    int line = 0;
    QString function;
};

// One coroutine of a task as it stood when looked at: its frames (innermost first),
// what it was waiting on and since when, and the coroutines it spawned.
struct CoroutineStack
{
    int id = 0;
    QList<StackFrame> frames;
    QString awaiting;            // "sleep(5)", empty when not waiting
    qint64 awaitingSinceMs = -1; // epoch ms
    QList<CoroutineStack> children;
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
    qint64 sequence = 0;         // orders equal priorities in the queue (lower first)
    TaskState state = TaskState::Pending;
    int attempt = 0;             // 0 until the first start
    int maxAttempts = 1;
    bool cancelRequested = false;
    double progress = -1;        // 0..1, -1 when the task never set it
    QString status;              // progress message
    QJsonValue result;
    QString error;
    std::shared_ptr<const CoroutineStack> stack; // set for tasks that ended unsuccessfully
    qint64 submittedAtMs = -1;   // epoch ms
    qint64 startedAtMs = -1;     // epoch ms of the first start, -1 if never started
    qint64 finishedAtMs = -1;
};

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
