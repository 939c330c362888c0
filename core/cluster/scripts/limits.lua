-- limits: changes the cluster-wide limits, then returns them all.
-- KEYS[1] prefix
-- ARGV: pairs of verb, value: max N | group G=N | weight G=N | pause "" or G | resume "" or G
-- Returns {max, paused, {group, limit, running, paused(0/1), pending}...} flattened:
-- max, paused, then 5 values per known group.
for i = 1, #ARGV, 2 do
    local verb, value = ARGV[i], ARGV[i + 1]
    if verb == 'max' then
        redis.call('HSET', P .. 'config', 'max', tonumber(value))
    elseif verb == 'group' or verb == 'weight' then
        local g, n = string.match(value, '^(.*)=(%d+)$')
        redis.call('HSET', P .. (verb == 'group' and 'glimit' or 'gweight'), g, n)
    elseif verb == 'pause' or verb == 'resume' then
        if value == '' then
            redis.call('HSET', P .. 'config', 'paused', verb == 'pause' and 1 or 0)
        elseif verb == 'pause' then
            redis.call('SADD', P .. 'gpaused', value)
        else
            redis.call('SREM', P .. 'gpaused', value)
        end
    end
end
-- A resume or a raised limit may let idle workers start something: wake them.
if #ARGV > 0 then
    redis.call('XADD', P .. 'wake', 'MAXLEN', 1, '*', 'n', 0)
end
local known = {}
local names = {}
local function add(g)
    if g ~= '*' and not known[g] then
        known[g] = true
        names[#names + 1] = g
    end
end
for _, g in ipairs(redis.call('HKEYS', P .. 'glimit')) do add(g) end
for _, g in ipairs(redis.call('HKEYS', P .. 'running')) do add(g) end
for _, g in ipairs(redis.call('SMEMBERS', P .. 'gpaused')) do add(g) end
for _, g in ipairs(redis.call('SMEMBERS', P .. 'active')) do add(g) end
table.sort(names)
local out = {tonumber(redis.call('HGET', P .. 'config', 'max') or '0'),
             tonumber(redis.call('HGET', P .. 'config', 'paused') or '0')}
for _, g in ipairs(names) do
    out[#out + 1] = g
    out[#out + 1] = tonumber(redis.call('HGET', P .. 'glimit', g) or '0')
    out[#out + 1] = tonumber(redis.call('HGET', P .. 'running', g) or '0')
    out[#out + 1] = redis.call('SISMEMBER', P .. 'gpaused', g)
    out[#out + 1] = redis.call('ZCARD', P .. 'ready:' .. g)
end
return out
