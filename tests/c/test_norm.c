/* test_norm.c: BatchNorm2d, GroupNorm and softmax cross-entropy kernels, no Lua.
 *
 * Gradients are checked against central finite differences of the float kernels:
 * the scalar probed is L = sum(r .* y) for a fixed random r (so dy = r), accumulated in
 * double, with step h; the error reported is max|fd - analytic| / max(1, max|analytic|)
 * over every element of the input, gamma and beta (an absolute error for gradients that
 * are tiny everywhere, such as dx of a normalization over just two values). Seeds are fixed and printed on failure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "core/nl.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "ops/batchnorm.h"
#include "ops/groupnorm.h"
#include "ops/xent.h"

#define SEED 20240611ULL
#define FD_H 1e-2      /* step: float forward passes, so not too small */
#define FD_TOL 1e-3    /* relative to max(1, largest analytic gradient) */

static NlCtx ctx;
static double worst_fd;   /* largest relative FD error seen, printed at the end */

/* ---- small helpers: malloc'ed tensors, fills, loss ---- */

static NlTensor mk(int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    NlTensor t = {0};
    int64_t dims[4] = {d0, d1, d2, d3};
    nl_tensor_set_shape(&ctx, &t, ndim, dims);
    t.data = calloc((size_t)(t.numel ? t.numel : 1), sizeof(float));
    return t;
}
static NlTensor mk_like(const NlTensor *a) {
    NlTensor t = *a;
    t.data = calloc((size_t)(t.numel ? t.numel : 1), sizeof(float));
    return t;
}
static void fill_normal(NlTensor *t, uint64_t *st, double mean, double sd) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(mean + sd * nl_rng_normal(st));
}
static void fill_uniform(NlTensor *t, uint64_t *st, double lo, double hi) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(lo + (hi - lo) * nl_rng_uniform(st));
}
static double dot(const NlTensor *a, const NlTensor *b) {
    double s = 0;
    for (int64_t i = 0; i < a->numel; i++) s += (double)a->data[i] * b->data[i];
    return s;
}
static double maxabs(const NlTensor *t) {
    double m = 0;
    for (int64_t i = 0; i < t->numel; i++) if (fabs(t->data[i]) > m) m = fabs(t->data[i]);
    return m;
}

/* Central differences of f with respect to every element of p, against `an`.
 * Returns max|fd - an| / max(1, max|an|). */
static double fd_check(double (*f)(void *), void *k, NlTensor *p, const NlTensor *an) {
    double err = 0, scale = maxabs(an);
    for (int64_t i = 0; i < p->numel; i++) {
        const float orig = p->data[i];
        p->data[i] = (float)(orig + FD_H); const double fp = f(k);
        p->data[i] = (float)(orig - FD_H); const double fm = f(k);
        p->data[i] = orig;
        /* divide by the step actually taken after rounding to float */
        const double step = (double)(float)(orig + FD_H) - (double)(float)(orig - FD_H);
        const double fd = (fp - fm) / step;
        const double e = fabs(fd - an->data[i]);
        if (e > err) err = e;
    }
    err /= fmax(scale, 1.0);
    if (err > worst_fd) worst_fd = err;
    return err;
}

/* ---- BatchNorm2d ---- */

typedef struct {
    NlTensor x, gamma, beta, rm, rv, y, sm, si, r;   /* r: the fixed dL/dy */
    int train;
} BNCase;

static double bn_loss(void *p) {
    BNCase *k = p;
    nl_status s = nl_bn_forward(&ctx, &k->y, &k->sm, &k->si, &k->rm, &k->rv, &k->x, &k->gamma,
                                &k->beta, k->train, 0.1, 1e-5, 0);
    return s ? NAN : dot(&k->y, &k->r);
}

