#include "luaapi_p.h"

#include "../luatask.h"

#include <lua.hpp>

// gather's bookkeeping in C (issue 15): once the wait is over, one call reads every
// handle's outcome instead of three method calls a handle in the prelude (done, outcome,
// cancelled: 300,000 calls for spawn-trivial's 100,000 children). For the prelude only.

using namespace LuaApi;

namespace {

// The first value a finished `co` (its handle at `handle`) returned, or its error, pushed.
void pushOutcome(lua_State *L, int handle, Coroutine *co)
{
    if (co->failed && co->task)
        co->task->retrieved(co); // its error is read: not lost (SPEC section 9)
    if (!co->L) {
        if (co->failed || co->results > 0)
            pushEnded(L, handle, co, co->failed, true);
        else
            lua_pushnil(L);
    } else if (co->failed || co->results > 0) {
        const int at = co->failed ? lua_gettop(co->L) : lua_gettop(co->L) - co->results + 1;
        lua_pushvalue(co->L, at);
        lua_xmove(co->L, L, 1);
    } else {
        lua_pushnil(L);
    }
    if (co->failed && lua_isnil(L, -1)) { // cancelled before it ran
        lua_pop(L, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &CancelledKey);
    }
}

// __gathered(list) -> true, results | false, error, cancel_the_rest
// As gather decides once its wait is over: the results in order; else the first failure
// that is not a cancellation (the rest are to be cancelled); else the first cancellation.
int l_gathered(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const lua_Integer n = luaL_len(L, 1);
    lua_createtable(L, int(qMin<lua_Integer>(n, 1 << 24)), 0); // 2: results
    int failure = 0;   // stack index of the first failure's error
    int cancelled = 0; // of the first cancellation's
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, 1, i);
        const int handle = lua_gettop(L);
        Coroutine *co = toHandle(L, handle);
        if (!co || !co->dead) {
            lua_pop(L, 1);
            continue;
        }
        if (!co->failed) {
            pushOutcome(L, handle, co);
            lua_rawseti(L, 2, i);
            lua_pop(L, 1);
        } else if (!co->cancelled && !failure) {
            pushOutcome(L, handle, co);
            lua_replace(L, handle);
            failure = handle;
        } else if (co->cancelled && !cancelled) {
            pushOutcome(L, handle, co);
            lua_replace(L, handle);
            cancelled = handle;
        } else {
            lua_pop(L, 1);
        }
    }
    if (failure || cancelled) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, failure ? failure : cancelled);
        lua_pushboolean(L, failure != 0);
        return 3;
    }
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 2);
    return 2;
}

} // namespace

void LuaApi::openGatherLib(lua_State *L, int engine)
{
    lua_pushcfunction(L, &l_gathered);
    lua_setfield(L, engine, "gathered");
}
