-- @name primes
-- @priority 5
-- CPU-bound work runs on a worker thread; cancel or a timeout still stops it.
local limit, count = 300000, 0
for n = 2, limit do
    local prime = true
    for d = 2, math.floor(math.sqrt(n)) do
        if n % d == 0 then prime = false break end
    end
    if prime then count = count + 1 end
    if n % 50000 == 0 then progress(n / limit, count .. " primes so far") end
end
return count
