-- @name too slow
-- @timeout 3s
-- Times out: the timeout is delivered where the task waits, and its stack shows it.
local function fetch_report()
    log("fetching the report (this takes a while)")
    sleep(60)
end
fetch_report()