static void bn_gradcheck(int64_t N, int64_t C, int64_t H, int64_t W, int train) {
    uint64_t st = nl_rng_seed(SEED, (uint64_t)(N * 1000 + C * 100 + H * 10 + W + train));
    BNCase k = {.x = mk(4, N, C, H, W), .gamma = mk(1, C, 0, 0, 0), .beta = mk(1, C, 0, 0, 0),
                .rm = mk(1, C, 0, 0, 0), .rv = mk(1, C, 0, 0, 0), .sm = mk(1, C, 0, 0, 0),
                .si = mk(1, C, 0, 0, 0), .train = train};
    k.y = mk_like(&k.x);
    k.r = mk_like(&k.x);
    fill_normal(&k.x, &st, 0.5, 1.5);
    fill_uniform(&k.gamma, &st, 0.5, 1.5);
    fill_normal(&k.beta, &st, 0, 1);
    fill_normal(&k.rm, &st, 0.3, 0.5);
    fill_uniform(&k.rv, &st, 0.5, 2.0);
    fill_normal(&k.r, &st, 0, 1);
    NlTensor dx = mk_like(&k.x), dg = mk_like(&k.gamma), db = mk_like(&k.beta);

    char name[128];
    snprintf(name, sizeof name, "bn %s (%lld,%lld,%lld,%lld)", train ? "train" : "eval",
             (long long)N, (long long)C, (long long)H, (long long)W);
    double l0 = bn_loss(&k);
    nl_status s = nl_bn_backward(&ctx, &dx, &dg, &db, &k.r, &k.x, &k.gamma, &k.beta, &k.sm, &k.si, train, 0);
    CHECK(s == NL_OK && isfinite(l0), name, "status %d: %s (seed %llu)", s, ctx.err,
          (unsigned long long)SEED);
    double ex = fd_check(bn_loss, &k, &k.x, &dx);
    double eg = fd_check(bn_loss, &k, &k.gamma, &dg);
    double eb = fd_check(bn_loss, &k, &k.beta, &db);
    char n2[256];
    snprintf(n2, sizeof n2, "%s: dx, dgamma, dbeta match finite differences", name);
    CHECK(ex < FD_TOL && eg < FD_TOL && eb < FD_TOL, n2,
          "rel err dx %.3g dgamma %.3g dbeta %.3g (seed %llu)", ex, eg, eb, (unsigned long long)SEED);
    printf("#   %s: rel err dx %.2e dgamma %.2e dbeta %.2e\n", name, ex, eg, eb);

    /* Grads accumulate: a second backward doubles dgamma/dbeta but overwrites dx. */
    NlTensor dx2 = mk_like(&k.x), dg2 = mk_like(&k.gamma), db2 = mk_like(&k.beta);
    memcpy(dg2.data, dg.data, (size_t)C * sizeof(float));
    memcpy(db2.data, db.data, (size_t)C * sizeof(float));
    nl_fill(&dx2, 123.0f);
    nl_bn_backward(&ctx, &dx2, &dg2, &db2, &k.r, &k.x, &k.gamma, &k.beta, &k.sm, &k.si, train, 0);
    int acc = 1;
    for (int64_t i = 0; i < C; i++)
        acc &= fabsf(dg2.data[i] - 2 * dg.data[i]) <= 1e-5f * (1 + fabsf(dg.data[i])) &&
               fabsf(db2.data[i] - 2 * db.data[i]) <= 1e-5f * (1 + fabsf(db.data[i]));
    for (int64_t i = 0; i < dx.numel; i++) acc &= dx2.data[i] == dx.data[i];
    snprintf(n2, sizeof n2, "%s: dgamma/dbeta accumulate, dx is overwritten", name);
    CHECK(acc, n2, "second backward did not accumulate as documented");

    NlTensor *all[] = {&k.x, &k.gamma, &k.beta, &k.rm, &k.rv, &k.y, &k.sm, &k.si, &k.r,
                       &dx, &dg, &db, &dx2, &dg2, &db2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

/* Train-mode statistics and running-stat update against a direct double computation;
 * eval-mode output against the running-stat formula. */
static void bn_stats(void) {
    const int64_t N = 3, C = 2, H = 3, W = 5, M = N * H * W;
    uint64_t st = nl_rng_seed(SEED, 77);
    NlTensor x = mk(4, N, C, H, W), y = mk(4, N, C, H, W), g = mk(1, C, 0, 0, 0),
             b = mk(1, C, 0, 0, 0), rm = mk(1, C, 0, 0, 0), rv = mk(1, C, 0, 0, 0),
             sm = mk(1, C, 0, 0, 0), si = mk(1, C, 0, 0, 0);
    fill_normal(&x, &st, 2.0, 3.0);
    nl_fill(&g, 1.0f);
    nl_fill(&rv, 1.0f);   /* PyTorch's initial running stats: mean 0, var 1 */
    double worst = 0, worst_y = 0;
    for (int step = 0; step < 3; step++) {
        double rm0[2] = {rm.data[0], rm.data[1]}, rv0[2] = {rv.data[0], rv.data[1]};
        nl_status s = nl_bn_forward(&ctx, &y, &sm, &si, &rm, &rv, &x, &g, &b, 1, 0.1, 1e-5, 0);
        if (s) { worst = INFINITY; break; }
        for (int64_t ch = 0; ch < C; ch++) {
            double sum = 0, sq = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < H * W; i++) sum += x.data[(n * C + ch) * H * W + i];
            double mean = sum / M;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < H * W; i++) {
                    double d = x.data[(n * C + ch) * H * W + i] - mean;
                    sq += d * d;
                }
            double want_rm = 0.9 * rm0[ch] + 0.1 * mean;
            double want_rv = 0.9 * rv0[ch] + 0.1 * sq / (M - 1);   /* unbiased */
            worst = fmax(worst, fabs(rm.data[ch] - want_rm) / (1 + fabs(want_rm)));
            worst = fmax(worst, fabs(rv.data[ch] - want_rv) / (1 + fabs(want_rv)));
            double invstd = 1 / sqrt(sq / M + 1e-5);   /* biased, to normalize */
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < H * W; i++) {
                    int64_t j = (n * C + ch) * H * W + i;
                    worst_y = fmax(worst_y, fabs(y.data[j] - (x.data[j] - mean) * invstd));
                }
        }
        for (int64_t i = 0; i < x.numel; i++) x.data[i] = x.data[i] * 0.5f + 1.0f;   /* new batch */
    }
    CHECK(worst < 1e-6, "bn running stats: momentum 0.1, unbiased variance, 3 steps",
          "worst rel err %.3g", worst);
    CHECK(worst_y < 1e-5, "bn train output uses the biased batch variance", "worst abs err %.3g",
          worst_y);

    /* eval: y = (x - running_mean)/sqrt(running_var + eps)*gamma + beta, stats untouched */
    rm.data[0] = 0.5f; rm.data[1] = -1.0f; rv.data[0] = 4.0f; rv.data[1] = 0.25f;
    g.data[0] = 2.0f; g.data[1] = -1.0f; b.data[0] = 0.1f; b.data[1] = 0.2f;
    nl_status s = nl_bn_forward(&ctx, &y, &sm, &si, &rm, &rv, &x, &g, &b, 0, 0.1, 1e-5, 0);
    double we = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < H * W; i++) {
                int64_t j = (n * C + ch) * H * W + i;
                double want = (x.data[j] - rm.data[ch]) / sqrt(rv.data[ch] + 1e-5) * g.data[ch] +
                              b.data[ch];
                we = fmax(we, fabs(y.data[j] - want));
            }
    CHECK(s == NL_OK && we < 1e-5 && rm.data[0] == 0.5f && rv.data[1] == 0.25f,
          "bn eval uses running stats and leaves them unchanged", "err %.3g status %d", we, s);
    NlTensor *all[] = {&x, &y, &g, &b, &rm, &rv, &sm, &si};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

