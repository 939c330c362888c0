#include "luaapi_p.h"

#include "../luatask.h"

#include "../../deadline.h"

#include <lua.hpp>

#include <algorithm>
#include <cmath>
#include <new>

// The coroutines library (lcorolib.c's counterpart): sleep, spawn and the handles it
// returns, the waitgroup the prelude's gather, wait, wait_for and shield are built on,
// and coroutine.resume/wrap that keep the engine told which Lua thread runs.

using namespace LuaApi;

namespace {

const char *HandleMeta = "taskdeck.Handle";
char HandleKey;

} // namespace

int LuaTask::l_sleep(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1);
    if (std::isnan(seconds))
        return luaL_argerror(L, 1, "not a number");
    Coroutine *co = waitingCoroutine(L, "sleep");
    seconds = std::max(0.0, seconds);
    return suspend(L, co, "sleep", seconds, deadlineAfterSeconds(seconds), &sleepDone);
}

int LuaTask::sleepDone(lua_State *L, int, intptr_t)
{
    if (resumed(L) < 0)
        return raiseCancel(L, context(L));
    return 0;
}

Coroutine *LuaApi::toHandle(lua_State *L, int index)
{
    // luaL_checkudata looks the metatable up by name; this is on every hot path. (A
    // light userdata has no metatable: no task can give it one.)
    void *p = lua_touserdata(L, index);
    if (p && lua_getmetatable(L, index)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &HandleKey);
        const bool handle = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (handle)
            return static_cast<Coroutine *>(p);
    }
    return nullptr;
}

Coroutine *LuaTask::checkHandle(lua_State *L, int index)
{
    Coroutine *co = toHandle(L, index);
    if (!co)
        luaL_typeerror(L, index, "handle from spawn()");
    return co;
}

// spawn(fn, ...): a child coroutine of the calling one, ready to run (create_task).
// spawn({name = "..."}, fn, ...) names it (SPEC section 9); otherwise its name is found
// only when a stack shows it (LuaTask::coroutineName), from the function kept as the
// handle's second user value.
int LuaTask::l_spawn(lua_State *L)
{
    int base = 1; // the function; its arguments follow
    if (lua_type(L, 1) == LUA_TTABLE) {
        lua_getfield(L, 1, "name");
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "spawn: {name = ...} must be a string");
        lua_replace(L, 1); // kept here until the end: nothing below may raise past a QString
        base = 2;
    }
    luaL_checktype(L, base, LUA_TFUNCTION);
    Coroutine *here = context(L);
    if (!here)
        return luaL_error(L, "spawn: not inside a task");
    LuaTask *t = here->task;
    Coroutine *parent = here->L == L ? here : t->m_current;
    const int top = lua_gettop(L);
    const int n = top - base + 1; // the function and its arguments
    auto *co = new (lua_newuserdatauv(L, sizeof(Coroutine), spawnSlots(n) + 1)) Coroutine;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &HandleKey);
    lua_setmetatable(L, -2);
    co->task = t;
    co->id = t->m_nextCoroutineId++;
    co->startArgs = n - 1;
    // The function and its arguments wait in the handle: the thread comes at the first
    // resume (attachThread, lib/threadcache.cpp). The function is kept in the last slot
    // too, for its name and for tail calls (entrySlot).
    lua_pushvalue(L, base);
    lua_setiuservalue(L, top + 1, entrySlot(co));
    for (int i = base; i <= top; ++i) {
        lua_pushvalue(L, i);
        lua_setiuservalue(L, top + 1, i - base + 1);
    }
    lua_pushvalue(L, top + 1);
    co->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (parent) {
        co->parent = parent;
        co->nextSibling = parent->firstChild;
        if (parent->firstChild)
            parent->firstChild->prevSibling = co;
        parent->firstChild = co;
    }
    t->m_live.emplace(co->id, co);
    if (base == 2)
        t->m_names[co->id] = QString::fromUtf8(lua_tostring(L, 1));
    co->suspended = true;
    t->makeReady(co);
    return 1;
}

