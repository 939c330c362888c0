#include "taskstore.h"

#include "engine.h"
#include "taskstorewriter.h"

#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

QString TaskStore::defaultDataDir()
{
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
}

bool TaskStore::makeDataDir(const QString &dir)
{
    const QString clean = QDir::cleanPath(QDir(dir).absolutePath());
    if (QFileInfo(clean).isDir())
        return true;
    const QFileInfo info(clean);
    if (!QDir().mkpath(info.absolutePath()))
        return false;
    return QDir(info.absolutePath())
               .mkdir(info.fileName(),
                      QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner) ||
           QFileInfo(clean).isDir();
}

TaskStore::TaskStore() = default;

TaskStore::~TaskStore()
{
    // Still attached means the engine is alive (detach() comes before its end): it must
    // not tell a store that is gone.
    if (m_engine)
        m_engine->setJournal(nullptr);
    detach();
    m_writer.reset();
}

TaskStore::OpenResult TaskStore::open(const QString &dataDir)
{
    detach();
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

void TaskStore::attach(Engine *engine)
{
    if (!m_writer || !engine)
        return;
    detach();
    m_engine = engine;
    engine->setJournal(this);
    m_writer->setEngine(engine);
}

void TaskStore::detach()
{
    if (m_writer)
        m_writer->setEngine(nullptr);
    m_engine = nullptr;
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
