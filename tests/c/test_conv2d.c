/* test_conv2d.c: im2col + sgemm convolution against a direct 7-loop convolution, gradients
 * against central finite differences (double), and the error paths. Seeded; the seed and the
 * configuration are printed with every check. Each configuration runs with exactly
 * nl_conv2d_workspace floats of col scratch and with more (filled with garbage either way). */
#include <stdio.h>
#include "check.h"
#include "spatial_util.h"
#include "ops/conv2d.h"

#define SEED 20240601u

typedef struct {
    int n, cin, cout, h, w, kh, kw, stride, pad, bias;
} Cfg;

static void cfg_name(char *buf, size_t len, const char *what, const Cfg *f, int bigcol) {
    snprintf(buf, len, "%s N%d %d->%d %dx%d k%dx%d s%d p%d %s %s (seed %u)", what, f->n, f->cin,
             f->cout, f->h, f->w, f->kh, f->kw, f->stride, f->pad, f->bias ? "bias" : "nobias",
             bigcol ? "larger col" : "exact col", SEED);
}

/* Everything one configuration needs, also the closure of the finite-difference loss. */
typedef struct {
    NlCtx ctx;
    Cfg f;
    int64_t ho, wo;
    NlTensor x, w, b, y, r, col;
    NlTensor dx, dw, db;
} Conv;

static void conv_setup(Conv *cv, const Cfg *f, int bigcol, uint64_t *g) {
    memset(cv, 0, sizeof *cv);
    cv->f = *f;
    if (nl_conv2d_out_size(&cv->ctx, &cv->ho, &cv->wo, f->h, f->w, f->kh, f->kw, f->stride, f->pad))
        abort();
    cv->x = T4(f->n, f->cin, f->h, f->w);
    cv->w = T4(f->cout, f->cin, f->kh, f->kw);
    cv->b = T1(f->cout);
    cv->y = T4(f->n, f->cout, cv->ho, cv->wo);
    cv->r = T4(f->n, f->cout, cv->ho, cv->wo);
    int64_t cn = nl_conv2d_workspace(f->cin, f->kh, f->kw, cv->ho, cv->wo) + (bigcol ? 1000 : 0);
    cv->col = T1(cn);
    tuniform(&cv->col, g, -100, 100);   /* garbage: the kernels must not depend on it */
    cv->dx = T4(f->n, f->cin, f->h, f->w);
    cv->dw = T4(f->cout, f->cin, f->kh, f->kw);
    cv->db = T1(f->cout);
    tuniform(&cv->x, g, -1, 1);
    tuniform(&cv->w, g, -0.5, 0.5);
    tuniform(&cv->b, g, -0.5, 0.5);
    tuniform(&cv->r, g, -1, 1);
}

/* L = <conv(x, w, b), r> */
static double conv_loss(void *ud) {
    Conv *cv = ud;
    if (nl_conv2d_forward(&cv->ctx, &cv->y, &cv->col, &cv->x, &cv->w, cv->f.bias ? &cv->b : NULL,
                          cv->f.stride, cv->f.pad))
        abort();
    return tdot(&cv->y, &cv->r);
}

static double worst_fd = 0, worst_naive = 0;

/* im2col + sgemm forward vs the direct loop: relative to the largest output. */
static void check_naive(const Cfg *f, int bigcol, uint64_t *g) {
    Conv cv;
    char name[200];
    conv_setup(&cv, f, bigcol, g);
    NlTensor ref = T4(f->n, f->cout, cv.ho, cv.wo);
    nl_status s1 = nl_conv2d_forward(&cv.ctx, &cv.y, &cv.col, &cv.x, &cv.w, f->bias ? &cv.b : NULL,
                                     f->stride, f->pad);
    nl_status s2 = nl_conv2d_forward_naive(&cv.ctx, &ref, &cv.x, &cv.w, f->bias ? &cv.b : NULL,
                                           f->stride, f->pad);
    double e = tmaxdiff(&cv.y, &ref) / fmax(1e-30, tmaxabs(&ref));
    if (e > worst_naive) worst_naive = e;
    cfg_name(name, sizeof name, "forward = naive", f, bigcol);
    CHECK(s1 == NL_OK && s2 == NL_OK && e < 2e-6, name, "status %d/%d, rel err %.3g (%s)", s1, s2, e,
          cv.ctx.err);
}

/* Backward (dx, dw, db with dy = r) vs finite differences of L = <y, r>; then a second backward
 * must double every gradient (they accumulate). */
