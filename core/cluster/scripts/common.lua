-- Shared by every cluster script: ClusterProtocol puts this text before each one.
-- KEYS[1] is the namespace prefix ("taskdeck:"); every key below lives under it:
--   seq                 INCR counter of task ids (ids double as submission order)
--   tasks               zset id -> id: every task still kept (ps walks it)
--   task:<id>           hash: name file kind group priority state attempt fails losses
--                       retries delay keep worker submitted started finished result
--                       error stack log cancel spec progress status
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
--   events              stream (XADD MAXLEN ~ 10000): type id state
local P = KEYS[1]

local function nowMs()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function event(kind, id, state)
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', 10000, '*', 'type', kind, 'id', id,
               'state', state or '')
end

local function member(id)
    return string.format('%016d', tonumber(id))
end

-- A pending task becomes claimable: in its group's ready set, the group active.
local function enqueue(id, group, priority)
    redis.call('ZADD', P .. 'ready:' .. group, -tonumber(priority), member(id))
    redis.call('SADD', P .. 'active', group)
end

local function releaseSlot(group)
    redis.call('HINCRBY', P .. 'running', '*', -1)
    redis.call('HINCRBY', P .. 'running', group, -1)
end

-- Ends task `id` for good: its state, time and fields, kept for its `keep` ms.
local function finish(id, state, now, fields)
    local key = P .. 'task:' .. id
    redis.call('HSET', key, 'state', state, 'finished', now)
    if fields and #fields > 0 then
        redis.call('HSET', key, unpack(fields))
    end
    local keep = tonumber(redis.call('HGET', key, 'keep') or '604800000')
    redis.call('PEXPIRE', key, keep)
    event('ended', id, state)
end

-- Retries waiting out their delay whose time has come go back to their ready sets.
local function promoteDue(now)
    local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)
    for _, id in ipairs(due) do
        redis.call('ZREM', P .. 'delayed', id)
        local t = redis.call('HMGET', P .. 'task:' .. id, 'group', 'priority', 'state')
        if t[3] == 'pending' then
            enqueue(id, t[1], t[2])
        end
    end
end
