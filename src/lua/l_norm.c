/* l_norm.c: bindings for the normalization, loss and optimizer kernels
 * (src/ops/batchnorm.h, groupnorm.h, xent.h, optim.h) into normlab.C.
 *
 * Argument order follows the kernels: outputs, inputs, then sizes and scalars.
 * Optional tensors (running stats, gamma/beta, gradients not wanted) are nil.
 *
 *   C.bn_forward(y, save_mean, save_invstd, running_mean|nil, running_var|nil,
 *                x, gamma|nil, beta|nil, train, momentum, eps [, relu])
 *   C.bn_backward(dx|nil, dgamma|nil, dbeta|nil, dy, x, gamma|nil, save_mean, save_invstd, train
 *                 [, relu, beta|nil])
 *   C.gn_forward(y, save_mean, save_invstd, x, gamma|nil, beta|nil, groups, eps [, relu])
 *   C.gn_backward(dx|nil, dgamma|nil, dbeta|nil, dy, x, gamma|nil, save_mean, save_invstd, groups
 *                 [, relu, beta|nil, eps])
 *   relu = true fuses a ReLU behind the norm (batchnorm.h's relu argument); its backward
 *   then masks dy by the rectified output, recomputed from x with the forward's beta (and
 *   for group norm eps), so gamma and beta must be unchanged since the forward.
 *   C.gn_check_groups(groups, channels)
 *   C.xent_forward(logits, labels) -> loss          C.xent_correct(logits, labels) -> count
 *   C.xent_backward(dlogits, logits, labels [, grad_loss = 1])
 *   C.sgd_step(w, v|nil, g, lr, momentum, weight_decay, first)
 *   C.adam_step(w, m, v, g, lr, beta1, beta2, eps, weight_decay, step)
 *   C.zero_grads{t1, t2, ...}     sets every element of every tensor in the list to 0
 *   C.sgd_step_many(ws, vs|nil, gs, lr, momentum, weight_decay, first)
 *                                 sgd_step on every ws[k], vs[k], gs[k] in one parallel job
 *
 * The kernels' messages already name the operation ("batchnorm: input (2,3,4,4) has 3
 * channels, but gamma has shape (4)"), so they are raised as they are; the Lua layers
 * prefix the layer's name. */
#include "l_util.h"
#include "../ops/batchnorm.h"
#include "../ops/groupnorm.h"
#include "../ops/optim.h"
#include "../ops/xent.h"

static int l_bn_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1), *sm = nl_lua_checktensor(L, 2),
             *si = nl_lua_checktensor(L, 3), *rm = nl_lua_opttensor(L, 4),
             *rv = nl_lua_opttensor(L, 5);
    const NlTensor *x = nl_lua_checktensor(L, 6), *gamma = nl_lua_opttensor(L, 7),
                   *beta = nl_lua_opttensor(L, 8);
    luaL_checktype(L, 9, LUA_TBOOLEAN);
    const int train = lua_toboolean(L, 9);
    const double momentum = luaL_checknumber(L, 10), eps = luaL_checknumber(L, 11);
    const int relu = lua_toboolean(L, 12);
    nl_lua_check(L, nl_bn_forward(c, y, sm, si, rm, rv, x, gamma, beta, train, momentum, eps, relu), NULL);
    return 0;
}

static int l_bn_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_opttensor(L, 1), *dg = nl_lua_opttensor(L, 2),
             *db = nl_lua_opttensor(L, 3);
    const NlTensor *dy = nl_lua_checktensor(L, 4), *x = nl_lua_checktensor(L, 5),
                   *gamma = nl_lua_opttensor(L, 6), *sm = nl_lua_checktensor(L, 7),
                   *si = nl_lua_checktensor(L, 8);
    luaL_checktype(L, 9, LUA_TBOOLEAN);
    const int relu = lua_toboolean(L, 10);
    const NlTensor *beta = nl_lua_opttensor(L, 11);
    nl_lua_check(L, nl_bn_backward(c, dx, dg, db, dy, x, gamma, beta, sm, si, lua_toboolean(L, 9), relu), NULL);
    return 0;
}

static int l_gn_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *y = nl_lua_checktensor(L, 1), *sm = nl_lua_checktensor(L, 2),
             *si = nl_lua_checktensor(L, 3);
    const NlTensor *x = nl_lua_checktensor(L, 4), *gamma = nl_lua_opttensor(L, 5),
                   *beta = nl_lua_opttensor(L, 6);
    const lua_Integer groups = luaL_checkinteger(L, 7);
    const double eps = luaL_checknumber(L, 8);
    nl_lua_check(L, nl_gn_forward(c, y, sm, si, x, gamma, beta, groups, eps, lua_toboolean(L, 9)), NULL);
    return 0;
}

static int l_gn_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *dx = nl_lua_opttensor(L, 1), *dg = nl_lua_opttensor(L, 2),
             *db = nl_lua_opttensor(L, 3);
    const NlTensor *dy = nl_lua_checktensor(L, 4), *x = nl_lua_checktensor(L, 5),
                   *gamma = nl_lua_opttensor(L, 6), *sm = nl_lua_checktensor(L, 7),
                   *si = nl_lua_checktensor(L, 8);
    const lua_Integer groups = luaL_checkinteger(L, 9);
    const int relu = lua_toboolean(L, 10);
    const NlTensor *beta = nl_lua_opttensor(L, 11);
    const double eps = relu ? luaL_checknumber(L, 12) : 0.0;
    nl_lua_check(L, nl_gn_backward(c, dx, dg, db, dy, x, gamma, beta, sm, si, groups, eps, relu), NULL);
    return 0;
}

