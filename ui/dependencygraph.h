#pragma once

#include "taskdependency.h"

#include <QList>
#include <QSet>

class TaskTableModel;

// What the task table knows of dependencies between its tasks (each row's "after"),
// for the dashboard: which rows to highlight for the current task and how many tasks a
// cancel takes with it. Each call walks the rows once (O(n)). Main thread.
namespace DependencyGraph {

// The tasks `id` waits for (or waited for) that the table shows.
QSet<TaskId> waitedFor(const TaskTableModel &model, TaskId id);
// The tasks that wait (or waited) for `id`.
QSet<TaskId> waiting(const TaskTableModel &model, TaskId id);
// The unfinished tasks, not among `ids`, that cancelling `ids` cancels too: those waiting
// for them to succeed (--after), and those waiting for those, down the chain.
QSet<TaskId> cancelledWith(const TaskTableModel &model, const QList<TaskId> &ids);

} // namespace DependencyGraph
