#include "luarunfactory.h"

#include "luahost.h"
#include "luatask.h"

LuaRunFactory::LuaRunFactory(qint64 defaultMemoryLimit)
    : m_hosts(std::make_unique<LuaHostPool>())
    , m_defaultMemoryLimit(defaultMemoryLimit)
{
}

LuaRunFactory::~LuaRunFactory() = default;

std::unique_ptr<TaskRun> LuaRunFactory::create(TaskId id, std::shared_ptr<const TaskSpec> spec,
                                               int attempt, const RunServices &services)
{
    return std::make_unique<LuaTask>(id, std::move(spec), attempt, services, *m_hosts,
                                     m_defaultMemoryLimit);
}
