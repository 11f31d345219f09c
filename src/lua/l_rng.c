/* l_rng.c: normlab.Generator, a seeded random stream owned by the caller.
 * A generator is one uint64_t of state: g:state() returns it as a hex string
 * so a checkpoint can store it exactly (Lua numbers would lose bits). */
#include <stdio.h>
#include <string.h>
#include <inttypes.h>
#include "l_util.h"
#include "../core/rng.h"

uint64_t *nl_lua_checkgenerator(lua_State *L, int arg) {
    return (uint64_t *)luaL_checkudata(L, arg, NL_GENERATOR_MT);
}

static uint64_t *push_generator(lua_State *L, uint64_t state) {
    uint64_t *g = (uint64_t *)lua_newuserdatauv(L, sizeof *g, 0);
    *g = state;
    luaL_setmetatable(L, NL_GENERATOR_MT);
    return g;
}

/* Streams have names so that scripts say what they mean. */
static uint64_t check_stream(lua_State *L, int arg) {
    if (lua_type(L, arg) == LUA_TSTRING) {
        static const char *const names[] = { "default", "init", "order", "augment", NULL };
        return (uint64_t)luaL_checkoption(L, arg, NULL, names);
    }
    return (uint64_t)luaL_optinteger(L, arg, 0);
}

static int g_new(lua_State *L) {   /* Generator(seed, stream) */
    uint64_t seed = (uint64_t)luaL_optinteger(L, 1, 0);
    push_generator(L, nl_rng_seed(seed, check_stream(L, 2)));
    return 1;
}

static int g_uniform(lua_State *L) {
    uint64_t *g = nl_lua_checkgenerator(L, 1);
    double lo = luaL_optnumber(L, 2, 0.0), hi = luaL_optnumber(L, 3, 1.0);
    lua_pushnumber(L, lo + (hi - lo) * nl_rng_uniform(g));
    return 1;
}

static int g_normal(lua_State *L) {
    uint64_t *g = nl_lua_checkgenerator(L, 1);
    lua_pushnumber(L, luaL_optnumber(L, 2, 0.0) + luaL_optnumber(L, 3, 1.0) * nl_rng_normal(g));
    return 1;
}

static int g_random(lua_State *L) {   /* g:random(n) -> 1..n */
    uint64_t *g = nl_lua_checkgenerator(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1, 2, "upper bound must be at least 1");
    lua_pushinteger(L, (lua_Integer)nl_rng_below(g, (uint64_t)n) + 1);
    return 1;
}

static int g_state(lua_State *L) {
    char s[24];
    snprintf(s, sizeof s, "%016" PRIx64, *nl_lua_checkgenerator(L, 1));
    lua_pushstring(L, s);
    return 1;
}

static int g_set_state(lua_State *L) {
    uint64_t *g = nl_lua_checkgenerator(L, 1);
    const char *s = luaL_checkstring(L, 2);
    uint64_t v = 0;
    int n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0 || n >= 16) return luaL_argerror(L, 2, "expected a 16-digit hex state from g:state()");
        v = v << 4 | (uint64_t)d;
    }
    if (n != 16) return luaL_argerror(L, 2, "expected a 16-digit hex state from g:state()");
    *g = v;
    lua_settop(L, 1);
    return 1;
}

static int g_clone(lua_State *L) {
    push_generator(L, *nl_lua_checkgenerator(L, 1));
    return 1;
}

static int g_tostring(lua_State *L) {
    lua_pushfstring(L, "normlab.Generator(state %s)", (g_state(L), lua_tostring(L, -1)));
    return 1;
}

static const luaL_Reg methods[] = {
    {"uniform", g_uniform}, {"normal", g_normal}, {"random", g_random},
    {"state", g_state}, {"set_state", g_set_state}, {"clone", g_clone}, {NULL, NULL}
};

void nl_open_rng(lua_State *L) {
    luaL_newmetatable(L, NL_GENERATOR_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, g_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_pushcfunction(L, g_new);
    lua_setfield(L, -2, "generator_new");
}
