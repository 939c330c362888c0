#include "luatask.h"

#include "luahost.h"
#include "luapattern.h"
#include "luavalue.h"

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

// Makes a unique error object: a table whose tostring is `text`; is_cancelled and
// is_timeout recognise these by identity.
void makeMarker(lua_State *L, void *key, const char *text)
{
    lua_newtable(L);
    lua_newtable(L);
    lua_pushstring(L, text);
    lua_pushcclosure(
        L, [](lua_State *L) -> int {
            lua_pushvalue(L, lua_upvalueindex(1));
            return 1;
        },
        1);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, "TaskdeckError");
    lua_setfield(L, -2, "__name");
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

qint64 epochMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

const char Prelude[] = R"LUA(
-- The coroutine toolkit of SPEC section 2, on top of the engine's primitives:
-- spawn, suspend/wake (a coroutine waits until woken or cancelled), waitgroup (waits on
-- handles), outcome (a handle's result), shield. Runs once per Lua host.
local timeout_error, HandleMeta, waitgroup, suspend, wake, current, outcome, shield_handle =
    ...
local error, pcall, select, type, setmetatable, getmetatable, ipairs =
    error, pcall, select, type, setmetatable, getmetatable, ipairs
local pack, unpack = table.pack, table.unpack

local function handle_list(...)
    local first = ...
    if select('#', ...) == 1 and type(first) == 'table' and getmetatable(first) ~= HandleMeta then
        return first
    end
    return {...}
end

function gather(...)
    local list = handle_list(...)
    local ok, err = pcall(waitgroup, list, "first_error", nil, "gather")
    if not ok then -- the gatherer was cancelled (or given a non-handle)
        for i = 1, #list do
            if getmetatable(list[i]) == HandleMeta then list[i]:cancel() end
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
    elseif getmetatable(target) ~= HandleMeta then
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
    if getmetatable(h) ~= HandleMeta then error("shield: expected a handle", 2) end
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
function Semaphore(n)
    n = n == nil and 1 or n
    if math.type(n) ~= "integer" or n < 0 then
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
function Queue(maxsize)
    maxsize = maxsize or 0
    if math.type(maxsize) ~= "integer" or maxsize < 0 then
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
    // costs no table until it reads task.args.
    lua_newtable(L);
    lua_createtable(L, 0, 2);
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
        {"wait", &LuaTask::l_handleWait},
        {"cancel", &LuaTask::l_handleCancel},
        {"done", &LuaTask::l_handleDone},
        {"cancelled", &LuaTask::l_handleCancelled},
        {"id", &LuaTask::l_handleId},
        {nullptr, nullptr},
    };
    lua_newtable(L);
    luaL_setfuncs(L, handle, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, &LuaTask::l_handleGc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, &LuaTask::l_handleToString);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    // The toolkit written in Lua, defining its globals in this (the base) table.
    if (luaL_loadbufferx(L, Prelude, sizeof(Prelude) - 1, "=taskdeck", "t") != LUA_OK)
        qFatal("taskdeck prelude: %s", lua_tostring(L, -1));
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TimeoutKey);
    luaL_getmetatable(L, HandleMeta);
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

    // Each task gets its own global table that falls back to this one.
    lua_newtable(L);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, LUA_REGISTRYINDEX, "taskdeck.envmeta");
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
        { QMutexLocker lock(&t->m_liveMutex); }
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
        while (lua_getstack(L, frame, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline < 0
               && frame < 3)
            ++frame;
        if (lua_getstack(L, frame, &ar) && lua_getinfo(L, "Sln", &ar) && ar.currentline > 0) {
            auto seen = std::make_unique<StackFrame>(StackFrame{
                QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src),
                ar.currentline, ar.name ? QString::fromUtf8(ar.name) : QStringLiteral("main chunk")});
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
        luaL_error(L, "%s: cannot wait inside a plain coroutine (coroutine.wrap/resume); "
                      "use spawn", what);
    return co;
}

int LuaTask::suspend(lua_State *L, Coroutine *co, const char *kind, double arg,
                     qint64 wakeAtNs, int (*k)(lua_State *, int, intptr_t))
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
    return suspend(L, co, "sleep", seconds,
                   seconds > 1e9 ? -2 : steadyNowNs() + qint64(seconds * 1e9), &sleepDone);
}

int LuaTask::sleepDone(lua_State *L, int, intptr_t)
{
    if (resumed(L) < 0)
        return raiseCancel(L, context(L));
    return 0;
}

static Coroutine *toHandle(lua_State *L, int index)
{
    // luaL_checkudata looks the metatable up by name; this is on every hot path.
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
    const WaitGroup::Mode mode = qstrcmp(modeName, "first") == 0 ? WaitGroup::First
                                 : qstrcmp(modeName, "first_error") == 0
                                     ? WaitGroup::FirstError
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
        else if (mode == WaitGroup::First
                 || (mode == WaitGroup::FirstError && co->failed && !co->cancelled))
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
    const qint64 deadline = timeout > 0 ? steadyNowNs() + qint64(timeout * 1e9) : -2;
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

int LuaTask::l_handleGc(lua_State *L)
{
    static_cast<Coroutine *>(lua_touserdata(L, 1))->~Coroutine();
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
    context(L)->task->appendLog(joinArgs(L, " "));
    return 0;
}

int LuaTask::l_print(lua_State *L)
{
    context(L)->task->appendLog(joinArgs(L, "\t"));
    return 0;
}

int LuaTask::l_progress(lua_State *L)
{
    const double fraction = luaL_checknumber(L, 1);
    if (std::isnan(fraction))
        return luaL_argerror(L, 1, "not a number");
    size_t len = 0;
    const char *message = luaL_optlstring(L, 2, "", &len);
    LuaTask *t = context(L)->task;
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
        if (!(s > 0))
            luaL_error(L, "timeout must be a number of seconds > 0");
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
    Coroutine *here = context(L);
    request->workingDirectory = QFileInfo(here->task->m_spec->file).absolutePath();
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
