#pragma once

#include "tasksnapshot.h"

#include <QJsonValue>
#include <QStringList>

#include <memory>

class TimerHeap;
class WorkQueue;

// How one attempt of a task ended, as its runner saw it. The dispatcher maps it to a
// task state (a cancelled or timed-out task is decided by why it was cancelled).
struct RunOutcome
{
    enum Kind { Succeeded, Failed, Cancelled };
    Kind kind = Failed;
    QJsonValue result;
    QString error;
    std::shared_ptr<const CoroutineStack> stack;
    bool givenUp = false; // stuck past its stop: `error` says where (see TaskRun::giveUp)
};

// What a runner reports to the dispatcher. Called on the engine thread only.
class RunObserver
{
public:
    virtual ~RunObserver() = default;
    virtual void runLog(TaskId id, QStringList lines) = 0;
    virtual void runProgress(TaskId id, double fraction, const QString &message) = 0;
    virtual void runFinished(TaskId id, RunOutcome outcome) = 0;
};

// The engine services a runner may use; all of them live on the engine thread.
struct RunServices
{
    TimerHeap &timers;
    WorkQueue &work;
    RunObserver &observer;
};

// One attempt of one task (a Lua coroutine tree, or a process group). Created, driven
// and destroyed on the engine thread; it reports through RunObserver, exactly one
// runFinished() per run, after which the dispatcher deletes it.
class TaskRun
{
public:
    virtual ~TaskRun() = default;
    virtual void start() = 0;
    // Ask the task to stop: an error at its suspension point, or SIGTERM.
    virtual void cancel() = 0;
    // Stop it now, whatever it is doing (after the grace period).
    virtual void stop() = 0;
    // It ignored stop() for another grace period (a thread stuck in a call that never
    // returns): end it now if it can only be left behind (runFinished with givenUp).
    virtual void giveUp() {}
    // Instead of delete once it has finished: a run whose thread was given up stays
    // alive until that thread lets go of it.
    virtual void retire() { delete this; }
    static void retire(std::unique_ptr<TaskRun> run)
    {
        if (run)
            run.release()->retire();
    }
    // Where the task is right now; may be empty while code runs on a worker.
    virtual std::shared_ptr<const CoroutineStack> liveStack() const = 0;
    // Called every 50 ms while the run is alive, so a run can look in on code that has
    // been running a while (a Lua slice that never yields).
    virtual void poke() {}
};
