#include "luaapi_p.h"

#include "../luatask.h"

#include "../../deadline.h"

#include <QFileInfo>

#include <lua.hpp>

// The io library: exec and http.*. Each call hands an IoRequest to the engine thread
// (IoCall carries it out) and suspends the calling coroutine until it is done.

using namespace LuaApi;

namespace {

QString shorten(const QString &text)
{
    return text.size() > 80 ? text.left(77) + QStringLiteral("...") : text;
}

// opts.timeout in seconds, as milliseconds (-1: none).
qint64 timeoutOption(lua_State *L, int opts)
{
    if (lua_isnoneornil(L, opts))
        return -1;
    lua_getfield(L, opts, "timeout");
    qint64 ms = -1;
    if (!lua_isnil(L, -1)) {
        const double s = luaL_checknumber(L, -1);
        if (!(s > 0) || s > double(MaxDurationMs / 1000))
            luaL_error(L, "timeout must be a number of seconds > 0 and at most 365 days");
        ms = qint64(s * 1000);
    }
    lua_pop(L, 1);
    return ms;
}

// A table of name = value strings.
IoRequest::Headers stringPairs(lua_State *L, int opts, const char *field)
{
    IoRequest::Headers pairs;
    if (lua_isnoneornil(L, opts))
        return pairs;
    if (lua_getfield(L, opts, field) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                size_t len = 0;
                const char *value = luaL_tolstring(L, -1, &len);
                pairs.append({QByteArray(lua_tostring(L, -3)), QByteArray(value, qsizetype(len))});
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return pairs;
}

QByteArray bytes(lua_State *L, int index)
{
    size_t len = 0;
    const char *s = luaL_checklstring(L, index, &len);
    return QByteArray(s, qsizetype(len));
}

} // namespace

// The calling coroutine waits while the engine thread carries `request` out.
int LuaTask::startIo(lua_State *L, std::shared_ptr<IoRequest> request)
{
    Coroutine *co = waitingCoroutine(L, request->kind == IoRequest::Exec ? "exec" : "http");
    const char *kind = request->kind == IoRequest::Exec ? "exec" : "http";
    co->io = std::move(request);
    co->ioQueued = false;
    return suspend(L, co, kind, 0, -2, &ioDone);
}

int LuaTask::ioDone(lua_State *L, int, intptr_t)
{
    Coroutine *co = context(L);
    std::shared_ptr<IoRequest> request = std::exchange(co->io, nullptr);
    if (resumed(L) < 0) {
        co->task->m_out.ioAborts.push_back(co->id); // kills the process, aborts the request
        return raiseCancel(L, co);
    }
    if (!request->error.isEmpty()) {
        const QByteArray message = request->error.toUtf8();
        lua_pushlstring(L, message.constData(), size_t(message.size()));
        return lua_error(L);
    }
    if (request->kind == IoRequest::Exec) {
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, request->code);
        lua_setfield(L, -2, "code");
        lua_pushlstring(L, request->stdoutData.constData(), size_t(request->stdoutData.size()));
        lua_setfield(L, -2, "stdout");
        lua_pushlstring(L, request->stderrData.constData(), size_t(request->stderrData.size()));
        lua_setfield(L, -2, "stderr");
        if (request->signal) {
            lua_pushinteger(L, request->signal);
            lua_setfield(L, -2, "signal");
        }
        return 1;
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, request->status);
    lua_setfield(L, -2, "status");
    lua_createtable(L, 0, int(request->replyHeaders.size()));
    for (const auto &[name, value] : request->replyHeaders) {
        const QByteArray key = name.toLower();
        lua_pushlstring(L, value.constData(), size_t(value.size()));
        lua_setfield(L, -2, key.constData());
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, request->replyBody.constData(), size_t(request->replyBody.size()));
    lua_setfield(L, -2, "body");
    return 1;
}

