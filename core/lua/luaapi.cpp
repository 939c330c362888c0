#include "luatask.h"

#include "luahost.h"
#include "luapattern.h"
#include "luavalue.h"

#include "../deadline.h"

#include <QDateTime>
#include <QFileInfo>

#include <lua.hpp>

#include <cmath>

// The functions a Lua task calls (SPEC section 2). All run on the worker running the
// task's slice; the ones that wait end in lua_yieldk and are continued by a `...Done`
// function, which delivers a pending cancellation at that suspension point.

namespace {

// Registry keys (addresses are unique per process).
char CancelledKey;
char StoppedKey;
char TimeoutKey;

const char *HandleMeta = "taskdeck.Handle";
char HandleKey;
constexpr qint64 LookInAfterNs = 50'000'000;
constexpr qint64 BlockingNs = 100'000'000;

// Makes a unique error object: a userdata whose tostring is `text`; is_cancelled and
// is_timeout recognise these by identity.
void makeMarker(lua_State *L, void *key, const char *text)
{
    lua_newuserdatauv(L, 0, 0); // not a table: no task can store anything in it
    lua_newtable(L);
    lua_pushstring(L, text);
    lua_pushcclosure(
        L,
        [](lua_State *L) -> int {
            lua_pushvalue(L, lua_upvalueindex(1));
            return 1;
        },
        1);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, "TaskdeckError");
    lua_setfield(L, -2, "__name");
    lua_pushstring(L, "TaskdeckError");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

bool isMarker(lua_State *L, int index, void *key)
{
    index = lua_absindex(L, index);
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    const bool same = lua_rawequal(L, index, -1);
    lua_pop(L, 1);
    return same;
}

Coroutine *toHandle(lua_State *L, int index);

qint64 epochMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

const char Prelude[] = R"LUA(
-- The coroutine toolkit of SPEC section 2, on top of the engine's primitives:
-- spawn, suspend/wake (a coroutine waits until woken or cancelled), waitgroup (waits on
-- handles), outcome (a handle's result), shield. Runs once per Lua host.
local timeout_error, is_handle, waitgroup, suspend, wake, current, outcome, shield_handle =
    ...
local error, pcall, select, type, setmetatable, ipairs =
    error, pcall, select, type, setmetatable, ipairs
local pack, unpack, math_type = table.pack, table.unpack, math.type

local function handle_list(...)
    local first = ...
    if select('#', ...) == 1 and type(first) == 'table' and not is_handle(first) then
        return first
    end
    return {...}
end

function gather(...)
    local list = handle_list(...)
    local ok, err = pcall(waitgroup, list, "first_error", nil, "gather")
    if not ok then -- the gatherer was cancelled (or given a non-handle)
        for i = 1, #list do
            if is_handle(list[i]) then list[i]:cancel() end
        end
        error(err, 0)
    end
    local results, failed, failure = {}, false, nil
    for i = 1, #list do
        local h = list[i]
        if h:done() then
            local hok, v = outcome(h)
            if hok then
                results[i] = v
            elseif not failed and not h:cancelled() then
                failed, failure = true, v
            end
        end
    end
    if failed then
        for i = 1, #list do list[i]:cancel() end
        error(failure, 0)
    end
    for i = 1, #list do -- only cancelled ones failed: the cancellation is the error
        if list[i]:cancelled() then
            local _, v = outcome(list[i])
            error(v, 0)
        end
    end
    return results
end

function gather_settled(...)
    local list = handle_list(...)
    waitgroup(list, "all", nil, "gather_settled")
    local out = {}
    for i = 1, #list do
        local ok, v = outcome(list[i])
        if ok then out[i] = {ok = true, value = v} else out[i] = {ok = false, error = v} end
    end
    return out
end

function wait(list, opts)
    list = handle_list(list)
    opts = opts or {}
    local mode = opts.mode or "all"
    if mode ~= "all" and mode ~= "first" and mode ~= "first_error" then
        error("wait: mode must be \"all\", \"first\" or \"first_error\"", 2)
    end
    waitgroup(list, mode, opts.timeout, "wait")
    local done, pending = {}, {}
    for i = 1, #list do
        local h = list[i]
        if h:done() then done[#done + 1] = h else pending[#pending + 1] = h end
    end
    return done, pending
end

function wait_for(target, seconds, ...)
    local h = target
    if type(target) == 'function' then
        h = spawn(target, ...)
    elseif not is_handle(target) then
        error("wait_for: expected a handle or a function", 2)
    end
    local ok, finished = pcall(waitgroup, {h}, "all", seconds, "wait_for")
    if not ok then
        h:cancel()
        error(finished, 0)
    end
    if not finished then
        h:cancel()
        -- wait until it has really ended: its cleanup may itself wait
        waitgroup({h}, "all", nil, "wait_for (cancelling)")
        error(timeout_error, 0)
    end
    return h:wait()
end

function shield(h)
    if not is_handle(h) then error("shield: expected a handle", 2) end
    shield_handle(h)
    waitgroup({h}, "all", nil, "shield")
    return h:wait()
end

-- FIFO of waiters: {first, last, [i] = entry}; an entry is {co =, granted =, cancelled =}.
local function fifo() return {first = 1, last = 0} end
local function push(q, v) q.last = q.last + 1; q[q.last] = v end
local function pop(q)
    if q.first > q.last then return nil end
    local v = q[q.first]
    q[q.first] = nil
    q.first = q.first + 1
    return v
end
local function count(q) return q.last - q.first + 1 end
local function wake_next(q)
    while true do
        local e = pop(q)
        if not e then return false end
        if not e.cancelled then
            e.granted = true
            wake(e.co)
            return true
        end
    end
end
-- Waits in `q` until granted. A waiter cancelled after it was granted passes the grant on.
local function wait_turn(q, kind, on_lost_grant)
    local entry = {co = current()}
    push(q, entry)
    local ok, err = pcall(suspend, kind)
    if not ok then
        entry.cancelled = true
        if entry.granted then on_lost_grant() end
        error(err, 0)
    end
end
local function with(self, fn, ...)
    self:acquire()
    local r = pack(pcall(fn, ...))
    self:release()
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
end

local Lock_ = {}
Lock_.__index = Lock_
Lock_.__name = "Lock"
Lock_.__metatable = "Lock" -- shared by every task: read-only
function Lock() return setmetatable({_locked = false, _waiters = fifo()}, Lock_) end
function Lock_:acquire()
    if not self._locked then
        self._locked = true
        return true
    end
    wait_turn(self._waiters, "Lock:acquire", function() self:release() end)
    return true -- handed over by release(): still locked, now ours
end
function Lock_:release()
    if not self._locked then error("Lock:release: the lock is not held", 2) end
    if not wake_next(self._waiters) then self._locked = false end
end
function Lock_:locked() return self._locked end
Lock_.with = with

local Semaphore_ = {}
Semaphore_.__index = Semaphore_
Semaphore_.__name = "Semaphore"
Semaphore_.__metatable = "Semaphore" -- shared by every task: read-only
function Semaphore(n)
    n = n == nil and 1 or n
    if math_type(n) ~= "integer" or n < 0 then
        error("Semaphore: the value must be an integer >= 0", 2)
    end
    return setmetatable({_value = n, _waiters = fifo()}, Semaphore_)
end
function Semaphore_:acquire()
    if self._value > 0 then
        self._value = self._value - 1
        return true
    end
    wait_turn(self._waiters, "Semaphore:acquire", function() self:release() end)
    return true -- a unit handed over by release()
end
function Semaphore_:release()
    if not wake_next(self._waiters) then self._value = self._value + 1 end
end
function Semaphore_:locked() return self._value == 0 end
function Semaphore_:value() return self._value end
Semaphore_.with = with

local Event_ = {}
Event_.__index = Event_
Event_.__name = "Event"
Event_.__metatable = "Event" -- shared by every task: read-only
function Event() return setmetatable({_set = false, _waiters = fifo()}, Event_) end
function Event_:set()
    if self._set then return end
    self._set = true
    while wake_next(self._waiters) do end
end
function Event_:clear() self._set = false end
function Event_:is_set() return self._set end
function Event_:wait()
    if self._set then return true end
    wait_turn(self._waiters, "Event:wait", function() end)
    return true
end

local Queue_ = {}
Queue_.__index = Queue_
Queue_.__name = "Queue"
Queue_.__metatable = "Queue" -- shared by every task: read-only
function Queue(maxsize)
    maxsize = maxsize or 0
    if math_type(maxsize) ~= "integer" or maxsize < 0 then
        error("Queue: maxsize must be an integer >= 0 (0: unbounded)", 2)
    end
    return setmetatable({_items = fifo(), _max = maxsize, _getters = fifo(),
                         _putters = fifo(), _unfinished = 0, _joiners = fifo()}, Queue_)
end
function Queue_:size() return count(self._items) end
function Queue_:empty() return count(self._items) == 0 end
function Queue_:full() return self._max > 0 and count(self._items) >= self._max end
function Queue_:put_nowait(v)
    if self:full() then error("Queue:put_nowait: the queue is full", 2) end
    push(self._items, v)
    self._unfinished = self._unfinished + 1
    wake_next(self._getters)
end
function Queue_:get_nowait()
    if self:empty() then error("Queue:get_nowait: the queue is empty", 2) end
    local v = pop(self._items)
    wake_next(self._putters)
    return v
end
function Queue_:put(v)
    while self:full() do
        wait_turn(self._putters, "Queue:put", function() wake_next(self._putters) end)
    end
    return self:put_nowait(v)
end
function Queue_:get()
    while self:empty() do
        wait_turn(self._getters, "Queue:get", function() wake_next(self._getters) end)
    end
    return self:get_nowait()
end
function Queue_:task_done()
    if self._unfinished <= 0 then error("Queue:task_done: called more times than items put", 2) end
    self._unfinished = self._unfinished - 1
    if self._unfinished == 0 then
        while wake_next(self._joiners) do end
    end
end
function Queue_:join()
    if self._unfinished == 0 then return end
    wait_turn(self._joiners, "Queue:join", function() end)
end
)LUA";

} // namespace

bool luaIsCancelMarker(lua_State *L, int index)
{
    return isMarker(L, index, &CancelledKey) || isMarker(L, index, &StoppedKey);
}

QString luaMarkerText(lua_State *L, int index)
{
    if (isMarker(L, index, &CancelledKey))
        return QStringLiteral("cancelled");
    if (isMarker(L, index, &StoppedKey))
        return QStringLiteral("stopped");
    if (isMarker(L, index, &TimeoutKey))
        return QStringLiteral("timeout");
    return {};
}

// ---- the sandbox (issue 17) ----
//
// Every task runs in a host state shared with the tasks before and after it. What they
// share is immutable to them: the standard library tables are copied into a task's own
// globals on first use (libIndex), the metatables the engine gives out are protected
// (__metatable), and the parts of the libraries that could break memory safety or reach
// the shared tables (the registry, upvalues and locals of engine code, type-wide
// metatables, binary chunks, the collector's settings) are refused.

namespace {

int refused(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

void setRefused(lua_State *L, int table, const char *field, const char *message)
{
    table = lua_absindex(L, table);
    lua_pushstring(L, message);
    lua_pushcclosure(L, &refused, 1);
    lua_setfield(L, table, field);
}

// Replaces table[field] by `fn`, which gets the original as its first upvalue.
void wrap(lua_State *L, int table, const char *field, lua_CFunction fn)
{
    table = lua_absindex(L, table);
    lua_getfield(L, table, field);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, table, field);
}

// Calls the wrapped original with this call's arguments; returns what it returns.
int callOriginal(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

// __index of the table behind every task's globals: a standard library table (held by
// the host's original global table, upvalue 1) is copied into the running task's globals
// on first use. A task that never names one pays nothing.
int libIndex(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TTABLE || lua_rawequal(L, 3, lua_upvalueindex(1)))
        return 0;
    if (!LuaHost::pushCurrentEnv(L)) // 4
        return luaL_error(L, "%s: not inside a task", lua_tostring(L, 2));
    lua_newtable(L); // 5: the copy
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 5);
    }
    if (qstrcmp(lua_tostring(L, 2), "package") == 0) {
        // Modules a task requires are its own (see l_require).
        lua_newtable(L);
        lua_setfield(L, 5, "loaded");
        lua_newtable(L);
        lua_setfield(L, 5, "preload");
        lua_pushnil(L);
        lua_setfield(L, 5, "searchers");
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 5);
    lua_rawset(L, 4);
    return 1;
}

