/* test_normloops.c: the vectorized loops of src/ops/normloops.c against the plain scalar
 * loops they replace (in batchnorm.c, groupnorm.c, optim.c): every per-element result
 * bitwise equal, the sums equal to 1e-12 relative (they are only reassociated), for lengths
 * that leave every remainder, on whatever ISA this CPU selects. Seeded (SEED). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "spatial_util.h"
#include "ops/normloops.h"

#define SEED 20240609u

static int same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * 4) == 0; }

/* The fused ReLU's backward loops recompute the mask from p with the forward's affine map r:
 * they must give bitwise what the unmasked loops give on g masked by the stored rectified
 * output (nl_nl_affine's, y > 0 ? g : 0). Each map is tried on p with values planted where
 * the output is NaN, -0, +0, or positive in double but rounds to float 0 (the recomputed
 * v > 0 alone would be wrong there). */
static void masked_loops(NlTensor *p0, const NlTensor *gy, int64_t n, double is, double k, double mg,
                         double mgx, double ga) {
    const NlNlRelu maps[] = {
        { 0.37, 0.8, -0.2 },    /* a generic map */
        { 0.5, 1e-39, 0.0 },    /* outputs in and below the float denormals: many round to 0 */
        { 0.5, -2.0, -0.0 },    /* p == mean gives -0 */
    };
    char name[160];
    NlTensor p = T1(n + 1), y = T1(n + 1), gm = T1(n + 1), q = T1(n + 1), r = T1(n + 1);
    for (size_t mi = 0; mi < sizeof maps / sizeof maps[0]; mi++) {
        const NlNlRelu *m = &maps[mi];
        memcpy(p.data, p0->data, (size_t)(n + 1) * 4);
        const float planted[] = { NAN, 0.5f, (float)(m->mean - m->b / m->a), 0.62f, 0.5f + 1e-7f, INFINITY, -INFINITY };
        for (int64_t i = 0; i < n && i < 7; i++) p.data[i * 3 % n] = planted[i];
        nl_nl_affine(y.data, p.data, n, m->mean, m->a, m->b, 1);
        for (int64_t i = 0; i < n; i++) gm.data[i] = y.data[i] > 0 ? gy->data[i] : 0.0f;
        double msg, msgx, rsg, rsgx;
        nl_nl_dot_xhat(gy->data, m, p.data, n, m->mean, is, &msg, &msgx);
        nl_nl_dot_xhat(gm.data, NULL, p.data, n, m->mean, is, &rsg, &rsgx);
        snprintf(name, sizeof name, "recomputed mask: sums = sums of the masked gradient, map %zu, n = %lld", mi,
                 (long long)n);
        CHECK(!memcmp(&msg, &rsg, 8) && !memcmp(&msgx, &rsgx, 8), name, "%.17g %.17g vs %.17g %.17g", msg, msgx,
              rsg, rsgx);
        nl_nl_bn_dx(q.data, gy->data, m, p.data, n, m->mean, is, k, mg, mgx);
        nl_nl_bn_dx(r.data, gm.data, NULL, p.data, n, m->mean, is, k, mg, mgx);
        snprintf(name, sizeof name, "recomputed mask: bn dx bitwise, map %zu, n = %lld", mi, (long long)n);
        CHECK(same_bits(q.data, r.data, n), name, "differs");
        nl_nl_gn_dx(q.data, gy->data, m, p.data, n, m->mean, is, ga, mg, mgx);
        nl_nl_gn_dx(r.data, gm.data, NULL, p.data, n, m->mean, is, ga, mg, mgx);
        snprintf(name, sizeof name, "recomputed mask: gn dx bitwise, map %zu, n = %lld", mi, (long long)n);
        CHECK(same_bits(q.data, r.data, n), name, "differs");
    }
}

