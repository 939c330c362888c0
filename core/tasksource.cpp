#include "tasksource.h"

void TaskSource::submit(const QList<TaskSpec> &specs)
{
    QList<std::pair<TaskSpec, int>> each;
    each.reserve(specs.size());
    for (const TaskSpec &spec : specs)
        each.append({spec, 1});
    submit(each);
}

void TaskSource::submitAfter(const QList<std::pair<TaskSpec, int>> &specsAndCopies,
                             const DependencyOptions &dependencies, QObject *context, Answered done)
{
    if (!dependencies.isEmpty()) {
        if (done)
            done({}, QStringLiteral("this task source does not take dependencies"));
        return;
    }
    submit(specsAndCopies, context, [done](const QList<TaskId> &ids) {
        if (done)
            done(ids, QString());
    });
}

void TaskSource::addDependencies(const QList<TaskId> &, const TaskDependencies &, QObject *,
                                 std::function<void(const QString &)> done)
{
    if (done)
        done(QStringLiteral("this task source does not take dependencies"));
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