// __waitgroup(handles, mode, timeout, kind) -> true when the mode was met, false on
// timeout. Never cancels anything.
int LuaTask::l_waitGroup(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *modeName = luaL_checkstring(L, 2);
    const double timeout = luaL_optnumber(L, 3, -1);
    const char *kind = luaL_optstring(L, 4, "wait");
    if (std::isnan(timeout))
        return luaL_error(L, "%s: the timeout is not a number", kind);
    const WaitGroup::Mode mode = qstrcmp(modeName, "first") == 0         ? WaitGroup::First
                                 : qstrcmp(modeName, "first_error") == 0 ? WaitGroup::FirstError
                                                                         : WaitGroup::All;
    Coroutine *me = waitingCoroutine(L, kind);
    const lua_Integer n = luaL_len(L, 1);
    std::vector<Coroutine *> pending;
    bool met = false;
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, 1, i);
        Coroutine *co = toHandle(L, -1);
        lua_pop(L, 1);
        if (!co)
            return luaL_error(L, "%s: item %d is not a handle from spawn()", kind, int(i));
        if (co == me)
            return luaL_error(L, "%s: a coroutine cannot wait for itself", kind);
        if (!co->dead)
            pending.push_back(co);
        else if (mode == WaitGroup::First ||
                 (mode == WaitGroup::FirstError && co->failed && !co->cancelled))
            met = true;
    }
    if (met || pending.empty() || n == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (timeout == 0) {
        lua_pushboolean(L, 0);
        return 1;
    }
    auto group = std::make_shared<WaitGroup>();
    group->waiterId = me->id;
    group->remaining = int(pending.size());
    group->mode = mode;
    for (Coroutine *co : pending)
        co->waiters.push_back(group);
    me->group = group;
    const qint64 deadline = timeout > 0 ? deadlineAfterSeconds(timeout) : -2;
    return suspend(L, me, kind, double(pending.size()), deadline, &waitGroupDone);
}

int LuaTask::waitGroupDone(lua_State *L, int, intptr_t)
{
    Coroutine *me = context(L);
    if (resumed(L) < 0)
        return raiseCancel(L, me);
    bool fired = false;
    if (me->group) {
        fired = me->group->fired;
        me->group->fired = true; // a timeout: later endings wake nobody
        me->group.reset();
    }
    lua_pushboolean(L, fired);
    return 1;
}

// A finished coroutine's results (or its error) pushed onto L.
int LuaTask::pushResults(lua_State *L, Coroutine *co, bool raise)
{
    if (co->failed && co->task && !co->task->m_lostErrors.empty())
        co->task->retrieved(co); // someone reads its error: not lost (SPEC section 9)
    if (!co->L) { // gave its thread back: they are in the handle, at 1 for every caller
        const int n = pushEnded(L, 1, co, co->failed, false);
        if (!co->failed)
            return n;
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_rawgetp(L, LUA_REGISTRYINDEX, &CancelledKey);
        }
        return raise ? lua_error(L) : 1;
    }
    if (co->failed) {
        if (lua_isnil(co->L, -1))
            lua_rawgetp(L, LUA_REGISTRYINDEX, &CancelledKey);
        else {
            lua_pushvalue(co->L, -1);
            lua_xmove(co->L, L, 1);
        }
        if (raise)
            return lua_error(L);
        return 1;
    }
    const int n = co->results;
    luaL_checkstack(L, n, "too many results");
    const int base = lua_gettop(co->L) - n + 1;
    for (int i = 0; i < n; ++i) {
        lua_pushvalue(co->L, base + i);
        lua_xmove(co->L, L, 1);
    }
    return n;
}

int LuaTask::l_handleWait(lua_State *L)
{
    Coroutine *co = checkHandle(L, 1);
    if (co->dead)
        return pushResults(L, co, true);
    Coroutine *me = waitingCoroutine(L, "wait");
    if (me == co)
        return luaL_error(L, "wait: a coroutine cannot wait for itself");
    auto group = std::make_shared<WaitGroup>();
    group->waiterId = me->id;
    group->remaining = 1;
    co->waiters.push_back(group);
    me->group = group;
    lua_settop(L, 1);
    return suspend(L, me, "wait", co->id, -2, &handleWaitDone);
}

int LuaTask::handleWaitDone(lua_State *L, int, intptr_t)
{
    Coroutine *me = context(L);
    if (resumed(L) < 0)
        return raiseCancel(L, me);
    me->group.reset();
    return pushResults(L, checkHandle(L, 1), true);
}

// __outcome(h) -> true, first value | false, error
int LuaTask::l_handleResult(lua_State *L)
{
    Coroutine *co = checkHandle(L, 1);
    if (!co->dead)
        return luaL_error(L, "the coroutine has not ended");
    lua_pushboolean(L, !co->failed);
    if (co->failed)
        return 1 + pushResults(L, co, false);
    if (co->results == 0) {
        lua_pushnil(L);
        return 2;
    }
    if (!co->L)
        return 1 + pushEnded(L, 1, co, false, true);
    lua_pushvalue(co->L, lua_gettop(co->L) - co->results + 1);
    lua_xmove(co->L, L, 1);
    return 2;
}

// __is_handle(v) -> whether v is a handle from spawn()
int LuaTask::l_isHandle(lua_State *L)
{
    lua_pushboolean(L, toHandle(L, 1) != nullptr);
    return 1;
}

// __shield(h): cancelling h's parent no longer cancels h.
int LuaTask::l_shield(lua_State *L)
{
    checkHandle(L, 1)->shielded = true;
    return 0;
}

int LuaTask::l_handleCancel(lua_State *L)
{
    Coroutine *co = checkHandle(L, 1);
    if (co->dead || !co->task) {
        lua_pushboolean(L, 0);
        return 1;
    }
    co->task->cancelTree(co);
    lua_pushboolean(L, 1);
    return 1;
}

