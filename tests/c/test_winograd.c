/* test_winograd.c: the Winograd convolution (src/ops/winograd.c) against the plain im2col +
 * sgemm convolution (src/ops/conv2d.c) and a direct double-precision loop: forward in F(2x2,3x3)
 * and F(4x4,3x3), grad weight (F(4x4,3x3)), grad input (F(2x2,3x3)) and grad bias, for odd sizes, partial
 * channel blocks, paddings 0-2, 1 and 2 threads and both code paths (AVX-512 and generic).
 * Gradients must accumulate. Errors are relative to the largest reference value; F(2x2,3x3)
 * (the forward option, the grad input) and the grad bias must be as accurate as im2col (TOL2). Seeded; the seed is in every name. */
#include <stdio.h>
#include "check.h"
#include "spatial_util.h"
#include "ops/conv2d.h"
#include "ops/winograd.h"

#define SEED 20240607u
#define TOL 5e-5    /* F(4x4,3x3) in float: the worst measured here is about 1e-5 */
#define TOL2 3e-6   /* F(2x2,3x3): about 5e-7, like im2col + sgemm */

typedef struct { int n, cin, cout, h, w, pad; } Cfg;

/* Direct convolution and its gradients in double (the reference of the reference). */
static void direct(const Cfg *f, const NlTensor *x, const NlTensor *w, const NlTensor *b,
                   const NlTensor *dy, double *y, double *dx, double *dw, double *db) {
    int ho = f->h + 2 * f->pad - 2, wo = f->w + 2 * f->pad - 2;
    for (int n = 0; n < f->n; n++)
        for (int o = 0; o < f->cout; o++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    size_t yi = (((size_t)n * f->cout + o) * ho + i) * wo + j;
                    double acc = b->data[o], g = dy->data[yi];
                    db[o] += g;
                    for (int c = 0; c < f->cin; c++)
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++) {
                                int hi = i - f->pad + u, wi = j - f->pad + v;
                                if (hi < 0 || hi >= f->h || wi < 0 || wi >= f->w) continue;
                                size_t xi = (((size_t)n * f->cin + c) * f->h + hi) * f->w + wi;
                                size_t wk = (((size_t)o * f->cin + c) * 3 + u) * 3 + v;
                                acc += (double)w->data[wk] * x->data[xi];
                                dx[xi] += (double)w->data[wk] * g;
                                dw[wk] += (double)x->data[xi] * g;
                            }
                    y[yi] = acc;
                }
}

static double rel_err(const NlTensor *a, const double *ref, const float *base) {
    double m = 0, d = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double r = ref[i] + (base ? base[i] : 0.0);
        if (fabs(r) > m) m = fabs(r);
        double e = fabs(a->data[i] - r);
        if (e > d || e != e) d = e;
    }
    return d / fmax(m, 1e-30);
}

static double worst[6];

/* nl_winograd_force_split's modes: the rule, images, channels */
static const char *const split_name[] = { "split by rule", "images split", "channels split" };

