#include "luavalue.h"

#include <lua.hpp>

#include <cmath>
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

QJsonValue convert(lua_State *L, int index, int depth)
{
    index = lua_absindex(L, index);
    switch (lua_type(L, index)) {
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
            return std::isnan(d) ? QStringLiteral("nan") : d > 0 ? QStringLiteral("inf")
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
    if (depth >= MaxDepth || !lua_checkstack(L, 4))
        return QStringLiteral("<nested too deep>");

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
    if (sequence && lua_rawlen(L, index) == size_t(count)) {
        QJsonArray array;
        for (lua_Integer i = 1; i <= count; ++i) {
            lua_rawgeti(L, index, i);
            array.append(convert(L, -1, depth + 1));
            lua_pop(L, 1);
        }
        return array;
    }
    QJsonObject object;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        object.insert(keyText(L, -2), convert(L, -1, depth + 1));
        lua_pop(L, 1);
    }
    return object;
}

} // namespace

QJsonValue luaToJson(lua_State *L, int index)
{
    return convert(L, index, 0);
}

QString luaErrorToString(lua_State *L, int index, lua_State *host)
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
    QString text;
    if (lua_pcall(host, 1, 1, 0) == LUA_OK && lua_type(host, -1) == LUA_TSTRING)
        text = keyText(host, -1);
    else
        text = QStringLiteral("(error object with a failing __tostring)");
    lua_pop(host, 1);
    return text;
}