static void bn_errors(void) {
    NlTensor x = mk(4, 1, 3, 1, 1), y = mk(4, 1, 3, 1, 1), v3 = mk(1, 3, 0, 0, 0),
             w3 = mk(1, 3, 0, 0, 0), v4 = mk(1, 4, 0, 0, 0), x3 = mk(3, 2, 3, 4, 0);
    NlTensor sm = mk(1, 3, 0, 0, 0), si = mk(1, 3, 0, 0, 0);
    nl_fill(&w3, 1.0f);
    nl_status s = nl_bn_forward(&ctx, &y, &sm, &si, &v3, &w3, &x, &w3, &v3, 1, 0.1, 1e-5, 0);
    CHECK(s == NL_EARG && strstr(ctx.err, "more than one value per channel") &&
              strstr(ctx.err, "(1,3,1,1)"),
          "bn train with N*H*W == 1 is an error naming the input shape", "status %d: %s", s, ctx.err);
    s = nl_bn_forward(&ctx, &y, &sm, &si, &v3, &w3, &x, &w3, &v3, 0, 0.1, 1e-5, 0);
    CHECK(s == NL_OK, "bn eval with N*H*W == 1 is fine", "status %d: %s", s, ctx.err);
    s = nl_bn_forward(&ctx, &y, &sm, &si, &v3, &w3, &x, &v4, &v3, 0, 0.1, 1e-5, 0);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "3 channels") && strstr(ctx.err, "gamma") &&
              strstr(ctx.err, "(4)"),
          "bn channel mismatch names both shapes", "status %d: %s", s, ctx.err);
    s = nl_bn_forward(&ctx, &x3, &sm, &si, &v3, &w3, &x3, &w3, &v3, 1, 0.1, 1e-5, 0);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "(2,3,4)"), "bn rejects 3-D input", "status %d: %s", s,
          ctx.err);
    NlTensor *all[] = {&x, &y, &v3, &w3, &v4, &x3, &sm, &si};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

