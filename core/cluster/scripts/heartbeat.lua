-- heartbeat: a worker renews its lease (and registers itself on its first beat); the
-- reply is whether someone wants live stacks (ps --stacks: the key stacks:wanted), then the
-- ids it must cancel: those cancelled by a user, and those it holds that are no longer
-- its own (the lease ran out and the reaper gave them to the queue).
-- KEYS[1] prefix
-- ARGV[1] worker  ARGV[2] leaseMs  ARGV[3] host  ARGV[4] pid  ARGV[5] capacity
-- ARGV[6] running (N); ARGV[7..6+N] "id:attempt" of every task the worker runs; then
-- triples "id:attempt", progress (0..1), status text: progress its tasks set since the last
-- beat, kept on tasks that are still this worker's attempt (fields progress, status)
local worker, lease = ARGV[1], tonumber(ARGV[2])
local now = nowMs()
local wkey = P .. 'worker:' .. worker
if redis.call('HGET', wkey, 'state') ~= 'alive' then
    redis.call('HSET', wkey, 'started', now)
end
redis.call('HSET', wkey, 'host', ARGV[3], 'pid', ARGV[4], 'capacity', ARGV[5],
           'running', ARGV[6], 'state', 'alive', 'beat', now)
redis.call('PERSIST', wkey)
redis.call('SADD', P .. 'workers', worker)
redis.call('ZADD', P .. 'leases', now + lease, worker)
local cancels = {redis.call('EXISTS', P .. 'stacks:wanted')}
local seen = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'cancels:' .. worker)) do
    cancels[#cancels + 1] = id
    seen[id] = true
end
redis.call('DEL', P .. 'cancels:' .. worker)
local running = tonumber(ARGV[6])
for i = 7 + running, #ARGV - 2, 3 do
    local id, attempt = string.match(ARGV[i], '^(%d+):(%d+)$')
    if id then
        local key = P .. 'task:' .. id
        local t = redis.call('HMGET', key, 'worker', 'attempt', 'state')
        if t[1] == worker and t[2] == attempt and t[3] == 'running' then
            redis.call('HSET', key, 'progress', ARGV[i + 1], 'status', ARGV[i + 2])
        end
    end
end
for i = 7, 6 + running do
    local id, attempt = string.match(ARGV[i], '^(%d+):(%d+)$')
    if id and not seen[id] then
        local t = redis.call('HMGET', P .. 'task:' .. id, 'worker', 'attempt', 'state')
        if t[1] ~= worker or t[2] ~= attempt or t[3] ~= 'running' then
            cancels[#cancels + 1] = id
            seen[id] = true
        end
    end
end
return cancels
