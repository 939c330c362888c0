-- reap: gives the tasks of workers whose lease expired back to the queue, with attempt
-- one higher at their next claim; a task lost for the third time fails "worker lost", a
-- lost task with a cancel requested ends cancelled. Then forgets ended tasks whose `keep`
-- ran out. Any node may call it: a lock taken with SET NX PX lets one node per period do
-- the work.
-- KEYS[1] prefix
-- ARGV[1] lock token  ARGV[2] lock period ms
-- Returns the number of tasks given back or failed; -1 when another node holds the lock.
local ok = redis.call('SET', P .. 'reaper', ARGV[1], 'NX', 'PX', tonumber(ARGV[2]))
if not ok then
    return -1
end
local now = nowMs()
local count = 0
local released, requeued = {}, false
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now)) do
    redis.call('ZREM', P .. 'leases', worker)
    redis.call('HSET', P .. 'worker:' .. worker, 'state', 'lost', 'running', 0)
    redis.call('PEXPIRE', P .. 'worker:' .. worker, 86400000)
    local ids = redis.call('SMEMBERS', P .. 'wtasks:' .. worker)
    local tasks = loadTasks(ids)
    for i, id in ipairs(ids) do
        local t = tasks[i]
        if t and t.worker == worker and t.state == 'running' then
            released[t.group] = (released[t.group] or 0) + 1
            t.losses = tonumber(t.losses or 0) + 1
            count = count + 1
            if t.cancel == '1' then
                finish(id, t, 'cancelled', now, {error = 'cancelled'})
                event('ended', id, 'cancelled')
            elseif t.losses >= 3 then
                finish(id, t, 'failed', now, {error = 'worker lost'})
                event('ended', id, 'failed')
            else
                t.state, t.worker = 'pending', ''
                t.progress, t.status = nil, nil -- the lost attempt's
                saveTask(id, t)
                enqueue(id, t)
                event('lost', id, 'pending')
                requeued = true
            end
        end
    end
    redis.call('DEL', P .. 'wtasks:' .. worker, P .. 'cancels:' .. worker)
end
flush()
releaseSlots(released)
if requeued then
    redis.call('XADD', P .. 'wake', 'MAXLEN', 1, '*', 'n', 1)
end
sweep(now)
return count
