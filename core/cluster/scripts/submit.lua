-- submit: queues a batch of tasks, in the order given; returns the first new id (the
-- others follow it).
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
    local group = ARGV[a + 3]
    redis.call('HSET', P .. 'task:' .. id, 'name', ARGV[a], 'file', ARGV[a + 1],
               'kind', ARGV[a + 2], 'group', group, 'priority', ARGV[a + 4],
               'retries', ARGV[a + 5], 'delay', ARGV[a + 6], 'keep', ARGV[a + 7],
               'spec', ARGV[a + 8], 'state', 'pending', 'attempt', 0, 'fails', 0,
               'losses', 0, 'submitted', now)
    redis.call('ZADD', P .. 'tasks', id, id)
    enqueue(id, group, ARGV[a + 4])
end
event('submitted', first, tostring(count))
return first
