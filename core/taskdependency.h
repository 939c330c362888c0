#pragma once

#include "taskspec.h"

#include <QList>
#include <QString>

#include <optional>

// One task another waits for (SPEC section 4): until it succeeded, or, with anyEnd
// (`--after-ended`), until it ended whatever its state.
struct TaskDependency
{
    TaskId id = 0;
    bool anyEnd = false;
    bool operator==(const TaskDependency &) const = default;
};
using TaskDependencies = QList<TaskDependency>;

// What one submission waits for: `--after ID,...`, `--after-ended ID,...` and `--chain`
// (each task after the previous one of the same submission). A value type.
struct DependencyOptions
{
    QList<TaskId> after;
    QList<TaskId> afterEnded;
    bool chain = false;

    bool isEmpty() const { return after.isEmpty() && afterEnded.isEmpty() && !chain; }
    // The dependencies of the task at `index` of a submission whose ids are `ids`: the
    // first (or, without --chain, every) task gets --after and --after-ended, a chained
    // one the previous task.
    TaskDependencies forTask(const QList<TaskId> &ids, qsizetype index) const;
    bool operator==(const DependencyOptions &) const = default;
};

namespace TaskDependencyText {

// "12,13,#14" as ids (a leading '#' allowed); nullopt when it is not such a list.
std::optional<QList<TaskId>> parseIds(const QString &text);
// A task's dependencies as the store keeps them, [[12, 0], [13, 1]] (1: any end).
QString encode(const TaskDependencies &dependencies);
TaskDependencies decode(const QString &text);

} // namespace TaskDependencyText
