/* Lua 5.4 modules from objfreeze tables: see objfreeze_lua.c. */
#ifndef OBJFREEZE_LUA_H
#define OBJFREEZE_LUA_H

#include <lua.h>

/* Insert a searcher for every table linked into the program into
   package.searchers, right after the preload searcher (so frozen modules win
   over files on disk). Tables whose tag is not this Lua's bytecode version
   are skipped, with a warning. Returns the number of tables used. */
int objfreeze_lua_install(lua_State *L);

#endif