static int l_gn_check_groups(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    nl_lua_check(L, nl_gn_check_groups(c, luaL_checkinteger(L, 1), luaL_checkinteger(L, 2)), NULL);
    return 0;
}

static int l_xent_forward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    double loss = 0;
    nl_lua_check(L, nl_xent_forward(c, &loss, nl_lua_checktensor(L, 1), nl_lua_checktensor(L, 2)), NULL);
    lua_pushnumber(L, loss);
    return 1;
}

static int l_xent_backward(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *d = nl_lua_checktensor(L, 1);
    const NlTensor *z = nl_lua_checktensor(L, 2), *y = nl_lua_checktensor(L, 3);
    nl_lua_check(L, nl_xent_backward(c, d, z, y, luaL_optnumber(L, 4, 1.0)), NULL);
    return 0;
}

static int l_xent_correct(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    int64_t n = 0;
    nl_lua_check(L, nl_xent_correct(c, &n, nl_lua_checktensor(L, 1), nl_lua_checktensor(L, 2)), NULL);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int l_sgd_step(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *w = nl_lua_checktensor(L, 1), *v = nl_lua_opttensor(L, 2);
    const NlTensor *g = nl_lua_checktensor(L, 3);
    const double lr = luaL_checknumber(L, 4), mu = luaL_checknumber(L, 5),
                 wd = luaL_checknumber(L, 6);
    luaL_checktype(L, 7, LUA_TBOOLEAN);
    nl_lua_check(L, nl_sgd_step(c, w, v, g, lr, mu, wd, lua_toboolean(L, 7)), NULL);
    return 0;
}

static int l_adam_step(lua_State *L) {
    NlCtx *c = nl_lua_ctx(L);
    NlTensor *w = nl_lua_checktensor(L, 1), *m = nl_lua_checktensor(L, 2),
             *v = nl_lua_checktensor(L, 3);
    const NlTensor *g = nl_lua_checktensor(L, 4);
    const double lr = luaL_checknumber(L, 5), b1 = luaL_checknumber(L, 6),
                 b2 = luaL_checknumber(L, 7), eps = luaL_checknumber(L, 8),
                 wd = luaL_checknumber(L, 9);
    const lua_Integer step = luaL_checkinteger(L, 10);
    nl_lua_check(L, nl_adam_step(c, w, m, v, g, lr, b1, b2, eps, wd, step), NULL);
    return 0;
}

/* The tensors of the list at arg (an array of n of them, in a userdata left on the stack
 * for the GC); raises "who: element 2 is a number, not a tensor". n < 0: any length, set
 * in *len; else the list must have n elements. */
static NlTensor **tensor_list(lua_State *L, int arg, const char *who, int n, int *len) {
    luaL_checktype(L, arg, LUA_TTABLE);
    const int got = (int)luaL_len(L, arg);
    if (n >= 0 && got != n) luaL_error(L, "%s: a list of %d tensors has %d", who, n, got);
    NlTensor **ts = lua_newuserdatauv(L, (size_t)(got > 0 ? got : 1) * sizeof *ts, 0);
    for (int k = 0; k < got; k++) {
        lua_geti(L, arg, k + 1);
        ts[k] = (NlTensor *)luaL_testudata(L, -1, NL_TENSOR_MT);
        if (!ts[k]) luaL_error(L, "%s: element %d is a %s, not a tensor", who, k + 1, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    if (len) *len = got;
    return ts;
}

static int l_zero_grads(lua_State *L) {
    int n;
    NlTensor **ts = tensor_list(L, 1, "zero_grads", -1, &n);
    nl_zero_grads(nl_lua_ctx(L), ts, n);
    return 0;
}

static int l_sgd_step_many(lua_State *L) {
    int n;
    NlTensor **w = tensor_list(L, 1, "sgd_step_many: params", -1, &n);
    NlTensor **v = lua_isnoneornil(L, 2) ? NULL : tensor_list(L, 2, "sgd_step_many: velocities", n, NULL);
    NlTensor **g = tensor_list(L, 3, "sgd_step_many: grads", n, NULL);
    const double lr = luaL_checknumber(L, 4), mu = luaL_checknumber(L, 5), wd = luaL_checknumber(L, 6);
    luaL_checktype(L, 7, LUA_TBOOLEAN);
    nl_lua_check(L, nl_sgd_step_many(nl_lua_ctx(L), w, v, g, n, lr, mu, wd, lua_toboolean(L, 7)), NULL);
    return 0;
}

static const luaL_Reg funcs[] = {
    {"bn_forward", l_bn_forward}, {"bn_backward", l_bn_backward},
    {"gn_forward", l_gn_forward}, {"gn_backward", l_gn_backward},
    {"gn_check_groups", l_gn_check_groups},
    {"xent_forward", l_xent_forward}, {"xent_backward", l_xent_backward},
    {"xent_correct", l_xent_correct},
    {"sgd_step", l_sgd_step}, {"adam_step", l_adam_step}, {"zero_grads", l_zero_grads},
    {"sgd_step_many", l_sgd_step_many},
    {NULL, NULL}
};

void nl_open_norm(lua_State *L) {
    luaL_setfuncs(L, funcs, 0);
}
