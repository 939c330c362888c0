#pragma once

// Internal to the task API (luaapi.cpp and the libraries in lib/): what more than one
// library uses. Everything here runs on the worker running the task's slice (or on the
// thread making a host, for installSandbox).

struct lua_State;
struct Coroutine;
class LuaTask;

namespace LuaApi {

// Registry keys of the error markers is_cancelled and is_timeout recognise by identity
// (their addresses are unique per process).
extern char CancelledKey;
extern char StoppedKey;
extern char TimeoutKey;

// Whether the value at `index` is the marker registered under `key`.
bool isMarker(lua_State *L, int index, void *key);

// The spawned coroutine whose handle is at `index`, or nullptr (corolib.cpp).
Coroutine *toHandle(lua_State *L, int index);

// Spawned coroutines' threads (threadcache.cpp): how many uservalues a handle of spawn()
// with `values` (the function and its arguments) has; a thread for `co` at its first
// resume, from the host's cache (not LUA_OK: the error, such as the memory cap, on L's
// top); at its end, its results (or error) moved into its handle and its thread cached,
// if nothing else can reach it (false: it keeps its thread); the results of one that gave
// it back, pushed from its handle at `handle`.
int spawnSlots(int values);
// The handle's user value that keeps the function a coroutine started with (after the
// slots of spawnSlots: never taken by its arguments or results).
int entrySlot(const Coroutine *co);
int attachThread(lua_State *L, Coroutine *co);
bool detachThread(lua_State *L, Coroutine *co, int status, int nresults);
int pushEnded(lua_State *L, int handle, Coroutine *co, bool failed, bool firstOnly);
void openThreadCache(lua_State *L); // coroutine.running, which marks a thread kept
// The seconds `co`, not started yet, sleeps for when it is spawn(sleep, seconds) with a
// number (`sleep` being the engine's, passed as `sleepFn`); -1 when it is anything else.
// Such a child needs no thread: it sleeps as a timer and ends when woken.
double bareSleepSeconds(lua_State *L, Coroutine *co, int (*sleepFn)(lua_State *));

// gather's reading of its handles' outcomes, into `engine` (gatherlib.cpp).
void openGatherLib(lua_State *L, int engine);

// The task whose code runs on `L`, or an error naming `what`: a finalizer may run
// between tasks.
LuaTask *runningTask(lua_State *L, const char *what);

// In the continuation of a call that waited: -1 when a cancellation came meanwhile (the
// caller raises it), else 0, the wait being over.
int resumed(lua_State *L);

// A C function that raises its upvalue 1, a message; setRefused makes table[field] one.
int refused(lua_State *L);
void setRefused(lua_State *L, int table, const char *field, const char *message);

// Calls upvalue 1 (the function a wrapper replaced) with this call's arguments and
// returns what it returns.
int callOriginal(lua_State *L);

// Locks the host's shared parts down and makes every task's globals fall back to them;
// the global table, complete, on the stack top (sandbox.cpp).
void installSandbox(lua_State *L);

} // namespace LuaApi
