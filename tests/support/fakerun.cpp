#include "fakerun.h"

#include <QMutexLocker>
#include <QObject>

// One attempt: lives on the engine thread, as every TaskRun.
class FakeRun final : public TaskRun
{
public:
    FakeRun(FakeRunFactory &factory, TaskId id, int attempt, RunObserver &observer)
        : m_factory(factory)
        , m_id(id)
        , m_attempt(attempt)
        , m_observer(observer)
    {
    }
    ~FakeRun() override { unregister(); }

    void start() override
    {
        QMutexLocker lock(&m_factory.m_mutex);
        m_factory.m_live.insert(m_id, this);
        m_factory.m_started.append(m_id);
        record(QStringLiteral("start"));
    }
    void cancel() override
    {
        QMutexLocker lock(&m_factory.m_mutex);
        record(QStringLiteral("cancel"));
        if (!m_factory.m_ignoreCancel.contains(m_id))
            endLater(RunOutcome{RunOutcome::Cancelled, {}, QStringLiteral("cancelled"), {}});
    }
    void stop() override
    {
        QMutexLocker lock(&m_factory.m_mutex);
        record(QStringLiteral("stop"));
        endLater(RunOutcome{RunOutcome::Cancelled, {}, QStringLiteral("stopped"), {}});
    }
    void giveUp() override
    {
        QMutexLocker lock(&m_factory.m_mutex);
        record(QStringLiteral("giveUp"));
    }
    std::shared_ptr<const CoroutineStack> liveStack() const override { return {}; }

    // Ends the run on the engine thread, never inside a call from the dispatcher (as the
    // real runs do). Dropped if the run is deleted first. Called under the factory's mutex.
    void endLater(RunOutcome outcome)
    {
        QMetaObject::invokeMethod(
            &m_context, [this, outcome] { end(outcome); }, Qt::QueuedConnection);
    }

private:
    void record(const QString &call)
    {
        m_factory.m_calls[m_id].append(call + u' ' + QString::number(m_attempt));
    }
    void unregister()
    {
        QMutexLocker lock(&m_factory.m_mutex);
        if (m_factory.m_live.value(m_id) == this)
            m_factory.m_live.remove(m_id);
    }
    void end(const RunOutcome &outcome)
    {
        if (m_ended)
            return;
        m_ended = true;
        unregister();
        m_observer.runFinished(m_id, outcome);
    }

    FakeRunFactory &m_factory;
    const TaskId m_id;
    const int m_attempt;
    RunObserver &m_observer;
    bool m_ended = false;
    QObject m_context; // made on the engine thread: queued calls run there
};

std::unique_ptr<TaskRun> FakeRunFactory::create(TaskId id, std::shared_ptr<const TaskSpec>,
                                                int attempt, const RunServices &services)
{
    return std::make_unique<FakeRun>(*this, id, attempt, services.observer);
}

bool FakeRunFactory::finish(TaskId id, bool succeeded, const QString &error)
{
    QMutexLocker lock(&m_mutex);
    FakeRun *run = m_live.value(id);
    if (!run)
        return false;
    run->endLater(succeeded ? RunOutcome{RunOutcome::Succeeded, {}, {}, {}}
                            : RunOutcome{RunOutcome::Failed, {}, error, {}});
    return true;
}

bool FakeRunFactory::succeed(TaskId id)
{
    return finish(id, true, {});
}

bool FakeRunFactory::fail(TaskId id, const QString &error)
{
    return finish(id, false, error);
}

void FakeRunFactory::ignoreCancel(TaskId id)
{
    QMutexLocker lock(&m_mutex);
    m_ignoreCancel.insert(id);
}

QList<TaskId> FakeRunFactory::started() const
{
    QMutexLocker lock(&m_mutex);
    return m_started;
}

QStringList FakeRunFactory::calls(TaskId id) const
{
    QMutexLocker lock(&m_mutex);
    return m_calls.value(id);
}
