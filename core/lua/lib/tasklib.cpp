#include "luaapi_p.h"

#include "../luatask.h"

#include <QByteArray>
#include <QString>

#include <lua.hpp>

#include <algorithm>
#include <cmath>

// The task library: the globals about the task itself (log, print, progress, task.*)
// and the classification of the errors the engine raises (is_cancelled, is_timeout).

using namespace LuaApi;

namespace {

QString joinArgs(lua_State *L, const char *separator)
{
    const int n = lua_gettop(L);
    QByteArray line;
    for (int i = 1; i <= n; ++i) {
        size_t len = 0;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1)
            line += separator;
        line.append(s, qsizetype(len));
        lua_pop(L, 1);
    }
    return QString::fromUtf8(line);
}

} // namespace

int LuaTask::l_log(lua_State *L)
{
    LuaTask *t = runningTask(L, "log");
    t->appendLog(joinArgs(L, " "));
    return 0;
}

int LuaTask::l_print(lua_State *L)
{
    LuaTask *t = runningTask(L, "print");
    t->appendLog(joinArgs(L, "\t"));
    return 0;
}

int LuaTask::l_progress(lua_State *L)
{
    const double fraction = luaL_checknumber(L, 1);
    if (std::isnan(fraction))
        return luaL_argerror(L, 1, "not a number");
    size_t len = 0;
    const char *message = luaL_optlstring(L, 2, "", &len);
    LuaTask *t = runningTask(L, "progress");
    t->m_out.progressSet = true;
    t->m_out.progress = std::clamp(fraction, 0.0, 1.0);
    t->m_out.status = QString::fromUtf8(message, qsizetype(len));
    return 0;
}

int LuaTask::l_isCancelled(lua_State *L)
{
    lua_pushboolean(L, isMarker(L, 1, &CancelledKey) || isMarker(L, 1, &StoppedKey));
    return 1;
}

int LuaTask::l_isTimeout(lua_State *L)
{
    lua_pushboolean(L, isMarker(L, 1, &TimeoutKey));
    return 1;
}

int LuaTask::l_taskIndex(lua_State *L)
{
    Coroutine *c = context(L);
    LuaTask *t = c ? c->task : nullptr;
    const char *key = lua_tostring(L, 2);
    if (!t || !key)
        return 0;
    if (qstrcmp(key, "id") == 0) {
        lua_pushinteger(L, lua_Integer(t->m_id));
    } else if (qstrcmp(key, "name") == 0) {
        const QByteArray name = t->m_spec->name.toUtf8();
        lua_pushlstring(L, name.constData(), size_t(name.size()));
    } else if (qstrcmp(key, "attempt") == 0) {
        lua_pushinteger(L, t->m_attempt);
    } else if (qstrcmp(key, "args") == 0) {
        if (t->m_argsRef == LUA_NOREF) {
            lua_createtable(L, 0, int(t->m_spec->args.size()));
            for (const auto &[name, value] : t->m_spec->args) {
                const QByteArray v = value.toUtf8();
                lua_pushlstring(L, v.constData(), size_t(v.size()));
                lua_setfield(L, -2, name.toUtf8().constData());
            }
            lua_pushvalue(L, -1);
            t->m_argsRef = luaL_ref(L, LUA_REGISTRYINDEX);
            return 1;
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, t->m_argsRef);
    } else {
        return 0;
    }
    return 1;
}

void LuaTask::openTaskLib(lua_State *L, int)
{
    const luaL_Reg globals[] = {
        {"log", &LuaTask::l_log},
        {"print", &LuaTask::l_print},
        {"progress", &LuaTask::l_progress},
        {"is_cancelled", &LuaTask::l_isCancelled},
        {"is_timeout", &LuaTask::l_isTimeout},
        {nullptr, nullptr},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, globals, 0);

    // `task`: one read-only proxy per host answering for the task that runs, so a task
    // costs no table until it reads task.args (a userdata: rawset cannot reach it).
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "task");
    lua_setfield(L, -2, "__metatable");
    lua_pushcfunction(L, &LuaTask::l_taskIndex);
    lua_setfield(L, -2, "__index");
    setRefused(L, -1, "__newindex", "task is read-only");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "task");
    lua_pop(L, 1);
}
