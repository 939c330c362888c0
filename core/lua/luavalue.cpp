#include "luavalue.h"

#include "../timerheap.h"

#include <lua.hpp>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace {

constexpr int MaxDepth = 64;

QString keyText(lua_State *L, int index)
{
    switch (lua_type(L, index)) {
    case LUA_TSTRING: {
        size_t len = 0;
        const char *s = lua_tolstring(L, index, &len); // a string: no conversion
        return QString::fromUtf8(s, qsizetype(len));
    }
    case LUA_TNUMBER:
        return lua_isinteger(L, index) ? QString::number(lua_tointeger(L, index))
                                       : QString::number(lua_tonumber(L, index), 'g', 17);
    case LUA_TBOOLEAN:
        return lua_toboolean(L, index) ? QStringLiteral("true") : QStringLiteral("false");
    default:
        return QStringLiteral("<%1>").arg(QString::fromUtf8(luaL_typename(L, index)));
    }
}

// One conversion: the tables on the current path (for cycles) and what was spent.
class Converter
{
public:
    Converter(lua_State *L, const LuaJsonBudget &budget)
        : m_L(L)
        , m_budget(budget)
    {
    }

    QJsonValue convert(int index, int depth);
    const QString &error() const { return m_error; }

private:
    bool spend(qint64 bytes);

    lua_State *m_L;
    const LuaJsonBudget &m_budget;
    std::vector<const void *> m_path;
    qint64 m_values = 0;
    qint64 m_bytes = 0;
    QString m_error;
};

// Counts one value of `bytes`; false (with the error set) once over the budget or
// cancelled.
bool Converter::spend(qint64 bytes)
{
    if (!m_error.isEmpty())
        return false;
    constexpr qint64 PerValue = 16;
    ++m_values;
    m_bytes += bytes + PerValue;
    if (m_values > m_budget.maxValues) {
        m_error = QStringLiteral("result too large: over %1 values (a table reused in it "
                                 "counts each time it appears)")
                      .arg(m_budget.maxValues);
    } else if (m_bytes > m_budget.maxBytes) {
        m_error = QStringLiteral("result too large: over %1 KiB (a table reused in it "
                                 "counts each time it appears)")
                      .arg(m_budget.maxBytes / 1024);
    } else if (m_budget.cancel && (m_values & 4095) == 0 && m_budget.cancel->load() > 0) {
        m_error = QStringLiteral("cancelled");
    }
    return m_error.isEmpty();
}

QJsonValue Converter::convert(int index, int depth)
{
    lua_State *L = m_L;
    index = lua_absindex(L, index);
    const int type = lua_type(L, index);
    size_t len = 0;
    if (type == LUA_TSTRING)
        lua_tolstring(L, index, &len);
    if (!spend(qint64(len)))
        return QJsonValue::Null;
    switch (type) {
    case LUA_TNIL:
    case LUA_TNONE:
        return QJsonValue::Null;
    case LUA_TBOOLEAN:
        return bool(lua_toboolean(L, index));
    case LUA_TNUMBER: {
        if (lua_isinteger(L, index))
            return qint64(lua_tointeger(L, index));
        const double d = lua_tonumber(L, index);
        if (!std::isfinite(d))
            return std::isnan(d) ? QStringLiteral("nan")
                   : d > 0       ? QStringLiteral("inf")
                                 : QStringLiteral("-inf");
        return d;
    }
    case LUA_TSTRING:
        return keyText(L, index);
    case LUA_TTABLE:
        break;
    default:
        return keyText(L, index);
    }
    const void *table = lua_topointer(L, index);
    if (std::find(m_path.begin(), m_path.end(), table) != m_path.end())
        return QStringLiteral("<cycle>");
    if (depth >= MaxDepth || !lua_checkstack(L, 4))
        return QStringLiteral("<nested too deep>");
    m_path.push_back(table);

    // An array when the keys are exactly 1..n.
    lua_Integer count = 0;
    bool sequence = true;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        ++count;
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1)
            sequence = false;
        lua_pop(L, 1);
    }
    QJsonValue value;
    if (sequence && lua_rawlen(L, index) == size_t(count)) {
        QJsonArray array;
        for (lua_Integer i = 1; i <= count && m_error.isEmpty(); ++i) {
            lua_rawgeti(L, index, i);
            array.append(convert(-1, depth + 1));
            lua_pop(L, 1);
        }
        value = array;
    } else {
        QJsonObject object;
        lua_pushnil(L);
        while (lua_next(L, index)) {
            size_t keyLen = 0;
            if (lua_type(L, -2) == LUA_TSTRING)
                lua_tolstring(L, -2, &keyLen); // a string: no conversion
            if (!spend(qint64(keyLen))) {
                lua_pop(L, 2);
                break;
            }
            object.insert(keyText(L, -2), convert(-1, depth + 1));
            lua_pop(L, 1);
        }
        value = object;
    }
    m_path.pop_back();
    return m_error.isEmpty() ? value : QJsonValue::Null;
}

} // namespace

