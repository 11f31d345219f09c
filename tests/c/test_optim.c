/* test_optim.c: SGD-with-momentum and Adam steps against values worked out by hand
 * and against a plain double-precision transcription of torch.optim's update rules
 * (the comparison with PyTorch itself is tests/lua/test_norm_torch.lua). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "core/nl.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "ops/optim.h"

#define SEED 4242ULL

static NlCtx ctx;

static NlTensor vec(int64_t n) {
    NlTensor t = {0};
    nl_tensor_set_shape(&ctx, &t, 1, &n);
    t.data = calloc((size_t)n, sizeof(float));
    return t;
}

/* One scalar parameter, constant gradient: the sequences are short enough to do by hand. */
static void sgd_by_hand(void) {
    NlTensor w = vec(1), v = vec(1), g = vec(1);
    w.data[0] = 1.0f; g.data[0] = 0.5f;
    /* lr 0.1, mu 0.9: v = .5, .95, 1.355; w = .95, .855, .7195 */
    const double want[3] = {0.95, 0.855, 0.7195};
    double err = 0;
    nl_status s = NL_OK;
    for (int t = 0; t < 3; t++) {
        s |= nl_sgd_step(&ctx, &w, &v, &g, 0.1, 0.9, 0.0, t == 0);
        err = fmax(err, fabs(w.data[0] - want[t]));
    }
    CHECK(s == NL_OK && err < 1e-6, "sgd momentum: v = g on the first step, then mu*v + g",
          "err %.3g status %d", err, s);
    /* weight decay 0.1 joins the gradient: d = .6, v = .6, w = .94; d = .594, v = 1.134,
     * w = .8266 */
    w.data[0] = 1.0f; v.data[0] = 0;
    nl_sgd_step(&ctx, &w, &v, &g, 0.1, 0.9, 0.1, 1);
    double e1 = fabs(w.data[0] - 0.94);
    nl_sgd_step(&ctx, &w, &v, &g, 0.1, 0.9, 0.1, 0);
    double e2 = fabs(w.data[0] - 0.8266) + fabs(v.data[0] - 1.134);
    CHECK(e1 < 1e-6 && e2 < 1e-6, "sgd weight decay is added to the gradient", "err %.3g %.3g", e1, e2);
    /* plain SGD: no buffer needed */
    w.data[0] = 1.0f;
    s = nl_sgd_step(&ctx, &w, NULL, &g, 0.1, 0.0, 0.0, 1);
    CHECK(s == NL_OK && fabs(w.data[0] - 0.95) < 1e-7, "sgd without momentum needs no buffer",
          "w %g status %d: %s", w.data[0], s, ctx.err);
    free(w.data); free(v.data); free(g.data);
}

static void adam_by_hand(void) {
    /* Constant gradient: bias correction makes mhat = g and vhat = g^2 exactly, so every
     * step moves w by lr * g/(|g| + eps) -> 1 - 0.1 t. */
    NlTensor w = vec(2), m = vec(2), v = vec(2), g = vec(2);
    w.data[0] = 1.0f; w.data[1] = -2.0f; g.data[0] = 0.5f; g.data[1] = -3.0f;
    double err = 0;
    nl_status s = NL_OK;
    for (int t = 1; t <= 5; t++) {
        s |= nl_adam_step(&ctx, &w, &m, &v, &g, 0.1, 0.9, 0.999, 1e-8, 0.0, t);
        err = fmax(err, fabs(w.data[0] - (1.0 - 0.1 * t)));
        err = fmax(err, fabs(w.data[1] - (-2.0 + 0.1 * t)));
    }
    CHECK(s == NL_OK && err < 2e-6, "adam bias correction: constant gradient moves w by lr",
          "err %.3g status %d", err, s);
    free(w.data); free(m.data); free(v.data); free(g.data);
}

