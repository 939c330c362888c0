-- Shared by every cluster script: ClusterProtocol puts this text before each one.
-- KEYS[1] is the namespace prefix ("taskdeck:"); every key below lives under it.
-- Tasks are kept by column, one hash per kind of data with the task id as field, so that a
-- script reads or writes a whole batch of tasks in one command (SPEC 8: Redis commands per
-- task): a task costs one field in `task` and `spec`, never a key of its own.
--   seq                 INCR counter of task ids (ids double as submission order)
--   tasks               zset id -> id: every task still kept (ps walks it)
--   task                hash id -> JSON object of the task's small fields: name file kind
--                       group priority state attempt fails losses retries delay keep worker
--                       submitted started finished beat cancel progress status
--   spec                hash id -> the task's definition as JSON (source included), as
--                       submitted; claim hands it to the worker
--   out                 hash id -> JSON object: result error stack log (of the end, or of
--                       the failed attempt a retry follows)
--   expire              zset id -> when an ended task is forgotten (ms): its `keep`
--   ready:<group>       zset of pending tasks: score -priority, member %016d id
--   active              set of groups whose ready set is not empty
--   delayed             zset id -> due time (ms, Redis clock): retries waiting out a delay
--   config              hash: max (global limit, 0 none), paused (1/0)
--   glimit gweight      hashes group -> limit (0 none) / weight (default 1)
--   gpaused             set of paused groups
--   wrr                 hash group -> current weight (smooth weighted round-robin)
--   running             hash group -> running count; field "*" is the global count
--   workers             set of every worker name seen
--   worker:<name>       hash: host pid capacity running state (alive/lost) beat started
--   leases              zset worker -> lease expiry (ms)
--   wtasks:<name>       set of task ids a worker holds
--   cancels:<name>      set of task ids a worker must cancel
--   reaper              the reaper's lock (SET NX PX)
--   stacks              hash id -> live stack JSON of running tasks, written by workers
--   stacks:wanted       set (PX) by ps --stacks: workers write stacks while it exists
--   order               INCR counter of moves to top/bottom (priority.lua)
--   events              stream (XADD MAXLEN ~ 10000): type id state, and ids (every id,
--                       space-separated) when one entry stands for several tasks
--   wake                stream (MAXLEN 1) idle workers block on: submits and handbacks
local P = KEYS[1]
local TASK, SPEC, OUT = P .. 'task', P .. 'spec', P .. 'out'

local function nowMs()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function event(kind, id, state)
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', 10000, '*', 'type', kind, 'id', id,
               'state', state or '')
end

-- One event for many tasks of one kind: the first id, and every id.
local function eventFor(kind, ids, state)
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', 10000, '*', 'type', kind, 'id', ids[1],
               'state', state or '', 'ids', table.concat(ids, ' '))
end

local function member(id)
    return string.format('%016d', tonumber(id))
end

-- `command key a b c ...` once per 1,000 members (unpack's stack stays small).
local function chunked(command, key, list)
    for s = 1, #list, 1000 do
        redis.call(command, key, unpack(list, s, math.min(s + 999, #list)))
    end
end

-- The values of `fields` of hash `key`, in order (false where missing), in one HMGET per
-- 1,000 fields.
local function hmget(key, fields)
    local out = {}
    for s = 1, #fields, 1000 do
        local got = redis.call('HMGET', key, unpack(fields, s, math.min(s + 999, #fields)))
        for i = 1, #got do
            out[s + i - 1] = got[i]
        end
    end
    return out
end

-- Tasks by id: their field tables, in order (false for a task not kept).
local function loadTasks(ids)
    local raw = hmget(TASK, ids)
    for i = 1, #ids do
        raw[i] = raw[i] and cjson.decode(raw[i]) or false
    end
    return raw
end

local function loadTask(id)
    return loadTasks({id})[1]
end

-- Writes collected by a script and made at its end, one command per hash (or sorted set)
-- per 1,000 entries: write(key, field, value) for hashes, add(key, score, member) for
-- sorted sets.
local writes, writeOrder = {}, {}
local function collect(command, key, a, b)
    local list = writes[key]
    if not list then
        list = {command = command}
        writes[key] = list
        writeOrder[#writeOrder + 1] = key
    end
    list[#list + 1] = a
    list[#list + 1] = b
end
local function write(key, field, value)
    collect('HSET', key, field, value)
end
local function add(key, score, m)
    collect('ZADD', key, score, m)
end
local function saveTask(id, t)
    write(TASK, id, cjson.encode(t))
end
local function flush()
    for _, key in ipairs(writeOrder) do
        local list = writes[key]
        for s = 1, #list, 2000 do
            redis.call(list.command, key, unpack(list, s, math.min(s + 1999, #list)))
        end
    end
    writes, writeOrder = {}, {}
end

-- A task's field as the replies give it: a string ('' when not set).
local function text(v)
    if v == nil or v == false then
        return ''
    elseif type(v) == 'number' then
        if v == math.floor(v) then
            return string.format('%d', v)
        end
        return tostring(v)
    end
    return tostring(v)
end

-- A pending task becomes claimable: in its group's ready set, the group active.
local activeAdded = {}
local function enqueue(id, t)
    add(P .. 'ready:' .. t.group, -tonumber(t.priority), member(id))
    if not activeAdded[t.group] then
        activeAdded[t.group] = true
        redis.call('SADD', P .. 'active', t.group)
    end
end

local function releaseSlots(released)
    local freed = 0
    for group, n in pairs(released) do
        redis.call('HINCRBY', P .. 'running', group, -n)
        freed = freed + n
    end
    if freed > 0 then
        redis.call('HINCRBY', P .. 'running', '*', -freed)
    end
end

-- Ends task `id` (fields `t`) for good: its state and time, what it left (`out`: result
-- error stack log), kept for its `keep` ms. Written by flush().
local function finish(id, t, state, now, out)
    t.state = state
    t.finished = now
    saveTask(id, t)
    write(OUT, id, cjson.encode(out))
    add(P .. 'expire', now + tonumber(t.keep or 604800000), id)
end

-- Forgets ended tasks whose `keep` ran out (at most 5,000 a call).
local function sweep(now)
    local ids = redis.call('ZRANGEBYSCORE', P .. 'expire', '-inf', now, 'LIMIT', 0, 5000)
    if #ids > 0 then
        chunked('HDEL', TASK, ids)
        chunked('HDEL', SPEC, ids)
        chunked('HDEL', OUT, ids)
        chunked('HDEL', P .. 'stacks', ids)
        chunked('ZREM', P .. 'tasks', ids)
        chunked('ZREM', P .. 'expire', ids)
    end
end

-- Retries waiting out their delay whose time has come go back to their ready sets.
local function promoteDue(now)
    local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)
    if #due == 0 then
        return
    end
    chunked('ZREM', P .. 'delayed', due)
    local tasks = loadTasks(due)
    for i, id in ipairs(due) do
        local t = tasks[i]
        if t and t.state == 'pending' then
            enqueue(id, t)
        end
    end
    flush()
end
