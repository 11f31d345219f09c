/* spatial_util.h: helpers shared by test_conv2d.c and test_spatial.c: heap tensors,
 * seeded fills and a central finite-difference gradient check in double precision. */
#ifndef NL_TEST_SPATIAL_UTIL_H
#define NL_TEST_SPATIAL_UTIL_H
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/tensor.h"
#include "core/rng.h"

/* Every test tensor's memory, freed at once by tfree_all() (leak-free under ASan). */
static float **talloc_list;
static size_t talloc_n, talloc_cap;

/* A zero-filled heap tensor, owned by the list above. */
static inline NlTensor tnew(int ndim, const int64_t *dims) {
    NlTensor t = {0};
    if (nl_tensor_set_shape(NULL, &t, ndim, dims)) abort();
    t.data = calloc((size_t)(t.numel ? t.numel : 1), sizeof(float));
    if (!t.data) abort();
    if (talloc_n == talloc_cap) {
        talloc_cap = talloc_cap ? 2 * talloc_cap : 256;
        talloc_list = realloc(talloc_list, talloc_cap * sizeof *talloc_list);
        if (!talloc_list) abort();
    }
    talloc_list[talloc_n++] = t.data;
    return t;
}

static inline void tfree_all(void) {
    for (size_t i = 0; i < talloc_n; i++) free(talloc_list[i]);
    free(talloc_list);
    talloc_list = NULL, talloc_n = talloc_cap = 0;
}
#define T1(a) tnew(1, (int64_t[]){ a })
#define T2(a, b) tnew(2, (int64_t[]){ a, b })
#define T4(a, b, c, d) tnew(4, (int64_t[]){ a, b, c, d })

static inline void tuniform(NlTensor *t, uint64_t *g, double lo, double hi) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(lo + (hi - lo) * nl_rng_uniform(g));
}

/* Values at least `gap` away from 0 (no ReLU kink inside a finite-difference step). */
static inline void tuniform_nozero(NlTensor *t, uint64_t *g, double lo, double hi, double gap) {
    for (int64_t i = 0; i < t->numel; i++) {
        double v;
        do v = lo + (hi - lo) * nl_rng_uniform(g); while (fabs(v) < gap);
        t->data[i] = (float)v;
    }
}

/* A shuffled grid: all values distinct, spaced `gap` apart (no max-pool ties). */
static inline void tdistinct(NlTensor *t, uint64_t *g, double gap) {
    int64_t *perm = malloc((size_t)t->numel * sizeof *perm);
    for (int64_t i = 0; i < t->numel; i++) perm[i] = i;
    nl_rng_shuffle(g, perm, t->numel);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)((perm[i] - t->numel / 2) * gap);
    free(perm);
}

/* sum_i a_i b_i in double: the scalar loss L = <y, r> whose gradient w.r.t. y is r. */
static inline double tdot(const NlTensor *a, const NlTensor *b) {
    double s = 0;
    for (int64_t i = 0; i < a->numel; i++) s += (double)a->data[i] * b->data[i];
    return s;
}

static inline double tmaxdiff(const NlTensor *a, const NlTensor *b) {
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = fabs((double)a->data[i] - b->data[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

static inline double tmaxabs(const NlTensor *a) {
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) if (fabs(a->data[i]) > m) m = fabs(a->data[i]);
    return m;
}

/* Central differences of loss() w.r.t. every entry of p, against `analytic`.
 * The step actually taken is measured in double after rounding p +- eps to float.
 * Returns max |fd - analytic| / max(1, |analytic|). */
typedef double (*fd_loss_fn)(void *ud);
static inline double fd_check(fd_loss_fn loss, void *ud, NlTensor *p, const NlTensor *analytic, double eps) {
    double worst = 0;
    for (int64_t i = 0; i < p->numel; i++) {
        float save = p->data[i];
        float hi = (float)(save + eps), lo = (float)(save - eps);
        p->data[i] = hi;
        double lp = loss(ud);
        p->data[i] = lo;
        double lm = loss(ud);
        p->data[i] = save;
        double fd = (lp - lm) / ((double)hi - (double)lo);
        double a = analytic->data[i];
        double e = fabs(fd - a) / fmax(1.0, fabs(a));
        if (e > worst || e != e) worst = e;
    }
    return worst;
}

#endif
