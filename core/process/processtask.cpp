#include "processtask.h"

#include <QTimer>

ProcessTask::ProcessTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int,
                         const RunServices &services)
    : m_id(id)
    , m_spec(std::move(spec))
    , m_services(services)
{}

void ProcessTask::start()
{
    RunOutcome outcome;
    outcome.error = QStringLiteral("process tasks are not supported in this build yet");
    m_services.observer.runFinished(m_id, outcome);
}
