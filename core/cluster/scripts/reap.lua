-- reap: gives the tasks of workers whose lease expired back to the queue, with attempt
-- one higher at their next claim; a task lost for the third time fails "worker lost", a
-- lost task with a cancel requested ends cancelled. Any node may call it: a lock taken
-- with SET NX PX lets one node per period do the work.
-- KEYS[1] prefix
-- ARGV[1] lock token  ARGV[2] lock period ms
-- Returns the number of tasks given back or failed; -1 when another node holds the lock.
local ok = redis.call('SET', P .. 'reaper', ARGV[1], 'NX', 'PX', tonumber(ARGV[2]))
if not ok then
    return -1
end
local now = nowMs()
local count = 0
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now)) do
    redis.call('ZREM', P .. 'leases', worker)
    redis.call('HSET', P .. 'worker:' .. worker, 'state', 'lost', 'running', 0)
    redis.call('PEXPIRE', P .. 'worker:' .. worker, 86400000)
    for _, id in ipairs(redis.call('SMEMBERS', P .. 'wtasks:' .. worker)) do
        local key = P .. 'task:' .. id
        local t = redis.call('HMGET', key, 'worker', 'state', 'group', 'priority', 'losses',
                             'cancel')
        if t[1] == worker and t[2] == 'running' then
            releaseSlot(t[3])
            local losses = redis.call('HINCRBY', key, 'losses', 1)
            count = count + 1
            if t[6] == '1' then
                finish(id, 'cancelled', now, {'error', 'cancelled'})
            elseif losses >= 3 then
                finish(id, 'failed', now, {'error', 'worker lost'})
            else
                redis.call('HSET', key, 'state', 'pending', 'worker', '')
                redis.call('HDEL', key, 'progress', 'status') -- the lost attempt's
                enqueue(id, t[3], t[4])
                event('lost', id, 'pending')
            end
        end
    end
    redis.call('DEL', P .. 'wtasks:' .. worker, P .. 'cancels:' .. worker)
end
return count
