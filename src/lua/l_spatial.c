/* l_spatial.c: bindings for the spatial/dense kernels (src/ops/conv2d.h, linear.h, pool.h,
 * act.h) into normlab.C. Argument order follows the kernels: outputs, inputs, sizes.
 * Optional tensors are nil. Forward functions return their output tensor; backward
 * functions return nothing and accumulate (+=) into the gradients they are given.
 *
 *   C.conv2d_out_size(h, w, kh, kw, stride, pad) -> ho, wo
 *   C.conv2d_workspace(cin, kh, kw, ho, wo) -> floats of col scratch needed
 *   C.conv2d_forward(y, col, x, w, b|nil, stride, pad) -> y
 *   C.conv2d_backward(dx|nil, dw|nil, db|nil, col, dy, x, w, stride, pad)
 *   C.linear_forward(y, x, w, b|nil) -> y
 *   C.linear_backward(dx|nil, dw|nil, db|nil, dy, x, w)
 *   C.maxpool2d_out_size(h, w, k, stride, pad) -> ho, wo
 *   C.maxpool2d_forward(y, idx, x, k, stride, pad) -> y
 *   C.maxpool2d_backward(dx, dy, idx)
 *   C.global_avgpool_forward(y, x) -> y          C.global_avgpool_backward(dx, dy)
 *   C.relu_forward(y, x) -> y                     C.relu_backward(dx, dy, x)
 *   C.leakyrelu_forward(y, x, slope) -> y         C.leakyrelu_backward(dx, dy, x, slope)
 *   C.sigmoid_forward(y, x) -> y                  C.sigmoid_backward(dx, dy, y)
 *   C.tanh_forward(y, x) -> y                     C.tanh_backward(dx, dy, y)
 *
 * The kernels' messages already name the operation and the shapes ("conv2d: input (2,4,8,8)
 * has 4 channels, weight (32,3,3,3) expects 3"), so they are raised as they are; the Lua
 * layers check the common mistakes first and name the layer. */
#include <limits.h>
#include "l_util.h"
#include "../ops/act.h"
#include "../ops/conv2d.h"
#include "../ops/linear.h"
#include "../ops/pool.h"

/* An integer argument that fits a C int (sizes, strides, paddings: the kernel judges the sign). */
static int check_int(lua_State *L, int arg) {
    lua_Integer v = luaL_checkinteger(L, arg);
    luaL_argcheck(L, v >= INT_MIN && v <= INT_MAX, arg, "integer out of range");
    return (int)v;
}

/* ---- conv2d ---- */

static int l_conv2d_out_size(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    int64_t ho, wo;
    nl_lua_check(L, nl_conv2d_out_size(c, &ho, &wo, luaL_checkinteger(L, 1), luaL_checkinteger(L, 2),
                                      luaL_checkinteger(L, 3), luaL_checkinteger(L, 4),
                                      check_int(L, 5), check_int(L, 6)), NULL);
    lua_pushinteger(L, ho);
    lua_pushinteger(L, wo);
    return 2;
}

static int l_conv2d_workspace(lua_State *L) {
    int64_t v[5];
    for (int i = 0; i < 5; i++) {
        v[i] = luaL_checkinteger(L, i + 1);
        luaL_argcheck(L, v[i] >= 0 && v[i] <= INT_MAX, i + 1, "size out of range");
    }
    int64_t n = nl_conv2d_workspace(v[0], v[1], v[2], v[3], v[4]);
    if (n < 0) return luaL_error(L, "conv2d: workspace too large");
    lua_pushinteger(L, n);
    return 1;
}

static int l_conv2d_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1), *col = nl_lua_checktensor(L, 2);
    const NlTensor *x = nl_lua_checktensor(L, 3), *w = nl_lua_checktensor(L, 4),
                   *b = nl_lua_opttensor(L, 5);
    int stride = check_int(L, 6), pad = check_int(L, 7);
    nl_lua_check(L, nl_conv2d_forward(c, y, col, x, w, b, stride, pad), NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_conv2d_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_opttensor(L, 1), *dw = nl_lua_opttensor(L, 2), *db = nl_lua_opttensor(L, 3),
             *col = nl_lua_checktensor(L, 4);
    const NlTensor *dy = nl_lua_checktensor(L, 5), *x = nl_lua_checktensor(L, 6),
                   *w = nl_lua_checktensor(L, 7);
    int stride = check_int(L, 8), pad = check_int(L, 9);
    nl_lua_check(L, nl_conv2d_backward(c, dx, dw, db, col, dy, x, w, stride, pad), NULL);
    return 0;
}

/* ---- linear ---- */

static int l_linear_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1);
    const NlTensor *x = nl_lua_checktensor(L, 2), *w = nl_lua_checktensor(L, 3),
                   *b = nl_lua_opttensor(L, 4);
    nl_lua_check(L, nl_linear_forward(c, y, x, w, b), NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_linear_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_opttensor(L, 1), *dw = nl_lua_opttensor(L, 2), *db = nl_lua_opttensor(L, 3);
    const NlTensor *dy = nl_lua_checktensor(L, 4), *x = nl_lua_checktensor(L, 5),
                   *w = nl_lua_checktensor(L, 6);
    nl_lua_check(L, nl_linear_backward(c, dx, dw, db, dy, x, w), NULL);
    return 0;
}

