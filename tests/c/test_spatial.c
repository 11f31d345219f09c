/* test_spatial.c: Linear, MaxPool2d, global average pooling and the activations: gradients
 * against central finite differences (double), hand-computed values, PyTorch's tie and NaN
 * rules for max pooling, and the error paths. Seeded; the seed is printed with every check. */
#include <stdio.h>
#include "check.h"
#include "spatial_util.h"
#include "ops/act.h"
#include "ops/linear.h"
#include "ops/pool.h"

#define SEED 7031u

static NlCtx ctx;
static double worst_fd = 0;
static char name[200];

static void note(double e) { if (e > worst_fd || e != e) worst_fd = e; }
static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* ---- Linear ---- */

typedef struct { NlTensor x, w, b, y, r; int bias; } Lin;

static double lin_loss(void *ud) {
    Lin *l = ud;
    if (nl_linear_forward(&ctx, &l->y, &l->x, &l->w, l->bias ? &l->b : NULL)) abort();
    return tdot(&l->y, &l->r);
}

static void check_linear(int n, int in, int out, int bias, uint64_t *g) {
    Lin l = { T2(n, in), T2(out, in), T1(out), T2(n, out), T2(n, out), bias };
    tuniform(&l.x, g, -1, 1), tuniform(&l.w, g, -1, 1), tuniform(&l.b, g, -1, 1), tuniform(&l.r, g, -1, 1);
    NlTensor dx = T2(n, in), dw = T2(out, in), db = T1(out);
    nl_status s = nl_linear_backward(&ctx, &dx, &dw, bias ? &db : NULL, &l.r, &l.x, &l.w);
    double e = fmax(fd_check(lin_loss, &l, &l.x, &dx, 1e-2), fd_check(lin_loss, &l, &l.w, &dw, 1e-2));
    if (bias) e = fmax(e, fd_check(lin_loss, &l, &l.b, &db, 1e-2));
    note(e);
    snprintf(name, sizeof name, "linear N%d %d->%d %s backward = finite differences (seed %u)", n, in,
             out, bias ? "bias" : "nobias", SEED);
    CHECK(s == NL_OK && e < 1e-3, name, "status %d (%s), err %.3g", s, ctx.err, e);
}

/* ---- MaxPool2d ---- */

typedef struct { NlTensor x, y, idx, r; int k, s, p; } Pool;

static double pool_loss(void *ud) {
    Pool *q = ud;
    if (nl_maxpool2d_forward(&ctx, &q->y, &q->idx, &q->x, q->k, q->s, q->p)) abort();
    return tdot(&q->y, &q->r);
}

static void check_maxpool(int n, int c, int h, int w, int k, int s, int p, uint64_t *g) {
    int64_t ho, wo;
    if (nl_maxpool2d_out_size(&ctx, &ho, &wo, h, w, k, s, p)) abort();
    Pool q = { T4(n, c, h, w), T4(n, c, ho, wo), T4(n, c, ho, wo), T4(n, c, ho, wo), k, s, p };
    tdistinct(&q.x, g, 0.01);   /* distinct values 0.01 apart: no argmax flips within eps 1e-3 */
    tuniform(&q.r, g, -1, 1);
    NlTensor dx = T4(n, c, h, w);
    nl_status st = nl_maxpool2d_forward(&ctx, &q.y, &q.idx, &q.x, k, s, p);
    if (!st) st = nl_maxpool2d_backward(&ctx, &dx, &q.r, &q.idx);
    double e = fd_check(pool_loss, &q, &q.x, &dx, 1e-3);
    note(e);
    snprintf(name, sizeof name, "maxpool2d N%d C%d %dx%d k%d s%d p%d -> %lldx%lld backward = finite differences (seed %u)",
             n, c, h, w, k, s, p, (long long)ho, (long long)wo, SEED);
    CHECK(st == NL_OK && e < 1e-3, name, "status %d (%s), err %.3g", st, ctx.err, e);
}

