#include "luaapi_p.h"

#include "../luahost.h"
#include "../luatask.h"

#include <QtGlobal>

#include <lua.hpp>

// The sandbox (issue 17). Every task runs in a host state shared with the tasks before
// and after it. What they share is immutable to them: the standard library tables are
// copied into a task's own globals on first use (libIndex), the metatables the engine
// gives out are protected (__metatable), and the parts of the libraries that could break
// memory safety or reach the shared tables (the registry, upvalues and locals of engine
// code, type-wide metatables, binary chunks, the collector's settings) are refused.

using namespace LuaApi;

namespace {

// Replaces table[field] by `fn`, which gets the original as its first upvalue.
void wrap(lua_State *L, int table, const char *field, lua_CFunction fn)
{
    table = lua_absindex(L, table);
    lua_getfield(L, table, field);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, table, field);
}

// __index of the table behind every task's globals: a standard library table (held by
// the host's original global table, upvalue 1) is copied into the running task's globals
// on first use. A task that never names one pays nothing.
int libIndex(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TTABLE || lua_rawequal(L, 3, lua_upvalueindex(1)))
        return 0;
    if (!LuaHost::pushCurrentEnv(L)) // 4
        return luaL_error(L, "%s: not inside a task", lua_tostring(L, 2));
    lua_newtable(L); // 5: the copy
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 5);
    }
    if (qstrcmp(lua_tostring(L, 2), "package") == 0) {
        // Modules a task requires are its own (see l_require).
        lua_newtable(L);
        lua_setfield(L, 5, "loaded");
        lua_newtable(L);
        lua_setfield(L, 5, "preload");
        lua_pushnil(L);
        lua_setfield(L, 5, "searchers");
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 5);
    lua_rawset(L, 4);
    return 1;
}

// setmetatable as in the base library, without finalizers: Lua runs a __gc with hooks
// off, wherever the collector happens to be (between tasks, or inside another), so
// neither a cancel, a timeout nor the grace period could stop one that loops. A task
// cleans up with a `local x <close>` variable instead, which runs in the task.
int l_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const int t = lua_type(L, 2);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) // what the collector itself looks at
            return luaL_error(L, "setmetatable: __gc finalizers are not available in a "
                                 "task (nothing could stop one); use a <close> variable");
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

int l_debugSetmetatable(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L,
                          "debug.setmetatable: the metatable of a %s is shared by every "
                          "task; only a table may get one in a task",
                          luaL_typename(L, 1));
    return l_setmetatable(L);
}

// The function at `arg` is the script's own Lua code, not a C function or the toolkit's.
void checkScriptFunction(lua_State *L, int arg, const char *name)
{
    luaL_checktype(L, arg, LUA_TFUNCTION);
    lua_Debug ar;
    lua_pushvalue(L, arg);
    lua_getinfo(L, ">S", &ar);
    if (qstrcmp(ar.what, "C") == 0 || qstrcmp(ar.source, "=taskdeck") == 0)
        luaL_error(L, "%s: not available on the engine's functions", name);
}

int l_debugUpvalue(lua_State *L)
{
    checkScriptFunction(L, 1, "debug.getupvalue/setupvalue/upvalueid");
    return callOriginal(L);
}

// debug.getlocal/setlocal([thread,] level, n [, value]): not in a C function's frame (its
// stack slots hold what it relies on) or the toolkit's.
int l_debugLocal(lua_State *L)
{
    const int arg = lua_type(L, 1) == LUA_TTHREAD ? 1 : 0;
    lua_State *L1 = arg ? lua_tothread(L, 1) : L;
    if (lua_type(L, arg + 1) == LUA_TFUNCTION) // parameter names only
        return callOriginal(L);
    lua_Integer level = luaL_checkinteger(L, arg + 1);
    lua_Debug ar;
    if (lua_getstack(L1, int(level), &ar)) {
        lua_getinfo(L1, "S", &ar);
        if (qstrcmp(ar.what, "C") == 0 || qstrcmp(ar.source, "=taskdeck") == 0)
            return luaL_error(L, "debug.getlocal/setlocal: not available in the engine's "
                                 "frames");
    }
    if (L1 == L) { // the original counts this wrapper's frame too
        lua_pushinteger(L, level + 1);
        lua_replace(L, arg + 1);
    }
    return callOriginal(L);
}

