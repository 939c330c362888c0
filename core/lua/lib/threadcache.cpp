#include "luaapi_p.h"

#include "../luatask.h"

#include <lua.hpp>

#include <algorithm>
#include <cmath>

// The Lua threads spawned coroutines run on (issue 15). A child gets its thread at its
// first resume, not at spawn(), and gives it back when it ends: its results move into its
// handle, and the thread, emptied, waits in its host's cache for the next child. 100,000
// children that each run to their end without waiting (spawn-trivial) then share one
// thread instead of creating and collecting 100,000.
//
// A thread is cached only when nothing of the child can be reached through it: it returned
// normally (its frames, locals and to-be-closed variables are gone), it is emptied and
// unhooked, and no script holds it — coroutine.running() inside a spawned coroutine marks
// its thread as kept (Coroutine::threadKept), and such a thread is left to the collector.
// The handle is the only way to a child, and it stays the child's. Worker running the
// slice only.

using namespace LuaApi;

namespace {

char ThreadCacheKey;

// Threads kept per host: enough for a semaphore's worth of children running at once; the
// rest go to the collector.
constexpr lua_Integer MaxCachedThreads = 256;

// The spawned coroutine's uservalues: 1 holds its function until its first resume, then
// its thread while it runs; 2.. hold its arguments until then, and its results (or its
// error) once it has ended and given its thread back; the last (entrySlot) keeps its
// function for good.
constexpr int ThreadSlot = 1;

// coroutine.running() as lcorolib.c's, noting that a spawned coroutine's thread is now in
// a script's hands (never to be reused for another).
int l_corunning(lua_State *L)
{
    if (Coroutine *c = LuaTask::context(L); c && c->L == L)
        c->threadKept = true;
    const int isMain = lua_pushthread(L);
    lua_pushboolean(L, isMain);
    return 2;
}

} // namespace

int LuaApi::spawnSlots(int values)
{
    return std::max(values, 2);
}

int LuaApi::entrySlot(const Coroutine *co)
{
    return spawnSlots(co->startArgs + 1) + 1;
}

namespace {

// The most arguments moved onto a thread without checking its stack: a fresh or emptied
// thread has room for 40 values, the host's main state for 20 more than it holds.
constexpr int UncheckedValues = 16;

void attach(lua_State *L, Coroutine *co)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, co->ref); // the handle
    const int handle = lua_gettop(L);
    lua_State *thread = nullptr;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ThreadCacheKey) == LUA_TTABLE) {
        if (const lua_Integer n = lua_Integer(lua_rawlen(L, -1)); n > 0) {
            lua_rawgeti(L, -1, n);
            thread = lua_tothread(L, -1);
            lua_pushnil(L);
            lua_rawseti(L, -3, n);
            lua_remove(L, -2); // the cache
        }
    }
    if (!thread) {
        lua_pop(L, 1);
        thread = lua_newthread(L);
    }
    // The function and its arguments onto the thread, as spawn() used to put them.
    const int values = co->startArgs + 1;
    if (values > UncheckedValues) {
        luaL_checkstack(L, values, "too many arguments to spawn");
        luaL_checkstack(thread, values, "too many arguments to spawn");
    }
    for (int i = 1; i <= values; ++i) {
        lua_getiuservalue(L, handle, i);
        lua_pushnil(L);
        lua_setiuservalue(L, handle, i);
    }
    lua_xmove(L, thread, values);
    lua_setiuservalue(L, handle, ThreadSlot); // the thread, popped
    lua_pop(L, 1);
    co->L = thread;
    *static_cast<Coroutine **>(lua_getextraspace(thread)) = co;
}

int attachProtected(lua_State *L)
{
    attach(L, static_cast<Coroutine *>(lua_touserdata(L, 1)));
    return 0;
}

bool cacheHasThread(lua_State *L)
{
    const bool has =
        lua_rawgetp(L, LUA_REGISTRYINDEX, &ThreadCacheKey) == LUA_TTABLE && lua_rawlen(L, -1) > 0;
    lua_pop(L, 1);
    return has;
}

// Threads made at once when the cache is empty: one protected call for them all, not one
// per child (100,000 children that each wait need 100,000 threads).
constexpr lua_Integer RefillThreads = 32;

int refillProtected(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ThreadCacheKey);
    for (lua_Integer n = lua_Integer(lua_rawlen(L, -1)); n < RefillThreads; ++n) {
        lua_newthread(L);
        lua_rawseti(L, -2, n + 1);
    }
    return 0;
}

} // namespace