static void check_maxpool_values(void) {
    /* one 4x5 plane, k2 s2: windows cover columns 0-1, 2-3 (column 4 dropped: floor mode) */
    NlTensor x = T4(1, 1, 4, 5), y = T4(1, 1, 2, 2), idx = T4(1, 1, 2, 2);
    const float xv[20] = { 1, 1, 0, 3, 9,
                           0, 0, 2, 0, 9,
                           5, 6, 7, 8, 9,
                           6, 6, 8, 7, 9 };
    memcpy(x.data, xv, sizeof xv);
    nl_status s = nl_maxpool2d_forward(&ctx, &y, &idx, &x, 2, 2, 0);
    /* ties (1 at 0 and 1; 6 at 11, 15, 16; 8 at 13 and 17) go to the first in row-major order */
    const float ye[4] = { 1, 3, 6, 8 }, ie[4] = { 0, 3, 11, 13 };
    int ok = s == NL_OK;
    for (int i = 0; i < 4; i++) ok = ok && y.data[i] == ye[i] && idx.data[i] == ie[i];
    CHECK(ok, "maxpool2d values, floor mode and first-max ties", "got y %g %g %g %g idx %g %g %g %g",
          y.data[0], y.data[1], y.data[2], y.data[3], idx.data[0], idx.data[1], idx.data[2], idx.data[3]);

    /* padding: k3 s2 p1 on 3x3 -> 2x2; padded cells are -inf, never chosen */
    NlTensor x2 = T4(1, 1, 3, 3), y2 = T4(1, 1, 2, 2), i2 = T4(1, 1, 2, 2);
    for (int i = 0; i < 9; i++) x2.data[i] = -(float)(i + 1);
    s = nl_maxpool2d_forward(&ctx, &y2, &i2, &x2, 3, 2, 1);
    ok = s == NL_OK && y2.data[0] == -1 && y2.data[1] == -2 && y2.data[2] == -4 && y2.data[3] == -5 &&
         i2.data[0] == 0 && i2.data[3] == 4;
    CHECK(ok, "maxpool2d padding never wins over negative inputs", "y %g %g %g %g", y2.data[0],
          y2.data[1], y2.data[2], y2.data[3]);

    /* NaN propagates (PyTorch: val > max || isnan(val)) */
    x.data[5] = NAN;
    s = nl_maxpool2d_forward(&ctx, &y, &idx, &x, 2, 2, 0);
    CHECK(s == NL_OK && isnan(y.data[0]) && idx.data[0] == 5 && y.data[1] == 3, "maxpool2d propagates NaN",
          "y0 %g idx0 %g", y.data[0], idx.data[0]);
}

/* The PyTorch rule written out plainly, for any window: scan in row-major order and take
 * v > best or NaN, starting from -inf at the window's first pixel. */
static void maxpool_ref(NlTensor *y, NlTensor *idx, const NlTensor *x, int k, int s, int p) {
    int64_t planes = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t ho = y->shape[2], wo = y->shape[3];
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t i = 0; i < ho; i++)
            for (int64_t j = 0; j < wo; j++) {
                float best = -INFINITY;
                int64_t at = -1;
                for (int64_t a = i * s - p; a < i * s - p + k; a++)
                    for (int64_t b = j * s - p; b < j * s - p + k; b++) {
                        if (a < 0 || a >= h || b < 0 || b >= w) continue;
                        float v = x->data[pl * h * w + a * w + b];
                        if (at < 0) at = a * w + b;   /* PyTorch's initial index */
                        if (v > best || isnan(v)) best = v, at = a * w + b;
                    }
                y->data[(pl * ho + i) * wo + j] = best;
                idx->data[(pl * ho + i) * wo + j] = (float)at;
            }
}

/* Ties and NaNs everywhere (values from {0, 1, 2} and some NaN): y and idx equal the plain
 * rule, for the 2x2/2 fast path (16 and 9 outputs per row: blocks of 8 and the tail) and
 * the general path. */
