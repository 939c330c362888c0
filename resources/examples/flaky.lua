-- @name flaky upload
-- @retries 2
-- @retry-delay 500ms
-- Fails on its first attempt and succeeds on the second: retries wait 500 ms, then
-- 1 s, and never follow a cancel.
log("attempt", task.attempt)
sleep(0.5)
if task.attempt < 2 then
    error("connection reset by peer")
end
return "uploaded on attempt " .. task.attempt
