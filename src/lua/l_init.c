/* l_init.c: builds the `normlab.C` table from every binding family and
 * preloads it, so `require 'normlab'` (lua/normlab/init.lua) can find it. */
#include "l_util.h"

static int l_set_threads(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    nl_set_threads(c, (int)luaL_checkinteger(L, 1));
    lua_pushinteger(L, c->threads);
    return 1;
}

static int l_get_threads(lua_State *L) {
    lua_pushinteger(L, nl_lua_ctx(L)->threads);
    return 1;
}

static int l_interrupted(lua_State *L) {   /* polled by Lua training loops */
    lua_pushboolean(L, nl_lua_ctx(L)->interrupted != 0);
    return 1;
}

static int l_clear_interrupt(lua_State *L) {
    nl_lua_ctx(L)->interrupted = 0;
    return 0;
}

static int open_c(lua_State *L) {
    lua_newtable(L);
    nl_open_tensor(L);
    nl_open_rng(L);
    nl_open_checkpoint(L);
    nl_open_norm(L);
    nl_open_spatial(L);
    nl_open_data(L);
    nl_open_winograd(L);
    /* one line per binding family (src/lua/l_<family>.c) */
    static const luaL_Reg misc[] = {
        {"set_threads", l_set_threads}, {"get_threads", l_get_threads},
        {"interrupted", l_interrupted}, {"clear_interrupt", l_clear_interrupt}, {NULL, NULL}
    };
    luaL_setfuncs(L, misc, 0);
    lua_pushliteral(L, NL_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}

void nl_lua_open(lua_State *L) {
    nl_lua_new_ctx(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, open_c);
    lua_setfield(L, -2, "normlab.C");
    lua_pop(L, 1);
}