static void check_maxpool_ties(uint64_t *g) {
    static const int cfg[][6] = { { 16, 32, 2, 2, 0, 0 }, { 9, 18, 2, 2, 0, 0 }, { 9, 11, 3, 2, 1, 0 },
                                  { 8, 16, 2, 1, 1, 0 } };
    for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
        int h = cfg[t][0], w = cfg[t][1], k = cfg[t][2], st = cfg[t][3], p = cfg[t][4];
        int64_t ho, wo;
        if (nl_maxpool2d_out_size(&ctx, &ho, &wo, h, w, k, st, p)) abort();
        NlTensor x = T4(2, 3, h, w), y = T4(2, 3, ho, wo), idx = T4(2, 3, ho, wo);
        NlTensor ry = T4(2, 3, ho, wo), ridx = T4(2, 3, ho, wo);
        for (int64_t i = 0; i < x.numel; i++) {
            double u = nl_rng_uniform(g);
            x.data[i] = u < 0.05 ? NAN : (float)(int)(u * 3);
        }
        nl_status s = nl_maxpool2d_forward(&ctx, &y, &idx, &x, k, st, p);
        maxpool_ref(&ry, &ridx, &x, k, st, p);
        int bad = 0;
        for (int64_t i = 0; i < y.numel && !bad; i++) {
            int64_t pl = i / (ho * wo);
            float want = x.data[pl * h * w + (int64_t)ridx.data[i]];
            int same_v = isnan(want) ? isnan(y.data[i]) : y.data[i] == want;
            if (idx.data[i] != ridx.data[i] || !same_v) bad = 1 + (int)i;
        }
        snprintf(name, sizeof name, "maxpool2d %dx%d k%d s%d p%d: ties and NaN follow PyTorch's scan rule (seed %u)",
                 h, w, k, st, p, SEED);
        CHECK(s == NL_OK && !bad, name, "status %d, first mismatch at output %d", s, bad - 1);
    }
}

/* ---- global average pooling ---- */

typedef struct { NlTensor x, y, r; } Gap;

static double gap_loss(void *ud) {
    Gap *q = ud;
    if (nl_global_avgpool_forward(&ctx, &q->y, &q->x)) abort();
    return tdot(&q->y, &q->r);
}

static void check_gap(int n, int c, int h, int w, uint64_t *g) {
    Gap q = { T4(n, c, h, w), T2(n, c), T2(n, c) };
    tuniform(&q.x, g, -1, 1), tuniform(&q.r, g, -1, 1);
    NlTensor dx = T4(n, c, h, w);
    nl_status s = nl_global_avgpool_backward(&ctx, &dx, &q.r);
    double e = fd_check(gap_loss, &q, &q.x, &dx, 1e-2);
    note(e);
    /* the forward is a mean: check one entry directly */
    double m = 0;
    for (int i = 0; i < h * w; i++) m += q.x.data[i];
    m /= h * w;
    snprintf(name, sizeof name, "global avgpool N%d C%d %dx%d mean and backward = finite differences (seed %u)",
             n, c, h, w, SEED);
    CHECK(s == NL_OK && e < 1e-3 && fabs(q.y.data[0] - m) < 1e-6, name, "status %d, err %.3g, y0 %g vs %g",
          s, e, q.y.data[0], m);
}

/* ---- activations ---- */

enum { RELU, LEAKY, SIGMOID, TANH };
static const char *act_names[] = { "relu", "leakyrelu", "sigmoid", "tanh" };
typedef struct { NlTensor x, y, r; int kind; float slope; } Act;

static nl_status act_fwd(Act *a) {
    switch (a->kind) {
    case RELU: return nl_relu_forward(&ctx, &a->y, &a->x);
    case LEAKY: return nl_leakyrelu_forward(&ctx, &a->y, &a->x, a->slope);
    case SIGMOID: return nl_sigmoid_forward(&ctx, &a->y, &a->x);
    default: return nl_tanh_forward(&ctx, &a->y, &a->x);
    }
}

