-- submit: queues a batch of tasks (at most ~1,000: ClusterProtocol splits bigger ones),
-- in the order given; returns the first new id (the others follow it). Lean on purpose
-- (SPEC 8: Redis commands per task): a few commands per call whatever its size — the
-- tasks' fields and definitions in one HSET each, the sets in one call each, then one
-- entry on the stream "wake" (MAXLEN 1) that idle workers block on (XREAD).
-- KEYS[1] prefix
-- ARGV[1] count; then per task 9 values: name file kind group priority retries
--         retryDelayMs keepMs spec (spec: the task's definition as JSON, source included);
--         then, optionally, the batch's dependencies (SPEC 4): after (JSON array of ids),
--         after_ended (the same) and chain ('1': each task after the previous one)
-- An unknown dependency, or one on a task of this batch, refuses the whole batch (an
-- error naming it) before anything is written.
local count = tonumber(ARGV[1])
local now = nowMs()
local depAt = 2 + count * 9
local given = {} -- {id, anyEnd}
if ARGV[depAt] then
    for _, id in ipairs(cjson.decode(ARGV[depAt])) do
        given[#given + 1] = {tonumber(id), 0}
    end
    for _, id in ipairs(cjson.decode(ARGV[depAt + 1])) do
        given[#given + 1] = {tonumber(id), 1}
    end
end
local chain = ARGV[depAt + 2] == '1'
local depends = {} -- dependency id -> its task (existing ones)
if #given > 0 then
    local seq = tonumber(redis.call('GET', P .. 'seq') or '0')
    local ids = {}
    for i, d in ipairs(given) do
        ids[i] = d[1]
    end
    local found = loadTasks(ids)
    for i, d in ipairs(given) do
        if d[1] > seq and d[1] <= seq + count then
            return redis.error_reply('dependency #' .. d[1] ..
                                         ' would make a cycle: it is one of the tasks submitted')
        elseif not found[i] then
            return redis.error_reply('dependency #' .. d[1] .. ': no such task')
        end
        depends[d[1]] = found[i]
    end
end
local last = redis.call('INCRBY', P .. 'seq', count)
local first = last - count + 1
local made, changed = {}, {}
-- Makes task `id` (fields `t`) wait for `after`; false when one of them already ended
-- so that it never can run (then it is cancelled at once, naming that one).
local function wait(id, t, after)
    t.after = after
    for _, d in ipairs(after) do
        local on = depends[d[1]] or made[d[1]]
        if on.state == 'pending' or on.state == 'running' then
            t.waits = (t.waits or 0) + 1
            on.dependents = on.dependents or {}
            on.dependents[#on.dependents + 1] = id
            if depends[d[1]] then
                changed[d[1]] = on
            end
        elseif not met(on.state, d[2] == 1) then
            t.waits = nil
            return 'dependency #' .. d[1] .. ' ' .. on.state
        end
    end
    return false
end
for i = 0, count - 1 do
    local a = 2 + i * 9
    local id = first + i
    local t = {name = ARGV[a], file = ARGV[a + 1], kind = ARGV[a + 2], group = ARGV[a + 3],
               priority = tonumber(ARGV[a + 4]), retries = tonumber(ARGV[a + 5]),
               delay = tonumber(ARGV[a + 6]), keep = tonumber(ARGV[a + 7]),
               state = 'pending', attempt = 0, fails = 0, losses = 0, submitted = now}
    write(SPEC, id, ARGV[a + 8])
    add(P .. 'tasks', id, id)
    made[id] = t
    local after = given
    if chain and i > 0 then
        after = {{id - 1, 0}}
    end
    local refused = #after > 0 and wait(id, t, after)
    if refused then
        finish(id, t, 'cancelled', now, {error = refused})
        event('ended', id, 'cancelled')
    elseif t.waits then
        saveTask(id, t)
    else
        saveTask(id, t)
        enqueue(id, t)
    end
end
-- Tasks of this batch that others wait for: their dependents, written again.
for id = first, last do
    if made[id].dependents and made[id].state == 'pending' then
        saveTask(id, made[id])
    end
end
for id, t in pairs(changed) do
    saveTask(id, t)
end
flush()
event('submitted', first, tostring(count))
redis.call('XADD', P .. 'wake', 'MAXLEN', 1, '*', 'n', count)
return first
