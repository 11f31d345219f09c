/* l_tensor.c: normlab.Tensor, the float32 tensor userdata.
 *
 * Memory: an owning tensor mallocs its data and frees it in __gc; the
 * userdata is zeroed and given its metatable before the malloc, so __gc is
 * safe whatever happens in between (liolib's newprefile pattern). Large
 * allocations are reported to the collector (LUA_GCSTEP) because Lua does not
 * see malloc'ed memory. Views share the data and keep their base alive
 * through a user value. All tensors are contiguous. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "l_tensor.h"
#include "../core/rng.h"

static NlLuaTensor *push_blank(lua_State *L, int nuv) {
    NlLuaTensor *u = (NlLuaTensor *)lua_newuserdatauv(L, sizeof *u, nuv);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, NL_TENSOR_MT);
    return u;
}

NlTensor *nl_lua_newtensor(lua_State *L, int ndim, const int64_t *dims) {
    NlTensor shape;
    NlCtx *c = nl_lua_ctx(L);
    if (nl_tensor_set_shape(c, &shape, ndim, dims) != NL_OK) luaL_error(L, "%s", c->err);   /* "tensor: ..." */
    NlLuaTensor *u = push_blank(L, 0);
    size_t bytes = (size_t)shape.numel * sizeof(float);
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0 || !p) {
        char s[160], msg[256];
        snprintf(msg, sizeof msg, "tensor: cannot allocate %s (%.1f MB)",
                 nl_shape_str(&shape, s, sizeof s), bytes / 1048576.0);
        luaL_error(L, "%s", msg);
        return NULL;
    }
    memset(p, 0, bytes);
    u->alloc = p;
    u->t = shape;
    u->t.data = (float *)p;
    if (bytes >= (1u << 20)) lua_gc(L, LUA_GCSTEP, (int)(bytes >> 10 > 1 << 20 ? 1 << 20 : bytes >> 10));
    return &u->t;
}

NlTensor *nl_lua_newtensor_like(lua_State *L, const NlTensor *like) {
    return nl_lua_newtensor(L, like->ndim, like->shape);
}

NlTensor *nl_lua_pushview(lua_State *L, int base_idx, float *data, int ndim, const int64_t *dims) {
    base_idx = lua_absindex(L, base_idx);
    NlTensor shape;
    nl_lua_check(L, nl_tensor_set_shape(nl_lua_ctx(L), &shape, ndim, dims), "view");
    NlLuaTensor *u = push_blank(L, 1);
    u->t = shape;
    u->t.data = data;
    lua_pushvalue(L, base_idx);
    lua_setiuservalue(L, -2, 1);
    return &u->t;
}

static int t_gc(lua_State *L) {
    NlLuaTensor *u = (NlLuaTensor *)luaL_checkudata(L, 1, NL_TENSOR_MT);
    free(u->alloc);
    u->alloc = NULL;
    u->t.data = NULL;
    return 0;
}

/* ---- construction ---- */

static int t_new(lua_State *L) {   /* Tensor(d1, d2, ...) or Tensor{d1, d2, ...} */
    int64_t dims[NL_MAXDIM];
    int n = nl_lua_checkshape(L, 1, dims);
    nl_lua_newtensor(L, n, dims);
    return 1;
}

static int t_call(lua_State *L) {   /* normlab.Tensor(...) through the class table's __call */
    lua_remove(L, 1);
    return t_new(L);
}

static int t_ones(lua_State *L) {
    int64_t dims[NL_MAXDIM];
    int n = nl_lua_checkshape(L, 1, dims);
    nl_fill(nl_lua_newtensor(L, n, dims), 1.0f);
    return 1;
}

/* Measures a nested table's shape (rectangular, numbers at the leaves). */
static int table_shape(lua_State *L, int idx, int depth, int64_t *dims) {
    if (depth >= NL_MAXDIM) return luaL_error(L, "tensor: table nested too deeply");
    lua_Integer n = luaL_len(L, idx);
    dims[depth] = n;
    if (n == 0) return depth + 1;
    lua_geti(L, idx, 1);
    int nd = lua_istable(L, -1) ? table_shape(L, lua_gettop(L), depth + 1, dims) : depth + 1;
    lua_pop(L, 1);
    return nd;
}