/* ---- GroupNorm ---- */

typedef struct {
    NlTensor x, gamma, beta, y, sm, si, r;
    int64_t groups;
} GNCase;

static double gn_loss(void *p) {
    GNCase *k = p;
    nl_status s = nl_gn_forward(&ctx, &k->y, &k->sm, &k->si, &k->x, &k->gamma, &k->beta,
                                k->groups, 1e-5, 0);
    return s ? NAN : dot(&k->y, &k->r);
}

static void gn_gradcheck(int64_t N, int64_t C, int64_t H, int64_t W, int64_t G) {
    uint64_t st = nl_rng_seed(SEED, (uint64_t)(N * 10000 + C * 1000 + H * 100 + W * 10 + G));
    GNCase k = {.x = mk(4, N, C, H, W), .gamma = mk(1, C, 0, 0, 0), .beta = mk(1, C, 0, 0, 0),
                .sm = mk(2, N, G, 0, 0), .si = mk(2, N, G, 0, 0), .groups = G};
    k.y = mk_like(&k.x);
    k.r = mk_like(&k.x);
    fill_normal(&k.x, &st, -0.5, 2.0);
    fill_uniform(&k.gamma, &st, 0.5, 1.5);
    fill_normal(&k.beta, &st, 0, 1);
    fill_normal(&k.r, &st, 0, 1);
    NlTensor dx = mk_like(&k.x), dg = mk_like(&k.gamma), db = mk_like(&k.beta);
    char name[128], n2[256];
    snprintf(name, sizeof name, "gn G=%lld (%lld,%lld,%lld,%lld)", (long long)G, (long long)N,
             (long long)C, (long long)H, (long long)W);
    double l0 = gn_loss(&k);
    nl_status s = nl_gn_backward(&ctx, &dx, &dg, &db, &k.r, &k.x, &k.gamma, &k.beta, &k.sm, &k.si, G, 1e-5, 0);
    CHECK(s == NL_OK && isfinite(l0), name, "status %d: %s", s, ctx.err);
    double ex = fd_check(gn_loss, &k, &k.x, &dx);
    double eg = fd_check(gn_loss, &k, &k.gamma, &dg);
    double eb = fd_check(gn_loss, &k, &k.beta, &db);
    snprintf(n2, sizeof n2, "%s: dx, dgamma, dbeta match finite differences", name);
    CHECK(ex < FD_TOL && eg < FD_TOL && eb < FD_TOL, n2,
          "rel err dx %.3g dgamma %.3g dbeta %.3g (seed %llu)", ex, eg, eb, (unsigned long long)SEED);
    printf("#   %s: rel err dx %.2e dgamma %.2e dbeta %.2e\n", name, ex, eg, eb);

    /* With gamma 1, beta 0 every (n, g) group of the output (one contiguous run of M
     * values) has mean 0 and biased variance var/(var+eps) ~ 1. */
    nl_fill(&k.gamma, 1.0f);
    nl_fill(&k.beta, 0.0f);
    gn_loss(&k);
    const int64_t M = C / G * H * W;
    double worst = 0;
    for (int64_t i = 0; i < N * G; i++) {
        const float *q = k.y.data + i * M;
        double sum = 0, sq = 0;
        for (int64_t j = 0; j < M; j++) sum += q[j];
        for (int64_t j = 0; j < M; j++) sq += (q[j] - sum / M) * (q[j] - sum / M);
        worst = fmax(worst, fabs(sum / M));
        if (M > 1) worst = fmax(worst, fabs(sq / M - 1));
    }
    snprintf(n2, sizeof n2, "%s: every group normalized to mean 0, variance 1", name);
    CHECK(worst < 1e-3, n2, "worst deviation %.3g", worst);
    NlTensor *all[] = {&k.x, &k.gamma, &k.beta, &k.y, &k.sm, &k.si, &k.r, &dx, &dg, &db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

static void gn_errors(void) {
    nl_status s = nl_gn_check_groups(&ctx, 4, 6);
    CHECK(s == NL_EARG && strstr(ctx.err, "4 groups do not divide 6 channels"),
          "gn: groups not dividing channels is a clear error", "status %d: %s", s, ctx.err);
    s = nl_gn_check_groups(&ctx, 0, 6);
    CHECK(s == NL_EARG, "gn: zero groups rejected", "status %d: %s", s, ctx.err);
    NlTensor x = mk(4, 2, 6, 3, 3), y = mk(4, 2, 6, 3, 3), g = mk(1, 4, 0, 0, 0),
             sm = mk(2, 2, 3, 0, 0), si = mk(2, 2, 3, 0, 0), sm_bad = mk(2, 2, 2, 0, 0);
    s = nl_gn_forward(&ctx, &y, &sm, &si, &x, &g, NULL, 3, 1e-5, 0);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "(2,6,3,3)") && strstr(ctx.err, "(4)"),
          "gn: gamma/channel mismatch names both shapes", "status %d: %s", s, ctx.err);
    s = nl_gn_forward(&ctx, &y, &sm_bad, &si, &x, NULL, NULL, 3, 1e-5, 0);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "(2,3)") && strstr(ctx.err, "(2,2)"),
          "gn: cache of the wrong shape rejected", "status %d: %s", s, ctx.err);
    s = nl_gn_forward(&ctx, &y, &sm, &si, &x, NULL, NULL, 4, 1e-5, 0);
    CHECK(s == NL_EARG && strstr(ctx.err, "do not divide"), "gn forward checks the group count too",
          "status %d: %s", s, ctx.err);
    NlTensor *all[] = {&x, &y, &g, &sm, &si, &sm_bad};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

