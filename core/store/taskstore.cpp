#include "taskstore.h"

#include "taskstorewriter.h"

#include <QStandardPaths>

QString TaskStore::defaultDataDir()
{
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
}

TaskStore::TaskStore() = default;

TaskStore::~TaskStore() = default;

TaskStore::OpenResult TaskStore::open(const QString &dataDir)
{
    m_writer.reset();
    auto writer = std::make_unique<Writer>();
    const OpenResult result = writer->open(dataDir);
    m_path = writer->path();
    if (result.status != OpenStatus::Failed)
        m_writer = std::move(writer);
    return result;
}

bool TaskStore::isOpen() const
{
    return m_writer != nullptr;
}

QString TaskStore::path() const
{
    return m_path;
}

TaskStore::Recovery TaskStore::recover(int historyLimit)
{
    return m_writer ? m_writer->recover(historyLimit) : Recovery();
}

bool TaskStore::sync(QString *problem)
{
    return !m_writer || m_writer->sync(problem);
}

QString TaskStore::writeProblem() const
{
    return m_writer ? m_writer->writeProblem() : QString();
}

void TaskStore::forget(const QList<TaskId> &ids)
{
    if (m_writer && !ids.isEmpty())
        m_writer->forget(ids);
}

void TaskStore::submitted(const QList<TaskId> &ids,
                          const QList<std::shared_ptr<const TaskSpec>> &specs, qint64 firstSequence)
{
    if (m_writer)
        m_writer->submitted(ids, specs, firstSequence);
}

void TaskStore::published(const EngineUpdate &update)
{
    if (m_writer)
        m_writer->published(update);
}

void TaskStore::submittedWithDependencies(const QList<TaskId> &ids,
                                          const QList<std::shared_ptr<const TaskSpec>> &specs,
                                          qint64 firstSequence,
                                          const QList<TaskDependencies> &dependencies)
{
    if (m_writer)
        m_writer->submittedWithDependencies(ids, specs, firstSequence, dependencies);
}

void TaskStore::dependenciesSet(const QList<TaskId> &ids,
                                const QList<TaskDependencies> &dependencies)
{
    if (m_writer)
        m_writer->dependenciesSet(ids, dependencies);
}

void TaskStore::sampled(const QList<StackSample> &stacks)
{
    if (m_writer)
        m_writer->sampled(stacks);
}