static void run_cfg(const Cfg *f, int threads, int generic, int split, uint64_t *g) {
    NlCtx ctx = { .threads = threads };
    char name[240], what[64];
    nl_winograd_force_generic(generic);
    nl_winograd_force_split(split);
    const int ho = f->h + 2 * f->pad - 2, wo = f->w + 2 * f->pad - 2;
    NlTensor x = T4(f->n, f->cin, f->h, f->w), w = T4(f->cout, f->cin, 3, 3), b = T1(f->cout);
    NlTensor y = T4(f->n, f->cout, ho, wo), dy = T4(f->n, f->cout, ho, wo);
    NlTensor dx = T4(f->n, f->cin, f->h, f->w), dw = T4(f->cout, f->cin, 3, 3), db = T1(f->cout);
    tuniform(&x, g, -1, 1), tuniform(&w, g, -0.5, 0.5), tuniform(&b, g, -0.5, 0.5);
    tuniform(&dy, g, -1, 1);
    /* gradients start non-zero: the kernels must add to them */
    tuniform(&dx, g, -1, 1), tuniform(&dw, g, -1, 1), tuniform(&db, g, -1, 1);
    NlTensor dx0 = T4(f->n, f->cin, f->h, f->w), dw0 = T4(f->cout, f->cin, 3, 3), db0 = T1(f->cout);
    memcpy(dx0.data, dx.data, dx.numel * 4), memcpy(dw0.data, dw.data, dw.numel * 4);
    memcpy(db0.data, db.data, db.numel * 4);
    int64_t need = nl_winograd_workspace(f->n, f->cin, f->cout, f->h, f->w, f->pad, threads);
    NlTensor ws = T1(need);
    tuniform(&ws, g, -1e30, 1e30);   /* garbage: the kernels must not depend on it */

    size_t ny = (size_t)y.numel, nx = (size_t)x.numel, nw = (size_t)w.numel;
    double *ry = calloc(ny, 8), *rdx = calloc(nx, 8), *rdw = calloc(nw, 8), *rdb = calloc(f->cout, 8);
    direct(f, &x, &w, &b, &dy, ry, rdx, rdw, rdb);

    NlTensor y2 = T4(f->n, f->cout, ho, wo);
    nl_status s0 = nl_winograd_forward(&ctx, &y2, &ws, &x, &w, &b, f->pad, 2);
    double e2 = rel_err(&y2, ry, NULL);
    if (e2 > worst[4]) worst[4] = e2;
    snprintf(name, sizeof name, "forward F(2x2,3x3) = direct N%d %d->%d %dx%d pad %d, %d thread(s), %s, %s (seed %u)",
             f->n, f->cin, f->cout, f->h, f->w, f->pad, threads, nl_winograd_isa(), split_name[split], SEED);
    CHECK(s0 == NL_OK && e2 < TOL2, name, "status %d, rel err %.3g (%s)", s0, e2, ctx.err);
    nl_status s1 = nl_winograd_forward(&ctx, &y, &ws, &x, &w, &b, f->pad, 4);
    nl_status s2 = nl_winograd_backward(&ctx, &dx, &dw, &db, &ws, &dy, &x, &w, f->pad, 2, 0);
    double e[4] = { rel_err(&y, ry, NULL), rel_err(&dx, rdx, dx0.data), rel_err(&dw, rdw, dw0.data),
                    rel_err(&db, rdb, db0.data) };
    const char *names[4] = { "forward F(4x4,3x3)", "grad input", "grad weight", "grad bias" };
    for (int k = 0; k < 4; k++) {
        if (e[k] > worst[k]) worst[k] = e[k];
        snprintf(what, sizeof what, "%s = direct", names[k]);
        snprintf(name, sizeof name, "%s N%d %d->%d %dx%d pad %d, %d thread(s), %s, %s (seed %u)", what,
                 f->n, f->cin, f->cout, f->h, f->w, f->pad, threads, nl_winograd_isa(), split_name[split], SEED);
        CHECK(s1 == NL_OK && s2 == NL_OK && e[k] < (k == 1 || k == 3 ? TOL2 : TOL), name, "status %d/%d, rel err %.3g (%s)", s1, s2,
              e[k], ctx.err);
    }

    /* dx_overwrite: dx = the gradient, whatever dx held */
    NlTensor dxo = T4(f->n, f->cin, f->h, f->w);
    tuniform(&dxo, g, -1e3, 1e3);
    nl_status so = nl_winograd_backward(&ctx, &dxo, NULL, NULL, &ws, &dy, &x, &w, f->pad, 2, 1);
    double eo = rel_err(&dxo, rdx, NULL);
    snprintf(name, sizeof name, "grad input, overwrite = direct N%d %d->%d %dx%d pad %d, %d thread(s), %s, %s (seed %u)",
             f->n, f->cin, f->cout, f->h, f->w, f->pad, threads, nl_winograd_isa(), split_name[split], SEED);
    CHECK(so == NL_OK && eo < TOL2, name, "status %d, rel err %.3g (%s)", so, eo, ctx.err);

    /* the grad input in 4x4 tiles (dx_tile 4), with the weight and bias gradients of the
     * same sweep: F(4x4,3x3)'s accuracy */
    NlTensor dx4 = T4(f->n, f->cin, f->h, f->w), dw4 = T4(f->cout, f->cin, 3, 3), db4 = T1(f->cout);
    tuniform(&dx4, g, -1e3, 1e3);
    nl_status s4x = nl_winograd_backward(&ctx, &dx4, &dw4, &db4, &ws, &dy, &x, &w, f->pad, 4, 1);
    double e4[3] = { rel_err(&dx4, rdx, NULL), rel_err(&dw4, rdw, NULL), rel_err(&db4, rdb, NULL) };
    if (e4[0] > worst[5]) worst[5] = e4[0];
    snprintf(name, sizeof name, "grad input F(4x4,3x3), grad weight, grad bias = direct N%d %d->%d %dx%d pad %d, "
             "%d thread(s), %s, %s (seed %u)", f->n, f->cin, f->cout, f->h, f->w, f->pad, threads,
             nl_winograd_isa(), split_name[split], SEED);
    CHECK(s4x == NL_OK && e4[0] < TOL && e4[1] < TOL && e4[2] < TOL2, name, "status %d, rel err %.3g %.3g %.3g (%s)",
          s4x, e4[0], e4[1], e4[2], ctx.err);

    /* against the plain im2col + sgemm kernels (one image per sgemm: the minimal col) */
    NlTensor col = T1((int64_t)f->cin * 9 * ho * wo);
    NlTensor py = T4(f->n, f->cout, ho, wo), pdx = T4(f->n, f->cin, f->h, f->w);
    NlTensor pdw = T4(f->cout, f->cin, 3, 3), pdb = T1(f->cout);
    NlTensor wdx = T4(f->n, f->cin, f->h, f->w), wdw = T4(f->cout, f->cin, 3, 3), wdb = T1(f->cout);
    nl_status s3 = nl_conv2d_forward(&ctx, &py, &col, &x, &w, &b, 1, f->pad);
    nl_status s4 = nl_conv2d_backward(&ctx, &pdx, &pdw, &pdb, &col, &dy, &x, &w, 1, f->pad);
    nl_status s5 = nl_winograd_backward(&ctx, &wdx, &wdw, &wdb, &ws, &dy, &x, &w, f->pad, 2, 0);
    double p[3] = { tmaxdiff(&y2, &py) / fmax(tmaxabs(&py), 1e-30),
                    tmaxdiff(&wdx, &pdx) / fmax(tmaxabs(&pdx), 1e-30),
                    tmaxdiff(&wdw, &pdw) / fmax(tmaxabs(&pdw), 1e-30) };
    snprintf(name, sizeof name, "= plain conv2d (y F(2x2,3x3), dx, dw) N%d %d->%d %dx%d pad %d, %d thread(s), %s, %s (seed %u)",
             f->n, f->cin, f->cout, f->h, f->w, f->pad, threads, nl_winograd_isa(), split_name[split], SEED);
    CHECK(s3 == NL_OK && s4 == NL_OK && s5 == NL_OK && p[0] < TOL2 && p[1] < TOL2 && p[2] < TOL, name,
          "status %d/%d/%d, rel err %.3g %.3g %.3g (%s)", s3, s4, s5, p[0], p[1], p[2], ctx.err);
    free(ry), free(rdx), free(rdw), free(rdb);
    nl_winograd_force_generic(0);
    nl_winograd_force_split(0);
}