static double act_loss(void *ud) {
    Act *a = ud;
    if (act_fwd(a)) abort();
    return tdot(&a->y, &a->r);
}

static void check_act(int kind, float slope, uint64_t *g) {
    Act a = { T4(2, 3, 5, 7), T4(2, 3, 5, 7), T4(2, 3, 5, 7), kind, slope };
    /* ReLU-like: keep |x| >= 0.01 so the kink is never inside a 1e-3 step */
    if (kind == RELU || kind == LEAKY) tuniform_nozero(&a.x, g, -2, 2, 0.01);
    else tuniform(&a.x, g, -4, 4);
    tuniform(&a.r, g, -1, 1);
    NlTensor dx = T4(2, 3, 5, 7);
    nl_status s = act_fwd(&a);
    if (!s) switch (kind) {
    case RELU: s = nl_relu_backward(&ctx, &dx, &a.r, &a.x); break;
    case LEAKY: s = nl_leakyrelu_backward(&ctx, &dx, &a.r, &a.x, slope); break;
    case SIGMOID: s = nl_sigmoid_backward(&ctx, &dx, &a.r, &a.y); break;
    default: s = nl_tanh_backward(&ctx, &dx, &a.r, &a.y); break;
    }
    double e = fd_check(act_loss, &a, &a.x, &dx, kind == RELU || kind == LEAKY ? 1e-3 : 1e-2);
    note(e);
    snprintf(name, sizeof name, "%s%s backward = finite differences (seed %u)", act_names[kind],
             kind == LEAKY ? (slope < 0.1f ? " slope 0.01" : " slope 0.2") : "", SEED);
    CHECK(s == NL_OK && e < 1e-3, name, "status %d (%s), err %.3g", s, ctx.err, e);
}

static void check_act_values(void) {
    NlTensor x = T1(5), y = T1(5);
    const float xv[5] = { -100, -1, 0, 2, NAN };
    memcpy(x.data, xv, sizeof xv);
    nl_relu_forward(&ctx, &y, &x);
    CHECK(y.data[0] == 0 && y.data[1] == 0 && y.data[2] == 0 && y.data[3] == 2 && isnan(y.data[4]),
          "relu values (NaN propagates)", "%g %g %g %g %g", y.data[0], y.data[1], y.data[2], y.data[3], y.data[4]);
    nl_leakyrelu_forward(&ctx, &y, &x, 0.01f);
    CHECK(fabsf(y.data[0] + 1.0f) < 1e-6f && fabsf(y.data[1] + 0.01f) < 1e-9f && y.data[3] == 2,
          "leakyrelu values", "%g %g %g", y.data[0], y.data[1], y.data[3]);
    nl_sigmoid_forward(&ctx, &y, &x);
    CHECK(y.data[0] >= 0 && y.data[0] < 1e-37f && y.data[2] == 0.5f && fabs(y.data[3] - 1 / (1 + exp(-2.0))) < 1e-7,
          "sigmoid values (saturates to ~0 without NaN)", "%g %g %g", y.data[0], y.data[2], y.data[3]);
    nl_tanh_forward(&ctx, &y, &x);
    CHECK(y.data[0] == -1 && y.data[2] == 0 && fabs(y.data[3] - tanh(2.0)) < 1e-7, "tanh values", "%g %g %g",
          y.data[0], y.data[2], y.data[3]);
    /* in place */
    NlTensor z = T1(3);
    z.data[0] = -1, z.data[1] = 0.5f, z.data[2] = 3;
    nl_relu_forward(&ctx, &z, &z);
    CHECK(z.data[0] == 0 && z.data[1] == 0.5f && z.data[2] == 3, "relu in place", "%g %g %g", z.data[0],
          z.data[1], z.data[2]);
    /* gradient at the kink is 0, as PyTorch's */
    NlTensor k = T1(1), gk = T1(1), dk = T1(1);
    gk.data[0] = 1;
    nl_relu_backward(&ctx, &dk, &gk, &k);
    CHECK(dk.data[0] == 0, "relu gradient at 0 is 0", "%g", dk.data[0]);
}

