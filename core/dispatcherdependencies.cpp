// Dispatcher: dependencies between tasks (SPEC section 4). A task with dependencies
// carries Links: what it waits for and how many of those have not ended as they must;
// it stays pending, out of the queue, until that count is 0. A task others wait for
// lists them, and releases or cancels them when it ends. Tasks without either carry no
// Links, so that the rest of the dispatcher pays one null check for them. Engine thread.
#include "dispatcher.h"

#include <QDateTime>
#include <QHash>

#include <algorithm>

#include <utility>

namespace {

// Whether a dependency that ended in `state` is met (a task interrupted by a stop of
// Taskdeck has not ended for its dependents: they wait for it, or for its re-run).
bool met(TaskState state, bool anyEnd)
{
    return state == TaskState::Succeeded ||
           (anyEnd && isFinished(state) && state != TaskState::Interrupted);
}

bool ended(TaskState state)
{
    return isFinished(state) && state != TaskState::Interrupted;
}

} // namespace

Dispatcher::Links &Dispatcher::linksOf(Task &task)
{
    if (!task.links)
        task.links = std::make_unique<Links>();
    return *task.links;
}

// Adds `dependencies` to what `task` waits for (each id once; a plain one wins over an
// any-end one). Returns the first that ended so that `task` can never run (the caller
// cancels it), else nullopt. With `unknownMet`, a dependency the engine does not know
// counts as met (restore: it left the history); else the caller checked they exist.
std::optional<TaskDependency> Dispatcher::link(Task &task, const TaskDependencies &dependencies,
                                               bool unknownMet)
{
    Links &links = linksOf(task);
    std::optional<TaskDependency> failed;
    for (const TaskDependency &dependency : dependencies) {
        auto same = std::find_if(links.after.begin(), links.after.end(),
                                 [&](const TaskDependency &d) { return d.id == dependency.id; });
        if (same != links.after.end()) {
            same->anyEnd = same->anyEnd && dependency.anyEnd;
            continue;
        }
        links.after.append(dependency);
        Task *on = find(dependency.id);
        if (!on) {
            Q_ASSERT(unknownMet);
            continue;
        }
        if (ended(on->state)) {
            if (!met(on->state, dependency.anyEnd) && !failed)
                failed = dependency;
            continue;
        }
        ++links.unmet;
        linksOf(*on).dependents.push_back(task.id);
    }
    return failed;
}

void Dispatcher::cancelForDependency(Task &task, TaskId dependency, TaskState state)
{
    m_queue.remove(task.id);
    m_timers.cancel(std::exchange(task.retryTimer, 0));
    task.waitingRetry = false;
    task.error = QStringLiteral("dependency #%1 %2").arg(dependency).arg(taskStateName(state));
    finishTask(task, TaskState::Cancelled);
}

// `id` ended: its dependents start competing for a slot once nothing else holds them,
// or are cancelled when it did not end as they needed (and theirs after them, and so
// on down the chain: iteratively, since a chain may be 10,000 tasks long).
void Dispatcher::releaseDependents(TaskId id)
{
    m_ended.push_back(id);
    if (m_releasing)
        return;
    m_releasing = true;
    while (!m_ended.empty()) {
        Task *on = find(m_ended.front());
        m_ended.pop_front();
        if (!on || !on->links || on->state == TaskState::Interrupted)
            continue;
        const std::vector<TaskId> dependents = std::exchange(on->links->dependents, {});
        for (TaskId dependentId : dependents) {
            Task *task = find(dependentId);
            if (!task || task->state != TaskState::Pending || !task->links)
                continue;
            const TaskDependencies &after = task->links->after;
            auto it = std::find_if(after.begin(), after.end(),
                                   [&](const TaskDependency &d) { return d.id == on->id; });
            if (it == after.end())
                continue;
            if (!met(on->state, it->anyEnd)) {
                cancelForDependency(*task, on->id, on->state);
                continue;
            }
            if (--task->links->unmet == 0 && !task->waitingRetry)
                m_queue.push(task->id, task->spec->group, task->priority, task->sequence);
            markDirty(*task);
        }
    }
    m_releasing = false;
}

// A re-run of the interrupted task `from` takes its place for the tasks waiting for it.
void Dispatcher::adoptDependents(Task &from, Task &to)
{
    QList<TaskId> changed;
    QList<TaskDependencies> changedTo;
    for (TaskId dependentId : std::exchange(from.links->dependents, {})) {
        Task *task = find(dependentId);
        if (!task || task->state != TaskState::Pending || !task->links)
            continue;
        for (TaskDependency &d : task->links->after)
            if (d.id == from.id)
                d.id = to.id;
        linksOf(to).dependents.push_back(task->id);
        changed.append(task->id);
        changedTo.append(task->links->after);
        markDirty(*task);
    }
    if (m_journal && !changed.isEmpty())
        m_journal->dependenciesSet(changed, changedTo);
}

// An interrupted task the user cleared will not come back: what waited for it is
// cancelled, naming it.
void Dispatcher::forgetDependency(Task &task)
{
    for (TaskId dependentId : std::exchange(task.links->dependents, {}))
        if (Task *dependent = find(dependentId);
            dependent && dependent->state == TaskState::Pending)
            cancelForDependency(*dependent, task.id, task.state);
}

