#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>

struct lua_State;

// The value at `index` as JSON (SPEC section 2: nil, booleans, numbers, strings and
// tables of them; a table with only keys 1..n is an array, any other an object).
// Other values become their type name in angle brackets. Never raises a Lua error and
// never allocates in Lua, so it is safe outside a protected call.
QJsonValue luaToJson(lua_State *L, int index);

// The error value at `index` as text, calling a __tostring metamethod in a protected
// call on `host` (the state's main thread) when it has one.
QString luaErrorToString(lua_State *L, int index, lua_State *host);