/* sigmoid and tanh against double-precision libm on a dense grid of [-30, 30] (both the
 * 4-wide and the scalar tail paths: 60001 values), plus the extremes. */
static void check_act_accuracy(void) {
    const int64_t n = 60001;
    NlTensor x = T1(n), y = T1(n);
    for (int64_t i = 0; i < n; i++) x.data[i] = (float)(-30.0 + 60.0 * (double)i / (double)(n - 1));
    double es = 0, et = 0;
    nl_sigmoid_forward(&ctx, &y, &x);
    for (int64_t i = 0; i < n; i++) {
        double want = 1.0 / (1.0 + exp(-(double)x.data[i]));
        es = fmax(es, fabs(y.data[i] - want) / want);
    }
    nl_tanh_forward(&ctx, &y, &x);
    for (int64_t i = 0; i < n; i++) {
        double want = tanh((double)x.data[i]);
        if (want != 0) et = fmax(et, fabs(y.data[i] - want) / fabs(want));
    }
    CHECK(es < 4e-7, "sigmoid within 4e-7 relative of double precision on [-30, 30]", "max rel err %.3g", es);
    CHECK(et < 2e-7, "tanh within 2e-7 relative of double precision on [-30, 30]", "max rel err %.3g", et);
    printf("# sigmoid max rel err %.3g, tanh %.3g (vs double)\n", es, et);

    NlTensor e = T1(9), ey = T1(9);
    const float ev[9] = { -INFINITY, -1000, -90, -87.5f, 1e-30f, 88.8f, 1000, INFINITY, NAN };
    memcpy(e.data, ev, sizeof ev);
    nl_sigmoid_forward(&ctx, &ey, &e);
    int ok = isnan(ey.data[8]) && ey.data[5] == 1 && ey.data[6] == 1 && ey.data[7] == 1 && ey.data[4] == 0.5f;
    for (int i = 0; i < 4; i++) ok = ok && ey.data[i] >= 0 && ey.data[i] < 1e-37f;
    CHECK(ok, "sigmoid extremes: 0 (below 1e-37), 1, 1/2 and NaN", "%g %g %g %g %g %g %g %g %g", ey.data[0],
          ey.data[1], ey.data[2], ey.data[3], ey.data[4], ey.data[5], ey.data[6], ey.data[7], ey.data[8]);
    nl_tanh_forward(&ctx, &ey, &e);
    ok = isnan(ey.data[8]) && ey.data[0] == -1 && ey.data[1] == -1 && ey.data[6] == 1 && ey.data[7] == 1 &&
         ey.data[4] == 1e-30f;
    CHECK(ok, "tanh extremes: +-1, tiny x and NaN", "%g %g %g %g %g", ey.data[0], ey.data[1], ey.data[4],
          ey.data[7], ey.data[8]);
}

