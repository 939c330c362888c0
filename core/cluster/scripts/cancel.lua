-- cancel: a pending task ends cancelled at once and never runs; a running one is asked
-- to stop through its worker's next heartbeat (it ends when the worker reports it).
-- KEYS[1] prefix
-- ARGV: task ids
-- Returns per id its state after the call ("" for an unknown id).
local now = nowMs()
local tasks = loadTasks(ARGV)
local out, seen = {}, {}
for i, id in ipairs(ARGV) do
    local t = tasks[i]
    local state = t and t.state or ''
    if seen[id] then
        state = seen[id] -- the same id twice: its state after the first
    elseif state == 'pending' then
        redis.call('ZREM', P .. 'ready:' .. t.group, member(id))
        redis.call('ZREM', P .. 'delayed', id)
        t.cancel, t.worker = '1', ''
        finish(id, t, 'cancelled', now, {error = 'cancelled'})
        event('ended', id, 'cancelled')
        state = 'cancelled'
    elseif state == 'running' then
        t.cancel = '1'
        saveTask(id, t)
        redis.call('SADD', P .. 'cancels:' .. t.worker, id)
    end
    out[i] = state
    seen[id] = state
end
flush()
return out
