-- claim: gives a worker up to N tasks at once, the best first: the global limit and
-- every group limit hold across all workers, paused groups (or a paused cluster) give
-- none, groups take turns by smooth weighted round-robin, and in a group the highest
-- priority, then the lowest id, goes first.
-- Lean on purpose (SPEC 8: Redis commands per task): the turns are planned first from
-- the ready sets' sizes, then each group gives its share with one ZPOPMIN; the tasks'
-- fields and definitions are read in one HMGET each and written back in one HSET; the
-- counts, the worker's set and the event once per call.
-- KEYS[1] prefix
-- ARGV[1] worker  ARGV[2] free slots
-- Returns a flat list: id, attempt, spec for each task claimed, then one number: when it
-- gave fewer than asked, the ms until the earliest delayed retry comes due (-1: none), so
-- that an idle worker claims again then instead of polling; an error "LOST ..." when the
-- worker holds no lease (it must heartbeat first).
local worker, slots = ARGV[1], tonumber(ARGV[2])
local now = nowMs()
local lease = redis.call('ZSCORE', P .. 'leases', worker)
if not lease then
    return redis.error_reply('LOST worker ' .. worker .. ' holds no lease')
end
promoteDue(now)
-- The ms until the earliest delayed retry is due, -1 when there is none.
local function nextDue()
    local first = redis.call('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
    if #first == 0 then
        return -1
    end
    return math.max(0, tonumber(first[2]) - now)
end
local config = redis.call('HMGET', P .. 'config', 'paused', 'max')
if config[1] == '1' then
    return {-1} -- resuming wakes the workers
end
local max = tonumber(config[2] or '0')
local active = redis.call('SMEMBERS', P .. 'active')
if #active == 0 then
    return {nextDue()}
end
table.sort(active)
local paused = {}
for _, g in ipairs(redis.call('SMEMBERS', P .. 'gpaused')) do
    paused[g] = true
end
local names = {}
for _, g in ipairs(active) do
    if not paused[g] then
        names[#names + 1] = g
    end
end
local running = redis.call('HMGET', P .. 'running', '*', unpack(names))
local total = tonumber(running[1] or '0')
local groups = {}
if #names > 0 then
    local limits = redis.call('HMGET', P .. 'glimit', unpack(names))
    local weights = redis.call('HMGET', P .. 'gweight', unpack(names))
    local currents = redis.call('HMGET', P .. 'wrr', unpack(names))
    for i, g in ipairs(names) do
        groups[i] = {
            name = g,
            limit = tonumber(limits[i] or '0'),
            weight = tonumber(weights[i] or '1'),
            running = tonumber(running[i + 1] or '0'),
            current = tonumber(currents[i] or '0'),
            -- Tasks it may give: the ready set's size, known once it is chosen.
            size = -1,
            take = 0,
        }
    end
end
-- The turns, planned: which group gives each slot.
local order = {}
while #order < slots and (max <= 0 or total < max) do
    local best, sum = nil, 0
    for _, g in ipairs(groups) do
        if g.size ~= 0 and (g.limit <= 0 or g.running < g.limit) then
            g.current = g.current + g.weight
            sum = sum + g.weight
            if not best or g.current > best.current then
                best = g
            end
        end
    end
    if not best then
        break
    end
    if best.size < 0 then
        best.size = redis.call('ZCARD', P .. 'ready:' .. best.name)
    end
    best.current = best.current - sum
    -- An empty ready set (a stale member of the active set) loses its turn, as before.
    if best.size > 0 then
        best.size = best.size - 1
        best.take = best.take + 1
        best.running = best.running + 1
        total = total + 1
        order[#order + 1] = best
    end
end
-- Each group's share in one ZPOPMIN; a group left empty leaves the active set.
local popped, emptied = {}, {}
for _, g in ipairs(groups) do
    if g.take > 0 then
        local got = redis.call('ZPOPMIN', P .. 'ready:' .. g.name, g.take)
        local ids = {}
        for i = 1, #got, 2 do
            ids[#ids + 1] = tostring(tonumber(got[i]))
        end
        popped[g] = ids
        redis.call('HINCRBY', P .. 'running', g.name, g.take)
        if (g.limit > 0 and g.running > g.limit) or (max > 0 and total > max) then
            return redis.error_reply('INVARIANT limit exceeded in group ' .. g.name)
        end
    end
    if g.size == 0 then
        emptied[#emptied + 1] = g.name
    end
end
-- The tasks in claim order, read in one HMGET each for their fields and definitions.
local held, heldGroup, next = {}, {}, {}
for _, g in ipairs(order) do
    local i = (next[g] or 0) + 1
    next[g] = i
    local id = popped[g][i]
    if id then
        held[#held + 1] = id
        heldGroup[#held] = g.name
    end
end
local tasks, specs = loadTasks(held), hmget(SPEC, held)
local out = {}
for i, id in ipairs(held) do
    -- A ready member without fields (never expected) still runs: its empty definition
    -- makes the worker report it failed, and the counts stay right.
    local t = tasks[i] or {group = heldGroup[i], state = 'pending', attempt = 0, fails = 0,
                           losses = 0, retries = 0, delay = 0}
    t.state = 'running'
    t.worker = worker
    t.beat = now
    t.attempt = tonumber(t.attempt or 0) + 1
    if not t.started then
        t.started = now
    end
    saveTask(id, t)
    out[#out + 1] = id
    out[#out + 1] = t.attempt
    out[#out + 1] = specs[i] or ''
end
flush()
if #held > 0 then
    chunked('SADD', P .. 'wtasks:' .. worker, held)
    redis.call('HINCRBY', P .. 'running', '*', #held)
    -- One event for the call: the first id, and every id in claim order.
    eventFor('started', held, worker)
end
if #emptied > 0 then
    redis.call('SREM', P .. 'active', unpack(emptied))
end
local wrr = {}
for _, g in ipairs(groups) do
    wrr[#wrr + 1] = g.name
    wrr[#wrr + 1] = g.current
end
if #wrr > 0 then
    redis.call('HSET', P .. 'wrr', unpack(wrr))
end
out[#out + 1] = #held < slots and nextDue() or -1
return out
