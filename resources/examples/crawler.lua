-- @name crawler
-- @arg port=18765
-- A web crawler with a concurrency limit: at most 4 requests in flight (a Semaphore),
-- every page fetched once, links followed within the site. It serves this folder with
-- python3's http.server as a child coroutine running exec(): when the crawl is over
-- the main chunk ends, the child is cancelled and the server process killed with it.
local port = task.args.port
local root = "http://127.0.0.1:" .. port .. "/"

local server = spawn(exec, {"python3", "-m", "http.server", port, "--bind", "127.0.0.1"})
for _ = 1, 50 do -- wait until it answers
    if pcall(http.get, root, {timeout = 1}) then break end
    sleep(0.1)
end

local limit = Semaphore(4)
local seen, pages, bytes = {[root] = true}, 0, 0

local function crawl(url)
    local page = limit:with(http.get, url, {timeout = 5})
    pages, bytes = pages + 1, bytes + #page.body
    progress(pages / 20, url)
    local children = {}
    for href in page.body:gmatch('href="([^"#?]+)"') do
        local next_url = href:match("^https?://") and href or root .. href:gsub("^/", "")
        if next_url:sub(1, #root) == root and not seen[next_url] then
            seen[next_url] = true
            children[#children + 1] = spawn(crawl, next_url)
        end
    end
    gather(children)
end

crawl(root)
log(("crawled %d pages, %d bytes"):format(pages, bytes))
server:cancel()
return { pages = pages, bytes = bytes }
