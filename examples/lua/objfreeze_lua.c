/* A package.searchers entry that loads Lua 5.4 bytecode (luac output) from
 * the objfreeze tables linked into the program.
 *
 * require("a.b") looks "a.b" up by binary search in each table, in link
 * order; a hit is loaded with luaL_loadbufferx in binary mode straight from
 * the read-only section (nothing copied). The chunk keeps the source name
 * luac recorded, so errors and tracebacks name the .lua file and line. */
#include "objfreeze_lua.h"

#include <lauxlib.h>
#include <stdio.h>

#include "objfreeze.h"

/* What luac writes as its version byte: 0x54 for Lua 5.4. */
#define LUA_BYTECODE_TAG ((LUA_VERSION_NUM / 100) * 16 + LUA_VERSION_NUM % 100)

static int usable(const objfreeze_table *t) {
    return t->tag_kind == OBJFREEZE_TAG_LUA && t->tag == LUA_BYTECODE_TAG;
}

static int searcher(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const objfreeze_table *t = NULL;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        const objfreeze_entry *e;
        if (!usable(t) || (e = objfreeze_find(t, name)) == NULL) continue;
        if (luaL_loadbufferx(L, (const char *)objfreeze_entry_data(t, e), objfreeze_entry_size(e), name,
                             "b") != LUA_OK)
            return luaL_error(L, "error loading module '%s' from an objfreeze table:\n\t%s", name,
                              lua_tostring(L, -1));
        /* The loader data require passes on: where the module came from. */
        lua_pushfstring(L, "objfreeze table (%d bytes of bytecode)", (int)objfreeze_entry_size(e));
        return 2;
    }
    lua_pushfstring(L, "no module '%s' in objfreeze tables", name);
    return 1;
}

int objfreeze_lua_install(lua_State *L) {
    const objfreeze_table *t = NULL;
    int used = 0;
    lua_Integer i, n;
    while ((t = objfreeze_linked_next(t)) != NULL) {
        if (usable(t)) used++;
        else
            fprintf(stderr, "objfreeze: skipping a table tagged %u/%#x: this is Lua %s (bytecode %#x)\n",
                    (unsigned)t->tag_kind, (unsigned)t->tag, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR,
                    (unsigned)LUA_BYTECODE_TAG);
    }
    if (used == 0) return 0;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    /* Shift entries 2..n up by one and put ours at 2, after the preload searcher. */
    n = (lua_Integer)luaL_len(L, -1);
    for (i = n; i >= 2; i--) {
        lua_geti(L, -1, i);
        lua_seti(L, -2, i + 1);
    }
    lua_pushcfunction(L, searcher);
    lua_seti(L, -2, 2);
    lua_pop(L, 2);
    return used;
}
