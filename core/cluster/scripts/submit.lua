-- submit: queues a batch of tasks (at most ~1,000: ClusterProtocol splits bigger ones),
-- in the order given; returns the first new id (the others follow it). Lean on purpose
-- (SPEC 8: Redis commands per task): a few commands per call whatever its size — the
-- tasks' fields and definitions in one HSET each, the sets in one call each, then one
-- entry on the stream "wake" (MAXLEN 1) that idle workers block on (XREAD).
-- KEYS[1] prefix
-- ARGV[1] count; then per task 9 values: name file kind group priority retries
--         retryDelayMs keepMs spec (spec: the task's definition as JSON, source included)
local count = tonumber(ARGV[1])
local now = nowMs()
local last = redis.call('INCRBY', P .. 'seq', count)
local first = last - count + 1
for i = 0, count - 1 do
    local a = 2 + i * 9
    local id = first + i
    local t = {name = ARGV[a], file = ARGV[a + 1], kind = ARGV[a + 2], group = ARGV[a + 3],
               priority = tonumber(ARGV[a + 4]), retries = tonumber(ARGV[a + 5]),
               delay = tonumber(ARGV[a + 6]), keep = tonumber(ARGV[a + 7]),
               state = 'pending', attempt = 0, fails = 0, losses = 0, submitted = now}
    saveTask(id, t)
    write(SPEC, id, ARGV[a + 8])
    add(P .. 'tasks', id, id)
    enqueue(id, t)
end
flush()
event('submitted', first, tostring(count))
redis.call('XADD', P .. 'wake', 'MAXLEN', 1, '*', 'n', count)
return first
