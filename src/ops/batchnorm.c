/* batchnorm.c: BatchNorm2d forward and backward over NCHW float32 tensors.
 *
 * Layout: x (N,C,H,W) contiguous, so channel ch of image n is the run
 * x[(n*C + ch)*HW .. +HW). Every per-channel statistic is a loop over n and
 * then over that run; sums are accumulated in double.
 *
 * Reference (PyTorch torch.nn.BatchNorm2d, Ioffe & Szegedy 2015), per channel,
 * M = N*H*W values:
 *   mean = sum(x)/M            var = sum((x-mean)^2)/M        invstd = 1/sqrt(var+eps)
 *   xhat = (x-mean)*invstd     y = gamma*xhat + beta
 * Backward through the batch statistics (train mode):
 *   dxhat = gamma*dy
 *   dx    = invstd * (dxhat - mean(dxhat) - xhat*mean(dxhat*xhat))
 *         = gamma*invstd * (dy - sum(dy)/M - xhat*sum(dy*xhat)/M)
 * In eval mode mean/invstd are constants, so dx = gamma*invstd*dy. */
#include <stdatomic.h>
#include <math.h>
#include "batchnorm.h"
#include "normloops.h"
#include "parallel.h"

/* Channels are independent: forward and backward split them between c->threads threads
 * (nl_parallel) once a tensor is large enough (NL_PAR_MIN_NUMEL_WARM); the inner loops are
 * normloops.h's (vectorized, per-element results bitwise those of the plain double-precision
 * loops). */

/* Checks that x is (N,C,H,W) and that the optional per-channel vector v is (C). */
static nl_status check_vec(NlCtx *c, const char *what, const NlTensor *v, const NlTensor *x) {
    if (!v) return NL_OK;
    if (v->ndim == 1 && v->shape[0] == x->shape[1]) return NL_OK;
    char sv[96], sx[96];
    return nl_fail(c, NL_ESHAPE, "batchnorm: input %s has %lld channels, but %s has shape %s",
                   nl_shape_str(x, sx, sizeof sx), (long long)x->shape[1], what,
                   nl_shape_str(v, sv, sizeof sv));
}

static nl_status check_input(NlCtx *c, const char *what, const NlTensor *x) {
    if (x->ndim == 4) return NL_OK;
    char s[96];
    return nl_fail(c, NL_ESHAPE, "batchnorm: expected a 4-D (N,C,H,W) %s, got %s", what,
                   nl_shape_str(x, s, sizeof s));
}

typedef struct {
    NlTensor *y, *save_mean, *save_invstd;
    const NlTensor *x, *gamma, *beta, *running_mean, *running_var;
    int train, relu;
    double eps;
    int64_t N, C, HW, M;
    volatile sig_atomic_t *interrupted;
    atomic_int stopped;     /* any thread may set it */
} BnFwd;

/* Channel ch's statistics into the cache: train mode leaves the BIASED variance in
 * save_invstd (the running-stat update needs it, after every channel is done) and returns
 * the invstd the output uses; eval mode stores and returns the running statistics'. */
static float bn_stats(BnFwd *j, int64_t ch) {
    const int64_t N = j->N, C = j->C, HW = j->HW;
    if (!j->train) {
        j->save_mean->data[ch] = j->running_mean->data[ch];
        return j->save_invstd->data[ch] = (float)(1.0 / sqrt((double)j->running_var->data[ch] + j->eps));
    }
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < N; n++) sum += nl_nl_sum(j->x->data + (n * C + ch) * HW, HW);
    const double mean = sum / (double)j->M;
    /* two passes: no cancellation as in E[x^2]-E[x]^2 */
    for (int64_t n = 0; n < N; n++) sq += nl_nl_sumsq_dev(j->x->data + (n * C + ch) * HW, HW, mean);
    j->save_mean->data[ch] = (float)mean;
    const float var = j->save_invstd->data[ch] = (float)(sq / (double)j->M);   /* biased */
    return (float)(1.0 / sqrt((double)var + j->eps));
}

/* One thread's channels: statistics, then y = (x - mean) * (gamma*invstd) + beta while the
 * channel is still in cache (one pass over x fewer than statistics for all channels first). */