// debug.setlocal, and not into the VM's own slots of a Lua frame either (a loop's
// counters, temporaries), which the VM's code trusts.
int l_debugSetlocal(lua_State *L)
{
    const int arg = lua_type(L, 1) == LUA_TTHREAD ? 1 : 0;
    lua_State *L1 = arg ? lua_tothread(L, 1) : L;
    const int level = int(luaL_checkinteger(L, arg + 1));
    const int n = int(luaL_checkinteger(L, arg + 2));
    lua_Debug ar;
    if (lua_getstack(L1, level, &ar) && lua_checkstack(L1, 1)) {
        const char *name = lua_getlocal(L1, &ar, n);
        if (name) {
            lua_pop(L1, 1);
            if (name[0] == '(')
                return luaL_error(L, "debug.setlocal: not for the VM's own slots (%s)", name);
        }
    }
    return l_debugLocal(L);
}

int l_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = {"collect", "count", "step", "isrunning"};
    const char *option = luaL_optstring(L, 1, "collect");
    for (const char *name : allowed) {
        if (qstrcmp(option, name) == 0)
            return callOriginal(L);
    }
    return luaL_error(L,
                      "collectgarbage('%s') is not available in a task: the collector "
                      "serves the tasks after it too",
                      option);
}

// os.setlocale(): only the query; the locale belongs to the whole process, and its
// other threads (and tasks) read it all the time.
int l_setlocale(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        return luaL_error(L, "os.setlocale is not available in a task (the locale is the "
                             "whole process's); os.setlocale() tells it");
    return callOriginal(L);
}

// io.input/io.output with a file: the host resets the defaults after the task.
int l_ioDefault(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        LuaHost::of(L)->markDirty();
    return callOriginal(L);
}

// The loaders' rule: text only (the mode at `modeArg` forced to "t"), and the task's
// globals as _ENV (at modeArg + 1) unless the caller gave one (the host's own are
// nobody's to change). Then the original loader, this C function's upvalue.
int callLoaderTextOnly(lua_State *L, int modeArg)
{
    const int n = lua_gettop(L);
    lua_settop(L, modeArg + 1);
    lua_pushliteral(L, "t");
    lua_replace(L, modeArg);
    if (n < modeArg + 1) {
        if (!LuaHost::pushCurrentEnv(L))
            lua_pushnil(L);
        lua_replace(L, modeArg + 1);
    }
    return callOriginal(L);
}

// load(chunk [, name [, mode [, env]]])
int l_load(lua_State *L)
{
    return callLoaderTextOnly(L, 3);
}

// loadfile(name [, mode [, env]]); never from stdin (the engine's).
int l_loadfile(lua_State *L)
{
    luaL_checkstring(L, 1);
    return callLoaderTextOnly(L, 2);
}

// Loads the text file `name` with the task's globals as its _ENV, or raises.
void loadTextFile(lua_State *L, const char *name)
{
    if (luaL_loadfilex(L, name, "t") != LUA_OK)
        lua_error(L);
    if (LuaHost::pushCurrentEnv(L)) {
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
}

int dofileDone(lua_State *L, int, lua_KContext)
{
    return lua_gettop(L) - 1;
}

int l_dofile(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    loadTextFile(L, name);
    lua_callk(L, 0, LUA_MULTRET, 0, &dofileDone);
    return dofileDone(L, LUA_OK, 0);
}

// Stack of require while a module runs: 1 name, 2 the task's package.loaded, 3 file
// name, 4 the module's result.
int requireDone(lua_State *L, int, lua_KContext)
{
    if (!lua_isnil(L, 4))
        lua_setfield(L, 2, lua_tostring(L, 1));
    else
        lua_pop(L, 1);
    if (lua_getfield(L, 2, lua_tostring(L, 1)) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, 2, lua_tostring(L, 1));
    }
    lua_insert(L, 3);
    return 2;
}

// require(name): the task's copy of a standard library, or a Lua text file found on the
// task's package.path, run with the task's globals and kept in its package.loaded.
// Upvalues: the host's original globals, package.searchpath.
int l_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    if (!LuaHost::pushCurrentEnv(L)) // 2
        return luaL_error(L, "require: not inside a task");
    if (lua_getfield(L, 2, "package") != LUA_TTABLE) // 3
        return luaL_error(L, "require: 'package' must be a table");
    if (lua_getfield(L, 3, "loaded") != LUA_TTABLE) // 4
        return luaL_error(L, "require: 'package.loaded' must be a table");
    if (lua_getfield(L, 4, name) != LUA_TNIL) // 5
        return 1;
    lua_pop(L, 1);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TTABLE // a standard library
        && !lua_rawequal(L, -1, lua_upvalueindex(1))) {
        lua_getfield(L, 2, name);
        lua_pushvalue(L, -1);
        lua_setfield(L, 4, name);
        return 1;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 1);
    if (lua_getfield(L, 3, "path") != LUA_TSTRING)
        return luaL_error(L, "require: 'package.path' must be a string");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2))
        return luaL_error(L, "module '%s' not found:%s", name, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_replace(L, 3);
    lua_replace(L, 2); // 1 name, 2 loaded, 3 file name
    const char *file = lua_tostring(L, 3);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    if (LuaHost::pushCurrentEnv(L) && !lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 3); // 4 the module, 5 and 6 its arguments
    lua_callk(L, 2, 1, 0, &requireDone);
    return requireDone(L, LUA_OK, 0);
}

