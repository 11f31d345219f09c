/* test_conv2d_par.c: the threaded im2col driver (src/ops/conv2d_par.c) against conv2d.c's
 * kernels called directly: forward and grad input bitwise equal when the BLAS gives the same
 * bits with 1 and 2 threads (checked here first; else to 1e-6), weight and bias gradients to
 * 1e-5 relative, accumulation, odd batch splits, stride 2 and 1x1 kernels, a too-small
 * scratch and an interrupt. Seeded; the seed is in every name. */
#include <stdio.h>
#include "check.h"
#include "spatial_util.h"
#include "ops/conv2d.h"
#include "ops/conv2d_par.h"

#define SEED 20240608u

typedef struct { int n, cin, cout, h, w, k, stride, pad; } Cfg;

static double rel(const NlTensor *a, const NlTensor *b) { return tmaxdiff(a, b) / fmax(tmaxabs(b), 1e-30); }

static void run_cfg(const Cfg *f, int threads, uint64_t *g) {
    NlCtx c1 = { 0 }, cp = { 0 };
    nl_set_threads(&c1, 1);
    int64_t ho, wo;
    if (nl_conv2d_out_size(NULL, &ho, &wo, f->h, f->w, f->k, f->k, f->stride, f->pad)) abort();
    NlTensor x = T4(f->n, f->cin, f->h, f->w), w = T4(f->cout, f->cin, f->k, f->k), b = T1(f->cout);
    NlTensor dy = T4(f->n, f->cout, ho, wo);
    tuniform(&x, g, -1, 1), tuniform(&w, g, -0.5, 0.5), tuniform(&b, g, -0.5, 0.5), tuniform(&dy, g, -1, 1);
    NlTensor col = T1(nl_conv2d_workspace(f->cin, f->k, f->k, ho, wo) + 1);
    /* reference: conv2d.c directly, one thread, one call */
    NlTensor y1 = T4(f->n, f->cout, ho, wo), dx1 = T4(f->n, f->cin, f->h, f->w);
    NlTensor dw1 = T4(f->cout, f->cin, f->k, f->k), db1 = T1(f->cout);
    for (int64_t i = 0; i < dx1.numel; i++) dx1.data[i] = 1.0f;   /* gradients start non-zero */
    for (int64_t i = 0; i < dw1.numel; i++) dw1.data[i] = 1.0f;
    for (int64_t i = 0; i < db1.numel; i++) db1.data[i] = 1.0f;
    nl_status s1 = nl_conv2d_forward(&c1, &y1, &col, &x, &w, &b, f->stride, f->pad);
    s1 = s1 ? s1 : nl_conv2d_backward(&c1, &dx1, &dw1, &db1, &col, &dy, &x, &w, f->stride, f->pad);
    /* does this BLAS give the same bits with 2 threads? */
    NlCtx c2 = { 0 };
    nl_set_threads(&c2, 2);
    NlTensor y2 = T4(f->n, f->cout, ho, wo);
    nl_conv2d_forward(&c2, &y2, &col, &x, &w, &b, f->stride, f->pad);
    int deterministic = tmaxdiff(&y1, &y2) == 0;
    /* the driver, starting from non-zero gradients */
    nl_set_threads(&cp, threads);
    NlTensor ws = T1(nl_conv2d_par_workspace(f->n, f->cin, f->cout, f->k, f->k, ho, wo, threads));
    tuniform(&ws, g, -1e30, 1e30);
    NlTensor yp = T4(f->n, f->cout, ho, wo), dxp = T4(f->n, f->cin, f->h, f->w);
    NlTensor dwp = T4(f->cout, f->cin, f->k, f->k), dbp = T1(f->cout);
    for (int64_t i = 0; i < dxp.numel; i++) dxp.data[i] = 1.0f;
    for (int64_t i = 0; i < dwp.numel; i++) dwp.data[i] = 1.0f;
    for (int64_t i = 0; i < dbp.numel; i++) dbp.data[i] = 1.0f;
    nl_status s2 = nl_conv2d_par_forward(&cp, &yp, &ws, &x, &w, &b, f->stride, f->pad);
    s2 = s2 ? s2 : nl_conv2d_par_backward(&cp, &dxp, &dwp, &dbp, &ws, &dy, &x, &w, f->stride, f->pad);
    char name[200];
    snprintf(name, sizeof name, "par N%d %d->%d %dx%d k%d s%d p%d, %d thread(s), %s (seed %u)", f->n,
             f->cin, f->cout, f->h, f->w, f->k, f->stride, f->pad, threads,
             deterministic ? "bitwise" : "BLAS not bitwise across threads: 1e-6", SEED);
    double ey = rel(&yp, &y1), ex = rel(&dxp, &dx1), ew = rel(&dwp, &dw1), eb = rel(&dbp, &db1);
    double tol = deterministic ? 0 : 1e-6;
    CHECK(s1 == NL_OK && s2 == NL_OK && ey <= tol && ex <= tol && ew < 1e-5 && eb < 1e-5, name,
          "status %d/%d, y %.3g dx %.3g dw %.3g db %.3g (%s)", s1, s2, ey, ex, ew, eb, cp.err);
}

int main(void) {
    uint64_t g = nl_rng_seed(SEED, 0);
    const Cfg cfgs[] = {
        { 5, 3, 32, 16, 16, 3, 1, 1 },   /* the protocol's first layer, odd batch */
        { 4, 32, 32, 8, 8, 3, 1, 1 },
        { 3, 8, 6, 9, 7, 3, 2, 1 },      /* stride 2, odd sizes */
        { 2, 6, 4, 5, 5, 1, 1, 0 },      /* 1x1: the direct path without im2col */
        { 1, 4, 4, 6, 6, 3, 1, 1 },      /* one image: one thread does it */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        for (int t = 1; t <= 3; t++) run_cfg(&cfgs[i], t, &g);

    NlCtx c = { 0 };
    nl_set_threads(&c, 2);
    NlTensor x = T4(2, 4, 6, 6), w = T4(4, 4, 3, 3), y = T4(2, 4, 6, 6), small = T1(5);
    nl_status s = nl_conv2d_par_forward(&c, &y, &small, &x, &w, NULL, 1, 1);
    CHECK(s == NL_ESHAPE && strstr(c.err, "scratch"), "too small scratch is an error", "status %d: %s", s, c.err);
    NlTensor bad = T4(2, 4, 5, 6), ws = T1(nl_conv2d_par_workspace(2, 4, 4, 3, 3, 6, 6, 2));
    s = nl_conv2d_par_forward(&c, &bad, &ws, &x, &w, NULL, 1, 1);
    CHECK(s == NL_ESHAPE, "wrong output shape is an error", "status %d: %s", s, c.err);
    NlTensor w3 = T4(4, 3, 3, 3);
    s = nl_conv2d_par_forward(&c, &y, &ws, &x, &w3, NULL, 1, 1);
    CHECK(s == NL_ESHAPE && strstr(c.err, "channels"), "channel mismatch names the channels", "status %d: %s", s, c.err);
    c.interrupted = 1;
    s = nl_conv2d_par_backward(&c, NULL, &w, NULL, &ws, &y, &x, &w, 1, 1);
    CHECK(s == NL_EINTR, "interrupt stops the backward pass", "status %d: %s", s, c.err);
    c.interrupted = 0;
    CHECK(c.threads == 2, "the context keeps its thread count", "threads %d", c.threads);
    tfree_all();
    return check_done();
}
