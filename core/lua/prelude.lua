-- The coroutine toolkit of SPEC section 2, on top of the engine's primitives (the
-- libraries in lib/, handed over in one table): spawn, suspend/wake (a coroutine waits
-- until woken or cancelled), waitgroup (waits on handles), outcome (a handle's result),
-- shield. Compiled in as the resource :/taskdeck/prelude.lua; runs once per Lua host,
-- as the chunk "=taskdeck" (stacks and the sandbox know its frames by that name).
local engine = ...
local timeout_error, is_handle, waitgroup, suspend, wake, current, outcome, shield_handle =
    engine.timeout_error, engine.is_handle, engine.waitgroup, engine.suspend, engine.wake,
    engine.current, engine.outcome, engine.shield
local gathered = engine.gathered
local track, now_ms = engine.track, engine.now_ms
local error, pcall, select, type, setmetatable, ipairs, next =
    error, pcall, select, type, setmetatable, ipairs, next
local running = coroutine.running
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
    -- The results; or the first failure (the rest cancelled); or, when only cancelled
    -- ones failed, the first cancellation (lib/gatherlib.cpp).
    local rok, r, cancel_rest = gathered(list)
    if rok then return r end
    if cancel_rest then
        for i = 1, #list do list[i]:cancel() end
    end
    error(r, 0)
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

-- Each object registers itself (track: a weak registry of the task's objects, with
-- where it was created) and keeps who holds it, by Lua thread, so that stacks can say
-- who holds what (SPEC section 9); nothing is formatted until a stack is read.
local Lock_ = {}
Lock_.__index = Lock_
Lock_.__name = "Lock"
Lock_.__metatable = "Lock" -- shared by every task: read-only
function Lock()
    local self = setmetatable({_locked = false, _waiters = fifo()}, Lock_)
    track(self, 1)
    return self
end
function Lock_:acquire()
    if not self._locked then
        self._locked = true
    else
        -- handed over by release(): still locked, now ours
        wait_turn(self._waiters, "Lock:acquire", function() self:release() end)
    end
    self._holder, self._since = running(), now_ms()
    return true
end
function Lock_:release()
    if not self._locked then error("Lock:release: the lock is not held", 2) end
    self._holder = nil
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
    -- Holders are kept from the start for a small semaphore, from its first wait for a
    -- large one (so that an uncontended Semaphore(64) costs nothing more per acquire).
    local self = setmetatable({_value = n, _n = n, _waiters = fifo(), _holders = {},
                               _track = n <= 8}, Semaphore_)
    track(self, 2)
    return self
end
local function hand_over(self)
    if not wake_next(self._waiters) then self._value = self._value + 1 end
end
function Semaphore_:acquire()
    if self._value > 0 then
        self._value = self._value - 1
        if not self._track then return true end
    else
        self._track = true
        -- a unit handed over by release()
        wait_turn(self._waiters, "Semaphore:acquire", function() hand_over(self) end)
    end
    local co, holders = running(), self._holders
    holders[co] = (holders[co] or 0) + 1
    return true
end
function Semaphore_:release()
    if self._track then
        local co, holders = running(), self._holders
        local n = holders[co]
        if not n then -- released by another than took it: one holder fewer all the same
            co = next(holders)
            n = co and holders[co]
        end
        if n then holders[co] = n > 1 and n - 1 or nil end
    end
    if not wake_next(self._waiters) then self._value = self._value + 1 end
end
function Semaphore_:locked() return self._value == 0 end
function Semaphore_:value() return self._value end
Semaphore_.with = with

local Event_ = {}
Event_.__index = Event_
Event_.__name = "Event"
Event_.__metatable = "Event" -- shared by every task: read-only
function Event()
    local self = setmetatable({_set = false, _waiters = fifo()}, Event_)
    track(self, 4)
    return self
end
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
    local self = setmetatable({_items = fifo(), _max = maxsize, _getters = fifo(),
                               _putters = fifo(), _unfinished = 0, _joiners = fifo()}, Queue_)
    track(self, 3)
    return self
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
