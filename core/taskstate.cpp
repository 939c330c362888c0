#include "taskstate.h"

QString taskStateName(TaskState state)
{
    switch (state) {
    case TaskState::Pending:
        return QStringLiteral("pending");
    case TaskState::Running:
        return QStringLiteral("running");
    case TaskState::Succeeded:
        return QStringLiteral("succeeded");
    case TaskState::Failed:
        return QStringLiteral("failed");
    case TaskState::TimedOut:
        return QStringLiteral("timed_out");
    case TaskState::Cancelled:
        return QStringLiteral("cancelled");
    case TaskState::Interrupted:
        return QStringLiteral("interrupted");
    }
    return {};
}
