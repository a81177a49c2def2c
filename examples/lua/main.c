/* A Lua host whose modules come from an objfreeze table: it installs the
 * table searcher, then runs require("main"). */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>

#include "objfreeze_lua.h"

int main(void) {
    lua_State *L = luaL_newstate();
    int status;
    if (L == NULL) return 1;
    luaL_openlibs(L);
    printf("tables installed: %d\n", objfreeze_lua_install(L));
    lua_getglobal(L, "require");
    lua_pushliteral(L, "main");
    status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK) fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