/* NULL gradients are skipped; a too-small scratch, a wrong shape and an interrupt fail cleanly. */
static void check_errors(uint64_t *g) {
    NlCtx ctx = { .threads = 2 };
    NlTensor x = T4(2, 16, 8, 8), w = T4(16, 16, 3, 3), y = T4(2, 16, 8, 8), dx = T4(2, 16, 8, 8);
    tuniform(&x, g, -1, 1), tuniform(&w, g, -1, 1);
    int64_t need = nl_winograd_workspace(2, 16, 16, 8, 8, 1, 2);
    NlTensor ws = T1(need), small = T1(need / 4);
    CHECK(nl_winograd_applies(3, 3, 1, 1) && !nl_winograd_applies(3, 3, 2, 1) &&
          !nl_winograd_applies(5, 5, 1, 2) && !nl_winograd_applies(3, 3, 1, 3), "applies: 3x3 stride 1 pad 0-2 only", "%s", "");
    CHECK(nl_winograd_workspace(2, 16, 16, 8, 8, 3, 2) == 0 && nl_winograd_workspace(0, 16, 16, 8, 8, 1, 2) == 0,
          "workspace 0 for unsupported geometry", "%s", "");
    CHECK(nl_winograd_workspace(2, 16, 16, 8, 8, 1, 1) <= need, "one thread needs no more scratch", "%s", "");
    nl_status s = nl_winograd_forward(&ctx, &y, &small, &x, &w, NULL, 1, 4);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "scratch"), "too small scratch is an error", "status %d: %s", s, ctx.err);
    NlTensor bad = T4(2, 16, 7, 8);
    s = nl_winograd_forward(&ctx, &bad, &ws, &x, &w, NULL, 1, 2);
    CHECK(s == NL_ESHAPE, "wrong output shape is an error", "status %d: %s", s, ctx.err);
    NlTensor w5 = T4(16, 16, 5, 5);
    s = nl_winograd_forward(&ctx, &y, &ws, &x, &w5, NULL, 2, 4);
    CHECK(s == NL_ESHAPE, "5x5 weight is an error", "status %d: %s", s, ctx.err);
    NlTensor dy = T4(2, 16, 8, 8);
    tuniform(&dy, g, -1, 1);
    s = nl_winograd_backward(&ctx, &dx, NULL, NULL, &ws, &dy, &x, &w, 1, 2, 0);
    CHECK(s == NL_OK && tmaxabs(&dx) > 0, "grad input alone", "status %d: %s", s, ctx.err);
    s = nl_winograd_forward(&ctx, &y, &ws, &x, &w, NULL, 1, 3);
    CHECK(s == NL_EARG, "tile 3 is an error", "status %d: %s", s, ctx.err);
    s = nl_winograd_backward(&ctx, &dx, NULL, NULL, &ws, &dy, &x, &w, 1, 3, 0);
    CHECK(s == NL_EARG && strstr(ctx.err, "grad input tile 3"), "grad input tile 3 is an error", "status %d: %s", s,
          ctx.err);
    NlTensor db = T1(16), dbr = T1(16);
    s = nl_winograd_backward(&ctx, NULL, NULL, &db, &ws, &dy, &x, &w, 1, 2, 0);
    for (int o = 0; o < 16; o++)
        for (int i = 0; i < 2 * 64; i++) dbr.data[o] += dy.data[(i / 64 * 16 + o) * 64 + i % 64];
    CHECK(s == NL_OK && tmaxdiff(&db, &dbr) < 1e-5, "grad bias alone", "status %d, diff %.3g: %s", s,
          tmaxdiff(&db, &dbr), ctx.err);
    ctx.interrupted = 1;
    s = nl_winograd_forward(&ctx, &y, &ws, &x, &w, NULL, 1, 4);
    CHECK(s == NL_EINTR, "interrupt stops the forward pass", "status %d: %s", s, ctx.err);
}

