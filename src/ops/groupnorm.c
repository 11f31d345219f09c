/* groupnorm.c: GroupNorm forward and backward over NCHW float32 tensors.
 *
 * Layout: x (N,C,H,W) contiguous and the groups are consecutive channels, so the
 * (n, g) group is ONE contiguous run of M = (C/G)*H*W floats starting at
 * x + (n*C + g*(C/G))*H*W; channel ch = g*(C/G) + j occupies the j-th HW block of it.
 *
 * Reference (PyTorch torch.nn.GroupNorm, Wu & He 2018), per group, M values:
 *   mean = sum(x)/M   var = sum((x-mean)^2)/M   invstd = 1/sqrt(var+eps)
 *   xhat = (x-mean)*invstd                   y = gamma[ch]*xhat + beta[ch]
 * Backward (the layer-norm formula applied to each group, dxhat = gamma[ch]*dy):
 *   dx = invstd * (dxhat - sum(dxhat)/M - xhat*sum(dxhat*xhat)/M)
 *   dgamma[ch] += sum(dy*xhat), dbeta[ch] += sum(dy) over n and the HW block. */
#include <stdatomic.h>
#include <math.h>
#include "groupnorm.h"
#include "normloops.h"
#include "parallel.h"

/* Groups are independent: both passes split them between c->threads threads (nl_parallel;
 * every thread walks the images of its groups in order) once a tensor is large enough
 * (NL_PAR_MIN_NUMEL_WARM); the inner loops are normloops.h's (per-element results bitwise
 * those of the plain loops). */

typedef struct {
    NlTensor *y, *save_mean, *save_invstd, *dx, *dgamma, *dbeta;
    const NlTensor *x, *dy, *gamma, *beta, *cmean, *cinvstd;
    int relu;              /* a fused ReLU: the forward rectifies, the backward masks dy */
    int64_t N, C, HW, CG, M, groups;
    double eps;
    volatile sig_atomic_t *interrupted;
    atomic_int stopped;     /* any thread may set it */
} GnJob;

static int gn_threads(const NlCtx *c, int64_t numel, int64_t groups) {
    int t = nl_par_threads_from(c, numel, NL_PAR_MIN_NUMEL_WARM);
    return t > groups ? (int)groups : t;
}

/* The (n, g) group's statistics, in double: the forward normalizes with these, and a fused
 * ReLU's backward recomputes them (the cache holds them rounded to float) for its mask. */
static void group_stats(const GnJob *j, const float *p, double *mean, double *invstd) {
    const int64_t M = j->M;
    *mean = nl_nl_sum(p, M) / (double)M;
    *invstd = 1.0 / sqrt(nl_nl_sumsq_dev(p, M, *mean) / (double)M + j->eps);
}

/* The affine map of channel ch in a group with these statistics (the forward's doubles). */
static NlNlRelu channel_affine(const GnJob *j, int64_t ch, double mean, double invstd) {
    return (NlNlRelu){ mean, (j->gamma ? j->gamma->data[ch] : 1.0) * invstd, j->beta ? j->beta->data[ch] : 0.0 };
}

static void gn_fwd_worker(void *arg, int tid, int nth) {
    GnJob *j = arg;
    long long g0, g1;
    nl_par_range(j->groups, tid, nth, &g0, &g1);
    const int64_t C = j->C, HW = j->HW, CG = j->CG, G = j->groups;
    for (int64_t n = 0; n < j->N; n++) {
        if (*j->interrupted) { j->stopped = 1; return; }
        for (int64_t g = g0; g < g1; g++) {
            const float *p = j->x->data + (n * C + g * CG) * HW;   /* the group's M values */
            float *q = j->y->data + (n * C + g * CG) * HW;
            double mean, invstd;
            group_stats(j, p, &mean, &invstd);
            j->save_mean->data[n * G + g] = (float)mean;
            j->save_invstd->data[n * G + g] = (float)invstd;
            for (int64_t k = 0; k < CG; k++) {   /* per channel: gamma/beta of ch = g*CG + k */
                const NlNlRelu a = channel_affine(j, g * CG + k, mean, invstd);
                nl_nl_affine(q + k * HW, p + k * HW, HW, a.mean, a.a, a.b, j->relu);
            }
        }
    }
}

