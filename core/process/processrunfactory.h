#pragma once

#include "processtask.h"
#include "runfactory.h"

// Makes ProcessTask runs (a script run as a process group). Engine thread only.
class ProcessRunFactory final : public RunFactory
{
public:
    std::unique_ptr<TaskRun> create(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                                    const RunServices &services) override
    {
        return std::make_unique<ProcessTask>(id, std::move(spec), attempt, services);
    }
};
