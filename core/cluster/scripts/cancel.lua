-- cancel: a pending task ends cancelled at once and never runs; a running one is asked
-- to stop through its worker's next heartbeat (it ends when the worker reports it).
-- KEYS[1] prefix
-- ARGV: task ids
-- Returns per id its state after the call ("" for an unknown id).
local now = nowMs()
local out = {}
for i, id in ipairs(ARGV) do
    local key = P .. 'task:' .. id
    local t = redis.call('HMGET', key, 'state', 'group', 'worker')
    local state = t[1] or ''
    if state == 'pending' then
        redis.call('ZREM', P .. 'ready:' .. t[2], member(id))
        redis.call('ZREM', P .. 'delayed', id)
        finish(id, 'cancelled', now, {'cancel', '1', 'worker', '', 'error', 'cancelled'})
        state = 'cancelled'
    elseif state == 'running' then
        redis.call('HSET', key, 'cancel', '1')
        redis.call('SADD', P .. 'cancels:' .. t[3], id)
    end
    out[i] = state
end
return out
