-- specs: the definitions of tasks (the dashboard's Re-run and its local archive).
-- Run on its own, not after common.lua. KEYS[1] prefix; ARGV: task ids.
-- Returns per id its spec JSON, or "" when Redis no longer keeps the task.
local out = {}
for i, id in ipairs(ARGV) do
    out[i] = redis.call('HGET', KEYS[1] .. 'task:' .. id, 'spec') or ''
end
return out