// setmetatable as in the base library, without finalizers: Lua runs a __gc with hooks
// off, wherever the collector happens to be (between tasks, or inside another), so
// neither a cancel, a timeout nor the grace period could stop one that loops. A task
// cleans up with a `local x <close>` variable instead, which runs in the task.
int l_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const int t = lua_type(L, 2);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) // what the collector itself looks at
            return luaL_error(L, "setmetatable: __gc finalizers are not available in a "
                                 "task (nothing could stop one); use a <close> variable");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

int l_debugSetmetatable(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L,
                          "debug.setmetatable: the metatable of a %s is shared by every "
                          "task; only a table may get one in a task",
                          luaL_typename(L, 1));
    return l_setmetatable(L);
}

// The function at `arg` is the script's own Lua code, not a C function or the toolkit's.
void checkScriptFunction(lua_State *L, int arg, const char *name)
{
    luaL_checktype(L, arg, LUA_TFUNCTION);
    lua_Debug ar;
    lua_pushvalue(L, arg);
    lua_getinfo(L, ">S", &ar);
    if (qstrcmp(ar.what, "C") == 0 || qstrcmp(ar.source, "=taskdeck") == 0)
        luaL_error(L, "%s: not available on the engine's functions", name);
}

int l_debugUpvalue(lua_State *L)
{
    checkScriptFunction(L, 1, "debug.getupvalue/setupvalue/upvalueid");
    return callOriginal(L);
}

