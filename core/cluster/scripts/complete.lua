-- complete: a worker reports the ends of tasks, in a batch. Each is fenced: only the
-- worker holding that attempt of a running task may end it, so a result is recorded
-- once; anything else is refused. A failure or timeout with retries left goes back to
-- the queue after retry delay * 2^(fails-1) by Redis's clock; "handback" returns a task
-- unrun (a draining worker) without counting its attempt. A result over 1 MiB fails.
-- KEYS[1] prefix
-- ARGV[1] worker; then per task 7 values: id attempt state result error stack log
--   state: succeeded failed timed_out cancelled handback; result JSON text or ""
-- Returns the ids refused.
local worker = ARGV[1]
local now = nowMs()
local refused = {}
local maxResult = 1048576
for a = 2, #ARGV, 7 do
    local id, attempt, state = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    local key = P .. 'task:' .. id
    local t = redis.call('HMGET', key, 'worker', 'attempt', 'state', 'group', 'priority',
                         'fails', 'retries', 'delay', 'cancel')
    if t[1] ~= worker or t[2] ~= attempt or t[3] ~= 'running' then
        refused[#refused + 1] = id
    else
        releaseSlot(t[4])
        redis.call('SREM', P .. 'wtasks:' .. worker, id)
        local result, err = ARGV[a + 3], ARGV[a + 4]
        if state == 'succeeded' and #result > maxResult then
            state = 'failed'
            err = 'result too large: ' .. #result .. ' bytes of JSON (at most 1 MiB)'
            result = ''
        end
        local fails = tonumber(t[6])
        if state == 'handback' and t[9] ~= '1' then
            redis.call('HINCRBY', key, 'attempt', -1)
            redis.call('HSET', key, 'state', 'pending', 'worker', '')
            enqueue(id, t[4], t[5])
            event('handback', id, 'pending')
        elseif (state == 'failed' or state == 'timed_out') and t[9] ~= '1'
                and fails < tonumber(t[7]) then
            fails = fails + 1
            local due = now + tonumber(t[8]) * 2 ^ (fails - 1)
            redis.call('HSET', key, 'state', 'pending', 'worker', '', 'fails', fails,
                       'error', err, 'stack', ARGV[a + 5], 'log', ARGV[a + 6])
            redis.call('ZADD', P .. 'delayed', due, id)
            event('retry', id, 'pending')
        else
            if state == 'handback' then
                state = 'cancelled'
            end
            finish(id, state, now, {'result', result, 'error', err, 'stack', ARGV[a + 5],
                                    'log', ARGV[a + 6]})
        end
    end
end
return refused