static void bn_fwd_worker(void *arg, int tid, int nth) {
    BnFwd *j = arg;
    long long c0, c1;
    nl_par_range(j->C, tid, nth, &c0, &c1);
    const int64_t N = j->N, C = j->C, HW = j->HW;
    for (int64_t ch = c0; ch < c1; ch++) {
        if (*j->interrupted) { j->stopped = 1; return; }
        const double invstd = bn_stats(j, ch);
        const double mean = j->save_mean->data[ch];   /* the float the backward reads back */
        const double scale = (j->gamma ? j->gamma->data[ch] : 1.0) * invstd;
        const double shift = j->beta ? j->beta->data[ch] : 0.0;
        for (int64_t n = 0; n < N; n++)
            nl_nl_affine(j->y->data + (n * C + ch) * HW, j->x->data + (n * C + ch) * HW, HW, mean, scale, shift,
                         j->relu);
    }
}

/* Train mode, after every channel: the running statistics (PyTorch's update, unbiased
 * variance) and save_invstd from the biased variance parked there. */
static void bn_finish(BnFwd *j, NlTensor *running_mean, NlTensor *running_var, double momentum) {
    const double M = (double)j->M;
    for (int64_t ch = 0; ch < j->C; ch++) {
        const double mean = j->save_mean->data[ch], var = j->save_invstd->data[ch];
        if (running_mean && running_var) {
            running_mean->data[ch] = (float)((1.0 - momentum) * running_mean->data[ch] + momentum * mean);
            running_var->data[ch] = (float)((1.0 - momentum) * running_var->data[ch] + momentum * var * M / (M - 1));
        }
        j->save_invstd->data[ch] = (float)(1.0 / sqrt(var + j->eps));
    }
}

nl_status nl_bn_forward(NlCtx *c, NlTensor *y, NlTensor *save_mean, NlTensor *save_invstd,
                        NlTensor *running_mean, NlTensor *running_var,
                        const NlTensor *x, const NlTensor *gamma, const NlTensor *beta,
                        int train, double momentum, double eps, int relu) {
    nl_status s;
    if ((s = check_input(c, "input", x))) return s;
    if ((s = nl_check_same(c, "batchnorm: output", y, x))) return s;
    if (!save_mean || !save_invstd)
        return nl_fail(c, NL_EARG, "batchnorm: save_mean and save_invstd are required");
    if (!train && (!running_mean || !running_var))
        return nl_fail(c, NL_EARG, "batchnorm: eval mode needs running_mean and running_var");
    if ((s = check_vec(c, "gamma", gamma, x)) || (s = check_vec(c, "beta", beta, x)) ||
        (s = check_vec(c, "running_mean", running_mean, x)) ||
        (s = check_vec(c, "running_var", running_var, x)) ||
        (s = check_vec(c, "save_mean", save_mean, x)) ||
        (s = check_vec(c, "save_invstd", save_invstd, x)))
        return s;
    if (!(eps > 0)) return nl_fail(c, NL_EARG, "batchnorm: eps must be positive, got %g", eps);

    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const int64_t M = N * HW;   /* values per channel */
    if (train && M <= 1) {
        char sx[96];
        return nl_fail(c, NL_EARG, "batchnorm: training needs more than one value per channel, got input %s",
                       nl_shape_str(x, sx, sizeof sx));
    }

    BnFwd j = { .y = y, .save_mean = save_mean, .save_invstd = save_invstd, .running_mean = running_mean,
                .running_var = running_var, .x = x, .gamma = gamma, .beta = beta, .train = train, .eps = eps,
                .N = N, .C = C, .HW = HW, .M = M, .relu = relu, .interrupted = &c->interrupted };
    nl_parallel(nl_par_threads_from(c, x->numel, NL_PAR_MIN_NUMEL_WARM), bn_fwd_worker, &j);
    /* The running statistics change only once every channel is done, so an interrupt
     * leaves the layer as it was (the cache and y are scratch). */
    if (j.stopped) return nl_fail(c, NL_EINTR, "batchnorm: interrupted");
    if (train) bn_finish(&j, running_mean, running_var, momentum);
    return NL_OK;
}

