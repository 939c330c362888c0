-- specs: the definitions of tasks (the dashboard's Re-run and its local archive).
-- Run on its own, not after common.lua (whose header documents the hash `spec`).
-- KEYS[1] prefix; ARGV: task ids.
-- Returns per id its spec JSON, or "" when Redis no longer keeps the task.
local out = {}
if #ARGV > 0 then
    local specs = redis.call('HMGET', KEYS[1] .. 'spec', unpack(ARGV))
    for i = 1, #ARGV do
        out[i] = specs[i] or ''
    end
end
return out
