-- tasks: reads tasks for ps and wait, and forgets ids whose results expired.
-- KEYS[1] prefix
-- ARGV: ids; none: every task kept
-- Returns per task a flat list of 20 values (FIELDS order below); a missing task is skipped.
local FIELDS = {'name', 'file', 'kind', 'group', 'priority', 'state', 'attempt', 'worker',
                'submitted', 'started', 'finished', 'result', 'error', 'stack', 'log',
                'cancel', 'fails', 'losses', 'progress', 'status'}
local ids = ARGV
if #ids == 0 then
    ids = redis.call('ZRANGE', P .. 'tasks', 0, -1)
end
local out = {}
for _, id in ipairs(ids) do
    local t = redis.call('HMGET', P .. 'task:' .. id, unpack(FIELDS))
    if t[6] then
        out[#out + 1] = id
        for i = 1, #FIELDS do
            out[#out + 1] = t[i] or ''
        end
    else
        redis.call('ZREM', P .. 'tasks', id)
    end
end
return out