static void table_fill(lua_State *L, int idx, int depth, int ndim, const int64_t *dims, float **out) {
    if (luaL_len(L, idx) != dims[depth])
        luaL_error(L, "tensor: ragged table (a row at depth %d has %d entries, expected %d)",
                   depth + 1, (int)luaL_len(L, idx), (int)dims[depth]);
    for (int64_t i = 1; i <= dims[depth]; i++) {
        lua_geti(L, idx, i);
        if (depth + 1 < ndim) {
            if (!lua_istable(L, -1)) luaL_error(L, "tensor: ragged table (expected a row at depth %d)", depth + 2);
            table_fill(L, lua_gettop(L), depth + 1, ndim, dims, out);
        } else {
            int ok;
            lua_Number v = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "tensor: table entries must be numbers (got %s)", luaL_typename(L, -1));
            *(*out)++ = (float)v;
        }
        lua_pop(L, 1);
    }
}

static int t_fromtable(lua_State *L) {
    if (lua_type(L, 1) == LUA_TNUMBER) {   /* a scalar: 0-dim tensor */
        nl_lua_newtensor(L, 0, NULL)->data[0] = (float)lua_tonumber(L, 1);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t dims[NL_MAXDIM];
    int nd = table_shape(L, 1, 0, dims);
    NlTensor *t = nl_lua_newtensor(L, nd, dims);
    float *p = t->data;
    table_fill(L, 1, 0, nd, dims, &p);
    return 1;
}

/* ---- shape and indexing ---- */

static int t_dim(lua_State *L) { lua_pushinteger(L, nl_lua_checktensor(L, 1)->ndim); return 1; }
static int t_numel(lua_State *L) { lua_pushinteger(L, nl_lua_checktensor(L, 1)->numel); return 1; }

static int t_size(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_Integer d = luaL_checkinteger(L, 2);
        luaL_argcheck(L, d >= 1 && d <= t->ndim, 2, "dimension out of range");
        lua_pushinteger(L, t->shape[d - 1]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->shape[i]); lua_rawseti(L, -2, i + 1); }
    return 1;
}

static int t_shape_str(lua_State *L) {
    char s[160];
    lua_pushstring(L, nl_shape_str(nl_lua_checktensor(L, 1), s, sizeof s));
    return 1;
}

/* t:same_shape(u): the same dimensions (no string per call, as the layers' checks need). */
static int t_same_shape(lua_State *L) {
    const NlTensor *a = nl_lua_checktensor(L, 1), *b = nl_lua_checktensor(L, 2);
    int same = a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
    lua_pushboolean(L, same);
    return 1;
}

/* Offset of the element at 1-based indices given at arg.. (all dimensions). */
static int64_t element_offset(lua_State *L, NlTensor *t, int arg) {
    int given = lua_gettop(L) - arg + 1;
    if (given != t->ndim) luaL_error(L, "tensor: %d indices for a %d-dimensional tensor", given, t->ndim);
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        lua_Integer i = luaL_checkinteger(L, arg + d);
        if (i < 1 || i > t->shape[d])
            luaL_error(L, "tensor: index %I out of range for dimension %d of size %I",
                       i, d + 1, (lua_Integer)t->shape[d]);
        off = off * t->shape[d] + (i - 1);
    }
    return off;
}

static int t_get(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    lua_pushnumber(L, t->data[element_offset(L, t, 2)]);
    return 1;
}

static int t_set(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    float v = (float)luaL_checknumber(L, 2);
    t->data[element_offset(L, t, 3)] = v;
    lua_settop(L, 1);
    return 1;
}

static int64_t row_size(const NlTensor *t) { return t->ndim ? (t->shape[0] ? t->numel / t->shape[0] : 0) : 1; }

static int t_narrow(lua_State *L) {   /* t:narrow(start, len): rows start..start+len-1 */
    NlTensor *t = nl_lua_checktensor(L, 1);
    luaL_argcheck(L, t->ndim >= 1, 1, "narrow needs at least one dimension");
    lua_Integer start = luaL_checkinteger(L, 2), len = luaL_checkinteger(L, 3);
    if (start < 1 || len < 0 || start - 1 > t->shape[0] || len > t->shape[0] - (start - 1))   /* no overflow */
        return luaL_error(L, "narrow: %I rows from row %I out of range for size %I",
                          len, start, (lua_Integer)t->shape[0]);
    int64_t dims[NL_MAXDIM];
    memcpy(dims, t->shape, sizeof dims);
    dims[0] = len;
    nl_lua_pushview(L, 1, t->data + (start - 1) * row_size(t), t->ndim, dims);
    return 1;
}