QJsonValue luaToJson(lua_State *L, int index, const LuaJsonBudget &budget, QString *error)
{
    Converter converter(L, budget);
    QJsonValue value = converter.convert(index, 0);
    if (error)
        *error = converter.error();
    return converter.error().isEmpty() ? value : QJsonValue::Null;
}

QJsonValue luaResultsToJson(lua_State *L, int base, int count, const LuaJsonBudget &budget,
                            QString *error)
{
    Converter converter(L, budget);
    QJsonValue value;
    if (count == 1) {
        value = converter.convert(base, 0);
    } else if (count > 1) {
        QJsonArray values;
        for (int i = 0; i < count && converter.error().isEmpty(); ++i)
            values.append(converter.convert(base + i, 0));
        value = values;
    }
    if (error)
        *error = converter.error();
    return converter.error().isEmpty() ? value : QJsonValue::Null;
}

QJsonValue luaToJson(lua_State *L, int index)
{
    return luaToJson(L, index, LuaJsonBudget(), nullptr);
}

namespace {

// What the hook of a metamethod the engine calls checks: its deadline and the task's
// stop request. Per thread: the call runs on the worker that asked for it.
struct Guard
{
    qint64 untilNs;
    const std::atomic<int> *stop;
};
thread_local const Guard *t_guard = nullptr;

void guardHook(lua_State *L, lua_Debug *)
{
    const Guard *guard = t_guard;
    if (!guard)
        return;
    if (steadyNowNs() > guard->untilNs || (guard->stop && guard->stop->load() >= 2)) {
        // From now on on every instruction: a pcall inside cannot swallow it for good.
        lua_sethook(L, &guardHook, LUA_MASKCOUNT, 1);
        luaL_error(L, "stopped");
    }
}

} // namespace

QString luaErrorToString(lua_State *L, int index, lua_State *host, const std::atomic<int> *stop)
{
    const int type = lua_type(L, index);
    if (type == LUA_TSTRING || type == LUA_TNUMBER || type == LUA_TBOOLEAN || type == LUA_TNIL)
        return type == LUA_TNIL ? QStringLiteral("nil") : keyText(L, index);
    if (!luaL_getmetafield(L, index, "__tostring"))
        return QStringLiteral("(error object is a %1 value)")
            .arg(QString::fromUtf8(luaL_typename(L, index)));
    lua_pop(L, 1);
    // Run the metamethod on the host's main thread: `L` may be a dead coroutine.
    lua_pushvalue(L, index);
    if (L != host)
        lua_xmove(L, host, 1);
    lua_pushcfunction(host, [](lua_State *L) -> int {
        luaL_tolstring(L, 1, nullptr);
        return 1;
    });
    lua_insert(host, -2);
    const Guard guard{steadyNowNs() + ToStringBudgetMs * 1000000, stop};
    const Guard *outer = std::exchange(t_guard, &guard);
    const lua_Hook oldHook = lua_gethook(host);
    const int oldMask = lua_gethookmask(host);
    const int oldCount = lua_gethookcount(host);
    constexpr int InstructionsPerCheck = 1000;
    lua_sethook(host, &guardHook, LUA_MASKCOUNT, InstructionsPerCheck);
    const int status = lua_pcall(host, 1, 1, 0);
    lua_sethook(host, oldHook, oldMask, oldCount);
    const bool stopped = steadyNowNs() > guard.untilNs || (stop && stop->load() >= 2);
    t_guard = outer;
    QString text;
    if (status == LUA_OK && lua_type(host, -1) == LUA_TSTRING)
        text = keyText(host, -1);
    else if (stopped)
        text = QStringLiteral("(error object whose __tostring did not finish within %1 ms)")
                   .arg(ToStringBudgetMs);
    else
        text = QStringLiteral("(error object with a failing __tostring)");
    lua_pop(host, 1);
    return text;
}
