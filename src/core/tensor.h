/* tensor.h: float32 tensors. Always contiguous, row-major; images are NCHW.
 *
 * An NlTensor is only a view: a data pointer and a shape. Who owns the
 * memory is the caller's business (in normlab, a Lua userdata: see
 * src/lua/l_tensor.c). Kernels never allocate tensors behind the caller's back;
 * scratch space is passed in as a tensor too. */
#ifndef NL_TENSOR_H
#define NL_TENSOR_H

#include <stdint.h>
#include <stddef.h>
#include "nl.h"

#define NL_MAXDIM 8

typedef struct NlTensor {
    float *data;
    int ndim;
    int64_t shape[NL_MAXDIM];
    int64_t numel;   /* product of shape[0..ndim-1]; 1 for a 0-dim tensor */
} NlTensor;

/* Largest element count a tensor may have (keeps byte sizes far from overflow). */
#define NL_MAX_NUMEL ((int64_t)1 << 40)

/* Fills t->shape/ndim/numel from dims; returns NL_EARG on a negative dim,
 * too many dims or an element count above NL_MAX_NUMEL (counting only the
 * non-zero sizes, so that no product of sizes overflows even for an empty
 * tensor). Does not touch data. */
nl_status nl_tensor_set_shape(NlCtx *c, NlTensor *t, int ndim, const int64_t *dims);

int nl_tensor_same_shape(const NlTensor *a, const NlTensor *b);

/* Writes "(2,3,32,32)" into buf (always NUL-terminated); returns buf. */
char *nl_shape_str(const NlTensor *t, char *buf, size_t n);

/* Shape checks that record a message naming `what` and both shapes. */
nl_status nl_check_shape(NlCtx *c, const char *what, const NlTensor *t, int ndim, const int64_t *dims);
nl_status nl_check_same(NlCtx *c, const char *what, const NlTensor *a, const NlTensor *b);

/* Elementwise and reductions (all over the whole, contiguous tensor). */
void nl_fill(NlTensor *t, float v);
nl_status nl_copy(NlCtx *c, NlTensor *dst, const NlTensor *src);      /* same numel */
nl_status nl_add(NlCtx *c, NlTensor *y, const NlTensor *a, const NlTensor *b);   /* y = a + b */
nl_status nl_sub(NlCtx *c, NlTensor *y, const NlTensor *a, const NlTensor *b);
nl_status nl_mul(NlCtx *c, NlTensor *y, const NlTensor *a, const NlTensor *b);
nl_status nl_div(NlCtx *c, NlTensor *y, const NlTensor *a, const NlTensor *b);
nl_status nl_axpy(NlCtx *c, NlTensor *y, float alpha, const NlTensor *x);      /* y += alpha*x */
void nl_scale(NlTensor *t, float s);
void nl_add_scalar(NlTensor *t, float s);
double nl_sum(const NlTensor *t);
double nl_sumsq(const NlTensor *t);
float nl_max(const NlTensor *t);   /* -inf for an empty tensor */
float nl_min(const NlTensor *t);
int nl_all_finite(const NlTensor *t);
/* Row-wise argmax of a (N, K) tensor into idx[N]. */
nl_status nl_argmax_rows(NlCtx *c, int64_t *idx, const NlTensor *t);

#endif
