#include "luahost.h"

#include "luatask.h"

#include <lua.hpp>

#include <QtGlobal>

#include <cstdlib>

namespace {

char EnvKey;
char EnvMetaKey;
char StdinKey;
char StdoutKey;

// What a task writes to its standard output or error goes to its log, as print() does:
// the engine's own stdout carries `taskdeck run --json`, and its terminal is the user's.
// io.stdout, io.stderr and the default output are userdata (a script cannot rawset into
// them) whose write() logs a line per "\n"; io.write and io.flush follow io.output(), so a
// file a task chose still gets its writes. os.execute and io.popen are refused: the
// processes they start could be neither cancelled nor contained, which exec() does.
constexpr char StandardOutputScript[] = R"lua(
local log, select, type, error, tostring = log, select, type, error, tostring
local concat, output = table.concat, io.output
local function logText(...)
    local parts = {}
    for i = 1, select('#', ...) do
        local v = select(i, ...)
        local t = type(v)
        if t ~= 'string' and t ~= 'number' then
            error("bad argument #" .. i .. " to 'write' (string expected, got " .. t .. ")", 3)
        end
        parts[i] = v
    end
    local text = concat(parts)
    if text == '' then return end
    if text:sub(-1) == '\n' then text = text:sub(1, -2) end
    for line in (text .. '\n'):gmatch('(.-)\n') do log(line) end
end
local function methods(name)
    local m = {}
    function m.write(self, ...) logText(...) return self end
    function m.flush(self) return self end
    function m.setvbuf() return true end
    function m.seek() return nil, 'Illegal seek', 29 end
    function m.close() return nil, 'cannot close standard file' end
    function m.read() return nil, 'Bad file descriptor', 9 end
    function m.lines() error('standard ' .. name .. ' cannot be read', 2) end
    return {__index = m, __name = 'FILE*', __metatable = 'file',
            __tostring = function() return 'file (task ' .. name .. ')' end}
end
local function refuse(name)
    return function()
        error(name .. ' is not available to tasks: use exec(), which can be cancelled and '
              .. 'ends every process it starts', 2)
    end
end
local function install(stdout, stderr)
    io.stdout, io.stderr = stdout, stderr
    io.write = function(...) return output():write(...) end
    io.flush = function() return output():flush() end
    io.popen = refuse('io.popen')
    os.execute = function(command)
        if command == nil then return false end -- "is a shell available?": not to tasks
        return refuse('os.execute')()
    end
end
return methods('output'), methods('error'), install
)lua";

void routeStandardOutput(lua_State *L)
{
    if (luaL_loadbufferx(L, StandardOutputScript, sizeof StandardOutputScript - 1, "=taskdeck",
                         "t") != LUA_OK)
        qFatal("taskdeck standard output: %s", lua_tostring(L, -1));
    lua_call(L, 0, 3); // output metatable, error metatable, install
    lua_newuserdatauv(L, 0, 0);
    lua_pushvalue(L, -4);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "_IO_output"); // the default output
    lua_newuserdatauv(L, 0, 0);
    lua_pushvalue(L, -4);
    lua_setmetatable(L, -2);
    lua_call(L, 2, 0); // install(stdout, stderr)
    lua_pop(L, 2);
}

} // namespace

void *LuaHost::envMetaKey()
{
    return &EnvMetaKey;
}

LuaHost *LuaHost::of(lua_State *L)
{
    void *ud = nullptr;
    lua_getallocf(L, &ud);
    return static_cast<LuaHost *>(ud);
}

void *LuaHost::allocate(void *ud, void *ptr, size_t osize, size_t nsize)
{
    auto *host = static_cast<LuaHost *>(ud);
    const size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        host->m_used -= old;
        std::free(ptr);
        return nullptr;
    }
    if (nsize > old && host->m_used + (nsize - old) > host->m_limit) {
        host->m_limitHit = true;
        return nullptr;
    }
    void *block = std::realloc(ptr, nsize);
    if (!block)
        return nullptr;
    host->m_used = host->m_used - old + nsize;
    return block;
}

LuaHost::LuaHost()
{
    m_state = lua_newstate(&LuaHost::allocate, this);
    lua_gc(m_state, LUA_GCINC, 300, 200);
    luaL_openlibs(m_state);
    // The engine's stdin is not a task's to read (a read would hold its worker until
    // the terminal answers): io.stdin and the default input are a closed file.
    if (luaL_dostring(m_state, "local f = io.open('/dev/null') if f then f:close() "
                               "io.stdin = f end return f") == LUA_OK) {
        if (lua_isnil(m_state, -1))
            lua_pop(m_state, 1);
        else
            lua_setfield(m_state, LUA_REGISTRYINDEX, "_IO_input");
    }
    LuaTask::installApi(m_state);
    routeStandardOutput(m_state);
    lua_getfield(m_state, LUA_REGISTRYINDEX, "_IO_input"); // restored by recycle()
    lua_rawsetp(m_state, LUA_REGISTRYINDEX, &StdinKey);
    lua_getfield(m_state, LUA_REGISTRYINDEX, "_IO_output");
    lua_rawsetp(m_state, LUA_REGISTRYINDEX, &StdoutKey);
    lua_gc(m_state, LUA_GCCOLLECT);
    m_baseline = m_used;
}