/* ---- cross-entropy ---- */

typedef struct { NlTensor z, y; } XCase;

static double xent_loss(void *p) {
    XCase *k = p;
    double l = NAN;
    return nl_xent_forward(&ctx, &l, &k->z, &k->y) ? NAN : l;
}

static void xent_tests(void) {
    uint64_t st = nl_rng_seed(SEED, 99);
    const int64_t N = 5, K = 7;
    XCase k = {mk(2, N, K, 0, 0), mk(1, N, 0, 0, 0)};
    fill_normal(&k.z, &st, 0, 2);
    for (int64_t i = 0; i < N; i++) k.y.data[i] = (float)nl_rng_below(&st, K);
    NlTensor dz = mk_like(&k.z);
    double loss = 0;
    nl_status s = nl_xent_forward(&ctx, &loss, &k.z, &k.y);
    /* direct double reference: -log softmax */
    double want = 0;
    for (int64_t i = 0; i < N; i++) {
        double se = 0;
        for (int64_t j = 0; j < K; j++) se += exp(k.z.data[i * K + j]);
        want += log(se) - k.z.data[i * K + (int64_t)k.y.data[i]];
    }
    want /= N;
    CHECK(s == NL_OK && fabs(loss - want) < 1e-9 * (1 + want), "xent loss = mean -log softmax",
          "got %.9g want %.9g", loss, want);
    s = nl_xent_backward(&ctx, &dz, &k.z, &k.y, 1.0);
    double e = fd_check(xent_loss, &k, &k.z, &dz);
    CHECK(s == NL_OK && e < FD_TOL, "xent gradient matches finite differences", "rel err %.3g", e);
    printf("#   xent (5,7): rel err dlogits %.2e\n", e);
    double rowsum = 0;
    for (int64_t i = 0; i < N; i++) {
        double r = 0;
        for (int64_t j = 0; j < K; j++) r += dz.data[i * K + j];
        rowsum = fmax(rowsum, fabs(r));
    }
    CHECK(rowsum < 1e-7, "xent gradient rows sum to zero", "max |row sum| %.3g", rowsum);

    /* stability: huge logits give exact finite values */
    float zz[6] = {1000.0f, -1000.0f, 0.0f, 88.0f, 89.0f, -3.0f};
    float yy[2] = {1.0f, 0.0f};
    NlTensor z2 = {zz, 2, {2, 3}, 6}, y2 = {yy, 1, {2}, 2}, d2 = mk(2, 2, 3, 0, 0);
    s = nl_xent_forward(&ctx, &loss, &z2, &y2);
    double w2 = (2000.0 + (89.0 + log(1 + exp(-1.0) + exp(-92.0)) - 88.0)) / 2;
    CHECK(s == NL_OK && fabs(loss - w2) < 1e-9 * w2, "xent is stable for logits of +-1000",
          "got %.9g want %.9g", loss, w2);
    s = nl_xent_backward(&ctx, &d2, &z2, &y2, 1.0);
    CHECK(s == NL_OK && nl_all_finite(&d2) && fabsf(d2.data[1] + 0.5f) < 1e-7f &&
              fabsf(d2.data[0] - 0.5f) < 1e-7f,
          "xent gradient is finite and exact for huge logits", "d = %g %g", d2.data[0], d2.data[1]);

    /* accuracy */
    float za[6] = {0.1f, 0.9f, 0.0f, 0.2f, 0.2f, 0.1f};   /* argmax 1; tie -> first, 0 */
    float ya[2] = {1.0f, 1.0f};
    NlTensor z3 = {za, 2, {2, 3}, 6}, y3 = {ya, 1, {2}, 2};
    int64_t correct = -1;
    s = nl_xent_correct(&ctx, &correct, &z3, &y3);
    CHECK(s == NL_OK && correct == 1, "accuracy counts first-argmax hits", "correct %lld",
          (long long)correct);

    /* bad labels */
    k.y.data[3] = (float)K;
    s = nl_xent_forward(&ctx, &loss, &k.z, &k.y);
    CHECK(s == NL_EARG && strstr(ctx.err, "label 7 at row 4") && strstr(ctx.err, "0..6"),
          "xent: out-of-range label is named", "status %d: %s", s, ctx.err);
    k.y.data[3] = -1.0f;
    s = nl_xent_backward(&ctx, &dz, &k.z, &k.y, 1.0);
    CHECK(s == NL_EARG && strstr(ctx.err, "label -1"), "xent: negative label is named",
          "status %d: %s", s, ctx.err);
    k.y.data[3] = 1.5f;
    s = nl_xent_forward(&ctx, &loss, &k.z, &k.y);
    CHECK(s == NL_EARG && strstr(ctx.err, "1.5"), "xent: non-integral label rejected",
          "status %d: %s", s, ctx.err);
    k.y.data[3] = NAN;
    s = nl_xent_forward(&ctx, &loss, &k.z, &k.y);
    CHECK(s == NL_EARG, "xent: NaN label rejected", "status %d: %s", s, ctx.err);
    NlTensor y4 = mk(1, 4, 0, 0, 0);
    s = nl_xent_forward(&ctx, &loss, &k.z, &y4);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "(4)") && strstr(ctx.err, "(5,7)"),
          "xent: wrong label count names both shapes", "status %d: %s", s, ctx.err);
    free(k.z.data); free(k.y.data); free(dz.data); free(d2.data); free(y4.data);
}

