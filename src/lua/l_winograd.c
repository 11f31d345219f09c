/* l_winograd.c: bindings for the fast convolution paths -- Winograd 3x3 (src/ops/winograd.h)
 * and the threaded im2col driver (src/ops/conv2d_par.h) -- and a monotonic clock for
 * benchmarks, into normlab.C. Argument order follows the kernels.
 *
 *   C.winograd_applies(kh, kw, stride, pad) -> boolean
 *   C.winograd_workspace(n, cin, cout, h, w, pad) -> floats of scratch (for the current
 *       thread count; 0 when the geometry is not supported)
 *   C.winograd_forward(y, ws, x, w, b|nil, pad, tile) -> y     (tile 2 or 4: F(2x2,3x3), F(4x4,3x3))
 *   C.winograd_backward(dx|nil, dw|nil, db|nil, ws, dy, x, w, pad [, dx_overwrite [, dx_tile = 2]])
 *       (accumulates; dx_overwrite = true: dx is overwritten instead)
 *   C.winograd_isa() -> "avx512" | "generic"
 *   C.conv2d_par_workspace(n, cin, cout, kh, kw, ho, wo) -> floats of scratch (current threads)
 *   C.conv2d_par_forward(y, ws, x, w, b|nil, stride, pad) -> y
 *   C.conv2d_par_backward(dx|nil, dw|nil, db|nil, ws, dy, x, w, stride, pad)   (accumulates)
 *   C.wall_clock() -> seconds (CLOCK_MONOTONIC, nanosecond resolution)
 *
 * Kernel messages already name the operation and the shapes; they are raised as they are. */
#include <limits.h>
#include <time.h>
#include "l_util.h"
#include "../ops/conv2d_par.h"
#include "../ops/winograd.h"

static int check_pad(lua_State *L, int arg) {
    lua_Integer v = luaL_checkinteger(L, arg);
    luaL_argcheck(L, v >= INT_MIN && v <= INT_MAX, arg, "integer out of range");
    return (int)v;
}

/* Arguments 1..n as sizes in [0, INT_MAX] (the workspace queries' image and channel counts). */
static void check_sizes(lua_State *L, int64_t *v, int n) {
    for (int i = 0; i < n; i++) {
        v[i] = luaL_checkinteger(L, i + 1);
        luaL_argcheck(L, v[i] >= 0 && v[i] <= INT_MAX, i + 1, "size out of range");
    }
}

static int l_winograd_applies(lua_State *L) {
    lua_Integer kh = luaL_checkinteger(L, 1), kw = luaL_checkinteger(L, 2);
    lua_Integer stride = luaL_checkinteger(L, 3), pad = luaL_checkinteger(L, 4);
    lua_pushboolean(L, stride >= INT_MIN && stride <= INT_MAX && pad >= INT_MIN && pad <= INT_MAX &&
                           nl_winograd_applies(kh, kw, (int)stride, (int)pad));
    return 1;
}

static int l_winograd_workspace(lua_State *L) {
    int64_t v[5];
    check_sizes(L, v, 5);
    int pad = check_pad(L, 6);
    lua_pushinteger(L, nl_winograd_workspace(v[0], v[1], v[2], v[3], v[4], pad, nl_lua_ctx(L)->threads));
    return 1;
}

static int l_winograd_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1), *ws = nl_lua_checktensor(L, 2);
    const NlTensor *x = nl_lua_checktensor(L, 3), *w = nl_lua_checktensor(L, 4),
                   *b = nl_lua_opttensor(L, 5);
    nl_lua_check(L, nl_winograd_forward(c, y, ws, x, w, b, check_pad(L, 6), check_pad(L, 7)), NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_winograd_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_opttensor(L, 1), *dw = nl_lua_opttensor(L, 2), *db = nl_lua_opttensor(L, 3),
             *ws = nl_lua_checktensor(L, 4);
    const NlTensor *dy = nl_lua_checktensor(L, 5), *x = nl_lua_checktensor(L, 6),
                   *w = nl_lua_checktensor(L, 7);
    const int dx_tile = (int)luaL_optinteger(L, 10, 2);
    nl_lua_check(L, nl_winograd_backward(c, dx, dw, db, ws, dy, x, w, check_pad(L, 8), dx_tile, lua_toboolean(L, 9)),
                 NULL);
    return 0;
}

static int l_winograd_isa(lua_State *L) {
    lua_pushstring(L, nl_winograd_isa());
    return 1;
}

static int l_conv2d_par_workspace(lua_State *L) {
    int64_t v[7];
    check_sizes(L, v, 7);
    lua_pushinteger(L, nl_conv2d_par_workspace(v[0], v[1], v[2], v[3], v[4], v[5], v[6],
                                               nl_lua_ctx(L)->threads));
    return 1;
}

static int l_conv2d_par_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1), *ws = nl_lua_checktensor(L, 2);
    const NlTensor *x = nl_lua_checktensor(L, 3), *w = nl_lua_checktensor(L, 4),
                   *b = nl_lua_opttensor(L, 5);
    nl_lua_check(L, nl_conv2d_par_forward(c, y, ws, x, w, b, check_pad(L, 6), check_pad(L, 7)), NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_conv2d_par_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_opttensor(L, 1), *dw = nl_lua_opttensor(L, 2), *db = nl_lua_opttensor(L, 3),
             *ws = nl_lua_checktensor(L, 4);
    const NlTensor *dy = nl_lua_checktensor(L, 5), *x = nl_lua_checktensor(L, 6),
                   *w = nl_lua_checktensor(L, 7);
    nl_lua_check(L, nl_conv2d_par_backward(c, dx, dw, db, ws, dy, x, w, check_pad(L, 8), check_pad(L, 9)), NULL);
    return 0;
}

static int l_wall_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
    return 1;
}

void nl_open_winograd(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"winograd_applies", l_winograd_applies},
        {"winograd_workspace", l_winograd_workspace},
        {"winograd_forward", l_winograd_forward},
        {"winograd_backward", l_winograd_backward},
        {"winograd_isa", l_winograd_isa},
        {"conv2d_par_workspace", l_conv2d_par_workspace},
        {"conv2d_par_forward", l_conv2d_par_forward},
        {"conv2d_par_backward", l_conv2d_par_backward},
        {"wall_clock", l_wall_clock},
        {NULL, NULL}
    };
    luaL_setfuncs(L, fns, 0);
}