// exec(argv_or_cmd, {cwd=, env=, stdin=, timeout=}) -> {code=, stdout=, stderr=}
int LuaTask::l_exec(lua_State *L)
{
    auto request = std::make_shared<IoRequest>();
    request->kind = IoRequest::Exec;
    if (lua_type(L, 1) == LUA_TSTRING) {
        const QString command = QString::fromUtf8(lua_tostring(L, 1));
        request->argv = {QStringLiteral("sh"), QStringLiteral("-c"), command};
        request->what = QStringLiteral("exec(%1)").arg(shorten(command));
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        const lua_Integer n = luaL_len(L, 1);
        for (lua_Integer i = 1; i <= n; ++i) {
            lua_rawgeti(L, 1, i);
            request->argv.append(QString::fromUtf8(luaL_checkstring(L, -1)));
            lua_pop(L, 1);
        }
        if (request->argv.isEmpty())
            return luaL_argerror(L, 1, "an empty command");
        request->what = QStringLiteral("exec(%1)").arg(shorten(request->argv.join(u' ')));
    }
    const int opts = 2;
    if (!lua_isnoneornil(L, opts))
        luaL_checktype(L, opts, LUA_TTABLE);
    request->workingDirectory = QFileInfo(runningTask(L, "exec")->m_spec->file).absolutePath();
    if (!lua_isnoneornil(L, opts)) {
        if (lua_getfield(L, opts, "cwd") == LUA_TSTRING)
            request->workingDirectory = QString::fromUtf8(lua_tostring(L, -1));
        lua_pop(L, 1);
        if (lua_getfield(L, opts, "stdin") == LUA_TSTRING) {
            request->hasStdin = true;
            request->stdinData = bytes(L, -1);
        }
        lua_pop(L, 1);
    }
    request->environment = stringPairs(L, opts, "env");
    request->timeoutMs = timeoutOption(L, opts);
    return startIo(L, std::move(request));
}

int LuaTask::httpCall(lua_State *L, const QByteArray &method, const QString &url, int opts,
                      QByteArray body, const char *name)
{
    if (!lua_isnoneornil(L, opts))
        luaL_checktype(L, opts, LUA_TTABLE);
    auto request = std::make_shared<IoRequest>();
    request->kind = IoRequest::Http;
    request->method = method;
    request->url = url;
    request->body = std::move(body);
    request->headers = stringPairs(L, opts, "headers");
    request->timeoutMs = timeoutOption(L, opts);
    // The body is buffered before the task sees it: at most opts.max_body bytes (64 MiB by
    // default), never more than the task's memory cap, which then counts it again.
    const LuaTask *task = context(L)->task;
    const qint64 memory =
        task->m_spec->memoryBytes > 0 ? task->m_spec->memoryBytes : task->m_defaultMemoryLimit;
    request->maxBody = qMin(request->maxBody, memory);
    if (!lua_isnoneornil(L, opts)) {
        if (lua_getfield(L, opts, "max_body") != LUA_TNIL) {
            int isInteger = 0;
            const lua_Integer n = lua_tointegerx(L, -1, &isInteger);
            if (!isInteger || n < 0)
                return luaL_error(L, "%s: max_body must be a number of bytes >= 0", name);
            request->maxBody = qMin<qint64>(n, memory);
        }
        lua_pop(L, 1);
    }
    request->what = QStringLiteral("%1(%2)").arg(QString::fromUtf8(name), shorten(url));
    return startIo(L, std::move(request));
}

int LuaTask::l_httpGet(lua_State *L)
{
    return httpCall(L, "GET", QString::fromUtf8(luaL_checkstring(L, 1)), 2, {}, "http.get");
}

int LuaTask::l_httpPost(lua_State *L)
{
    return httpCall(L, "POST", QString::fromUtf8(luaL_checkstring(L, 1)), 3,
                    lua_isnoneornil(L, 2) ? QByteArray() : bytes(L, 2), "http.post");
}

int LuaTask::l_httpRequest(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "url");
    const QString url = QString::fromUtf8(luaL_checkstring(L, -1));
    lua_getfield(L, 1, "method");
    const QByteArray method = lua_isnil(L, -1) ? QByteArray("GET") : bytes(L, -1).toUpper();
    lua_getfield(L, 1, "body");
    const QByteArray body = lua_isnil(L, -1) ? QByteArray() : bytes(L, -1);
    lua_pop(L, 3);
    return httpCall(L, method, url, 1, body, "http.request");
}

void LuaTask::openIoLib(lua_State *L, int)
{
    lua_pushglobaltable(L);
    lua_pushcfunction(L, &LuaTask::l_exec);
    lua_setfield(L, -2, "exec");
    const luaL_Reg http[] = {
        {"get", &LuaTask::l_httpGet},
        {"post", &LuaTask::l_httpPost},
        {"request", &LuaTask::l_httpRequest},
        {nullptr, nullptr},
    };
    luaL_newlib(L, http);
    lua_setfield(L, -2, "http");
    lua_pop(L, 1);
}
