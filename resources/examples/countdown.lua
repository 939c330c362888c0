-- @name countdown
-- @group timers
-- A long task that reports its progress while it waits; it holds no thread while
-- sleeping, so thousands of these can wait at once.
local steps = 20
for i = 1, steps do
    progress(i / steps, ("step %d of %d"):format(i, steps))
    sleep(0.5)
end
return steps
