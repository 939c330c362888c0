#include "tasksource.h"

void TaskSource::submit(const QList<TaskSpec> &specs)
{
    QList<std::pair<TaskSpec, int>> each;
    each.reserve(specs.size());
    for (const TaskSpec &spec : specs)
        each.append({spec, 1});
    submit(each);
}

void TaskSource::watch(TaskId id)
{
    ++m_watched[id];
    watchStarted(id); // each watcher gets a report with the whole log
}

void TaskSource::unwatch(TaskId id)
{
    auto it = m_watched.find(id);
    if (it == m_watched.end())
        return;
    if (--it.value() > 0)
        return;
    m_watched.erase(it);
    watchEnded(id);
}

void TaskSource::deliver(const TaskSourceBatch &batch)
{
    m_counts = batch.update.counts;
    if (batch.update.limits)
        m_limits = *batch.update.limits;
    m_status = batch.status;
    Q_EMIT this->batch(batch);
}
