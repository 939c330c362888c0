-- @name hello
-- @arg who=world
-- The smallest task: log a line, report progress, return a result.
log("hello,", task.args.who)
progress(0.5, "greeting")
sleep(1)
return { greeting = "hello, " .. task.args.who, attempt = task.attempt }
