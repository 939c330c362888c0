#include "dependencygraph.h"

#include "tasktablemodel.h"

#include <QHash>

#include <deque>

namespace DependencyGraph {

QSet<TaskId> waitedFor(const TaskTableModel &model, TaskId id)
{
    QSet<TaskId> ids;
    const int row = model.rowOf(id);
    if (row < 0)
        return ids;
    for (const TaskDependency &d : model.row(row).after)
        if (model.rowOf(d.id) >= 0)
            ids.insert(d.id);
    return ids;
}

QSet<TaskId> waiting(const TaskTableModel &model, TaskId id)
{
    QSet<TaskId> ids;
    for (int r = 0; r < model.rowCount(); ++r) {
        const TaskTableModel::Row &row = model.row(r);
        for (const TaskDependency &d : row.after)
            if (d.id == id)
                ids.insert(row.id);
    }
    return ids;
}

QSet<TaskId> cancelledWith(const TaskTableModel &model, const QList<TaskId> &ids)
{
    // Who waits for whom to succeed, among unfinished tasks.
    QHash<TaskId, QList<TaskId>> dependents;
    for (int r = 0; r < model.rowCount(); ++r) {
        const TaskTableModel::Row &row = model.row(r);
        if (row.after.isEmpty() || isFinished(row.state))
            continue;
        for (const TaskDependency &d : row.after)
            if (!d.anyEnd)
                dependents[d.id].append(row.id);
    }
    QSet<TaskId> cancelled;
    if (dependents.isEmpty())
        return cancelled;
    const QSet<TaskId> asked(ids.begin(), ids.end());
    std::deque<TaskId> next(ids.begin(), ids.end());
    while (!next.empty()) {
        const TaskId id = next.front();
        next.pop_front();
        for (TaskId dependent : dependents.value(id)) {
            if (asked.contains(dependent) || cancelled.contains(dependent))
                continue;
            cancelled.insert(dependent);
            next.push_back(dependent);
        }
    }
    return cancelled;
}

} // namespace DependencyGraph