static void check_errors(void) {
    NlCtx c = {0};
    nl_status s;
    NlTensor x = T2(3, 5), w = T2(4, 6), y = T2(3, 4), b = T1(4);
    s = nl_linear_forward(&c, &y, &x, &w, &b);
    CHECK(s == NL_ESHAPE && contains(c.err, "linear: input (3,5) has 5 features, weight (4,6) expects 6"),
          "linear feature mismatch names both shapes", "%d '%s'", s, c.err);
    NlTensor w5 = T2(4, 5), yb = T2(3, 3);
    s = nl_linear_forward(&c, &yb, &x, &w5, &b);
    CHECK(s == NL_ESHAPE && contains(c.err, "(3,4)") && contains(c.err, "(3,3)"),
          "linear wrong output shape", "%d '%s'", s, c.err);
    NlTensor b3 = T1(3);
    s = nl_linear_forward(&c, &y, &x, &w5, &b3);
    CHECK(s == NL_ESHAPE && contains(c.err, "bias (3)"), "linear wrong bias", "%d '%s'", s, c.err);
    NlTensor x4 = T4(3, 5, 1, 1);
    s = nl_linear_forward(&c, &y, &x4, &w5, &b);
    CHECK(s == NL_ESHAPE && contains(c.err, "2-D"), "linear 4-D input is an error", "%d '%s'", s, c.err);

    NlTensor px = T4(2, 3, 6, 6), py = T4(2, 3, 3, 3), pi = T4(2, 3, 3, 3);
    s = nl_maxpool2d_forward(&c, &py, &pi, &px, 2, 0, 0);
    CHECK(s == NL_EARG && contains(c.err, "stride 0"), "maxpool zero stride", "%d '%s'", s, c.err);
    s = nl_maxpool2d_forward(&c, &py, &pi, &px, 2, 2, 2);
    CHECK(s == NL_EARG && contains(c.err, "at most half"), "maxpool padding > k/2", "%d '%s'", s, c.err);
    s = nl_maxpool2d_forward(&c, &py, &pi, &px, -1, 2, 0);
    CHECK(s == NL_EARG && contains(c.err, "kernel -1"), "maxpool negative kernel", "%d '%s'", s, c.err);
    s = nl_maxpool2d_forward(&c, &py, &pi, &px, 7, 1, 0);
    CHECK(s == NL_EARG && contains(c.err, "larger than the padded input 6x6"), "maxpool kernel > input",
          "%d '%s'", s, c.err);
    NlTensor pyb = T4(2, 3, 2, 3);
    s = nl_maxpool2d_forward(&c, &pyb, &pi, &px, 2, 2, 0);
    CHECK(s == NL_ESHAPE && contains(c.err, "(2,3,3,3)") && contains(c.err, "(2,3,2,3)"),
          "maxpool wrong output shape names both shapes", "%d '%s'", s, c.err);
    NlTensor pdx = T4(2, 3, 6, 6);
    nl_fill(&pi, 36);   /* one past the plane */
    s = nl_maxpool2d_backward(&c, &pdx, &py, &pi);
    CHECK(s == NL_EARG && contains(c.err, "out of range"), "maxpool bad index is an error, not a crash",
          "%d '%s'", s, c.err);
    nl_fill(&pi, -1);
    s = nl_maxpool2d_backward(&c, &pdx, &py, &pi);
    CHECK(s == NL_EARG, "maxpool negative index is an error", "%d '%s'", s, c.err);

    NlTensor gy = T2(2, 4);
    s = nl_global_avgpool_forward(&c, &gy, &px);
    CHECK(s == NL_ESHAPE && contains(c.err, "(2,3,6,6)") && contains(c.err, "(2,4)"),
          "global avgpool mismatch names both shapes", "%d '%s'", s, c.err);

    NlTensor a = T1(5), a2 = T1(6);
    s = nl_relu_forward(&c, &a, &a2);
    CHECK(s == NL_ESHAPE && contains(c.err, "relu") && contains(c.err, "(5)") && contains(c.err, "(6)"),
          "activation size mismatch names both shapes", "%d '%s'", s, c.err);
    s = nl_tanh_backward(&c, &a, &a, &a2);
    CHECK(s == NL_ESHAPE && contains(c.err, "tanh"), "activation backward size mismatch", "%d '%s'", s, c.err);

    c.interrupted = 1;
    s = nl_maxpool2d_forward(&c, &py, &pi, &px, 2, 2, 0);
    CHECK(s == NL_EINTR, "maxpool polls interrupted", "status %d", s);
}

/* Large tensors are pooled on several threads (planes split between them): the same bits as
 * one thread, forward and backward, and a bad index in the second thread's planes is still
 * reported (the first in plane order). */
