-- @name fan-out with a limit
-- Many jobs at once, at most four in flight (a Semaphore), results gathered in order.
local limit = Semaphore(4)

local function fetch(page)
    return limit:with(function()
        sleep(0.2 + (page % 5) * 0.05) -- stands in for a slow request
        return page * page
    end)
end

local jobs = {}
for page = 1, 40 do jobs[page] = spawn(fetch, page) end
local squares = gather(jobs)
local sum = 0
for _, s in ipairs(squares) do sum = sum + s end
return { pages = #squares, sum = sum }
