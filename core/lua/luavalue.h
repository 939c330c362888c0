#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QJsonValue>

#include <atomic>

struct lua_State;

// What converting one result may cost: a table shared by many parents is converted once
// per parent, so `local t = {} for i = 1, 40 do t = {t, t} end` would otherwise take
// 2^40 values. Exceeding a bound fails the conversion; so does a cancel request (checked
// every few thousand values, so a conversion is cut short as soon as it is asked to).
struct LuaJsonBudget
{
    qint64 maxValues = 1'000'000;
    qint64 maxBytes = qint64(64) << 20;       // strings and keys, plus a little per value
    const std::atomic<int> *cancel = nullptr; // > 0: stop
};

// The value at `index` as JSON (SPEC section 2: nil, booleans, numbers, strings and
// tables of them; a table with only keys 1..n is an array, any other an object).
// Other values become their type name in angle brackets, a table met again inside
// itself "<cycle>". Reads tables raw: no metamethod runs. Never raises a Lua error and
// never allocates in Lua, so it is safe outside a protected call. Over `budget` it
// returns null and sets `*error` (one line).
QJsonValue luaToJson(lua_State *L, int index, const LuaJsonBudget &budget, QString *error);
QJsonValue luaToJson(lua_State *L, int index);
// The `count` values from `base` up as a task's result (SPEC section 2: one is itself,
// several an array, none null), all within one budget.
QJsonValue luaResultsToJson(lua_State *L, int base, int count, const LuaJsonBudget &budget,
                            QString *error);

// The error value at `index` as text, calling a __tostring metamethod in a protected
// call on `host` (the state's main thread) when it has one. The metamethod runs under a
// count hook, as task code does: it is stopped after ToStringBudgetMs, or at once when
// `stop` (the task's cancel level) reaches 2, and then its text says so.
constexpr qint64 ToStringBudgetMs = 1000;
QString luaErrorToString(lua_State *L, int index, lua_State *host,
                         const std::atomic<int> *stop = nullptr);