QString Dispatcher::submit(const QList<TaskId> &ids,
                           const QList<std::shared_ptr<const TaskSpec>> &specs,
                           const DependencyOptions &dependencies)
{
    if (dependencies.isEmpty()) {
        submit(ids, specs);
        return {};
    }
    if (m_shuttingDown)
        return QStringLiteral("Taskdeck is stopping");
    for (const QList<TaskId> *list : {&dependencies.after, &dependencies.afterEnded}) {
        for (TaskId id : *list) {
            if (ids.contains(id))
                return QStringLiteral("dependency #%1 would make a cycle: it is one of the "
                                      "tasks submitted")
                    .arg(id);
            if (!find(id))
                return QStringLiteral("dependency #%1: no such task").arg(id);
        }
    }
    m_tasks.reserve(m_tasks.size() + size_t(ids.size()));
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const qint64 firstSequence = m_queue.upcomingSequence();
    QList<TaskDependencies> each;
    each.reserve(ids.size());
    for (qsizetype i = 0; i < ids.size(); ++i) {
        Task &task = addTask(ids[i], specs[i]);
        task.submittedAtMs = now;
        ++m_counts.pending;
        each.append(dependencies.forTask(ids, i));
        if (const auto failed = link(task, each.back(), false))
            cancelForDependency(task, failed->id, find(failed->id)->state);
        else if (!isBlocked(task))
            m_queue.push(task.id, task.spec->group, task.priority, task.sequence);
        markDirty(task);
    }
    if (m_journal)
        m_journal->submittedWithDependencies(ids, specs, firstSequence, each);
    schedule();
    return {};
}

// Why making a task of `ids` wait for `dependency` would make a cycle ("#6 waits for
// #7, #7 waits for #5"), or empty when it would not. Only unfinished tasks wait.
QString Dispatcher::cycleThrough(TaskId dependency, const QList<TaskId> &ids) const
{
    QHash<TaskId, TaskId> reachedFrom{{dependency, 0}};
    std::deque<TaskId> next{dependency};
    while (!next.empty()) {
        const TaskId id = next.front();
        next.pop_front();
        const Task *task = find(id);
        if (!task || !task->links || isFinished(task->state))
            continue;
        for (const TaskDependency &d : task->links->after) {
            if (reachedFrom.contains(d.id))
                continue;
            reachedFrom.insert(d.id, id);
            if (!ids.contains(d.id)) {
                next.push_back(d.id);
                continue;
            }
            QStringList steps;
            for (TaskId at = d.id; reachedFrom.value(at) != 0; at = reachedFrom.value(at))
                steps.prepend(
                    QStringLiteral("#%1 waits for #%2").arg(reachedFrom.value(at)).arg(at));
            return steps.join(QStringLiteral(", "));
        }
    }
    return {};
}

QString Dispatcher::addDependencies(const QList<TaskId> &ids, const TaskDependencies &dependencies)
{
    for (TaskId id : ids) {
        const Task *task = find(id);
        if (!task)
            return QStringLiteral("#%1: no such task").arg(id);
        if (task->state != TaskState::Pending)
            return QStringLiteral("#%1 is %2: only a pending task can wait for another")
                .arg(id)
                .arg(taskStateName(task->state));
    }
    for (const TaskDependency &d : dependencies) {
        if (ids.contains(d.id))
            return QStringLiteral("dependency #%1 would make a cycle: a task cannot wait for "
                                  "itself")
                .arg(d.id);
        if (!find(d.id))
            return QStringLiteral("dependency #%1: no such task").arg(d.id);
        if (const QString cycle = cycleThrough(d.id, ids); !cycle.isEmpty())
            return QStringLiteral("dependency #%1 would make a cycle: %2").arg(d.id).arg(cycle);
    }
    QList<TaskDependencies> each;
    for (TaskId id : ids) {
        Task &task = *find(id);
        const auto failed = link(task, dependencies, false);
        each.append(task.links->after);
        if (failed) {
            cancelForDependency(task, failed->id, find(failed->id)->state);
            continue;
        }
        if (isBlocked(task))
            m_queue.remove(task.id);
        markDirty(task);
    }
    if (m_journal)
        m_journal->dependenciesSet(ids, each);
    schedule();
    return {};
}

// "waiting for #12 (running)", for each dependency not met yet (the first three).
QString Dispatcher::dependencyWaitReason(const Task &task) const
{
    QStringList waits;
    int more = 0;
    for (const TaskDependency &d : task.links->after) {
        const Task *on = find(d.id);
        if (!on || ended(on->state))
            continue;
        if (waits.size() == 3) {
            ++more;
            continue;
        }
        waits.append(QStringLiteral("#%1 (%2)").arg(d.id).arg(taskStateName(on->state)));
    }
    QString reason = QStringLiteral("waiting for ") + waits.join(QStringLiteral(", "));
    if (more > 0)
        reason += QStringLiteral(" and %1 more").arg(more);
    return reason;
}