LuaHost::~LuaHost()
{
    if (m_state)
        lua_close(m_state);
}

void LuaHost::setTaskLimit(size_t bytes)
{
    m_limit = m_used + bytes;
    m_limitHit = false;
}

void LuaHost::clearLimit()
{
    m_limit = size_t(-1);
    m_limitHit = false;
}

bool LuaHost::recycle()
{
    lua_settop(m_state, 0);
    clearLimit();
    if (m_dirty) {
        // The task changed io's default files: put them back, and let nothing of the task
        // stay reachable (its globals, through the current env and its chunk's _ENV), so
        // that the files it opened are closed now, not during the next task. Scripts
        // cannot set finalizers of their own (__gc is refused), so this ends.
        m_dirty = false;
        lua_pushnil(m_state);
        lua_rawsetp(m_state, LUA_REGISTRYINDEX, &EnvKey);
        for (const Chunk &chunk : m_chunks)
            luaL_unref(m_state, LUA_REGISTRYINDEX, chunk.ref);
        m_chunks.clear();
        lua_rawgetp(m_state, LUA_REGISTRYINDEX, &StdinKey);
        lua_setfield(m_state, LUA_REGISTRYINDEX, "_IO_input");
        lua_rawgetp(m_state, LUA_REGISTRYINDEX, &StdoutKey);
        lua_setfield(m_state, LUA_REGISTRYINDEX, "_IO_output");
        lua_gc(m_state, LUA_GCCOLLECT);
    }
    constexpr size_t Slack = 2 * 1024 * 1024; // the collector's own pace handles less
    constexpr size_t KeepAtMost = 8 * 1024 * 1024;
    if (m_used > m_baseline + Slack)
        lua_gc(m_state, LUA_GCCOLLECT);
    return m_used <= m_baseline + KeepAtMost;
}

void LuaHost::pushChunk(const QByteArray &source, const QString &file)
{
    for (const Chunk &chunk : m_chunks) {
        if (chunk.source.constData() == source.constData() &&
            chunk.source.size() == source.size()) {
            lua_rawgeti(m_state, LUA_REGISTRYINDEX, chunk.ref);
            return;
        }
    }
    constexpr size_t MaxChunks = 16;
    if (m_chunks.size() >= MaxChunks) {
        for (const Chunk &chunk : m_chunks)
            luaL_unref(m_state, LUA_REGISTRYINDEX, chunk.ref);
        m_chunks.clear();
    }
    const char *text = source.constData();
    QByteArray patched;
    if (source.startsWith('#')) { // a #! line: blank it, keeping the line numbers
        patched = source;
        patched[0] = '-';
        patched[1] = '-';
        text = patched.constData();
    }
    const QByteArray chunkName = '@' + file.toUtf8();
    if (luaL_loadbufferx(m_state, text, size_t(source.size()), chunkName.constData(), "t") !=
        LUA_OK)
        lua_error(m_state); // "file:line: message"
    lua_pushvalue(m_state, -1);
    m_chunks.push_back(Chunk{source, luaL_ref(m_state, LUA_REGISTRYINDEX)});
}

void LuaHost::pushTaskEnv()
{
    lua_State *L = m_state;
    lua_createtable(L, 0, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &EnvMetaKey);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "_G");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &EnvKey);
}

bool LuaHost::pushCurrentEnv(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &EnvKey) == LUA_TTABLE)
        return true;
    lua_pop(L, 1);
    return false;
}

void LuaHost::keepSpareThread(int ref)
{
    if (m_spareThread != LUA_NOREF)
        luaL_unref(m_state, LUA_REGISTRYINDEX, m_spareThread);
    m_spareThread = ref;
}

LuaHostPool::~LuaHostPool()
{
    for (LuaHost *host : m_idle)
        delete host;
}

LuaHost *LuaHostPool::acquire()
{
    {
        QMutexLocker lock(&m_mutex);
        if (!m_idle.empty()) {
            LuaHost *host = m_idle.back();
            m_idle.pop_back();
            return host;
        }
    }
    return new LuaHost;
}

void LuaHostPool::release(LuaHost *host)
{
    if (host->recycle()) {
        QMutexLocker lock(&m_mutex);
        if (int(m_idle.size()) < m_maxIdle) {
            m_idle.push_back(host);
            return;
        }
    }
    delete host;
}
