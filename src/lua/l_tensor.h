/* l_tensor.h: the Lua userdata behind normlab.Tensor. */
#ifndef NL_L_TENSOR_H
#define NL_L_TENSOR_H
#include "l_util.h"

/* The NlTensor comes first so that a userdata pointer is an NlTensor pointer.
 * `alloc` is the malloc'ed block this tensor owns, NULL for a view (a view
 * keeps its base alive through its first user value instead). */
typedef struct NlLuaTensor {
    NlTensor t;
    void *alloc;
} NlLuaTensor;

/* Pushes a view of `base` (at stack index base_idx) sharing its memory. */
NlTensor *nl_lua_pushview(lua_State *L, int base_idx, float *data, int ndim, const int64_t *dims);

#endif