static int t_select(lua_State *L) {   /* t:select(i): row i, one dimension fewer */
    NlTensor *t = nl_lua_checktensor(L, 1);
    luaL_argcheck(L, t->ndim >= 1, 1, "select needs at least one dimension");
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > t->shape[0])
        return luaL_error(L, "select: index %I out of range for size %I", i, (lua_Integer)t->shape[0]);
    nl_lua_pushview(L, 1, t->data + (i - 1) * row_size(t), t->ndim - 1, t->shape + 1);
    return 1;
}

static int t_view(lua_State *L) {   /* t:view(d1, d2, ...) with at most one -1 */
    NlTensor *t = nl_lua_checktensor(L, 1);
    int64_t dims[NL_MAXDIM];
    int n = nl_lua_checkshape(L, 2, dims), infer = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] == -1 && infer < 0) { infer = i; continue; }
        if (dims[i] < 0) return luaL_error(L, "view: invalid size %I", (lua_Integer)dims[i]);
        if (dims[i] > 0 && known > NL_MAX_NUMEL / dims[i]) return luaL_error(L, "view: too many elements");
        known *= dims[i];
    }
    if (infer >= 0) dims[infer] = known ? t->numel / known : 0;
    int64_t total = 1;
    for (int i = 0; i < n; i++) total *= dims[i];
    if (total != t->numel) {
        char s[160];
        return luaL_error(L, "view: cannot view a tensor of shape %s (%I elements) as %I elements",
                          nl_shape_str(t, s, sizeof s), (lua_Integer)t->numel, (lua_Integer)total);
    }
    nl_lua_pushview(L, 1, t->data, n, dims);
    return 1;
}