int main(void) {
    printf("# seed %llu\n", (unsigned long long)SEED);
    /* BN train: odd spatial sizes, batch 2, batch 1 with H*W > 1, the minimum M = 2 */
    bn_gradcheck(2, 3, 5, 5, 1);
    bn_gradcheck(2, 3, 3, 7, 1);
    bn_gradcheck(1, 3, 3, 5, 1);
    bn_gradcheck(2, 4, 1, 1, 1);
    bn_gradcheck(4, 2, 1, 3, 1);
    /* BN eval: batch 1 (with H*W == 1 too) and 2 */
    bn_gradcheck(2, 3, 5, 5, 0);
    bn_gradcheck(1, 3, 3, 3, 0);
    bn_gradcheck(1, 4, 1, 1, 0);
    bn_stats();
    bn_errors();
    /* GN: groups = channels, groups = 1, in between; odd spatial; batch 1 */
    gn_gradcheck(2, 6, 3, 5, 6);
    gn_gradcheck(2, 6, 3, 5, 1);
    gn_gradcheck(2, 6, 5, 3, 3);
    gn_gradcheck(1, 4, 3, 3, 2);
    gn_gradcheck(3, 4, 1, 1, 2);
    gn_errors();
    xent_tests();
    printf("# largest relative finite-difference error: %.3g\n", worst_fd);
    return check_done();
}
