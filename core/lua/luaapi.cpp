#include "luatask.h"

#include "lib/luaapi_p.h"
#include "luahost.h"
#include "luapattern.h"

#include "../deadline.h"

#include <QDateTime>
#include <QFile>

#include <lua.hpp>

// The functions a Lua task calls (SPEC section 2), split by library as Lua's own
// l*lib.c files are: lib/corolib.cpp (sleep, spawn, handles, waitgroup), lib/synclib.cpp
// (what Queue, Lock, Semaphore and Event wait with), lib/iolib.cpp (exec, http.*),
// lib/tasklib.cpp (log, progress, task.*), lib/sandbox.cpp (what keeps tasks apart), and
// prelude.lua, the toolkit written in Lua on top of them. This file has what they share:
// the error markers, waiting (suspend) and the hook that delivers cancels.
//
// All run on the worker running the task's slice; the ones that wait end in lua_yieldk
// and are continued by a `...Done` function, which delivers a pending cancellation at
// that suspension point.

char LuaApi::CancelledKey;
char LuaApi::StoppedKey;
char LuaApi::TimeoutKey;

using namespace LuaApi;

namespace {

constexpr qint64 LookInAfterNs = 50'000'000;
constexpr qint64 BlockingNs = 100'000'000;

// Makes a unique error object: a userdata whose tostring is `text`; is_cancelled and
// is_timeout recognise these by identity.
void makeMarker(lua_State *L, void *key, const char *text)
{
    lua_newuserdatauv(L, 0, 0); // not a table: no task can store anything in it
    lua_newtable(L);
    lua_pushstring(L, text);
    lua_pushcclosure(
        L,
        [](lua_State *L) -> int {
            lua_pushvalue(L, lua_upvalueindex(1));
            return 1;
        },
        1);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, "TaskdeckError");
    lua_setfield(L, -2, "__name");
    lua_pushstring(L, "TaskdeckError");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

qint64 epochMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

// Runs prelude.lua (a Qt resource) with the table of the libraries' primitives at
// `engine`, which it pops.
void runPrelude(lua_State *L, int engine)
{
    QFile file(QStringLiteral(":/taskdeck/prelude.lua"));
    if (!file.open(QIODevice::ReadOnly))
        qFatal("taskdeck prelude: %s", qPrintable(file.errorString()));
    const QByteArray text = file.readAll();
    if (luaL_loadbufferx(L, text.constData(), size_t(text.size()), "=taskdeck", "t") != LUA_OK)
        qFatal("taskdeck prelude: %s", lua_tostring(L, -1));
    lua_insert(L, engine);
    lua_call(L, 1, 0);
}

} // namespace

bool LuaApi::isMarker(lua_State *L, int index, void *key)
{
    index = lua_absindex(L, index);
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    const bool same = lua_rawequal(L, index, -1);
    lua_pop(L, 1);
    return same;
}

LuaTask *LuaApi::runningTask(lua_State *L, const char *what)
{
    Coroutine *co = LuaTask::context(L);
    if (!co || !co->task)
        luaL_error(L, "%s: not inside a task", what);
    return co->task;
}

int LuaApi::resumed(lua_State *L)
{
    Coroutine *co = LuaTask::context(L);
    if (co->cancelPending)
        return -1;
    co->awaitKind = nullptr;
    return 0;
}

int LuaApi::refused(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

void LuaApi::setRefused(lua_State *L, int table, const char *field, const char *message)
{
    table = lua_absindex(L, table);
    lua_pushstring(L, message);
    lua_pushcclosure(L, &refused, 1);
    lua_setfield(L, table, field);
}

int LuaApi::callOriginal(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

bool luaIsCancelMarker(lua_State *L, int index)
{
    return isMarker(L, index, &CancelledKey) || isMarker(L, index, &StoppedKey);
}

QString luaMarkerText(lua_State *L, int index)
{
    if (isMarker(L, index, &CancelledKey))
        return QStringLiteral("cancelled");
    if (isMarker(L, index, &StoppedKey))
        return QStringLiteral("stopped");
    if (isMarker(L, index, &TimeoutKey))
        return QStringLiteral("timeout");
    return {};
}

void LuaTask::addGlobal(lua_State *L, const char *name, int (*fn)(lua_State *L))
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, LuaHost::envMetaKey());
    lua_getfield(L, -1, "__index"); // the base of tasks' globals (installApi)
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
    lua_pop(L, 2);
}