static int t_index(lua_State *L) {   /* methods by name; t[i] selects a row (or the value of a 1-D tensor) */
    if (lua_type(L, 2) == LUA_TNUMBER) {
        NlTensor *t = nl_lua_checktensor(L, 1);
        if (t->ndim == 1) {
            lua_Integer i = luaL_checkinteger(L, 2);
            if (i < 1 || i > t->shape[0]) return luaL_error(L, "tensor: index %I out of range for size %I",
                                                            i, (lua_Integer)t->shape[0]);
            lua_pushnumber(L, t->data[i - 1]);
            return 1;
        }
        return t_select(L);
    }
    luaL_getmetatable(L, NL_TENSOR_MT);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int t_newindex(lua_State *L) {   /* t[i] = v (1-D), t[i] = x (copies into row i) */
    NlTensor *t = nl_lua_checktensor(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (t->ndim < 1 || i < 1 || i > t->shape[0])
        return luaL_error(L, "tensor: index %I out of range", i);
    int64_t rs = row_size(t);
    if (lua_type(L, 3) == LUA_TNUMBER) {
        float v = (float)lua_tonumber(L, 3);
        for (int64_t k = 0; k < rs; k++) t->data[(i - 1) * rs + k] = v;
        return 0;
    }
    NlTensor *src = nl_lua_checktensor(L, 3);
    if (src->numel != rs) return luaL_error(L, "tensor: row %d has %d elements, source has %d",
                                            (int)i, (int)rs, (int)src->numel);
    memmove(t->data + (i - 1) * rs, src->data, (size_t)rs * sizeof(float));
    return 0;
}

static int t_len(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->shape[0] : 0);
    return 1;
}

/* ---- filling and copying ---- */

static int t_clone(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    NlTensor *c = nl_lua_newtensor_like(L, t);
    memcpy(c->data, t->data, (size_t)t->numel * sizeof(float));
    return 1;
}

static int t_copy(lua_State *L) {
    NlTensor *dst = nl_lua_checktensor(L, 1), *src = nl_lua_checktensor(L, 2);
    nl_lua_check(L, nl_copy(nl_lua_ctx(L), dst, src), "copy");
    lua_settop(L, 1);
    return 1;
}

static int t_fill(lua_State *L) {
    nl_fill(nl_lua_checktensor(L, 1), (float)luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int t_zero(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    memset(t->data, 0, (size_t)t->numel * sizeof(float));
    lua_settop(L, 1);
    return 1;
}

static int t_uniform(lua_State *L) {   /* t:uniform(gen, lo, hi) */
    NlTensor *t = nl_lua_checktensor(L, 1);
    uint64_t *g = nl_lua_checkgenerator(L, 2);
    double lo = luaL_optnumber(L, 3, 0.0), hi = luaL_optnumber(L, 4, 1.0);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(lo + (hi - lo) * nl_rng_uniform(g));
    lua_settop(L, 1);
    return 1;
}

static int t_normal(lua_State *L) {   /* t:normal(gen, mean, std) */
    NlTensor *t = nl_lua_checktensor(L, 1);
    uint64_t *g = nl_lua_checkgenerator(L, 2);
    double mean = luaL_optnumber(L, 3, 0.0), std = luaL_optnumber(L, 4, 1.0);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(mean + std * nl_rng_normal(g));
    lua_settop(L, 1);
    return 1;
}

/* ---- arithmetic ---- */

typedef nl_status (*binop)(NlCtx *, NlTensor *, const NlTensor *, const NlTensor *);
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
static const binop BINOPS[] = { nl_add, nl_sub, nl_mul, nl_div };
static const char *const OPNAMES[] = { "add", "sub", "mul", "div" };

static void scalar_op(NlTensor *y, const NlTensor *a, float s, int op, int scalar_first) {
    for (int64_t i = 0; i < y->numel; i++) {
        float x = a->data[i];
        float l = scalar_first ? s : x, r = scalar_first ? x : s;
        y->data[i] = op == OP_ADD ? l + r : op == OP_SUB ? l - r : op == OP_MUL ? l * r : l / r;
    }
}

static int inplace(lua_State *L, int op) {   /* t:add(x) with x a tensor or a number */
    NlTensor *t = nl_lua_checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) scalar_op(t, t, (float)lua_tonumber(L, 2), op, 0);
    else nl_lua_check(L, BINOPS[op](nl_lua_ctx(L), t, t, nl_lua_checktensor(L, 2)), OPNAMES[op]);
    lua_settop(L, 1);
    return 1;
}
static int t_add(lua_State *L) { return inplace(L, OP_ADD); }
static int t_sub(lua_State *L) { return inplace(L, OP_SUB); }
static int t_mul(lua_State *L) { return inplace(L, OP_MUL); }
static int t_div(lua_State *L) { return inplace(L, OP_DIV); }

static int arith(lua_State *L, int op) {   /* a + b etc.: a new tensor */
    int a_num = lua_type(L, 1) == LUA_TNUMBER, b_num = lua_type(L, 2) == LUA_TNUMBER;
    if (a_num || b_num) {
        NlTensor *t = nl_lua_checktensor(L, a_num ? 2 : 1);
        float s = (float)lua_tonumber(L, a_num ? 1 : 2);
        scalar_op(nl_lua_newtensor_like(L, t), t, s, op, a_num);
        return 1;
    }
    NlTensor *a = nl_lua_checktensor(L, 1), *b = nl_lua_checktensor(L, 2);
    if (!nl_tensor_same_shape(a, b))
        nl_lua_check(L, nl_check_same(nl_lua_ctx(L), OPNAMES[op], a, b), "tensor");
    nl_lua_check(L, BINOPS[op](nl_lua_ctx(L), nl_lua_newtensor_like(L, a), a, b), OPNAMES[op]);
    return 1;
}
static int t_mt_add(lua_State *L) { return arith(L, OP_ADD); }
static int t_mt_sub(lua_State *L) { return arith(L, OP_SUB); }
static int t_mt_mul(lua_State *L) { return arith(L, OP_MUL); }
static int t_mt_div(lua_State *L) { return arith(L, OP_DIV); }

static int t_unm(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    scalar_op(nl_lua_newtensor_like(L, t), t, -1.0f, OP_MUL, 0);
    return 1;
}

static int t_axpy(lua_State *L) {   /* t:axpy(alpha, x): t += alpha * x */
    NlTensor *t = nl_lua_checktensor(L, 1);
    float a = (float)luaL_checknumber(L, 2);
    nl_lua_check(L, nl_axpy(nl_lua_ctx(L), t, a, nl_lua_checktensor(L, 3)), "axpy");
    lua_settop(L, 1);
    return 1;
}

/* ---- reductions ---- */

static int t_sum(lua_State *L) { lua_pushnumber(L, nl_sum(nl_lua_checktensor(L, 1))); return 1; }
static int t_sumsq(lua_State *L) { lua_pushnumber(L, nl_sumsq(nl_lua_checktensor(L, 1))); return 1; }
static int t_norm(lua_State *L) { lua_pushnumber(L, sqrt(nl_sumsq(nl_lua_checktensor(L, 1)))); return 1; }
static int t_max(lua_State *L) { lua_pushnumber(L, nl_max(nl_lua_checktensor(L, 1))); return 1; }
static int t_min(lua_State *L) { lua_pushnumber(L, nl_min(nl_lua_checktensor(L, 1))); return 1; }
static int t_all_finite(lua_State *L) { lua_pushboolean(L, nl_all_finite(nl_lua_checktensor(L, 1))); return 1; }

static int t_mean(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    lua_pushnumber(L, t->numel ? nl_sum(t) / (double)t->numel : NAN);
    return 1;
}

static int t_argmax(lua_State *L) {   /* (N,K) -> (N) tensor of 0-based indices */
    NlTensor *t = nl_lua_checktensor(L, 1);
    NlCtx *c = nl_lua_ctx(L);
    if (t->ndim != 2 || t->shape[1] < 1) nl_lua_check(L, nl_argmax_rows(c, NULL, t), "argmax");
    NlTensor *out = nl_lua_newtensor(L, 1, t->shape);
    int64_t *idx = (int64_t *)lua_newuserdatauv(L, (size_t)(t->shape[0] ? t->shape[0] : 1) * sizeof(int64_t), 0);
    nl_lua_check(L, nl_argmax_rows(c, idx, t), "argmax");
    for (int64_t i = 0; i < t->shape[0]; i++) out->data[i] = (float)idx[i];
    lua_pop(L, 1);
    return 1;
}

static void push_table_rec(lua_State *L, const NlTensor *t, int d, const float **p) {
    if (d == t->ndim) { lua_pushnumber(L, *(*p)++); return; }
    lua_createtable(L, (int)t->shape[d], 0);
    for (int64_t i = 0; i < t->shape[d]; i++) {
        push_table_rec(L, t, d + 1, p);
        lua_rawseti(L, -2, i + 1);
    }
}

static int t_totable(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    luaL_checkstack(L, t->ndim + 4, "tensor too deep");
    int64_t tables = 0, rows = 1;   /* tables to create: 1 + s0 + s0*s1 + ... (no overflow: see set_shape) */
    for (int d = 0; d < t->ndim; d++) { tables += rows; rows *= t->shape[d]; }
    if (tables > t->numel + (1 << 20)) {
        char s[160];
        return luaL_error(L, "totable: tensor %s is too large for a table (%I empty rows)",
                          nl_shape_str(t, s, sizeof s), (lua_Integer)tables);
    }
    const float *p = t->data;
    push_table_rec(L, t, 0, &p);
    return 1;
}

/* ---- printing (torch7 style: values, then a size footer) ---- */

#define PRINT_EDGE 3     /* rows/columns shown at each end of an abbreviated dimension */
#define PRINT_FULL 20    /* dimensions up to this size are printed whole */

static void fmt_value(luaL_Buffer *b, float v, int integral) {
    char s[32];
    if (integral) snprintf(s, sizeof s, "%8.0f", v);
    else if (v != 0 && (fabsf(v) >= 1e5f || fabsf(v) < 1e-3f)) snprintf(s, sizeof s, "%11.4e", v);
    else snprintf(s, sizeof s, "%10.4f", v);
    luaL_addstring(b, s);
}

static int shown(int64_t i, int64_t n) { return n <= PRINT_FULL || i < PRINT_EDGE || i >= n - PRINT_EDGE; }

static void print_matrix(luaL_Buffer *b, const float *p, int64_t rows, int64_t cols, int integral) {
    for (int64_t r = 0; r < rows; r++) {
        if (!shown(r, rows)) { if (r == PRINT_EDGE) luaL_addstring(b, "   ...\n"); continue; }
        for (int64_t c = 0; c < cols; c++) {
            if (!shown(c, cols)) { if (c == PRINT_EDGE) luaL_addstring(b, "  ..."); continue; }
            luaL_addchar(b, ' ');
            fmt_value(b, p[r * cols + c], integral);
        }
        luaL_addchar(b, '\n');
    }
}

static int t_tostring(lua_State *L) {
    NlTensor *t = nl_lua_checktensor(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int integral = 1;
    for (int64_t i = 0; i < t->numel && integral; i++)
        integral = t->data[i] == floorf(t->data[i]) && fabsf(t->data[i]) < 1e7f;
    if (t->ndim == 0) {
        fmt_value(&b, t->data[0], integral);
        luaL_addchar(&b, '\n');
    } else if (t->ndim == 1) {
        print_matrix(&b, t->data, t->shape[0], 1, integral);
    } else {
        /* Leading dimensions are walked as slices "(i,j,.,.) =" like torch7. */
        int64_t rows = t->shape[t->ndim - 2], cols = t->shape[t->ndim - 1];
        int64_t nslices = (rows > 0 && cols > 0) ? t->numel / (rows * cols) : 0;
        for (int64_t s = 0; s < nslices; s++) {
            if (!shown(s, nslices)) { if (s == PRINT_EDGE) luaL_addstring(&b, "(...)\n\n"); continue; }
            if (t->ndim > 2) {
                char hdr[128]; int used = 0; int64_t rem = s;
                int64_t idx[NL_MAXDIM];
                for (int d = t->ndim - 3; d >= 0; d--) { idx[d] = rem % t->shape[d]; rem /= t->shape[d]; }
                used += snprintf(hdr + used, sizeof hdr - used, "(");
                for (int d = 0; d < t->ndim - 2; d++)
                    used += snprintf(hdr + used, sizeof hdr - used, "%lld,", (long long)idx[d] + 1);
                snprintf(hdr + used, sizeof hdr - used, ".,.) =\n");
                luaL_addstring(&b, hdr);
            }
            print_matrix(&b, t->data + s * rows * cols, rows, cols, integral);
            if (t->ndim > 2) luaL_addchar(&b, '\n');
        }
    }
    luaL_addstring(&b, "[normlab.Tensor of size ");
    for (int d = 0; d < t->ndim; d++) {
        char s[32];
        snprintf(s, sizeof s, d ? "x%lld" : "%lld", (long long)t->shape[d]);
        luaL_addstring(&b, s);
    }
    if (t->ndim == 0) luaL_addstring(&b, "scalar");
    luaL_addstring(&b, "]");
    luaL_pushresult(&b);
    return 1;
}

static int t_is_tensor(lua_State *L) {
    lua_pushboolean(L, luaL_testudata(L, 1, NL_TENSOR_MT) != NULL);
    return 1;
}

static const luaL_Reg methods[] = {
    {"dim", t_dim}, {"size", t_size}, {"numel", t_numel}, {"shape_str", t_shape_str},
    {"same_shape", t_same_shape},
    {"get", t_get}, {"set", t_set}, {"narrow", t_narrow}, {"select", t_select},
    {"view", t_view}, {"reshape", t_view}, {"clone", t_clone}, {"copy", t_copy},
    {"fill", t_fill}, {"zero", t_zero}, {"uniform", t_uniform}, {"normal", t_normal},
    {"add", t_add}, {"sub", t_sub}, {"mul", t_mul}, {"div", t_div}, {"axpy", t_axpy},
    {"sum", t_sum}, {"mean", t_mean}, {"sumsq", t_sumsq}, {"norm", t_norm},
    {"max", t_max}, {"min", t_min}, {"all_finite", t_all_finite}, {"argmax", t_argmax},
    {"totable", t_totable}, {NULL, NULL}
};

static const luaL_Reg metamethods[] = {
    {"__index", t_index}, {"__newindex", t_newindex}, {"__len", t_len}, {"__gc", t_gc},
    {"__tostring", t_tostring}, {"__add", t_mt_add}, {"__sub", t_mt_sub},
    {"__mul", t_mt_mul}, {"__div", t_mt_div}, {"__unm", t_unm}, {NULL, NULL}
};

static const luaL_Reg functions[] = {
    {"tensor_new", t_new}, {"tensor_ones", t_ones}, {"tensor_from", t_fromtable},
    {"is_tensor", t_is_tensor}, {NULL, NULL}
};

void nl_open_tensor(lua_State *L) {
    luaL_newmetatable(L, NL_TENSOR_MT);
    luaL_setfuncs(L, metamethods, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "methods");
    lua_pushliteral(L, "normlab.Tensor");
    lua_setfield(L, -2, "__name");
    /* getmetatable(t) returns a stand-in holding only __name and methods (for help and
     * completion): the real one has __gc, and getmetatable(t).__gc(t) would free live memory */
    lua_createtable(L, 0, 2);
    lua_getfield(L, -2, "methods");
    lua_setfield(L, -2, "methods");
    lua_pushliteral(L, "normlab.Tensor");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_setfuncs(L, functions, 0);
    /* C.Tensor: a callable class table whose fields are the methods (for help and completion). */
    lua_newtable(L);
    luaL_getmetatable(L, NL_TENSOR_MT);
    lua_getfield(L, -1, "methods");
    lua_setfield(L, -3, "methods");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, t_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "Tensor");
}
