/* l_util.c: argument checks, tensor allocation and error raising shared by
 * every binding file. */
#include <stdlib.h>
#include <string.h>
#include "l_util.h"
#include "l_tensor.h"

static const char CTX_KEY = 'c';   /* registry key: the address of this byte */

NlCtx *nl_lua_ctx(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &CTX_KEY);
    NlCtx *c = (NlCtx *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!c) luaL_error(L, "normlab: context missing (library not opened)");
    return c;
}

void nl_lua_new_ctx(lua_State *L) {
    NlCtx *c = (NlCtx *)lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    c->threads = 1;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &CTX_KEY);
}

NlTensor *nl_lua_checktensor(lua_State *L, int arg) {
    return (NlTensor *)luaL_checkudata(L, arg, NL_TENSOR_MT);
}

NlTensor *nl_lua_opttensor(lua_State *L, int arg) {
    return lua_isnoneornil(L, arg) ? NULL : nl_lua_checktensor(L, arg);
}

int nl_lua_check(lua_State *L, nl_status s, const char *where) {
    if (s == NL_OK) return 0;
    NlCtx *c = nl_lua_ctx(L);
    if (s == NL_EINTR) c->interrupted = 0;   /* the error reports it; the next chunk starts clean */
    const char *msg = c->err[0] ? c->err : nl_status_name(s);
    return where ? luaL_error(L, "%s: %s", where, msg) : luaL_error(L, "%s", msg);
}

int nl_lua_checkshape(lua_State *L, int arg, int64_t *dims) {
    int n = 0;
    if (lua_istable(L, arg)) {
        lua_Integer len = luaL_len(L, arg);
        if (len < 0 || len > NL_MAXDIM) luaL_argerror(L, arg, "expected at most 8 dimensions");
        n = (int)len;
        for (int i = 0; i < n; i++) {
            lua_geti(L, arg, i + 1);
            int ok;
            lua_Integer d = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_argerror(L, arg, "shape entries must be integers");
            dims[i] = d;
            lua_pop(L, 1);
        }
        return n;
    }
    int top = lua_gettop(L);
    for (int i = arg; i <= top; i++) {
        if (n >= NL_MAXDIM) luaL_argerror(L, i, "too many dimensions");
        dims[n++] = luaL_checkinteger(L, i);
    }
    return n;
}
