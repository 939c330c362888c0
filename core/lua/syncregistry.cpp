#include "syncregistry.h"

#include "lib/luaapi_p.h"
#include "luahost.h"
#include "luatask.h"

#include <QDateTime>
#include <QSet>

#include <lua.hpp>

#include <algorithm>
#include <cstring>

// The registry of a task's Locks, Semaphores, Queues and Events (SPEC section 9). The
// four are tables made by prelude.lua; each registers itself with __track at creation
// (a weak-keyed table per task: what the script drops, the registry drops) and keeps
// its holders in its own fields. Nothing is formatted until a stack is built: then
// syncRegistry() reads the tables as they stand.

QString SyncResource::kindName(Kind kind)
{
    switch (kind) {
    case Kind::Lock:
        return QStringLiteral("Lock");
    case Kind::Semaphore:
        return QStringLiteral("Semaphore");
    case Kind::Queue:
        return QStringLiteral("Queue");
    case Kind::Event:
        return QStringLiteral("Event");
    }
    return {};
}

QString SyncRegistry::coroutineLabel(int id) const
{
    const QString name = coroutineNames.value(id);
    return name.isEmpty() ? QStringLiteral("#%1").arg(id)
                          : QStringLiteral("%1 #%2").arg(name).arg(id);
}

const SyncResource *SyncRegistry::waitedOnBy(int id) const
{
    for (const SyncResource &r : resources)
        if (r.waiters.contains(id))
            return &r;
    return nullptr;
}

namespace {

constexpr int KindBits = 3;

// The field `name` of the table at `index`, raw (no metamethod runs).
int rawField(lua_State *L, int index, const char *name)
{
    lua_pushstring(L, name);
    return lua_rawget(L, index < 0 ? index - 1 : index);
}

lua_Integer intField(lua_State *L, int index, const char *name)
{
    rawField(L, index, name);
    const lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return v;
}

bool boolField(lua_State *L, int index, const char *name)
{
    rawField(L, index, name);
    const bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

// The coroutine id of a holder key (the Lua thread that acquired, coroutine.running()):
// 0 for a plain coroutine of the script's own, -1 for what is not a thread.
int threadId(lua_State *L, int index)
{
    lua_State *thread = lua_tothread(L, index);
    if (!thread)
        return -1;
    const Coroutine *co = LuaTask::context(thread);
    return co && co->L == thread ? co->id : 0;
}

// The waiters of the FIFO in field `name` ({first, last, [i] = {co =, granted =,
// cancelled =}}) that still wait, in turn order.
QList<int> fifoWaiters(lua_State *L, int index, const char *name)
{
    QList<int> ids;
    if (rawField(L, index, name) != LUA_TTABLE) {
        lua_pop(L, 1);
        return ids;
    }
    const lua_Integer first = intField(L, -1, "first");
    const lua_Integer last = intField(L, -1, "last");
    for (lua_Integer i = first; i <= last && i - first < 100000; ++i) {
        if (lua_rawgeti(L, -1, i) == LUA_TTABLE && !boolField(L, -1, "granted") &&
            !boolField(L, -1, "cancelled")) {
            rawField(L, -1, "co");
            if (const Coroutine *co = LuaApi::toHandle(L, -1))
                ids.append(co->id);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return ids;
}

} // namespace

// __track(object, kind): registers a new Lock (1), Semaphore (2), Queue (3) or Event (4)
// with the running task, and where the script created it as object._site.
int LuaTask::l_track(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const lua_Integer kind = luaL_checkinteger(L, 2);
    Coroutine *here = context(L);
    if (!here || !here->task)
        return 0;
    LuaTask *t = here->task;
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); ++level) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0 ||
            std::strcmp(ar.source, "=taskdeck") == 0)
            continue;
        const char *file = ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
        if (const char *slash = std::strrchr(file, '/'))
            file = slash + 1;
        lua_pushfstring(L, "%s:%d", file, ar.currentline);
        lua_setfield(L, 1, "_site");
        break;
    }
    if (t->m_syncRef == LUA_NOREF) {
        lua_createtable(L, 0, 4);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        t->m_syncRef = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->m_syncRef);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, (++t->m_syncSeq << KindBits) | (kind & 7));
    lua_rawset(L, -3);
    return 0;
}

// __now_ms() -> epoch milliseconds (since when a Lock is held).
int LuaTask::l_nowMs(lua_State *L)
{
    lua_pushinteger(L, QDateTime::currentMSecsSinceEpoch());
    return 1;
}