/* ---- pooling ---- */

static int l_maxpool2d_out_size(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    int64_t ho, wo;
    nl_lua_check(L, nl_maxpool2d_out_size(c, &ho, &wo, luaL_checkinteger(L, 1), luaL_checkinteger(L, 2),
                                         check_int(L, 3), check_int(L, 4), check_int(L, 5)), NULL);
    lua_pushinteger(L, ho);
    lua_pushinteger(L, wo);
    return 2;
}

static int l_maxpool2d_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1), *idx = nl_lua_checktensor(L, 2);
    const NlTensor *x = nl_lua_checktensor(L, 3);
    int k = check_int(L, 4), stride = check_int(L, 5), pad = check_int(L, 6);
    nl_lua_check(L, nl_maxpool2d_forward(c, y, idx, x, k, stride, pad), NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_maxpool2d_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_checktensor(L, 1);
    const NlTensor *dy = nl_lua_checktensor(L, 2), *idx = nl_lua_checktensor(L, 3);
    nl_lua_check(L, nl_maxpool2d_backward(c, dx, dy, idx), NULL);
    return 0;
}

static int l_global_avgpool_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1);
    nl_lua_check(L, nl_global_avgpool_forward(c, y, nl_lua_checktensor(L, 2)), NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_global_avgpool_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_checktensor(L, 1);
    nl_lua_check(L, nl_global_avgpool_backward(c, dx, nl_lua_checktensor(L, 2)), NULL);
    return 0;
}

/* ---- activations: forward (y, x [, slope]) -> y; backward (dx, dy, x_or_y [, slope]) ---- */

#define ACT_FORWARD(lname, cfn)                                                  \
    static int lname(lua_State *L) {                                             \
        NlCtx *c = nl_lua_ctx(L);                                                \
        NlTensor *y = nl_lua_checktensor(L, 1);                                  \
        nl_lua_check(L, cfn(c, y, nl_lua_checktensor(L, 2)), NULL);                     \
        lua_settop(L, 1);                                                        \
        return 1;                                                                \
    }
#define ACT_BACKWARD(lname, cfn)                                                 \
    static int lname(lua_State *L) {                                             \
        NlCtx *c = nl_lua_ctx(L);                                                \
        NlTensor *dx = nl_lua_checktensor(L, 1);                                 \
        nl_lua_check(L, cfn(c, dx, nl_lua_checktensor(L, 2), nl_lua_checktensor(L, 3)), NULL); \
        return 0;                                                                \
    }
ACT_FORWARD(l_relu_forward, nl_relu_forward)
ACT_BACKWARD(l_relu_backward, nl_relu_backward)
ACT_FORWARD(l_sigmoid_forward, nl_sigmoid_forward)
ACT_BACKWARD(l_sigmoid_backward, nl_sigmoid_backward)
ACT_FORWARD(l_tanh_forward, nl_tanh_forward)
ACT_BACKWARD(l_tanh_backward, nl_tanh_backward)
#undef ACT_FORWARD
#undef ACT_BACKWARD

static int l_leakyrelu_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1);
    const NlTensor *x = nl_lua_checktensor(L, 2);
    nl_lua_check(L, nl_leakyrelu_forward(c, y, x, (float)luaL_checknumber(L, 3)), NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_leakyrelu_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_checktensor(L, 1);
    const NlTensor *dy = nl_lua_checktensor(L, 2), *x = nl_lua_checktensor(L, 3);
    nl_lua_check(L, nl_leakyrelu_backward(c, dx, dy, x, (float)luaL_checknumber(L, 4)), NULL);
    return 0;
}

void nl_open_spatial(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"conv2d_out_size", l_conv2d_out_size}, {"conv2d_workspace", l_conv2d_workspace},
        {"conv2d_forward", l_conv2d_forward}, {"conv2d_backward", l_conv2d_backward},
        {"linear_forward", l_linear_forward}, {"linear_backward", l_linear_backward},
        {"maxpool2d_out_size", l_maxpool2d_out_size},
        {"maxpool2d_forward", l_maxpool2d_forward}, {"maxpool2d_backward", l_maxpool2d_backward},
        {"global_avgpool_forward", l_global_avgpool_forward},
        {"global_avgpool_backward", l_global_avgpool_backward},
        {"relu_forward", l_relu_forward}, {"relu_backward", l_relu_backward},
        {"leakyrelu_forward", l_leakyrelu_forward}, {"leakyrelu_backward", l_leakyrelu_backward},
        {"sigmoid_forward", l_sigmoid_forward}, {"sigmoid_backward", l_sigmoid_backward},
        {"tanh_forward", l_tanh_forward}, {"tanh_backward", l_tanh_backward},
        {NULL, NULL}
    };
    luaL_setfuncs(L, fns, 0);
}