// debug.getlocal/setlocal([thread,] level, n [, value]): not in a C function's frame (its
// stack slots hold what it relies on) or the toolkit's.
int l_debugLocal(lua_State *L)
{
    const int arg = lua_type(L, 1) == LUA_TTHREAD ? 1 : 0;
    lua_State *L1 = arg ? lua_tothread(L, 1) : L;
    if (lua_type(L, arg + 1) == LUA_TFUNCTION) // parameter names only
        return callOriginal(L);
    lua_Integer level = luaL_checkinteger(L, arg + 1);
    lua_Debug ar;
    if (lua_getstack(L1, int(level), &ar)) {
        lua_getinfo(L1, "S", &ar);
        if (qstrcmp(ar.what, "C") == 0 || qstrcmp(ar.source, "=taskdeck") == 0)
            return luaL_error(L, "debug.getlocal/setlocal: not available in the engine's "
                                 "frames");
    }
    if (L1 == L) { // the original counts this wrapper's frame too
        lua_pushinteger(L, level + 1);
        lua_replace(L, arg + 1);
    }
    return callOriginal(L);
}

// debug.setlocal, and not into the VM's own slots of a Lua frame either (a loop's
// counters, temporaries), which the VM's code trusts.
int l_debugSetlocal(lua_State *L)
{
    const int arg = lua_type(L, 1) == LUA_TTHREAD ? 1 : 0;
    lua_State *L1 = arg ? lua_tothread(L, 1) : L;
    const int level = int(luaL_checkinteger(L, arg + 1));
    const int n = int(luaL_checkinteger(L, arg + 2));
    lua_Debug ar;
    if (lua_getstack(L1, level, &ar) && lua_checkstack(L1, 1)) {
        const char *name = lua_getlocal(L1, &ar, n);
        if (name) {
            lua_pop(L1, 1);
            if (name[0] == '(')
                return luaL_error(L, "debug.setlocal: not for the VM's own slots (%s)", name);
        }
    }
    return l_debugLocal(L);
}

