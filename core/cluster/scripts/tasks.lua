-- tasks: reads tasks for ps and wait; ended tasks whose `keep` ran out are left out (the
-- reaper forgets them), so that reading needs no right to write.
-- KEYS[1] prefix
-- ARGV: ids; none: every task kept
-- Returns per task a flat list of 20 values (FIELDS order below); a missing task is skipped.
-- A few commands per 1,000 tasks: their fields, what they left and their expiry in one
-- HMGET or ZMSCORE each.
local FIELDS = {'name', 'file', 'kind', 'group', 'priority', 'state', 'attempt', 'worker',
                'submitted', 'started', 'finished', 'result', 'error', 'stack', 'log',
                'cancel', 'fails', 'losses', 'progress', 'status'}
local now = nowMs()
local ids = ARGV
if #ids == 0 then
    ids = redis.call('ZRANGE', P .. 'tasks', 0, -1)
end
local tasks, outs = loadTasks(ids), hmget(OUT, ids)
local expires = {}
for s = 1, #ids, 1000 do
    local got = redis.call('ZMSCORE', P .. 'expire', unpack(ids, s, math.min(s + 999, #ids)))
    for i = 1, #got do
        expires[s + i - 1] = got[i]
    end
end
local out = {}
for i, id in ipairs(ids) do
    local t = tasks[i]
    if t and not (expires[i] and tonumber(expires[i]) <= now) then
        if outs[i] then
            for k, v in pairs(cjson.decode(outs[i])) do
                t[k] = v
            end
        end
        out[#out + 1] = id
        for _, f in ipairs(FIELDS) do
            out[#out + 1] = text(t[f])
        end
    end
end
return out
