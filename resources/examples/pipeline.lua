-- @name pipeline
-- A producer/consumer pipeline: a bounded queue between one producer and three
-- workers; join() waits until every item has been processed.
local queue = Queue(5)
local done = 0

local function worker(n)
    while true do
        local item = queue:get()
        progress(done / 30, ("worker %d: item %d"):format(n, item))
        sleep(0.1 + (item % 3) * 0.05) -- the "work"
        done = done + 1
        queue:task_done()
    end
end

local workers = {}
for n = 1, 3 do workers[n] = spawn(worker, n) end
for item = 1, 30 do queue:put(item) end -- waits while the queue is full
queue:join()
for _, w in ipairs(workers) do w:cancel() end
return ("%d items through %d workers"):format(done, #workers)
