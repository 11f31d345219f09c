/* tensor.c: shapes, elementwise arithmetic and reductions over contiguous
 * float32 tensors. Reductions accumulate in double so that sums over a
 * whole activation tensor (millions of values) keep float precision. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "tensor.h"

nl_status nl_tensor_set_shape(NlCtx *c, NlTensor *t, int ndim, const int64_t *dims) {
    if (ndim < 0 || ndim > NL_MAXDIM)
        return nl_fail(c, NL_EARG, "tensor: %d dimensions (at most %d)", ndim, NL_MAXDIM);
    int64_t n = 1, nz = 1;   /* nz: product of the non-zero sizes (bounds every partial product) */
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return nl_fail(c, NL_EARG, "tensor: size %lld of dimension %d is negative",
                           (long long)dims[i], i + 1);
        if (dims[i] > 0 && nz > NL_MAX_NUMEL / dims[i])
            return nl_fail(c, NL_EARG, "tensor: too many elements (limit %lld)",
                           (long long)NL_MAX_NUMEL);
        n *= dims[i];
        if (dims[i] > 0) nz *= dims[i];
    }
    t->ndim = ndim;
    for (int i = 0; i < NL_MAXDIM; i++) t->shape[i] = i < ndim ? dims[i] : 0;
    t->numel = n;
    return NL_OK;
}

int nl_tensor_same_shape(const NlTensor *a, const NlTensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

char *nl_shape_str(const NlTensor *t, char *buf, size_t n) {
    size_t used = 0;
    if (n == 0) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
    return buf;
}

nl_status nl_check_shape(NlCtx *c, const char *what, const NlTensor *t, int ndim, const int64_t *dims) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == dims[i];
    if (ok) return NL_OK;
    NlTensor want = {0};
    nl_tensor_set_shape(NULL, &want, ndim, dims);
    char a[96], b[96];
    return nl_fail(c, NL_ESHAPE, "%s: expected shape %s, got %s", what,
                   nl_shape_str(&want, a, sizeof a), nl_shape_str(t, b, sizeof b));
}

nl_status nl_check_same(NlCtx *c, const char *what, const NlTensor *a, const NlTensor *b) {
    if (nl_tensor_same_shape(a, b)) return NL_OK;
    char sa[96], sb[96];
    return nl_fail(c, NL_ESHAPE, "%s: shapes %s and %s differ", what,
                   nl_shape_str(a, sa, sizeof sa), nl_shape_str(b, sb, sizeof sb));
}

void nl_fill(NlTensor *t, float v) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = v;
}

nl_status nl_copy(NlCtx *c, NlTensor *dst, const NlTensor *src) {
    if (dst->numel != src->numel)
        return nl_fail(c, NL_ESHAPE, "copy: %lld elements into %lld",
                       (long long)src->numel, (long long)dst->numel);
    if (dst->data != src->data) memmove(dst->data, src->data, (size_t)src->numel * sizeof(float));
    return NL_OK;
}

/* The binary elementwise ops share one shape check and one loop shape. */
#define NL_BINARY(name, op)                                                         \
    nl_status name(NlCtx *c, NlTensor *y, const NlTensor *a, const NlTensor *b) {  \
        if (a->numel != b->numel || y->numel != a->numel)                           \
            return nl_check_same(c, #name, a->numel != b->numel ? a : y, b);        \
        for (int64_t i = 0; i < y->numel; i++) y->data[i] = a->data[i] op b->data[i]; \
        return NL_OK;                                                               \
    }
NL_BINARY(nl_add, +)
NL_BINARY(nl_sub, -)
NL_BINARY(nl_mul, *)
NL_BINARY(nl_div, /)
#undef NL_BINARY

nl_status nl_axpy(NlCtx *c, NlTensor *y, float alpha, const NlTensor *x) {
    if (y->numel != x->numel) return nl_check_same(c, "axpy", y, x);
    for (int64_t i = 0; i < y->numel; i++) y->data[i] += alpha * x->data[i];
    return NL_OK;
}

void nl_scale(NlTensor *t, float s) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] *= s;
}

void nl_add_scalar(NlTensor *t, float s) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] += s;
}

double nl_sum(const NlTensor *t) {
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += t->data[i];
    return s;
}

double nl_sumsq(const NlTensor *t) {
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += (double)t->data[i] * t->data[i];
    return s;
}

float nl_max(const NlTensor *t) {
    float m = -INFINITY;
    for (int64_t i = 0; i < t->numel; i++) if (t->data[i] > m || isnan(t->data[i])) m = t->data[i];
    return m;
}

float nl_min(const NlTensor *t) {
    float m = INFINITY;
    for (int64_t i = 0; i < t->numel; i++) if (t->data[i] < m || isnan(t->data[i])) m = t->data[i];
    return m;
}

int nl_all_finite(const NlTensor *t) {
    for (int64_t i = 0; i < t->numel; i++) if (!isfinite(t->data[i])) return 0;
    return 1;
}

nl_status nl_argmax_rows(NlCtx *c, int64_t *idx, const NlTensor *t) {
    if (t->ndim != 2 || t->shape[1] < 1) {
        char s[96];
        return nl_fail(c, NL_ESHAPE, "argmax: expected a (N,K) tensor with K >= 1, got %s",
                       nl_shape_str(t, s, sizeof s));
    }
    int64_t n = t->shape[0], k = t->shape[1];
    for (int64_t i = 0; i < n; i++) {
        const float *row = t->data + i * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++) if (row[j] > row[best]) best = j;
        idx[i] = best;
    }
    return NL_OK;
}