int l_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = {"collect", "count", "step", "isrunning"};
    const char *option = luaL_optstring(L, 1, "collect");
    for (const char *name : allowed) {
        if (qstrcmp(option, name) == 0)
            return callOriginal(L);
    }
    return luaL_error(L,
                      "collectgarbage('%s') is not available in a task: the collector "
                      "serves the tasks after it too",
                      option);
}

// os.setlocale(): only the query; the locale belongs to the whole process, and its
// other threads (and tasks) read it all the time.
int l_setlocale(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        return luaL_error(L, "os.setlocale is not available in a task (the locale is the "
                             "whole process's); os.setlocale() tells it");
    return callOriginal(L);
}

// io.input/io.output with a file: the host resets the defaults after the task.
int l_ioDefault(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        LuaHost::of(L)->markDirty();
    return callOriginal(L);
}

// The loaders' rule: text only (the mode at `modeArg` forced to "t"), and the task's
// globals as _ENV (at modeArg + 1) unless the caller gave one (the host's own are
// nobody's to change). Then the original loader, this C function's upvalue.
int callLoaderTextOnly(lua_State *L, int modeArg)
{
    const int n = lua_gettop(L);
    lua_settop(L, modeArg + 1);
    lua_pushliteral(L, "t");
    lua_replace(L, modeArg);
    if (n < modeArg + 1) {
        if (!LuaHost::pushCurrentEnv(L))
            lua_pushnil(L);
        lua_replace(L, modeArg + 1);
    }
    return callOriginal(L);
}

// load(chunk [, name [, mode [, env]]])
int l_load(lua_State *L)
{
    return callLoaderTextOnly(L, 3);
}

// loadfile(name [, mode [, env]]); never from stdin (the engine's).
int l_loadfile(lua_State *L)
{
    luaL_checkstring(L, 1);
    return callLoaderTextOnly(L, 2);
}

// Loads the text file `name` with the task's globals as its _ENV, or raises.
void loadTextFile(lua_State *L, const char *name)
{
    if (luaL_loadfilex(L, name, "t") != LUA_OK)
        lua_error(L);
    if (LuaHost::pushCurrentEnv(L)) {
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
}

int dofileDone(lua_State *L, int, lua_KContext)
{
    return lua_gettop(L) - 1;
}

int l_dofile(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    loadTextFile(L, name);
    lua_callk(L, 0, LUA_MULTRET, 0, &dofileDone);
    return dofileDone(L, LUA_OK, 0);
}

// Stack of require while a module runs: 1 name, 2 the task's package.loaded, 3 file
// name, 4 the module's result.
int requireDone(lua_State *L, int, lua_KContext)
{
    if (!lua_isnil(L, 4))
        lua_setfield(L, 2, lua_tostring(L, 1));
    else
        lua_pop(L, 1);
    if (lua_getfield(L, 2, lua_tostring(L, 1)) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, 2, lua_tostring(L, 1));
    }
    lua_insert(L, 3);
    return 2;
}

// require(name): the task's copy of a standard library, or a Lua text file found on the
// task's package.path, run with the task's globals and kept in its package.loaded.
// Upvalues: the host's original globals, package.searchpath.
int l_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    if (!LuaHost::pushCurrentEnv(L)) // 2
        return luaL_error(L, "require: not inside a task");
    if (lua_getfield(L, 2, "package") != LUA_TTABLE) // 3
        return luaL_error(L, "require: 'package' must be a table");
    if (lua_getfield(L, 3, "loaded") != LUA_TTABLE) // 4
        return luaL_error(L, "require: 'package.loaded' must be a table");
    if (lua_getfield(L, 4, name) != LUA_TNIL) // 5
        return 1;
    lua_pop(L, 1);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TTABLE // a standard library
        && !lua_rawequal(L, -1, lua_upvalueindex(1))) {
        lua_getfield(L, 2, name);
        lua_pushvalue(L, -1);
        lua_setfield(L, 4, name);
        return 1;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 1);
    if (lua_getfield(L, 3, "path") != LUA_TSTRING)
        return luaL_error(L, "require: 'package.path' must be a string");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2))
        return luaL_error(L, "module '%s' not found:%s", name, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_replace(L, 3);
    lua_replace(L, 2); // 1 name, 2 loaded, 3 file name
    const char *file = lua_tostring(L, 3);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    if (LuaHost::pushCurrentEnv(L) && !lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 3); // 4 the module, 5 and 6 its arguments
    lua_callk(L, 2, 1, 0, &requireDone);
    return requireDone(L, LUA_OK, 0);
}

// coroutine.close, but not for a coroutine the engine runs.
int l_coclose(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    if (co) {
        Coroutine *c = LuaTask::context(co);
        if (c && c->L == co)
            return luaL_error(L, "coroutine.close: not for a coroutine of spawn()");
    }
    return callOriginal(L);
}