typedef struct {
    NlTensor *dx, *dgamma, *dbeta;
    const NlTensor *dy, *x, *gamma, *beta, *save_mean, *save_invstd;
    int train, relu;
    int64_t N, C, HW, M;
    volatile sig_atomic_t *interrupted;
    atomic_int stopped;     /* any thread may set it */
} BnBwd;

static void bn_bwd_worker(void *arg, int tid, int nth) {
    BnBwd *j = arg;
    long long c0, c1;
    nl_par_range(j->C, tid, nth, &c0, &c1);
    const int64_t N = j->N, C = j->C, HW = j->HW, M = j->M;
    for (int64_t ch = c0; ch < c1; ch++) {
        if (*j->interrupted) { j->stopped = 1; return; }
        const double mean = j->save_mean->data[ch], invstd = j->save_invstd->data[ch];
        const double ga = j->gamma ? j->gamma->data[ch] : 1.0;
        /* a fused ReLU's mask, recomputed from x with the forward's own doubles */
        const NlNlRelu r = { mean, ga * invstd, j->beta ? j->beta->data[ch] : 0.0 };
        const NlNlRelu *rp = j->relu ? &r : NULL;
        /* sum(dy) and sum(dy*xhat) over the channel: the gamma/beta gradients and the
         * two projections removed from dx in train mode. */
        double sdy = 0, sdyx = 0;
        for (int64_t n = 0; n < N; n++) {
            double a, b;
            const int64_t off = (n * C + ch) * HW;
            nl_nl_dot_xhat(j->dy->data + off, rp, j->x->data + off, HW, mean, invstd, &a, &b);
            sdy += a, sdyx += b;
        }
        if (j->dbeta) j->dbeta->data[ch] += (float)sdy;
        if (j->dgamma) j->dgamma->data[ch] += (float)sdyx;
        if (!j->dx) continue;
        const double k = ga * invstd;                                       /* gamma*invstd */
        const double mdy = j->train ? sdy / (double)M : 0.0;                /* mean(dy) */
        const double mdyx = j->train ? sdyx / (double)M : 0.0;              /* mean(dy*xhat) */
        for (int64_t n = 0; n < N; n++) {
            const int64_t off = (n * C + ch) * HW;
            nl_nl_bn_dx(j->dx->data + off, j->dy->data + off, rp, j->x->data + off, HW, mean, invstd, k, mdy, mdyx);
        }
    }
}

nl_status nl_bn_backward(NlCtx *c, NlTensor *dx, NlTensor *dgamma, NlTensor *dbeta,
                         const NlTensor *dy, const NlTensor *x, const NlTensor *gamma,
                         const NlTensor *beta, const NlTensor *save_mean, const NlTensor *save_invstd,
                         int train, int relu) {
    nl_status s;
    if ((s = check_input(c, "input", x))) return s;
    if ((s = nl_check_same(c, "batchnorm: grad_output", dy, x))) return s;
    if (dx && (s = nl_check_same(c, "batchnorm: grad_input", dx, x))) return s;
    if (!save_mean || !save_invstd)
        return nl_fail(c, NL_EARG, "batchnorm: save_mean and save_invstd are required");
    if ((s = check_vec(c, "gamma", gamma, x)) || (s = check_vec(c, "beta", beta, x)) ||
        (s = check_vec(c, "dgamma", dgamma, x)) ||
        (s = check_vec(c, "dbeta", dbeta, x)) || (s = check_vec(c, "save_mean", save_mean, x)) ||
        (s = check_vec(c, "save_invstd", save_invstd, x)))
        return s;

    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    BnBwd j = { .dx = dx, .dgamma = dgamma, .dbeta = dbeta, .dy = dy, .x = x, .gamma = gamma, .beta = beta,
                .save_mean = save_mean, .save_invstd = save_invstd, .train = train, .relu = relu, .N = N,
                .C = C, .HW = HW, .M = N * HW, .interrupted = &c->interrupted };
    nl_parallel(nl_par_threads_from(c, x->numel, NL_PAR_MIN_NUMEL_WARM), bn_bwd_worker, &j);
    if (j.stopped) return nl_fail(c, NL_EINTR, "batchnorm: interrupted");
    return NL_OK;
}