int main(void) {
    uint64_t g = nl_rng_seed(SEED, 0);
    const Cfg cfgs[] = {
        { 1, 16, 16, 8, 8, 1 },     /* one tile row per 4 outputs, full blocks */
        { 3, 32, 32, 16, 16, 1 },   /* the protocol's shapes, small */
        { 2, 3, 32, 12, 12, 1 },    /* 3 input channels: a partial channel block */
        { 5, 20, 10, 7, 9, 1 },     /* odd sizes: partial tiles; partial blocks both ways */
        { 2, 17, 33, 6, 5, 0 },     /* pad 0 (dx uses pad 2) */
        { 2, 16, 16, 5, 6, 2 },     /* pad 2 (dx uses pad 0) */
        { 4, 64, 32, 8, 8, 1 },     /* more images than threads, two channel blocks */
        { 1, 8, 8, 1, 1, 1 },       /* a 1x1 image */
        { 3, 128, 128, 4, 4, 1 },   /* the protocol's last stage, one tile per image */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        for (int threads = 1; threads <= 2; threads++)
            for (int generic = 0; generic <= 1; generic++) run_cfg(&cfgs[i], threads, generic, 0, &g);
    /* both ways of sharing a call between two threads, wherever the channels can be split */
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        if (cfgs[i].pad == 1 && cfgs[i].cin >= 32 && cfgs[i].cout >= 32)
            for (int split = 1; split <= 2; split++) run_cfg(&cfgs[i], 2, 0, split, &g);
    /* a batch large enough for several chunks per thread, in both ways */
    run_cfg(&(Cfg){ 40, 32, 32, 32, 32, 1 }, 2, 0, 1, &g);
    run_cfg(&(Cfg){ 40, 32, 32, 32, 32, 1 }, 2, 0, 2, &g);
    run_cfg(&(Cfg){ 6, 48, 40, 9, 7, 1 }, 2, 0, 2, &g);   /* split channels: partial blocks, odd sizes */
    check_errors(&g);
    printf("# worst relative errors: forward F(4x4) %.3g, F(2x2) %.3g, grad input %.3g (F(4x4): %.3g), "
           "grad weight %.3g, grad bias %.3g\n", worst[0], worst[4], worst[1], worst[5], worst[2], worst[3]);
    tfree_all();
    return check_done();
}
