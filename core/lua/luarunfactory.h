#pragma once

#include "runfactory.h"

class LuaHostPool;

// Makes LuaTask runs: owns the pool of Lua hosts they share and the memory cap of tasks
// without @memory. Used on the engine thread (the pool itself is thread-safe).
class LuaRunFactory final : public RunFactory
{
public:
    explicit LuaRunFactory(qint64 defaultMemoryLimit);
    ~LuaRunFactory() override;

    std::unique_ptr<TaskRun> create(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                                    const RunServices &services) override;

private:
    std::unique_ptr<LuaHostPool> m_hosts;
    qint64 m_defaultMemoryLimit;
};