void LuaTask::installApi(lua_State *L)
{
    luaOpenInterruptiblePatterns(L); // string.find & co. that a cancel or timeout can stop
    *static_cast<Coroutine **>(lua_getextraspace(L)) = nullptr;
    makeMarker(L, &CancelledKey, "cancelled");
    makeMarker(L, &StoppedKey, "stopped");
    makeMarker(L, &TimeoutKey, "timeout");

    // The libraries put their globals into the global table, and the primitives only
    // the prelude may use into `engine`.
    lua_pushglobaltable(L);
    lua_createtable(L, 0, 8);
    const int engine = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &TimeoutKey);
    lua_setfield(L, engine, "timeout_error");
    openCoroLib(L, engine);
    openSyncLib(L, engine);
    openIoLib(L, engine);
    openTaskLib(L, engine);
    // The toolkit written in Lua, defining its globals in the global table (the base
    // of every task's globals).
    runPrelude(L, engine);

    installSandbox(L);
    lua_pop(L, 1);
}

void LuaTask::hook(lua_State *L, lua_Debug *)
{
    Coroutine *c = context(L);
    if (!c) {
        lua_sethook(L, nullptr, 0, 0);
        return;
    }
    LuaTask *t = c->task;
    if (t->m_cancelLevel.load() == 3) {
        // Given up while stuck in a C call that has now returned: unwind without touching
        // anything else, once the engine thread has read where it was (under the mutex).
        {
            QMutexLocker lock(&t->m_liveMutex);
        }
        lua_sethook(L, &LuaTask::hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &StoppedKey);
        lua_error(L);
    }
    const qint64 now = steadyNowNs();
    if (now - t->m_lastFlushNs > LookInAfterNs)
        t->flushLive();
    if (now - t->m_resumeStartNs.load() > BlockingNs) {
        // Running a while without waiting: note where, for the stack and the log (the
        // innermost Lua frame: a pattern matcher may run this hook from C).
        lua_Debug ar;
        int frame = 0;
        while (lua_getstack(L, frame, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline < 0 &&
               frame < 3)
            ++frame;
        if (lua_getstack(L, frame, &ar) && lua_getinfo(L, "Sln", &ar) && ar.currentline > 0) {
            auto seen = std::make_unique<StackFrame>(
                StackFrame{QString::fromUtf8(ar.source[0] == '@' ? ar.source + 1 : ar.short_src),
                           ar.currentline,
                           ar.name ? QString::fromUtf8(ar.name) : QStringLiteral("main chunk")});
            QMutexLocker lock(&t->m_liveMutex);
            t->m_blockingAt = std::move(seen);
        }
    }
    const int level = t->m_cancelLevel.load();
    if (level >= 2) {
        // From now on, on every instruction: the first one after a pcall that caught
        // this error raises it again, outside that pcall.
        lua_sethook(L, &LuaTask::hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &StoppedKey);
        lua_error(L);
    }
    lua_sethook(L, nullptr, 0, 0); // back to full speed until the next look-in
    if (level == 1 && !t->m_hookCancelRaised) {
        t->m_hookCancelRaised = true;
        if (c->L == L)
            c->cancelDelivered = true;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &CancelledKey);
        lua_error(L);
    }
}

// The task coroutine that may wait here, or an error naming `what`.
Coroutine *LuaTask::waitingCoroutine(lua_State *L, const char *what)
{
    Coroutine *co = context(L);
    if (!co || co->L != L)
        luaL_error(L,
                   "%s: cannot wait inside a plain coroutine (coroutine.wrap/resume); "
                   "use spawn",
                   what);
    return co;
}

int LuaTask::suspend(lua_State *L, Coroutine *co, const char *kind, double arg, qint64 wakeAtNs,
                     int (*k)(lua_State *, int, intptr_t))
{
    if (co->cancelPending || co->task->m_cancelLevel.load() >= 2)
        return raiseCancel(L, co);
    co->awaitKind = kind;
    co->awaitArg = arg;
    co->awaitingSinceMs = epochMs();
    co->wakeAtNs = wakeAtNs;
    return lua_yieldk(L, 0, 0, k);
}

int LuaTask::raiseCancel(lua_State *L, Coroutine *co)
{
    co->cancelPending = false;
    co->cancelDelivered = true;
    co->task->m_hookCancelRaised = true;
    if (co->group) {
        co->group->fired = true; // nobody will be woken for it any more
        co->group.reset();
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX,
                co->task->m_cancelLevel.load() >= 2 ? &StoppedKey : &CancelledKey);
    return lua_error(L);
}
