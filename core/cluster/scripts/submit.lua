-- submit: queues a batch of tasks (at most ~1,000: ClusterProtocol splits bigger ones),
-- in the order given; returns the first new id (the others follow it). Lean on purpose
-- (SPEC 8: Redis commands per task): one HSET per task, the sets filled in one call each,
-- then one entry on the stream "wake" (MAXLEN 1) that idle workers block on (XREAD).
-- KEYS[1] prefix
-- ARGV[1] count; then per task 9 values: name file kind group priority retries
--         retryDelayMs keepMs spec (spec: the task's definition as JSON, source included)
local count = tonumber(ARGV[1])
local now = nowMs()
local last = redis.call('INCRBY', P .. 'seq', count)
local first = last - count + 1
local tasks, ready, groups = {}, {}, {}
for i = 0, count - 1 do
    local a = 2 + i * 9
    local id = first + i
    local group = ARGV[a + 3]
    redis.call('HSET', P .. 'task:' .. id, 'name', ARGV[a], 'file', ARGV[a + 1],
               'kind', ARGV[a + 2], 'group', group, 'priority', ARGV[a + 4],
               'retries', ARGV[a + 5], 'delay', ARGV[a + 6], 'keep', ARGV[a + 7],
               'spec', ARGV[a + 8], 'state', 'pending', 'attempt', 0, 'fails', 0,
               'losses', 0, 'submitted', now)
    tasks[#tasks + 1] = id
    tasks[#tasks + 1] = id
    local r = ready[group]
    if not r then
        r = {}
        ready[group] = r
        groups[#groups + 1] = group
    end
    r[#r + 1] = -tonumber(ARGV[a + 4])
    r[#r + 1] = member(id)
end
-- One command per 2,000 arguments (unpack's stack stays small).
local function zaddAll(key, pairs)
    for s = 1, #pairs, 2000 do
        redis.call('ZADD', key, unpack(pairs, s, math.min(s + 1999, #pairs)))
    end
end
zaddAll(P .. 'tasks', tasks)
for _, g in ipairs(groups) do
    zaddAll(P .. 'ready:' .. g, ready[g])
end
if #groups > 0 then
    redis.call('SADD', P .. 'active', unpack(groups))
end
event('submitted', first, tostring(count))
redis.call('XADD', P .. 'wake', 'MAXLEN', 1, '*', 'n', count)
return first