static void check_grad(const Cfg *f, int bigcol, uint64_t *g) {
    Conv cv;
    char name[200];
    conv_setup(&cv, f, bigcol, g);
    nl_status s = nl_conv2d_backward(&cv.ctx, &cv.dx, &cv.dw, f->bias ? &cv.db : NULL, &cv.col,
                                     &cv.r, &cv.x, &cv.w, f->stride, f->pad);
    /* conv is linear in x, w and b, so eps only trades off float rounding: a big step is best */
    double ex = fd_check(conv_loss, &cv, &cv.x, &cv.dx, 1e-2);
    double ew = fd_check(conv_loss, &cv, &cv.w, &cv.dw, 1e-2);
    double eb = f->bias ? fd_check(conv_loss, &cv, &cv.b, &cv.db, 1e-2) : 0;
    double e = fmax(ex, fmax(ew, eb));
    if (e > worst_fd) worst_fd = e;
    cfg_name(name, sizeof name, "backward = finite differences", f, bigcol);
    CHECK(s == NL_OK && e < 1e-3, name, "status %d (%s), err dx %.3g dw %.3g db %.3g", s, cv.ctx.err,
          ex, ew, eb);

    NlTensor dx1 = T4(f->n, f->cin, f->h, f->w), dw1 = T4(f->cout, f->cin, f->kh, f->kw);
    nl_copy(NULL, &dx1, &cv.dx);
    nl_copy(NULL, &dw1, &cv.dw);
    s = nl_conv2d_backward(&cv.ctx, &cv.dx, &cv.dw, NULL, &cv.col, &cv.r, &cv.x, &cv.w, f->stride, f->pad);
    nl_scale(&dx1, 2);
    nl_scale(&dw1, 2);
    double acc = fmax(tmaxdiff(&cv.dx, &dx1) / fmax(1e-30, tmaxabs(&dx1)),
                      tmaxdiff(&cv.dw, &dw1) / fmax(1e-30, tmaxabs(&dw1)));
    cfg_name(name, sizeof name, "backward accumulates", f, bigcol);
    CHECK(s == NL_OK && acc < 1e-6, name, "status %d, rel err %.3g", s, acc);
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void check_errors(void) {
    NlCtx c = {0};
    NlTensor x = T4(2, 4, 8, 8), w = T4(3, 3, 3, 3), b = T1(3), y = T4(2, 3, 8, 8);
    NlTensor col = T1(27 * 64);
    nl_status s = nl_conv2d_forward(&c, &y, &col, &x, &w, &b, 1, 1);
    CHECK(s == NL_ESHAPE && contains(c.err, "input (2,4,8,8) has 4 channels, weight (3,3,3,3) expects 3"),
          "channel mismatch names both shapes", "status %d, message '%s'", s, c.err);

    NlTensor x3 = T4(2, 3, 8, 8);
    s = nl_conv2d_forward(&c, &y, &col, &x3, &w, &b, 0, 1);
    CHECK(s == NL_EARG && contains(c.err, "stride 0"), "zero stride is an error", "%d '%s'", s, c.err);
    s = nl_conv2d_forward(&c, &y, &col, &x3, &w, &b, -2, 1);
    CHECK(s == NL_EARG && contains(c.err, "stride -2"), "negative stride is an error", "%d '%s'", s, c.err);
    s = nl_conv2d_forward(&c, &y, &col, &x3, &w, &b, 1, -1);
    CHECK(s == NL_EARG && contains(c.err, "padding -1"), "negative padding is an error", "%d '%s'", s, c.err);

    NlTensor xs = T4(1, 3, 2, 2), w5 = T4(3, 3, 5, 5), ys = T4(1, 3, 1, 1);
    s = nl_conv2d_forward(&c, &ys, &col, &xs, &w5, NULL, 1, 1);
    CHECK(s == NL_EARG && contains(c.err, "kernel 5x5 is larger than the padded input 4x4"),
          "kernel larger than padded input is an error", "%d '%s'", s, c.err);

    NlTensor ybad = T4(2, 3, 7, 8);
    s = nl_conv2d_forward(&c, &ybad, &col, &x3, &w, &b, 1, 1);
    CHECK(s == NL_ESHAPE && contains(c.err, "(2,3,8,8)") && contains(c.err, "(2,3,7,8)"),
          "wrong output shape names both shapes", "%d '%s'", s, c.err);

    NlTensor small = T1(10);
    s = nl_conv2d_forward(&c, &y, &small, &x3, &w, &b, 1, 1);
    CHECK(s == NL_ESHAPE && contains(c.err, "col"), "too small scratch is an error", "%d '%s'", s, c.err);

    NlTensor b4 = T1(4);
    s = nl_conv2d_forward(&c, &y, &col, &x3, &w, &b4, 1, 1);
    CHECK(s == NL_ESHAPE && contains(c.err, "bias (4)"), "wrong bias size is an error", "%d '%s'", s, c.err);

    NlTensor x2 = T2(3, 64);
    s = nl_conv2d_forward(&c, &y, &col, &x2, &w, &b, 1, 1);
    CHECK(s == NL_ESHAPE && contains(c.err, "4-D"), "2-D input is an error", "%d '%s'", s, c.err);

    NlTensor dxbad = T4(2, 3, 8, 7);
    s = nl_conv2d_backward(&c, &dxbad, NULL, NULL, &col, &y, &x3, &w, 1, 1);
    CHECK(s == NL_ESHAPE && contains(c.err, "(2,3,8,7)"), "backward checks grad input shape", "%d '%s'",
          s, c.err);
    s = nl_conv2d_backward(&c, NULL, NULL, NULL, &col, &ybad, &x3, &w, 1, 1);
    CHECK(s == NL_ESHAPE && contains(c.err, "grad output"), "backward checks grad output shape", "%d '%s'",
          s, c.err);

    c.interrupted = 1;
    s = nl_conv2d_forward(&c, &y, &col, &x3, &w, &b, 1, 1);
    CHECK(s == NL_EINTR, "forward polls interrupted", "status %d", s);
    s = nl_conv2d_backward(&c, &x3, &w, &b, &col, &y, &x3, &w, 1, 1);
    CHECK(s == NL_EINTR, "backward polls interrupted", "status %d", s);
}

int main(void) {
    uint64_t g = nl_rng_seed(SEED, 0);
    /* forward vs naive: sizes around the protocol's plus awkward ones */
    static const Cfg naive[] = {
        { 3, 16, 8, 13, 11, 3, 3, 1, 1, 1 },  { 2, 3, 32, 32, 32, 3, 3, 1, 1, 1 },
        { 4, 32, 16, 8, 8, 3, 3, 1, 1, 1 },   { 1, 5, 7, 9, 9, 5, 5, 2, 2, 0 },
        { 2, 4, 6, 10, 7, 1, 1, 1, 0, 1 },    { 2, 4, 6, 10, 7, 1, 1, 2, 0, 1 },
        { 3, 2, 3, 7, 9, 3, 2, 3, 1, 1 },     { 5, 6, 4, 4, 4, 3, 3, 1, 0, 0 },
        { 2, 3, 2, 5, 5, 5, 5, 1, 0, 1 },     { 2, 3, 2, 3, 3, 3, 3, 1, 3, 1 },
        { 37, 8, 8, 6, 6, 3, 3, 1, 1, 1 },    { 2, 3, 4, 1, 1, 3, 3, 1, 1, 1 },
        { 2, 3, 4, 2, 2, 3, 3, 1, 1, 1 },     { 2, 3, 4, 3, 3, 5, 5, 1, 2, 1 },
        { 2, 3, 4, 1, 5, 3, 3, 1, 1, 0 },     { 3, 4, 5, 8, 8, 3, 3, 2, 1, 1 },
    };
    for (size_t i = 0; i < sizeof naive / sizeof naive[0]; i++)
        for (int bigcol = 0; bigcol < 2; bigcol++) check_naive(&naive[i], bigcol, &g);

    /* gradients: stride 2, odd sizes, padding 0, kernels 1 and 5, no bias, batch 1 */
    static const Cfg grads[] = {
        { 2, 3, 4, 7, 7, 3, 3, 1, 1, 1 },   /* the protocol's 3x3 pad 1, odd image */
        { 1, 2, 3, 9, 8, 3, 3, 2, 1, 0 },   /* batch 1, stride 2, no bias */
        { 2, 3, 2, 6, 5, 1, 1, 1, 0, 1 },   /* 1x1: the direct path */
        { 2, 3, 2, 7, 6, 1, 1, 2, 0, 1 },   /* 1x1 stride 2 */
        { 3, 2, 3, 9, 9, 5, 5, 2, 0, 1 },   /* 5x5, stride 2, padding 0 */
        { 2, 2, 2, 5, 7, 5, 5, 1, 2, 0 },   /* 5x5 pad 2 */
        { 2, 2, 3, 6, 7, 3, 2, 3, 1, 1 },   /* rectangular kernel, stride 3 */
        { 1, 1, 1, 3, 3, 3, 3, 1, 0, 1 },   /* kernel = image */
        { 2, 2, 3, 1, 1, 3, 3, 1, 1, 1 },   /* 1x1 image, 3x3 pad 1: only the centre tap reads */
        { 2, 2, 2, 2, 3, 5, 5, 1, 2, 1 },   /* 5x5 pad 2 on a 2x3 image (taps reading only padding) */
    };
    for (size_t i = 0; i < sizeof grads / sizeof grads[0]; i++)
        for (int bigcol = 0; bigcol < 2; bigcol++) check_grad(&grads[i], bigcol, &g);

    check_errors();
    printf("# largest rel err vs naive %.3g, vs finite differences %.3g\n", worst_naive, worst_fd);
    tfree_all();
    return check_done();
}
