-- priority: reprioritizes a pending task, as on one machine: "set" N gives it priority N
-- (among equal priorities it keeps its submission order); "top" makes it the next its
-- group starts (the group's highest pending priority, ahead of every task that has it);
-- "bottom" the last (the lowest, behind every task that has it). A pending task waiting
-- out a retry delay only changes its priority. Refused for a task that is not pending.
-- KEYS[1] prefix
-- ARGV[1] id  ARGV[2] "set", "top" or "bottom"  ARGV[3] priority (for "set")
-- Returns the task's new priority; an error "NOTPENDING ..." or "UNKNOWN ...".
-- In a ready set a score is -priority; "top" and "bottom" place the task by a fraction of
-- it, the latest move the farthest (the counter `order`; a requeue drops the fraction).
local id, how = ARGV[1], ARGV[2]
local t = loadTask(id)
if not t then
    return redis.error_reply('UNKNOWN no task ' .. id)
end
if t.state ~= 'pending' then
    return redis.error_reply('NOTPENDING task ' .. id .. ' is ' .. t.state)
end
local ready = P .. 'ready:' .. t.group
local queued = redis.call('ZSCORE', ready, member(id))
local priority, score
if how == 'set' then
    priority = tonumber(ARGV[3])
    if not priority or priority ~= math.floor(priority) then
        return redis.error_reply('BADARG priority must be an integer')
    end
    score = -priority
elseif how == 'top' or how == 'bottom' then
    local n = redis.call('INCR', P .. 'order')
    local fraction = 1 - 1 / (n + 1) -- in (0, 1), growing with each move
    local range = how == 'top' and redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
        or redis.call('ZRANGE', ready, -1, -1, 'WITHSCORES')
    priority = tonumber(t.priority)
    if #range > 0 and range[1] ~= member(id) then
        local other = loadTask(tostring(tonumber(range[1])))
        priority = tonumber(other and other.priority or priority)
    end
    score = how == 'top' and (-priority - fraction) or (-priority + fraction)
else
    return redis.error_reply('BADARG set, top or bottom')
end
t.priority = priority
saveTask(id, t)
flush()
if queued then
    redis.call('ZADD', ready, score, member(id))
end
event('priority', id, tostring(priority))
return priority
