-- @name job with timeout and cleanup
-- wait_for gives a step 1 s; the step is cancelled where it waits, and its cleanup
-- (which itself waits) runs before wait_for raises the timeout.
local function step()
    local ok, err = pcall(sleep, 10)
    if not ok then
        log("step cancelled, rolling back")
        sleep(0.2) -- cleanup may wait
        log("rolled back")
        error(err, 0)
    end
end

local ok, err = pcall(wait_for, step, 1)
if not ok and is_timeout(err) then
    return "step timed out and was rolled back"
end
error(err, 0)
