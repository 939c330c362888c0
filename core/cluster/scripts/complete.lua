-- complete: a worker reports the ends of tasks, in a batch. Each is fenced: only the
-- worker holding that attempt of a running task may end it, so a result is recorded
-- once; anything else is refused. A failure or timeout with retries left goes back to
-- the queue after retry delay * 2^(fails-1) by Redis's clock; "handback" returns a task
-- unrun (a draining worker) without counting its attempt. A result over 1 MiB fails.
-- Lean on purpose (SPEC 8: Redis commands per task): per task one HMGET, one HSET and
-- (ended) one PEXPIRE; the counts, the worker's set and the events once per call.
-- KEYS[1] prefix
-- ARGV[1] worker; then per task 7 values: id attempt state result error stack log
--   state: succeeded failed timed_out cancelled handback; result JSON text or ""
-- Returns the ids refused.
-- One command per 1,000 members (unpack's stack stays small).
local function chunked(command, key, list)
    for s = 1, #list, 1000 do
        redis.call(command, key, unpack(list, s, math.min(s + 999, #list)))
    end
end
local worker = ARGV[1]
local now = nowMs()
local refused = {}
local maxResult = 1048576
local released, freed = {}, 0
local done, ended = {}, {}
local requeued = false
for a = 2, #ARGV, 7 do
    local id, attempt, state = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    local key = P .. 'task:' .. id
    local t = redis.call('HMGET', key, 'worker', 'attempt', 'state', 'group', 'priority',
                         'fails', 'retries', 'delay', 'cancel', 'keep')
    if t[1] ~= worker or t[2] ~= attempt or t[3] ~= 'running' then
        refused[#refused + 1] = id
    else
        released[t[4]] = (released[t[4]] or 0) + 1
        freed = freed + 1
        done[#done + 1] = id
        local result, err = ARGV[a + 3], ARGV[a + 4]
        if state == 'succeeded' and #result > maxResult then
            state = 'failed'
            err = 'result too large: ' .. #result .. ' bytes of JSON (at most 1 MiB)'
            result = ''
        end
        local fails = tonumber(t[6])
        if state == 'handback' and t[9] ~= '1' then
            redis.call('HSET', key, 'state', 'pending', 'worker', '', 'attempt',
                       tonumber(attempt) - 1)
            enqueue(id, t[4], t[5])
            event('handback', id, 'pending')
            requeued = true
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
            -- finish() of common.lua in one HSET and one PEXPIRE.
            redis.call('HSET', key, 'state', state, 'finished', now, 'result', result,
                       'error', err, 'stack', ARGV[a + 5], 'log', ARGV[a + 6])
            redis.call('PEXPIRE', key, tonumber(t[10] or '604800000'))
            local list = ended[state]
            if not list then
                list = {}
                ended[state] = list
            end
            list[#list + 1] = id
        end
    end
end
if freed > 0 then
    redis.call('HINCRBY', P .. 'running', '*', -freed)
    for group, n in pairs(released) do
        redis.call('HINCRBY', P .. 'running', group, -n)
    end
    chunked('SREM', P .. 'wtasks:' .. worker, done)
end
-- One "ended" event per state: the first id, and every id.
for state, ids in pairs(ended) do
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', 10000, '*', 'type', 'ended', 'id', ids[1],
               'state', state, 'ids', table.concat(ids, ' '))
end
if requeued then
    redis.call('XADD', P .. 'wake', 'MAXLEN', 1, '*', 'n', 1)
end
return refused