static void gn_bwd_worker(void *arg, int tid, int nth) {
    GnJob *j = arg;
    long long g0, g1;
    nl_par_range(j->groups, tid, nth, &g0, &g1);
    const int64_t C = j->C, HW = j->HW, CG = j->CG, M = j->M, G = j->groups;
    for (int64_t n = 0; n < j->N; n++) {
        if (*j->interrupted) { j->stopped = 1; return; }
        for (int64_t g = g0; g < g1; g++) {
            const int64_t off = (n * C + g * CG) * HW;
            const float *p = j->x->data + off, *gy = j->dy->data + off;
            const double mean = j->cmean->data[n * G + g];
            const double invstd = j->cinvstd->data[n * G + g];
            /* a fused ReLU's mask needs the forward's exact statistics, not the cached floats:
             * recomputed (the group is one short run of x, read here anyway) */
            double fmean = 0, finvstd = 0;
            if (j->relu) group_stats(j, p, &fmean, &finvstd);
            NlNlRelu r;
            /* Per channel of the group: sum(dy), sum(dy*xhat) give dbeta/dgamma; their
             * gamma-weighted totals give sum(dxhat) and sum(dxhat*xhat) for dx. */
            double sdxh = 0, sdxhx = 0;
            for (int64_t k = 0; k < CG; k++) {
                const int64_t ch = g * CG + k;
                double sdy, sdyx;
                if (j->relu) r = channel_affine(j, ch, fmean, finvstd);
                nl_nl_dot_xhat(gy + k * HW, j->relu ? &r : NULL, p + k * HW, HW, mean, invstd, &sdy, &sdyx);
                if (j->dbeta) j->dbeta->data[ch] += (float)sdy;
                if (j->dgamma) j->dgamma->data[ch] += (float)sdyx;
                const double ga = j->gamma ? j->gamma->data[ch] : 1.0;
                sdxh += ga * sdy;
                sdxhx += ga * sdyx;
            }
            if (!j->dx) continue;
            const double mdxh = sdxh / (double)M, mdxhx = sdxhx / (double)M;
            float *q = j->dx->data + off;
            for (int64_t k = 0; k < CG; k++) {
                const int64_t ch = g * CG + k;
                const double ga = j->gamma ? j->gamma->data[ch] : 1.0;
                if (j->relu) r = channel_affine(j, ch, fmean, finvstd);
                nl_nl_gn_dx(q + k * HW, gy + k * HW, j->relu ? &r : NULL, p + k * HW, HW, mean, invstd, ga, mdxh,
                            mdxhx);
            }
        }
    }
}

nl_status nl_gn_check_groups(NlCtx *c, int64_t groups, int64_t channels) {
    if (groups < 1)
        return nl_fail(c, NL_EARG, "groupnorm: the group count must be positive, got %lld",
                       (long long)groups);
    if (channels % groups != 0)
        return nl_fail(c, NL_EARG, "groupnorm: %lld groups do not divide %lld channels",
                       (long long)groups, (long long)channels);
    return NL_OK;
}

/* x must be (N,C,H,W) with G | C; the optional per-channel vector v must be (C) and the
 * optional per-group cache t must be (N,G). */