int main(void) {
    uint64_t g = nl_rng_seed(SEED, 0);
    const int64_t lens[] = { 0, 1, 7, 8, 9, 15, 16, 17, 64, 1000, 4099 };
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t n = lens[li];
        NlTensor p = T1(n + 1), q = T1(n + 1), r = T1(n + 1), gy = T1(n + 1), w = T1(n + 1), v = T1(n + 1);
        tuniform(&p, &g, -3, 3), tuniform(&gy, &g, -1, 1);
        const double mean = 0.37, is = 1.9, a = 0.8, b = -0.2, k = 1.3, mg = 0.01, mgx = -0.02, ga = 0.7;
        char name[128];
        /* sums */
        double s = 0, sq = 0, sg = 0, sgx = 0;
        for (int64_t i = 0; i < n; i++) {
            s += p.data[i];
            double d = p.data[i] - mean;
            sq += d * d;
            sg += gy.data[i];
            sgx += gy.data[i] * ((p.data[i] - mean) * is);
        }
        double vs = nl_nl_sum(p.data, n), vsq = nl_nl_sumsq_dev(p.data, n, mean), vsg, vsgx;
        nl_nl_dot_xhat(gy.data, NULL, p.data, n, mean, is, &vsg, &vsgx);
        double e = fabs(vs - s) + fabs(vsq - sq) + fabs(vsg - sg) + fabs(vsgx - sgx);
        snprintf(name, sizeof name, "sums, n = %lld (seed %u)", (long long)n, SEED);
        CHECK(e <= 1e-12 * (1 + fabs(s) + sq + fabs(sg) + fabs(sgx)), name, "diff %.3g", e);
        /* per element */
        for (int64_t i = 0; i < n; i++) r.data[i] = (float)((p.data[i] - mean) * a + b);
        nl_nl_affine(q.data, p.data, n, mean, a, b, 0);
        snprintf(name, sizeof name, "affine bitwise, n = %lld", (long long)n);
        CHECK(same_bits(q.data, r.data, n), name, "differs");
        for (int64_t i = 0; i < n; i++) {
            const double xhat = (p.data[i] - mean) * is;
            r.data[i] = (float)(k * (gy.data[i] - mg - xhat * mgx));
        }
        nl_nl_bn_dx(q.data, gy.data, NULL, p.data, n, mean, is, k, mg, mgx);
        snprintf(name, sizeof name, "bn dx bitwise, n = %lld", (long long)n);
        CHECK(same_bits(q.data, r.data, n), name, "differs");
        for (int64_t i = 0; i < n; i++) {
            const double xhat = (p.data[i] - mean) * is;
            r.data[i] = (float)(is * (ga * gy.data[i] - mg - xhat * mgx));
        }
        nl_nl_gn_dx(q.data, gy.data, NULL, p.data, n, mean, is, ga, mg, mgx);
        snprintf(name, sizeof name, "gn dx bitwise, n = %lld", (long long)n);
        CHECK(same_bits(q.data, r.data, n), name, "differs");
        /* fused ReLU: the same as the affine pass followed by act.c's relu (v < 0 ? 0 : v), and
         * the backward loops on g masked by [y > 0], y the rectified output (here the affine
         * output of p with some zeros, NaN and -0 planted, which a mask must treat as not > 0) */
        for (int64_t i = 0; i < n; i++) {
            const float v = (float)((p.data[i] - mean) * a + b);
            r.data[i] = v < 0 ? 0.0f : v;
        }
        nl_nl_affine(q.data, p.data, n, mean, a, b, 1);
        snprintf(name, sizeof name, "affine + relu bitwise, n = %lld", (long long)n);
        CHECK(same_bits(q.data, r.data, n), name, "differs");
        masked_loops(&p, &gy, n, is, k, mg, mgx, ga);
        /* SGD: first step, later step, no momentum */
        for (int mode = 0; mode < 3; mode++) {
            const double lr = 0.05, mu = mode == 2 ? 0 : 0.9, wd = 5e-4;
            const int first = mode == 0;
            tuniform(&w, &g, -1, 1), tuniform(&v, &g, -1, 1);
            NlTensor w2 = T1(n + 1), v2 = T1(n + 1);
            memcpy(w2.data, w.data, (size_t)(n + 1) * 4), memcpy(v2.data, v.data, (size_t)(n + 1) * 4);
            for (int64_t i = 0; i < n; i++) {   /* optim.c's loop before vectorization */
                double d = (double)gy.data[i] + wd * w2.data[i];
                if (mu != 0) {
                    d = first ? d : mu * v2.data[i] + d;
                    v2.data[i] = (float)d;
                    d = v2.data[i];
                }
                w2.data[i] = (float)(w2.data[i] - lr * d);
            }
            nl_nl_sgd(w.data, mu != 0 ? v.data : NULL, gy.data, n, lr, mu, wd, first);
            snprintf(name, sizeof name, "sgd bitwise (%s), n = %lld",
                     mode == 0 ? "first step" : mode == 1 ? "momentum" : "no momentum", (long long)n);
            CHECK(same_bits(w.data, w2.data, n + 1) && same_bits(v.data, v2.data, n + 1), name, "differs");
        }
    }
    tfree_all();
    return check_done();
}