/* Several steps with fresh random gradients, against a double transcription of the rules. */
static void against_reference(void) {
    const int64_t n = 257;
    uint64_t st = nl_rng_seed(SEED, 1);
    NlTensor w = vec(n), v = vec(n), g = vec(n), w2 = vec(n), m2 = vec(n), v2 = vec(n);
    double *rw = malloc(n * sizeof(double)), *rv = calloc(n, sizeof(double));
    double *aw = malloc(n * sizeof(double)), *am = calloc(n, sizeof(double)),
           *av = calloc(n, sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        w.data[i] = w2.data[i] = (float)nl_rng_normal(&st);
        rw[i] = aw[i] = w.data[i];
    }
    double esgd = 0, eadam = 0;
    const double lr = 0.05, mu = 0.9, wd = 5e-4, b1 = 0.8, b2 = 0.99, eps = 1e-6, awd = 1e-2;
    for (int t = 1; t <= 6; t++) {
        for (int64_t i = 0; i < n; i++) g.data[i] = (float)nl_rng_normal(&st);
        nl_sgd_step(&ctx, &w, &v, &g, lr, mu, wd, t == 1);
        nl_adam_step(&ctx, &w2, &m2, &v2, &g, lr, b1, b2, eps, awd, t);
        for (int64_t i = 0; i < n; i++) {
            double d = g.data[i] + wd * rw[i];
            rv[i] = t == 1 ? d : mu * rv[i] + d;
            rw[i] -= lr * rv[i];
            esgd = fmax(esgd, fabs(w.data[i] - rw[i]) / (1 + fabs(rw[i])));
            double da = g.data[i] + awd * aw[i];
            am[i] = b1 * am[i] + (1 - b1) * da;
            av[i] = b2 * av[i] + (1 - b2) * da * da;
            aw[i] -= lr / (1 - pow(b1, t)) * am[i] / (sqrt(av[i]) / sqrt(1 - pow(b2, t)) + eps);
            eadam = fmax(eadam, fabs(w2.data[i] - aw[i]) / (1 + fabs(aw[i])));
        }
    }
    CHECK(esgd < 1e-6, "sgd: 6 random steps match the reference rule", "worst rel err %.3g", esgd);
    CHECK(eadam < 1e-6, "adam: 6 random steps match the reference rule", "worst rel err %.3g", eadam);
    printf("#   sgd worst rel err %.2e, adam worst rel err %.2e\n", esgd, eadam);
    free(w.data); free(v.data); free(g.data); free(w2.data); free(m2.data); free(v2.data);
    free(rw); free(rv); free(aw); free(am); free(av);
}

static void errors(void) {
    NlTensor w = vec(3), g = vec(4), v = vec(3), m = vec(3);
    nl_status s = nl_sgd_step(&ctx, &w, &v, &g, 0.1, 0.9, 0, 1);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "(3)") && strstr(ctx.err, "(4)"),
          "sgd: gradient size mismatch names both shapes", "status %d: %s", s, ctx.err);
    s = nl_sgd_step(&ctx, &w, NULL, &v, 0.1, 0.9, 0, 1);
    CHECK(s == NL_EARG, "sgd: momentum without a buffer is an error", "status %d: %s", s, ctx.err);
    s = nl_sgd_step(&ctx, &w, &v, &v, -1.0, 0.9, 0, 1);
    CHECK(s == NL_EARG && strstr(ctx.err, "learning rate"), "sgd: negative lr rejected",
          "status %d: %s", s, ctx.err);
    s = nl_adam_step(&ctx, &w, &m, &v, &v, 0.1, 0.9, 0.999, 1e-8, 0, 0);
    CHECK(s == NL_EARG && strstr(ctx.err, "step"), "adam: step 0 rejected", "status %d: %s", s,
          ctx.err);
    s = nl_adam_step(&ctx, &w, &m, &g, &v, 0.1, 0.9, 0.999, 1e-8, 0, 1);
    CHECK(s == NL_ESHAPE && strstr(ctx.err, "exp_avg_sq"), "adam: state size mismatch named",
          "status %d: %s", s, ctx.err);
    s = nl_adam_step(&ctx, &w, &m, &v, &v, 0.1, 1.0, 0.999, 1e-8, 0, 1);
    CHECK(s == NL_EARG && strstr(ctx.err, "betas"), "adam: beta1 = 1 rejected", "status %d: %s", s,
          ctx.err);
    free(w.data); free(g.data); free(v.data); free(m.data);
}

/* SGD splits large tensors between threads; the elements are independent, so the result
 * must be bitwise the one-thread result (n not a multiple of 16: a partial last block). */
static void sgd_threads_bitwise(void) {
    const int64_t n = 100003;
    NlTensor w1 = vec(n), v1 = vec(n), g = vec(n), w2 = vec(n), v2 = vec(n);
    uint64_t r = nl_rng_seed(SEED, 7);
    for (int64_t i = 0; i < n; i++) {
        w1.data[i] = w2.data[i] = (float)(nl_rng_uniform(&r) - 0.5);
        g.data[i] = (float)(nl_rng_uniform(&r) - 0.5);
    }
    NlCtx one = { .threads = 1 }, two = { .threads = 2 };
    for (int step = 0; step < 3; step++) {
        nl_status s1 = nl_sgd_step(&one, &w1, &v1, &g, 0.05, 0.9, 5e-4, step == 0);
        nl_status s2 = nl_sgd_step(&two, &w2, &v2, &g, 0.05, 0.9, 5e-4, step == 0);
        CHECK(s1 == NL_OK && s2 == NL_OK, "sgd: one and two threads run", "status %d/%d", s1, s2);
    }
    CHECK(!memcmp(w1.data, w2.data, (size_t)n * 4) && !memcmp(v1.data, v2.data, (size_t)n * 4),
          "sgd: two threads give bitwise the one-thread weights and velocity (n = 100003, 3 steps)", "%s", "");
    free(w1.data); free(v1.data); free(g.data); free(w2.data); free(v2.data);
}

int main(void) {
    printf("# seed %llu\n", (unsigned long long)SEED);
    sgd_threads_bitwise();
    sgd_by_hand();
    adam_by_hand();
    against_reference();
    errors();
    return check_done();
}