// coroutine.close, but not for a coroutine the engine runs.
int l_coclose(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    if (co) {
        Coroutine *c = LuaTask::context(co);
        if (c && c->L == co)
            return luaL_error(L, "coroutine.close: not for a coroutine of spawn()");
    }
    return callOriginal(L);
}

} // namespace

// Called by installApi once the globals are complete (the global table on the stack):
// locks the shared parts down and makes every task's globals fall back to them.
void LuaApi::installSandbox(lua_State *L)
{
    const int g = lua_gettop(L);
    // The shared metatables: of strings, files and the engine's types.
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "string");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    luaL_getmetatable(L, LUA_FILEHANDLE);
    lua_pushliteral(L, "FILE*");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    wrap(L, g, "load", &l_load);
    wrap(L, g, "loadfile", &l_loadfile);
    lua_pushcfunction(L, &l_dofile);
    lua_setfield(L, g, "dofile");
    wrap(L, g, "collectgarbage", &l_collectgarbage);
    lua_pushcfunction(L, &l_setmetatable);
    lua_setfield(L, g, "setmetatable");
    lua_getfield(L, g, "io");
    wrap(L, -1, "input", &l_ioDefault);
    wrap(L, -1, "output", &l_ioDefault);
    lua_pop(L, 1);
    // Taking the whole application down, or unhooking the engine's watchdog, is not a
    // task's business.
    lua_getfield(L, g, "os");
    wrap(L, -1, "setlocale", &l_setlocale);
    setRefused(L, -1, "exit", "os.exit is not available in a task: return or error() instead");
    lua_pop(L, 1);
    lua_getfield(L, g, "coroutine");
    wrap(L, -1, "close", &l_coclose);
    lua_pop(L, 1);
    lua_getfield(L, g, "package");
    setRefused(L, -1, "loadlib", "package.loadlib is not available in a task");
    lua_pushvalue(L, g);
    lua_getfield(L, -2, "searchpath");
    lua_pushcclosure(L, &l_require, 2);
    lua_setfield(L, g, "require");
    lua_pop(L, 1);

    lua_getfield(L, g, "debug");
    const int debug = lua_gettop(L);
    setRefused(L, debug, "getregistry", "debug.getregistry is not available in a task");
    setRefused(L, debug, "upvaluejoin", "debug.upvaluejoin is not available in a task");
    setRefused(L, debug, "setuservalue", "debug.setuservalue is not available in a task");
    setRefused(L, debug, "getuservalue", "debug.getuservalue is not available in a task");
    setRefused(L, debug, "debug", "debug.debug is not available in a task (no console)");
    setRefused(L, debug, "sethook", "debug.sethook is not available in a task");
    lua_getfield(L, g, "getmetatable"); // honours __metatable
    lua_setfield(L, debug, "getmetatable");
    lua_pushcfunction(L, &l_debugSetmetatable);
    lua_setfield(L, debug, "setmetatable");
    wrap(L, debug, "getupvalue", &l_debugUpvalue);
    wrap(L, debug, "setupvalue", &l_debugUpvalue);
    wrap(L, debug, "upvalueid", &l_debugUpvalue);
    wrap(L, debug, "getlocal", &l_debugLocal);
    wrap(L, debug, "setlocal", &l_debugSetlocal);
    lua_pop(L, 1);

    // Each task gets its own global table that falls back to `base`: the functions of
    // the original globals (a table read, as fast as before), then libIndex for the
    // library tables.
    lua_newtable(L);
    const int base = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, g)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, base);
    }
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, g);
    lua_pushcclosure(L, &libIndex, 1);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, base);

    lua_createtable(L, 0, 2);
    lua_pushvalue(L, base);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "globals");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, LuaHost::envMetaKey());
    lua_settop(L, g);
}
