#pragma once

struct lua_State;

// Replaces string.find, string.match, string.gmatch and string.gsub in the state's
// string library with a matcher that can be interrupted (see luapattern.cpp).
void luaOpenInterruptiblePatterns(lua_State *L);

// From inside a long-running C function: runs the count hook the engine has set on `L`
// (a look-in, a cancel or a stop), as the VM would at its next instruction. The hook
// may raise, so call it only where a Lua error may be raised.
void luaCheckInterrupt(lua_State *L);