static void check_maxpool_threads(uint64_t *g) {
    NlCtx c1 = {0}, c2 = {0};
    c1.threads = 1, c2.threads = 2;
    NlTensor x = T4(8, 64, 32, 32), y1 = T4(8, 64, 16, 16), y2 = T4(8, 64, 16, 16);
    NlTensor i1 = T4(8, 64, 16, 16), i2 = T4(8, 64, 16, 16), gy = T4(8, 64, 16, 16);
    NlTensor d1 = T4(8, 64, 32, 32), d2 = T4(8, 64, 32, 32);
    tuniform(&x, g, -1, 1), tuniform(&gy, g, -1, 1);
    nl_status s1 = nl_maxpool2d_forward(&c1, &y1, &i1, &x, 2, 2, 0);
    nl_status s2 = nl_maxpool2d_forward(&c2, &y2, &i2, &x, 2, 2, 0);
    CHECK(!s1 && !s2 && !memcmp(y1.data, y2.data, (size_t)y1.numel * 4) && !memcmp(i1.data, i2.data, (size_t)i1.numel * 4),
          "maxpool forward on 2 threads = 1 thread, bitwise (8x64x32x32)", "status %d %d", s1, s2);
    s1 = nl_maxpool2d_backward(&c1, &d1, &gy, &i1);
    s2 = nl_maxpool2d_backward(&c2, &d2, &gy, &i2);
    CHECK(!s1 && !s2 && !memcmp(d1.data, d2.data, (size_t)d1.numel * 4),
          "maxpool backward on 2 threads = 1 thread, bitwise", "status %d %d", s1, s2);
    i2.data[i2.numel - 5] = 1e9f;   /* in the second thread's planes */
    s2 = nl_maxpool2d_backward(&c2, &d2, &gy, &i2);
    CHECK(s2 == NL_EARG && contains(c2.err, "index 1e+09 out of range"), "a bad index on thread 2 is reported",
          "%d '%s'", s2, c2.err);
    i2.data[3] = -2.0f;   /* and the first one in plane order wins */
    s2 = nl_maxpool2d_backward(&c2, &d2, &gy, &i2);
    CHECK(s2 == NL_EARG && contains(c2.err, "index -2 out of range"), "the first bad index is the one reported",
          "%d '%s'", s2, c2.err);
}

int main(void) {
    uint64_t g = nl_rng_seed(SEED, 0);
    check_linear(3, 5, 4, 1, &g);
    check_linear(1, 7, 3, 0, &g);    /* batch 1, no bias */
    check_linear(4, 1, 1, 1, &g);
    check_maxpool(2, 3, 6, 6, 2, 2, 0, &g);   /* the protocol's 2x2 stride 2 */
    check_maxpool(2, 2, 7, 7, 2, 2, 0, &g);   /* odd size: last row/column dropped */
    check_maxpool(1, 2, 7, 5, 3, 2, 1, &g);   /* batch 1, padding, stride 2 */
    check_maxpool(2, 1, 5, 6, 3, 1, 1, &g);   /* overlapping windows */
    check_maxpool(1, 1, 5, 5, 1, 2, 0, &g);   /* kernel 1 */
    check_maxpool(2, 2, 9, 9, 5, 3, 2, &g);   /* kernel 5 */
    check_maxpool(2, 2, 18, 20, 2, 2, 0, &g);  /* 10 outputs per row: a block of 8 and a tail */
    check_maxpool_values();
    check_maxpool_ties(&g);
    check_maxpool_threads(&g);
    check_gap(2, 3, 5, 7, &g);
    check_gap(1, 4, 1, 1, &g);
    check_act(RELU, 0, &g);
    check_act(LEAKY, 0.01f, &g);
    check_act(LEAKY, 0.2f, &g);
    check_act(SIGMOID, 0, &g);
    check_act(TANH, 0, &g);
    check_act_values();
    check_act_accuracy();
    check_errors();
    printf("# largest rel err vs finite differences %.3g\n", worst_fd);
    tfree_all();
    return check_done();
}
