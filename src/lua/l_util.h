/* l_util.h: the thin layer between Lua and the C core.
 *
 * Every binding file registers its functions into the `normlab.C` table via a
 * `void nl_open_<family>(lua_State *L)` that calls luaL_setfuncs on the table at
 * the top of the stack (see l_init.c for the list). */
#ifndef NL_L_UTIL_H
#define NL_L_UTIL_H

#include <lua.h>
#include <lauxlib.h>
#include "../core/nl.h"
#include "../core/tensor.h"

#define NL_TENSOR_MT "normlab.Tensor"
#define NL_GENERATOR_MT "normlab.Generator"

/* The interpreter's context (created by nl_lua_open, stored in the registry). */
NlCtx *nl_lua_ctx(lua_State *L);

/* Argument checks: the error names the argument and the expected type. */
NlTensor *nl_lua_checktensor(lua_State *L, int arg);
NlTensor *nl_lua_opttensor(lua_State *L, int arg);        /* nil or none -> NULL */
uint64_t *nl_lua_checkgenerator(lua_State *L, int arg);   /* the generator's state */

/* Pushes a new zero-filled tensor; raises a Lua error on a bad shape or when
 * the memory cannot be allocated (never aborts). */
NlTensor *nl_lua_newtensor(lua_State *L, int ndim, const int64_t *dims);
/* Same shape as `like`. */
NlTensor *nl_lua_newtensor_like(lua_State *L, const NlTensor *like);

/* Raises "where: <ctx->err>" (just the message when where is NULL: the kernels' messages
 * already name their operation) when s != NL_OK; returns 0 otherwise. */
int nl_lua_check(lua_State *L, nl_status s, const char *where);

/* Reads a shape given either as integers at arg.. or as one table at arg. */
int nl_lua_checkshape(lua_State *L, int arg, int64_t *dims);

/* Registration of every binding family (one per file in src/lua/). */
void nl_open_tensor(lua_State *L);
void nl_open_rng(lua_State *L);
void nl_open_checkpoint(lua_State *L);
void nl_open_norm(lua_State *L);         /* l_norm.c: batchnorm, groupnorm, xent, optim */
void nl_open_spatial(lua_State *L);      /* l_spatial.c: conv2d, linear, pooling, activations */
void nl_open_data(lua_State *L);         /* l_data.c: datasets, batch pipeline, downloads */
void nl_open_winograd(lua_State *L);     /* l_winograd.c: Winograd 3x3 conv, wall clock */

/* Opens the whole library: creates the context and sets package.preload["normlab.C"]. */
void nl_lua_open(lua_State *L);
void nl_lua_new_ctx(lua_State *L);   /* used by nl_lua_open */

#endif
