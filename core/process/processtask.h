#pragma once

#include "../taskrun.h"

// One attempt of a process task (SPEC section 3). Engine thread.
class ProcessTask final : public TaskRun
{
public:
    ProcessTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                const RunServices &services);
    void start() override;
    void cancel() override {}
    void stop() override {}
    std::shared_ptr<const CoroutineStack> liveStack() const override { return {}; }

private:
    TaskId m_id;
    std::shared_ptr<const TaskSpec> m_spec;
    RunServices m_services;
};