// Reads every registered object as it stands (a thread that may read the Lua state: the
// slice's worker, or the engine thread between slices), inside a protected call: the
// reading allocates a little, which the task's memory cap may refuse.
std::shared_ptr<SyncRegistry> LuaTask::syncRegistry() const
{
    auto registry = std::make_shared<SyncRegistry>();
    if (!m_host || m_syncRef == LUA_NOREF)
        return registry;
    lua_State *L = m_host->state();
    if (!lua_checkstack(L, 4))
        return registry;
    const int top = lua_gettop(L);
    lua_pushcfunction(L, [](lua_State *L) -> int {
        auto *t = static_cast<const LuaTask *>(lua_touserdata(L, 1));
        auto *out = static_cast<SyncRegistry *>(lua_touserdata(L, 2));
        t->readSyncRegistry(L, *out);
        return 0;
    });
    lua_pushlightuserdata(L, const_cast<LuaTask *>(this));
    lua_pushlightuserdata(L, registry.get());
    if (lua_pcall(L, 2, 0, 0) != LUA_OK)
        registry->resources.clear();
    lua_settop(L, top);
    QSet<int> seen;
    for (const SyncResource &r : registry->resources) {
        for (int id : r.holders)
            seen.insert(id);
        for (int id : r.waiters)
            seen.insert(id);
    }
    for (int id : seen) {
        if (id <= 0)
            continue;
        if (const Coroutine *co = liveCoroutine(id))
            registry->coroutineNames.insert(id, coroutineName(co));
        else if (auto name = m_names.find(id); name != m_names.end())
            registry->coroutineNames.insert(id, name->second);
    }
    return registry;
}

void LuaTask::readSyncRegistry(lua_State *L, SyncRegistry &registry) const
{
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m_syncRef);   // 1
    lua_createtable(L, 16, 0);                      // 2: the objects, in creation order below
    std::vector<std::pair<lua_Integer, int>> order; // (sequence << bits | kind, index in 2)
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) == LUA_TTABLE && lua_isinteger(L, -1) && order.size() < 10000) {
            order.emplace_back(lua_tointeger(L, -1), int(order.size()) + 1);
            lua_pushvalue(L, -2);
            lua_rawseti(L, 2, order.back().second);
        }
        lua_pop(L, 1);
    }
    std::sort(order.begin(), order.end());
    for (const auto &[code, index] : order) {
        lua_rawgeti(L, 2, index);
        const int slot = lua_gettop(L);
        SyncResource r;
        r.kind = SyncResource::Kind(std::clamp<int>(int(code & 7) - 1, 0, 3));
        rawField(L, slot, "_site");
        r.site = QString::fromUtf8(lua_tostring(L, -1));
        lua_pop(L, 1);
        switch (r.kind) {
        case SyncResource::Kind::Lock: {
            const bool locked = boolField(L, slot, "_locked");
            r.state = locked ? QStringLiteral("locked") : QStringLiteral("unlocked");
            r.taken = locked ? 1 : 0;
            rawField(L, slot, "_holder");
            if (locked && lua_isthread(L, -1)) {
                r.holders.append(threadId(L, -1));
                r.heldSinceMs = intField(L, slot, "_since");
            }
            lua_pop(L, 1);
            r.waiters = fifoWaiters(L, slot, "_waiters");
            break;
        }
        case SyncResource::Kind::Semaphore: {
            const lua_Integer value = intField(L, slot, "_value");
            const lua_Integer initial = intField(L, slot, "_n");
            r.state = QStringLiteral("%1 of %2 free").arg(value).arg(initial);
            r.taken = int(qMax<lua_Integer>(0, initial - value));
            if (rawField(L, slot, "_holders") == LUA_TTABLE) {
                lua_pushnil(L);
                while (lua_next(L, -2)) {
                    const int id = threadId(L, -2);
                    for (lua_Integer k = lua_tointeger(L, -1); k > 0 && id >= 0; --k)
                        r.holders.append(id);
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
            std::sort(r.holders.begin(), r.holders.end());
            r.waiters = fifoWaiters(L, slot, "_waiters");
            break;
        }
        case SyncResource::Kind::Queue: {
            if (rawField(L, slot, "_items") == LUA_TTABLE)
                r.size = int(intField(L, -1, "last") - intField(L, -1, "first") + 1);
            lua_pop(L, 1);
            r.maxSize = int(intField(L, slot, "_max"));
            r.getters = fifoWaiters(L, slot, "_getters");
            r.putters = fifoWaiters(L, slot, "_putters");
            r.joiners = fifoWaiters(L, slot, "_joiners");
            r.waiters = r.getters + r.putters + r.joiners;
            r.state = r.maxSize > 0 ? QStringLiteral("%1 items (max %2)").arg(r.size).arg(r.maxSize)
                                    : QStringLiteral("%1 items").arg(r.size);
            break;
        }
        case SyncResource::Kind::Event:
            r.state = boolField(L, slot, "_set") ? QStringLiteral("set") : QStringLiteral("clear");
            r.waiters = fifoWaiters(L, slot, "_waiters");
            break;
        }
        lua_settop(L, 2);
        registry.resources.append(std::move(r));
    }
}
