#pragma once

#include <QString>

// The life of a task, as SPEC section 4 names it. A task waiting out a retry delay is
// Pending. Interrupted is for a task that was running when Taskdeck itself stopped.
enum class TaskState : quint8 {
    Pending,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Interrupted,
};

inline bool isFinished(TaskState state)
{
    return state != TaskState::Pending && state != TaskState::Running;
}

// The name used in JSON output and on the command line ("timed_out", ...).
QString taskStateName(TaskState state);