// Called by installApi once the globals are complete (the global table on the stack):
// locks the shared parts down and makes every task's globals fall back to them.
void installSandbox(lua_State *L)
{
    const int g = lua_gettop(L);
    // The shared metatables: of strings, files and the engine's types.
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "string");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    luaL_getmetatable(L, LUA_FILEHANDLE);
    lua_pushliteral(L, "FILE*");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    wrap(L, g, "load", &l_load);
    wrap(L, g, "loadfile", &l_loadfile);
    lua_pushcfunction(L, &l_dofile);
    lua_setfield(L, g, "dofile");
    wrap(L, g, "collectgarbage", &l_collectgarbage);
    lua_pushcfunction(L, &l_setmetatable);
    lua_setfield(L, g, "setmetatable");
    lua_getfield(L, g, "io");
    wrap(L, -1, "input", &l_ioDefault);
    wrap(L, -1, "output", &l_ioDefault);
    lua_pop(L, 1);
    lua_getfield(L, g, "os");
    wrap(L, -1, "setlocale", &l_setlocale);
    lua_pop(L, 1);
    lua_getfield(L, g, "coroutine");
    wrap(L, -1, "close", &l_coclose);
    lua_pop(L, 1);
    lua_getfield(L, g, "package");
    setRefused(L, -1, "loadlib", "package.loadlib is not available in a task");
    lua_pushvalue(L, g);
    lua_getfield(L, -2, "searchpath");
    lua_pushcclosure(L, &l_require, 2);
    lua_setfield(L, g, "require");
    lua_pop(L, 1);

    lua_getfield(L, g, "debug");
    const int debug = lua_gettop(L);
    setRefused(L, debug, "getregistry", "debug.getregistry is not available in a task");
    setRefused(L, debug, "upvaluejoin", "debug.upvaluejoin is not available in a task");
    setRefused(L, debug, "setuservalue", "debug.setuservalue is not available in a task");
    setRefused(L, debug, "getuservalue", "debug.getuservalue is not available in a task");
    setRefused(L, debug, "debug", "debug.debug is not available in a task (no console)");
    lua_getfield(L, g, "getmetatable"); // honours __metatable
    lua_setfield(L, debug, "getmetatable");
    lua_pushcfunction(L, &l_debugSetmetatable);
    lua_setfield(L, debug, "setmetatable");
    wrap(L, debug, "getupvalue", &l_debugUpvalue);
    wrap(L, debug, "setupvalue", &l_debugUpvalue);
    wrap(L, debug, "upvalueid", &l_debugUpvalue);
    wrap(L, debug, "getlocal", &l_debugLocal);
    wrap(L, debug, "setlocal", &l_debugSetlocal);
    lua_pop(L, 1);

    // Each task gets its own global table that falls back to `base`: the functions of
    // the original globals (a table read, as fast as before), then libIndex for the
    // library tables.
    lua_newtable(L);
    const int base = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, g)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, base);
    }
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, g);
    lua_pushcclosure(L, &libIndex, 1);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, base);

    lua_createtable(L, 0, 2);
    lua_pushvalue(L, base);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "globals");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, LuaHost::envMetaKey());
    lua_settop(L, g);
}

} // namespace

void LuaTask::addGlobal(lua_State *L, const char *name, int (*fn)(lua_State *L))
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, LuaHost::envMetaKey());
    lua_getfield(L, -1, "__index"); // the base of tasks' globals (installApi)
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
    lua_pop(L, 2);
}

