-- complete: a worker reports the ends of tasks, in a batch. Each is fenced: only the
-- worker holding that attempt of a running task may end it, so a result is recorded
-- once; anything else is refused. A failure or timeout with retries left goes back to
-- the queue after retry delay * 2^(fails-1) by Redis's clock; "handback" returns a task
-- unrun (a draining worker) without counting its attempt. A result over 1 MiB fails.
-- Lean on purpose (SPEC 8: Redis commands per task): a few commands per call whatever
-- its size — the tasks' fields read in one HMGET (the fence), written back with what
-- they left in one HSET each, their expiry in one ZADD; counts, the worker's set and the
-- events once per call.
-- KEYS[1] prefix
-- ARGV[1] worker; then per task 7 values: id attempt state result error stack log
--   state: succeeded failed timed_out cancelled handback; result JSON text or ""
-- Returns the ids refused.
local worker = ARGV[1]
local now = nowMs()
local maxResult = 1048576
local ids = {}
for a = 2, #ARGV, 7 do
    ids[#ids + 1] = ARGV[a]
end
local tasks = loadTasks(ids)
local refused, released, done, ended = {}, {}, {}, {}
local requeued, retried = {}, {}
local seen = {}
for i, id in ipairs(ids) do
    local a = 2 + (i - 1) * 7
    local attempt, state = ARGV[a + 1], ARGV[a + 2]
    local t = tasks[i]
    -- The fence: this worker's attempt of a running task, reported once in this call.
    if not t or t.worker ~= worker or text(t.attempt) ~= attempt or t.state ~= 'running'
            or seen[id] then
        refused[#refused + 1] = id
    else
        seen[id] = true
        released[t.group] = (released[t.group] or 0) + 1
        done[#done + 1] = id
        local result, err = ARGV[a + 3], ARGV[a + 4]
        if state == 'succeeded' and #result > maxResult then
            state = 'failed'
            err = 'result too large: ' .. #result .. ' bytes of JSON (at most 1 MiB)'
            result = ''
        end
        local fails = tonumber(t.fails or 0)
        local cancelled = t.cancel == '1'
        if state == 'handback' and not cancelled then
            t.state, t.worker, t.attempt = 'pending', '', tonumber(attempt) - 1
            saveTask(id, t)
            enqueue(id, t)
            requeued[#requeued + 1] = id
        elseif (state == 'failed' or state == 'timed_out') and not cancelled
                and fails < tonumber(t.retries or 0) then
            fails = fails + 1
            t.state, t.worker, t.fails = 'pending', '', fails
            t.progress, t.status = nil, nil -- the failed attempt's
            saveTask(id, t)
            write(OUT, id, cjson.encode({error = err, stack = ARGV[a + 5], log = ARGV[a + 6]}))
            add(P .. 'delayed', now + tonumber(t.delay or 0) * 2 ^ (fails - 1), id)
            retried[#retried + 1] = id
        else
            if state == 'handback' then
                state = 'cancelled'
            end
            finish(id, t, state, now,
                   {result = result, error = err, stack = ARGV[a + 5], log = ARGV[a + 6]})
            local list = ended[state]
            if not list then
                list = {}
                ended[state] = list
            end
            list[#list + 1] = id
        end
    end
end
flush()
releaseSlots(released)
if #done > 0 then
    chunked('SREM', P .. 'wtasks:' .. worker, done)
end
-- One event per kind and state: the first id, and every id.
for state, list in pairs(ended) do
    eventFor('ended', list, state)
end
if #retried > 0 then
    eventFor('retry', retried, 'pending')
end
if #requeued > 0 then
    eventFor('handback', requeued, 'pending')
end
-- A slot freed under a limit may let an idle worker, held back by that limit, start what
-- is ready: wake the idle ones (they block on the stream instead of polling). Without a
-- limit nothing held them back, and this worker claims for its own free slots itself.
local function underLimit()
    if tonumber(redis.call('HGET', P .. 'config', 'max') or '0') > 0 then
        return true
    end
    local groups = {}
    for g in pairs(released) do
        groups[#groups + 1] = g
    end
    for _, limit in ipairs(redis.call('HMGET', P .. 'glimit', unpack(groups))) do
        if tonumber(limit or '0') > 0 then
            return true
        end
    end
    return false
end
if #requeued > 0 or (#done > 0 and underLimit()) then
    redis.call('XADD', P .. 'wake', 'MAXLEN', 1, '*', 'n', #done)
end
return refused
