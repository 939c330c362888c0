#include "luaapi_p.h"

#include "../luatask.h"

#include <lua.hpp>

// The synchronisation library: what Queue, Lock, Semaphore and Event are built on. The
// four are written in Lua, in prelude.lua (FIFOs of waiters, as asyncio's); a waiter
// parks itself with suspend and is handed its turn with wake. These three are the
// prelude's only: no task sees them.

using namespace LuaApi;

// __suspend(kind [, timeout]): waits until __wake(handle) or a cancellation.
int LuaTask::l_suspend(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    Coroutine *co = waitingCoroutine(L, kind);
    return suspend(L, co, kind, 0, -2, &suspendDone);
}

int LuaTask::suspendDone(lua_State *L, int, intptr_t)
{
    if (resumed(L) < 0)
        return raiseCancel(L, context(L));
    return 0;
}

int LuaTask::l_wake(lua_State *L)
{
    Coroutine *co = checkHandle(L, 1);
    if (!co->dead && co->suspended && co->task)
        co->task->makeReady(co);
    return 0;
}

int LuaTask::l_current(lua_State *L)
{
    Coroutine *co = waitingCoroutine(L, "current");
    lua_rawgeti(L, LUA_REGISTRYINDEX, co->ref);
    return 1;
}

void LuaTask::openSyncLib(lua_State *L, int engine)
{
    const luaL_Reg primitives[] = {
        {"suspend", &LuaTask::l_suspend}, {"wake", &LuaTask::l_wake},
        {"current", &LuaTask::l_current}, {"track", &LuaTask::l_track},
        {"now_ms", &LuaTask::l_nowMs},    {nullptr, nullptr},
    };
    lua_pushvalue(L, engine);
    luaL_setfuncs(L, primitives, 0);
    lua_pop(L, 1);
}
