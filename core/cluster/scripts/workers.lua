-- workers: every worker seen: name host pid running capacity beat state, and now.
-- KEYS[1] prefix
-- Returns now, then 7 values per worker.
local out = {nowMs()}
for _, w in ipairs(redis.call('SMEMBERS', P .. 'workers')) do
    local t = redis.call('HMGET', P .. 'worker:' .. w, 'host', 'pid', 'running', 'capacity',
                         'beat', 'state')
    if t[6] then
        out[#out + 1] = w
        for i = 1, 6 do out[#out + 1] = t[i] or '' end
    else
        redis.call('SREM', P .. 'workers', w)
    end
end
return out