void LuaTask::installApi(lua_State *L)
{
    luaOpenInterruptiblePatterns(L); // string.find & co. that a cancel or timeout can stop
    *static_cast<Coroutine **>(lua_getextraspace(L)) = nullptr;
    makeMarker(L, &CancelledKey, "cancelled");
    makeMarker(L, &StoppedKey, "stopped");
    makeMarker(L, &TimeoutKey, "timeout");

    const luaL_Reg api[] = {
        {"sleep", &LuaTask::l_sleep},
        {"spawn", &LuaTask::l_spawn},
        {"log", &LuaTask::l_log},
        {"print", &LuaTask::l_print},
        {"progress", &LuaTask::l_progress},
        {"is_cancelled", &LuaTask::l_isCancelled},
        {"is_timeout", &LuaTask::l_isTimeout},
        {"exec", &LuaTask::l_exec},
        {nullptr, nullptr},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, api, 0);
    const luaL_Reg http[] = {
        {"get", &LuaTask::l_httpGet},
        {"post", &LuaTask::l_httpPost},
        {"request", &LuaTask::l_httpRequest},
        {nullptr, nullptr},
    };
    luaL_newlib(L, http);
    lua_setfield(L, -2, "http");

    // `task`: one read-only proxy per host answering for the task that runs, so a task
    // costs no table until it reads task.args (a userdata: rawset cannot reach it).
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "task");
    lua_setfield(L, -2, "__metatable");
    lua_pushcfunction(L, &LuaTask::l_taskIndex);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, "task is read-only");
    lua_pushcclosure(L, &LuaTask::l_disabled, 1);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "task");
    // Taking the whole application down, or unhooking the engine's watchdog, is not a
    // task's business.
    lua_getfield(L, -1, "os");
    lua_pushstring(L, "os.exit is not available in a task: return or error() instead");
    lua_pushcclosure(L, &LuaTask::l_disabled, 1);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
    lua_getfield(L, -1, "debug");
    lua_pushstring(L, "debug.sethook is not available in a task");
    lua_pushcclosure(L, &LuaTask::l_disabled, 1);
    lua_setfield(L, -2, "sethook");
    lua_pop(L, 1);

    // coroutine.resume/wrap that tell the engine which Lua thread is running.
    lua_getfield(L, -1, "coroutine");
    lua_pushcfunction(L, &LuaTask::l_coresume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, &LuaTask::l_cowrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);

    // Handles of spawned coroutines.
    luaL_newmetatable(L, HandleMeta);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &HandleKey);
    const luaL_Reg handle[] = {
        {"wait", &LuaTask::l_handleWait}, {"cancel", &LuaTask::l_handleCancel},
        {"done", &LuaTask::l_handleDone}, {"cancelled", &LuaTask::l_handleCancelled},
        {"id", &LuaTask::l_handleId},     {nullptr, nullptr},
    };
    lua_newtable(L);
    luaL_setfuncs(L, handle, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, &LuaTask::l_handleGc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, &LuaTask::l_handleToString);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "handle"); // its __gc and methods are not for scripts to call
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    // The toolkit written in Lua, defining its globals in this (the base) table.
    if (luaL_loadbufferx(L, Prelude, sizeof(Prelude) - 1, "=taskdeck", "t") != LUA_OK)
        qFatal("taskdeck prelude: %s", lua_tostring(L, -1));
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TimeoutKey);
    lua_pushcfunction(L, [](lua_State *L) -> int {
        lua_pushboolean(L, toHandle(L, 1) != nullptr);
        return 1;
    });
    lua_pushcfunction(L, &LuaTask::l_waitGroup);
    lua_pushcfunction(L, &LuaTask::l_suspend);
    lua_pushcfunction(L, &LuaTask::l_wake);
    lua_pushcfunction(L, &LuaTask::l_current);
    lua_pushcfunction(L, &LuaTask::l_handleResult);
    lua_pushcfunction(L, [](lua_State *L) -> int {
        checkHandle(L, 1)->shielded = true;
        return 0;
    });
    lua_call(L, 8, 0);

    installSandbox(L);
    lua_pop(L, 1);
}

void LuaTask::hook(lua_State *L, lua_Debug *)
{
    Coroutine *c = context(L);
    if (!c) {
        lua_sethook(L, nullptr, 0, 0);
        return;
    }
    LuaTask *t = c->task;
    if (t->m_cancelLevel.load() == 3) {
        // Given up while stuck in a C call that has now returned: unwind without touching
        // anything else, once the engine thread has read where it was (under the mutex).
        {
            QMutexLocker lock(&t->m_liveMutex);
        }
        lua_sethook(L, &LuaTask::hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &StoppedKey);
        lua_error(L);
    }
    const qint64 now = steadyNowNs();
    if (now - t->m_lastFlushNs > LookInAfterNs)
        t->flushLive();
    if (now - t->m_resumeStartNs.load() > BlockingNs) {
        // Running a while without waiting: note where, for the stack and the log (the
        // innermost Lua frame: a pattern matcher may run this hook from C).
        lua_Debug ar;
        int frame = 0;
        while (lua_getstack(L, frame, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline < 0 &&
               frame < 3)
            ++frame;
        if (lua_getstack(L, frame, &ar) && lua_getinfo(L, "Sln", &ar) && ar.currentline > 0) {
            auto seen = std::make_unique<StackFrame>(
                StackFrame{QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src),
                           ar.currentline,
                           ar.name ? QString::fromUtf8(ar.name) : QStringLiteral("main chunk")});
            QMutexLocker lock(&t->m_liveMutex);
            t->m_blockingAt = std::move(seen);
        }
    }
    const int level = t->m_cancelLevel.load();
    if (level >= 2) {
        // From now on, on every instruction: the first one after a pcall that caught
        // this error raises it again, outside that pcall.
        lua_sethook(L, &LuaTask::hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &StoppedKey);
        lua_error(L);
    }
    lua_sethook(L, nullptr, 0, 0); // back to full speed until the next look-in
    if (level == 1 && !t->m_hookCancelRaised) {
        t->m_hookCancelRaised = true;
        if (c->L == L)
            c->cancelDelivered = true;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &CancelledKey);
        lua_error(L);
    }
}

// The task coroutine that may wait here, or an error naming `what`.
Coroutine *LuaTask::waitingCoroutine(lua_State *L, const char *what)
{
    Coroutine *co = context(L);
    if (!co || co->L != L)
        luaL_error(L,
                   "%s: cannot wait inside a plain coroutine (coroutine.wrap/resume); "
                   "use spawn",
                   what);
    return co;
}

int LuaTask::suspend(lua_State *L, Coroutine *co, const char *kind, double arg, qint64 wakeAtNs,
                     int (*k)(lua_State *, int, intptr_t))
{
    if (co->cancelPending || co->task->m_cancelLevel.load() >= 2)
        return raiseCancel(L, co);
    co->awaitKind = kind;
    co->awaitArg = arg;
    co->awaitingSinceMs = epochMs();
    co->wakeAtNs = wakeAtNs;
    return lua_yieldk(L, 0, 0, k);
}

int LuaTask::raiseCancel(lua_State *L, Coroutine *co)
{
    co->cancelPending = false;
    co->cancelDelivered = true;
    co->task->m_hookCancelRaised = true;
    if (co->group) {
        co->group->fired = true; // nobody will be woken for it any more
        co->group.reset();
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX,
                co->task->m_cancelLevel.load() >= 2 ? &StoppedKey : &CancelledKey);
    return lua_error(L);
}

