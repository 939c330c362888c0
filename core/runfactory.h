#pragma once

#include "taskrun.h"
#include "taskspec.h"

#include <map>
#include <memory>

// Makes the runs of one kind of task (Lua, a process, a test's fake). The dispatcher
// knows only this and TaskRun. Used on the engine thread only.
class RunFactory
{
public:
    virtual ~RunFactory() = default;
    // One attempt of task `id`; the dispatcher starts it.
    virtual std::unique_ptr<TaskRun> create(TaskId id, std::shared_ptr<const TaskSpec> spec,
                                            int attempt, const RunServices &services) = 0;
};

// Hands each spec to the factory registered for its script kind (the engine's default).
class RunFactoryByKind final : public RunFactory
{
public:
    void add(ScriptKind kind, std::unique_ptr<RunFactory> factory)
    {
        m_factories[kind] = std::move(factory);
    }
    std::unique_ptr<TaskRun> create(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                                    const RunServices &services) override
    {
        const ScriptKind kind = spec->kind;
        return m_factories.at(kind)->create(id, std::move(spec), attempt, services);
    }

private:
    std::map<ScriptKind, std::unique_ptr<RunFactory>> m_factories;
};