int LuaApi::attachThread(lua_State *L, Coroutine *co)
{
    // Taking a cached thread allocates nothing; a new one (or a long argument list) may
    // meet the task's memory cap, which raises: then protected.
    if (co->startArgs + 1 <= UncheckedValues) {
        if (!cacheHasThread(L)) {
            lua_pushcfunction(L, &refillProtected);
            if (const int status = lua_pcall(L, 0, 0, 0); status != LUA_OK) {
                if (!cacheHasThread(L))
                    return status; // the error on top
                lua_pop(L, 1);     // some were made: enough for this one
            }
        }
        attach(L, co);
        return LUA_OK;
    }
    lua_pushcfunction(L, &attachProtected);
    lua_pushlightuserdata(L, co);
    return lua_pcall(L, 1, 0, 0); // the error, if any, on top
}

// Allocates nothing (it runs outside any protected call): values move between stacks and
// into uservalues that exist, the thread into the cache's preallocated array.
bool LuaApi::detachThread(lua_State *L, Coroutine *co, int status, int nresults)
{
    lua_State *thread = co->L;
    if (co->threadKept || !thread || co->ref == LUA_NOREF)
        return false;
    lua_rawgeti(L, LUA_REGISTRYINDEX, co->ref);
    const int handle = lua_gettop(L);
    const int values = status == LUA_OK ? nresults : 1;
    // Room for them all in the handle, in 2..values+1 and short of the entry slot? (A slot
    // past the last is LUA_TNONE.)
    const bool fits = values == 0 || lua_getiuservalue(L, handle, values + 2) != LUA_TNONE;
    lua_settop(L, handle);
    if (!fits) {
        lua_pop(L, 1);
        return false;
    }
    // One value at a time: L holds at most two more than it did (it has room for 20).
    const int base = lua_gettop(thread) - values + 1;
    for (int i = 0; i < values; ++i) {
        lua_pushvalue(thread, base + i);
        lua_xmove(thread, L, 1);
        lua_setiuservalue(L, handle, i + 2);
    }
    // The thread leaves the handle; a thread that returned is reused, one that raised is
    // left to the collector (its stack is not unwound).
    lua_pushnil(L);
    lua_setiuservalue(L, handle, ThreadSlot);
    lua_pop(L, 1);
    co->L = nullptr;
    co->results = status == LUA_OK ? nresults : 0;
    *static_cast<Coroutine **>(lua_getextraspace(thread)) = nullptr;
    if (status != LUA_OK || lua_status(thread) != LUA_OK)
        return true;
    lua_settop(thread, 0);
    lua_sethook(thread, nullptr, 0, 0);
    // The cache's array part was sized when the library was opened: no allocation here.
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ThreadCacheKey);
    if (const lua_Integer n = lua_Integer(lua_rawlen(L, -1)); n < MaxCachedThreads) {
        lua_pushthread(thread);
        lua_xmove(thread, L, 1);
        lua_rawseti(L, -2, n + 1);
    }
    lua_pop(L, 1);
    return true;
}

int LuaApi::pushEnded(lua_State *L, int handle, Coroutine *co, bool failed, bool firstOnly)
{
    if (failed) {
        lua_getiuservalue(L, handle, 2);
        return 1;
    }
    const int n = firstOnly ? std::min(co->results, 1) : co->results;
    luaL_checkstack(L, n, "too many results");
    for (int i = 0; i < n; ++i)
        lua_getiuservalue(L, handle, i + 2);
    return n;
}

double LuaApi::bareSleepSeconds(lua_State *L, Coroutine *co, int (*sleepFn)(lua_State *))
{
    if (co->startArgs != 1 || co->ref == LUA_NOREF)
        return -1;
    const int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, co->ref);
    lua_getiuservalue(L, -1, 1);
    const bool isSleep = lua_tocfunction(L, -1) == sleepFn;
    lua_pop(L, 1);
    double seconds = -1;
    if (isSleep && lua_getiuservalue(L, top + 1, 2) == LUA_TNUMBER) {
        const double s = lua_tonumber(L, -1);
        if (!std::isnan(s))
            seconds = std::max(0.0, s); // as sleep() takes it
    }
    lua_settop(L, top);
    return seconds;
}

void LuaApi::openThreadCache(lua_State *L)
{
    lua_createtable(L, int(MaxCachedThreads), 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ThreadCacheKey);
    lua_getglobal(L, "coroutine");
    lua_pushcfunction(L, &l_corunning);
    lua_setfield(L, -2, "running");
    lua_pop(L, 1);
}