// Continues a suspended call: the cancellation, if one came, is raised here.
static int resumed(lua_State *L)
{
    Coroutine *co = LuaTask::context(L);
    if (co->cancelPending)
        return -1;
    co->awaitKind = nullptr;
    return 0;
}

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

namespace {

Coroutine *toHandle(lua_State *L, int index)
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

} // namespace

Coroutine *LuaTask::checkHandle(lua_State *L, int index)
{
    Coroutine *co = toHandle(L, index);
    if (!co)
        luaL_typeerror(L, index, "handle from spawn()");
    return co;
}

// spawn(fn, ...): a child coroutine of the calling one, ready to run (create_task).
int LuaTask::l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    Coroutine *here = context(L);
    if (!here)
        return luaL_error(L, "spawn: not inside a task");
    LuaTask *t = here->task;
    Coroutine *parent = here->L == L ? here : t->m_current;
    const int n = lua_gettop(L);
    auto *co = new (lua_newuserdatauv(L, sizeof(Coroutine), 1)) Coroutine;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &HandleKey);
    lua_setmetatable(L, -2);
    co->task = t;
    co->id = t->m_nextCoroutineId++;
    lua_State *thread = lua_newthread(L);
    lua_setiuservalue(L, n + 1, 1);
    co->L = thread;
    *static_cast<Coroutine **>(lua_getextraspace(thread)) = co;
    for (int i = 1; i <= n; ++i)
        lua_pushvalue(L, i);
    lua_xmove(L, thread, n);
    co->startArgs = n - 1;
    lua_pushvalue(L, n + 1);
    co->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (parent) {
        co->parent = parent;
        co->nextSibling = parent->firstChild;
        if (parent->firstChild)
            parent->firstChild->prevSibling = co;
        parent->firstChild = co;
    }
    t->m_live.emplace(co->id, co);
    co->suspended = true;
    t->makeReady(co);
    return 1;
}

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
    lua_pushvalue(co->L, lua_gettop(co->L) - co->results + 1);
    lua_xmove(co->L, L, 1);
    return 2;
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

// The task whose code runs on `L`, or an error: a finalizer may run between tasks.
static LuaTask *runningTask(lua_State *L, const char *what)
{
    Coroutine *co = LuaTask::context(L);
    if (!co || !co->task)
        luaL_error(L, "%s: not inside a task", what);
    return co->task;
}

static QString joinArgs(lua_State *L, const char *separator)
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

