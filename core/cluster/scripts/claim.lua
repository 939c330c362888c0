-- claim: gives a worker up to N tasks at once, the best first: the global limit and
-- every group limit hold across all workers, paused groups (or a paused cluster) give
-- none, groups take turns by smooth weighted round-robin, and in a group the highest
-- priority, then the lowest id, goes first.
-- KEYS[1] prefix
-- ARGV[1] worker  ARGV[2] free slots
-- Returns a flat list: id, attempt, spec for each task claimed; an error "LOST ..." when
-- the worker holds no lease (it must heartbeat first).
local worker, slots = ARGV[1], tonumber(ARGV[2])
local now = nowMs()
local lease = redis.call('ZSCORE', P .. 'leases', worker)
if not lease then
    return redis.error_reply('LOST worker ' .. worker .. ' holds no lease')
end
promoteDue(now)
if redis.call('HGET', P .. 'config', 'paused') == '1' then
    return {}
end
local max = tonumber(redis.call('HGET', P .. 'config', 'max') or '0')
local total = tonumber(redis.call('HGET', P .. 'running', '*') or '0')
local groups = {}
for _, g in ipairs(redis.call('SMEMBERS', P .. 'active')) do
    if redis.call('SISMEMBER', P .. 'gpaused', g) == 0 then
        groups[#groups + 1] = {
            name = g,
            limit = tonumber(redis.call('HGET', P .. 'glimit', g) or '0'),
            weight = tonumber(redis.call('HGET', P .. 'gweight', g) or '1'),
            running = tonumber(redis.call('HGET', P .. 'running', g) or '0'),
            current = tonumber(redis.call('HGET', P .. 'wrr', g) or '0'),
            empty = false,
        }
    end
end
table.sort(groups, function(a, b) return a.name < b.name end)
local out = {}
local claimed = 0
while claimed < slots and (max <= 0 or total < max) do
    local best, sum = nil, 0
    for _, g in ipairs(groups) do
        if not g.empty and (g.limit <= 0 or g.running < g.limit) then
            g.current = g.current + g.weight
            sum = sum + g.weight
            if not best or g.current > best.current then
                best = g
            end
        end
    end
    if not best then
        break
    end
    best.current = best.current - sum
    local popped = redis.call('ZPOPMIN', P .. 'ready:' .. best.name)
    if #popped == 0 then
        best.empty = true
        redis.call('SREM', P .. 'active', best.name)
    else
        local id = tostring(tonumber(popped[1]))
        local key = P .. 'task:' .. id
        local attempt = redis.call('HINCRBY', key, 'attempt', 1)
        redis.call('HSET', key, 'state', 'running', 'worker', worker, 'beat', now)
        redis.call('HSETNX', key, 'started', now)
        redis.call('SADD', P .. 'wtasks:' .. worker, id)
        best.running = best.running + 1
        total = total + 1
        redis.call('HINCRBY', P .. 'running', best.name, 1)
        redis.call('HINCRBY', P .. 'running', '*', 1)
        if (best.limit > 0 and best.running > best.limit) or (max > 0 and total > max) then
            return redis.error_reply('INVARIANT limit exceeded in group ' .. best.name)
        end
        out[#out + 1] = id
        out[#out + 1] = attempt
        out[#out + 1] = redis.call('HGET', key, 'spec')
        event('started', id, worker)
        claimed = claimed + 1
        if redis.call('ZCARD', P .. 'ready:' .. best.name) == 0 then
            best.empty = true
            redis.call('SREM', P .. 'active', best.name)
        end
    end
end
for _, g in ipairs(groups) do
    redis.call('HSET', P .. 'wrr', g.name, g.current)
end
return out
