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
-- Progress: kept on tasks that are still this worker's attempt; then every task the worker
-- runs that is no longer its own is cancelled. One HMGET for all of them.
local running = tonumber(ARGV[6])
local ids, attempts = {}, {}
local function note(entry)
    local id, attempt = string.match(entry, '^(%d+):(%d+)$')
    if id and not attempts[id] then
        ids[#ids + 1] = id
        attempts[id] = attempt
    end
    return id
end
for i = 7, 6 + running do
    note(ARGV[i])
end
for i = 7 + running, #ARGV - 2, 3 do
    note(ARGV[i])
end
local tasks = loadTasks(ids)
local mine = {}
for i, id in ipairs(ids) do
    local t = tasks[i]
    if t and t.worker == worker and text(t.attempt) == attempts[id] and t.state == 'running' then
        mine[id] = t
    end
end
local changed = false
for i = 7 + running, #ARGV - 2, 3 do
    local id, attempt = string.match(ARGV[i], '^(%d+):(%d+)$')
    local t = id and mine[id]
    if t and attempt == attempts[id] then
        t.progress, t.status = ARGV[i + 1], ARGV[i + 2]
        saveTask(id, t)
        changed = true
    end
end
if changed then
    flush()
end
for i = 7, 6 + running do
    local id = string.match(ARGV[i], '^(%d+):')
    if id and not seen[id] and not mine[id] then
        cancels[#cancels + 1] = id
        seen[id] = true
    end
end
return cancels