int LuaTask::l_disabled(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

// ---- exec and http.* ----

namespace {

QString shorten(const QString &text)
{
    return text.size() > 80 ? text.left(77) + QStringLiteral("...") : text;
}

// opts.timeout in seconds, as milliseconds (-1: none).
qint64 timeoutOption(lua_State *L, int opts)
{
    if (lua_isnoneornil(L, opts))
        return -1;
    lua_getfield(L, opts, "timeout");
    qint64 ms = -1;
    if (!lua_isnil(L, -1)) {
        const double s = luaL_checknumber(L, -1);
        if (!(s > 0) || s > double(MaxDurationMs / 1000))
            luaL_error(L, "timeout must be a number of seconds > 0 and at most 365 days");
        ms = qint64(s * 1000);
    }
    lua_pop(L, 1);
    return ms;
}

// A table of name = value strings.
IoRequest::Headers stringPairs(lua_State *L, int opts, const char *field)
{
    IoRequest::Headers pairs;
    if (lua_isnoneornil(L, opts))
        return pairs;
    if (lua_getfield(L, opts, field) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                size_t len = 0;
                const char *value = luaL_tolstring(L, -1, &len);
                pairs.append({QByteArray(lua_tostring(L, -3)), QByteArray(value, qsizetype(len))});
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return pairs;
}

QByteArray bytes(lua_State *L, int index)
{
    size_t len = 0;
    const char *s = luaL_checklstring(L, index, &len);
    return QByteArray(s, qsizetype(len));
}

} // namespace

// The calling coroutine waits while the engine thread carries `request` out.
int LuaTask::startIo(lua_State *L, std::shared_ptr<IoRequest> request)
{
    Coroutine *co = waitingCoroutine(L, request->kind == IoRequest::Exec ? "exec" : "http");
    const char *kind = request->kind == IoRequest::Exec ? "exec" : "http";
    co->io = std::move(request);
    co->ioQueued = false;
    return suspend(L, co, kind, 0, -2, &ioDone);
}

int LuaTask::ioDone(lua_State *L, int, intptr_t)
{
    Coroutine *co = context(L);
    std::shared_ptr<IoRequest> request = std::exchange(co->io, nullptr);
    if (resumed(L) < 0) {
        co->task->m_out.ioAborts.push_back(co->id); // kills the process, aborts the request
        return raiseCancel(L, co);
    }
    if (!request->error.isEmpty()) {
        const QByteArray message = request->error.toUtf8();
        lua_pushlstring(L, message.constData(), size_t(message.size()));
        return lua_error(L);
    }
    if (request->kind == IoRequest::Exec) {
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, request->code);
        lua_setfield(L, -2, "code");
        lua_pushlstring(L, request->stdoutData.constData(), size_t(request->stdoutData.size()));
        lua_setfield(L, -2, "stdout");
        lua_pushlstring(L, request->stderrData.constData(), size_t(request->stderrData.size()));
        lua_setfield(L, -2, "stderr");
        if (request->signal) {
            lua_pushinteger(L, request->signal);
            lua_setfield(L, -2, "signal");
        }
        return 1;
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, request->status);
    lua_setfield(L, -2, "status");
    lua_createtable(L, 0, int(request->replyHeaders.size()));
    for (const auto &[name, value] : request->replyHeaders) {
        const QByteArray key = name.toLower();
        lua_pushlstring(L, value.constData(), size_t(value.size()));
        lua_setfield(L, -2, key.constData());
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, request->replyBody.constData(), size_t(request->replyBody.size()));
    lua_setfield(L, -2, "body");
    return 1;
}

// exec(argv_or_cmd, {cwd=, env=, stdin=, timeout=}) -> {code=, stdout=, stderr=}
int LuaTask::l_exec(lua_State *L)
{
    auto request = std::make_shared<IoRequest>();
    request->kind = IoRequest::Exec;
    if (lua_type(L, 1) == LUA_TSTRING) {
        const QString command = QString::fromUtf8(lua_tostring(L, 1));
        request->argv = {QStringLiteral("sh"), QStringLiteral("-c"), command};
        request->what = QStringLiteral("exec(%1)").arg(shorten(command));
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        const lua_Integer n = luaL_len(L, 1);
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_rawgeti(L, 1, i);
            request->argv.append(QString::fromUtf8(luaL_checkstring(L, -1)));
            lua_pop(L, 1);
        }
        if (request->argv.isEmpty())
            return luaL_argerror(L, 1, "an empty command");
        request->what = QStringLiteral("exec(%1)").arg(shorten(request->argv.join(u' ')));
    }
    const int opts = 2;
    if (!lua_isnoneornil(L, opts))
        luaL_checktype(L, opts, LUA_TTABLE);
    request->workingDirectory = QFileInfo(runningTask(L, "exec")->m_spec->file).absolutePath();
    if (!lua_isnoneornil(L, opts)) {
        if (lua_getfield(L, opts, "cwd") == LUA_TSTRING)
            request->workingDirectory = QString::fromUtf8(lua_tostring(L, -1));
        lua_pop(L, 1);
        if (lua_getfield(L, opts, "stdin") == LUA_TSTRING) {
            request->hasStdin = true;
            request->stdinData = bytes(L, -1);
        }
        lua_pop(L, 1);
    }
    request->environment = stringPairs(L, opts, "env");
    request->timeoutMs = timeoutOption(L, opts);
    return startIo(L, std::move(request));
}

int LuaTask::httpCall(lua_State *L, const QByteArray &method, const QString &url, int opts,
                      QByteArray body, const char *name)
{
    if (!lua_isnoneornil(L, opts))
        luaL_checktype(L, opts, LUA_TTABLE);
    auto request = std::make_shared<IoRequest>();
    request->kind = IoRequest::Http;
    request->method = method;
    request->url = url;
    request->body = std::move(body);
    request->headers = stringPairs(L, opts, "headers");
    request->timeoutMs = timeoutOption(L, opts);
    // The body is buffered before the task sees it: at most opts.max_body bytes (64 MiB by
    // default), never more than the task's memory cap, which then counts it again.
    const LuaTask *task = context(L)->task;
    const qint64 memory =
        task->m_spec->memoryBytes > 0 ? task->m_spec->memoryBytes : task->m_defaultMemoryLimit;
    request->maxBody = qMin(request->maxBody, memory);
    if (!lua_isnoneornil(L, opts)) {
        if (lua_getfield(L, opts, "max_body") != LUA_TNIL) {
            int isInteger = 0;
            const lua_Integer n = lua_tointegerx(L, -1, &isInteger);
            if (!isInteger || n < 0)
                return luaL_error(L, "%s: max_body must be a number of bytes >= 0", name);
            request->maxBody = qMin<qint64>(n, memory);
        }
        lua_pop(L, 1);
    }
    request->what = QStringLiteral("%1(%2)").arg(QString::fromUtf8(name), shorten(url));
    return startIo(L, std::move(request));
}

int LuaTask::l_httpGet(lua_State *L)
{
    return httpCall(L, "GET", QString::fromUtf8(luaL_checkstring(L, 1)), 2, {}, "http.get");
}

int LuaTask::l_httpPost(lua_State *L)
{
    return httpCall(L, "POST", QString::fromUtf8(luaL_checkstring(L, 1)), 3,
                    lua_isnoneornil(L, 2) ? QByteArray() : bytes(L, 2), "http.post");
}

int LuaTask::l_httpRequest(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "url");
    const QString url = QString::fromUtf8(luaL_checkstring(L, -1));
    lua_getfield(L, 1, "method");
    const QByteArray method = lua_isnil(L, -1) ? QByteArray("GET") : bytes(L, -1).toUpper();
    lua_getfield(L, 1, "body");
    const QByteArray body = lua_isnil(L, -1) ? QByteArray() : bytes(L, -1);
    lua_pop(L, 3);
    return httpCall(L, method, url, 1, body, "http.request");
}