int LuaTask::l_handleDone(lua_State *L)
{
    lua_pushboolean(L, checkHandle(L, 1)->dead);
    return 1;
}

int LuaTask::l_handleCancelled(lua_State *L)
{
    Coroutine *co = checkHandle(L, 1);
    lua_pushboolean(L, co->dead && co->cancelled);
    return 1;
}

int LuaTask::l_handleId(lua_State *L)
{
    lua_pushinteger(L, checkHandle(L, 1)->id);
    return 1;
}

// Scripts cannot reach this (the metatable is protected); still, it checks what it
// gets, cheaply (it runs for every handle), and leaves an empty record behind, so that
// a second call destroys nothing twice.
int LuaTask::l_handleGc(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TUSERDATA || lua_rawlen(L, 1) != sizeof(Coroutine))
        return 0;
    auto *co = static_cast<Coroutine *>(lua_touserdata(L, 1));
    // A thread that outlives its handle (coroutine.running() kept it) no longer names it.
    if (co->L && context(co->L) == co)
        *static_cast<Coroutine **>(lua_getextraspace(co->L)) = nullptr;
    co->~Coroutine();
    new (co) Coroutine;
    return 0;
}

int LuaTask::l_handleToString(lua_State *L)
{
    Coroutine *co = checkHandle(L, 1);
    const char *state = !co->dead       ? (co->suspended ? "suspended" : "running")
                        : co->cancelled ? "cancelled"
                        : co->failed    ? "failed"
                                        : "done";
    lua_pushfstring(L, "coroutine #%d (%s)", co->id, state);
    return 1;
}

// coroutine.resume and coroutine.wrap as in lcorolib.c, keeping m_runningL on the Lua
// thread that actually runs, so that cancel and the look-ins reach a CPU loop inside a
// plain coroutine too.
int LuaTask::auxresume(lua_State *L, lua_State *co, int narg)
{
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    Coroutine *c = context(L);
    LuaTask *t = c ? c->task : nullptr;
    if (t) {
        t->m_runningL.store(co);
        if (t->m_cancelLevel.load() > 0)
            lua_sethook(co, &LuaTask::hook, LUA_MASKCOUNT, 1);
    }
    int nres = 0;
    const int status = lua_resume(co, L, narg, &nres);
    if (t)
        t->m_runningL.store(L);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

int LuaTask::l_coresume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    if (Coroutine *c = context(co); c && c->L == co) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "cannot resume a coroutine of spawn() by hand: the engine "
                           "resumes it");
        return 2;
    }
    const int r = auxresume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

int LuaTask::auxwrap(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    const int r = auxresume(L, co, lua_gettop(L));
    if (r < 0) {
        int status = lua_status(co);
        if (status != LUA_OK && status != LUA_YIELD) {
            status = lua_resetthread(co);
            lua_xmove(co, L, 1);
        }
        if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return r;
}

int LuaTask::l_cowrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, &LuaTask::auxwrap, 1);
    return 1;
}

void LuaTask::openCoroLib(lua_State *L, int engine)
{
    const luaL_Reg globals[] = {
        {"sleep", &LuaTask::l_sleep},
        {"spawn", &LuaTask::l_spawn},
        {nullptr, nullptr},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, globals, 0);

    // coroutine.resume/wrap that tell the engine which Lua thread is running.
    const luaL_Reg coroutine[] = {
        {"resume", &LuaTask::l_coresume},
        {"wrap", &LuaTask::l_cowrap},
        {nullptr, nullptr},
    };
    lua_getfield(L, -1, "coroutine");
    luaL_setfuncs(L, coroutine, 0);
    lua_pop(L, 2);

    // Handles of spawned coroutines.
    luaL_newmetatable(L, HandleMeta);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &HandleKey);
    const luaL_Reg handle[] = {
        {"wait", &LuaTask::l_handleWait}, {"cancel", &LuaTask::l_handleCancel},
        {"done", &LuaTask::l_handleDone}, {"cancelled", &LuaTask::l_handleCancelled},
        {"id", &LuaTask::l_handleId},     {nullptr, nullptr},
    };
    luaL_newlib(L, handle);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, &LuaTask::l_handleGc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, &LuaTask::l_handleToString);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "handle"); // its __gc and methods are not for scripts to call
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    // For the prelude only.
    const luaL_Reg primitives[] = {
        {"is_handle", &LuaTask::l_isHandle},
        {"waitgroup", &LuaTask::l_waitGroup},
        {"outcome", &LuaTask::l_handleResult},
        {"shield", &LuaTask::l_shield},
        {nullptr, nullptr},
    };
    lua_pushvalue(L, engine);
    luaL_setfuncs(L, primitives, 0);
    lua_pop(L, 1);
    openThreadCache(L);
    openGatherLib(L, engine);
}