static nl_status check_args(NlCtx *c, const NlTensor *x, int64_t groups, const char *names[],
                            const NlTensor *vecs[], int nvec, const NlTensor *save_mean,
                            const NlTensor *save_invstd) {
    char sx[96], sv[96];
    if (x->ndim != 4)
        return nl_fail(c, NL_ESHAPE, "groupnorm: expected a 4-D (N,C,H,W) input, got %s",
                       nl_shape_str(x, sx, sizeof sx));
    nl_status s = nl_gn_check_groups(c, groups, x->shape[1]);
    if (s) return s;
    for (int i = 0; i < nvec; i++) {
        const NlTensor *v = vecs[i];
        if (v && !(v->ndim == 1 && v->shape[0] == x->shape[1]))
            return nl_fail(c, NL_ESHAPE, "groupnorm: input %s has %lld channels, but %s has shape %s",
                           nl_shape_str(x, sx, sizeof sx), (long long)x->shape[1], names[i],
                           nl_shape_str(v, sv, sizeof sv));
    }
    if (!save_mean || !save_invstd)
        return nl_fail(c, NL_EARG, "groupnorm: save_mean and save_invstd are required");
    const int64_t ng[2] = {x->shape[0], groups};
    if ((s = nl_check_shape(c, "groupnorm: save_mean", save_mean, 2, ng))) return s;
    return nl_check_shape(c, "groupnorm: save_invstd", save_invstd, 2, ng);
}

nl_status nl_gn_forward(NlCtx *c, NlTensor *y, NlTensor *save_mean, NlTensor *save_invstd,
                        const NlTensor *x, const NlTensor *gamma, const NlTensor *beta,
                        int64_t groups, double eps, int relu) {
    const char *names[] = {"gamma", "beta"};
    const NlTensor *vecs[] = {gamma, beta};
    nl_status s = check_args(c, x, groups, names, vecs, 2, save_mean, save_invstd);
    if (s) return s;
    if ((s = nl_check_same(c, "groupnorm: output", y, x))) return s;
    if (!(eps > 0)) return nl_fail(c, NL_EARG, "groupnorm: eps must be positive, got %g", eps);

    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const int64_t CG = C / groups;   /* channels per group */
    GnJob j = { .y = y, .save_mean = save_mean, .save_invstd = save_invstd, .x = x, .gamma = gamma,
                .beta = beta, .N = N, .C = C, .HW = HW, .CG = CG, .M = CG * HW, .groups = groups,
                .eps = eps, .relu = relu, .interrupted = &c->interrupted };
    nl_parallel(gn_threads(c, x->numel, groups), gn_fwd_worker, &j);
    if (j.stopped) return nl_fail(c, NL_EINTR, "groupnorm: interrupted");
    return NL_OK;
}

nl_status nl_gn_backward(NlCtx *c, NlTensor *dx, NlTensor *dgamma, NlTensor *dbeta,
                         const NlTensor *dy, const NlTensor *x, const NlTensor *gamma,
                         const NlTensor *beta, const NlTensor *save_mean, const NlTensor *save_invstd,
                         int64_t groups, double eps, int relu) {
    const char *names[] = {"gamma", "beta", "dgamma", "dbeta"};
    const NlTensor *vecs[] = {gamma, beta, dgamma, dbeta};
    nl_status s = check_args(c, x, groups, names, vecs, 4, save_mean, save_invstd);
    if (s) return s;
    if ((s = nl_check_same(c, "groupnorm: grad_output", dy, x))) return s;
    if (dx && (s = nl_check_same(c, "groupnorm: grad_input", dx, x))) return s;
    if (relu && !(eps > 0)) return nl_fail(c, NL_EARG, "groupnorm: eps must be positive, got %g", eps);

    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const int64_t CG = C / groups;
    GnJob j = { .dx = dx, .dgamma = dgamma, .dbeta = dbeta, .x = x, .dy = dy, .gamma = gamma, .beta = beta,
                .cmean = save_mean, .cinvstd = save_invstd, .N = N, .C = C, .HW = HW, .CG = CG,
                .M = CG * HW, .groups = groups, .eps = eps, .relu = relu, .interrupted = &c->interrupted };
    nl_parallel(gn_threads(c, x->numel, groups), gn_bwd_worker, &j);
    if (j.stopped) return nl_fail(c, NL_EINTR, "groupnorm: interrupted");
    return NL_OK;
}
