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
#include <math.h>
#include "batchnorm.h"

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

nl_status nl_bn_forward(NlCtx *c, NlTensor *y, NlTensor *save_mean, NlTensor *save_invstd,
                        NlTensor *running_mean, NlTensor *running_var,
                        const NlTensor *x, const NlTensor *gamma, const NlTensor *beta,
                        int train, double momentum, double eps) {
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

    /* Phase 1: the statistics this pass normalizes with, into the cache (train mode
     * parks the biased variance in save_invstd until phase 2). Nothing the caller keeps
     * across calls (the running stats) changes before phase 2, so an interrupt here
     * leaves the layer as it was. */
    for (int64_t ch = 0; ch < C; ch++) {
        if (c->interrupted) return nl_fail(c, NL_EINTR, "batchnorm: interrupted");
        if (!train) {
            save_mean->data[ch] = running_mean->data[ch];
            save_invstd->data[ch] = (float)(1.0 / sqrt((double)running_var->data[ch] + eps));
            continue;
        }
        double sum = 0, sq = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *p = x->data + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) sum += p[i];
        }
        const double mean = sum / (double)M;
        for (int64_t n = 0; n < N; n++) {   /* two passes: no cancellation as in E[x^2]-E[x]^2 */
            const float *p = x->data + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) { double d = p[i] - mean; sq += d * d; }
        }
        save_mean->data[ch] = (float)mean;
        save_invstd->data[ch] = (float)(sq / (double)M);   /* var, biased */
    }

    /* Phase 2: running stats (train), invstd, then y = (x - mean) * (gamma*invstd) + beta. */
    for (int64_t ch = 0; ch < C; ch++) {
        const double mean = save_mean->data[ch];
        if (train) {
            const double var = save_invstd->data[ch];
            if (running_mean && running_var) {
                running_mean->data[ch] = (float)((1.0 - momentum) * running_mean->data[ch] +
                                                 momentum * mean);
                running_var->data[ch] = (float)((1.0 - momentum) * running_var->data[ch] +
                                                momentum * var * (double)M / (double)(M - 1));
            }
            save_invstd->data[ch] = (float)(1.0 / sqrt(var + eps));
        }
        const double scale = (gamma ? gamma->data[ch] : 1.0) * (double)save_invstd->data[ch];
        const double shift = beta ? beta->data[ch] : 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *p = x->data + (n * C + ch) * HW;
            float *q = y->data + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) q[i] = (float)((p[i] - mean) * scale + shift);
        }
    }
    return NL_OK;
}

nl_status nl_bn_backward(NlCtx *c, NlTensor *dx, NlTensor *dgamma, NlTensor *dbeta,
                         const NlTensor *dy, const NlTensor *x, const NlTensor *gamma,
                         const NlTensor *save_mean, const NlTensor *save_invstd, int train) {
    nl_status s;
    if ((s = check_input(c, "input", x))) return s;
    if ((s = nl_check_same(c, "batchnorm: grad_output", dy, x))) return s;
    if (dx && (s = nl_check_same(c, "batchnorm: grad_input", dx, x))) return s;
    if (!save_mean || !save_invstd)
        return nl_fail(c, NL_EARG, "batchnorm: save_mean and save_invstd are required");
    if ((s = check_vec(c, "gamma", gamma, x)) || (s = check_vec(c, "dgamma", dgamma, x)) ||
        (s = check_vec(c, "dbeta", dbeta, x)) || (s = check_vec(c, "save_mean", save_mean, x)) ||
        (s = check_vec(c, "save_invstd", save_invstd, x)))
        return s;

    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const int64_t M = N * HW;
    for (int64_t ch = 0; ch < C; ch++) {
        if (c->interrupted) return nl_fail(c, NL_EINTR, "batchnorm: interrupted");
        const double mean = save_mean->data[ch], invstd = save_invstd->data[ch];
        /* sum(dy) and sum(dy*xhat) over the channel: the gamma/beta gradients and the
         * two projections removed from dx in train mode. */
        double sdy = 0, sdyx = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *p = x->data + (n * C + ch) * HW, *g = dy->data + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) {
                sdy += g[i];
                sdyx += g[i] * ((p[i] - mean) * invstd);
            }
        }
        if (dbeta) dbeta->data[ch] += (float)sdy;
        if (dgamma) dgamma->data[ch] += (float)sdyx;
        if (!dx) continue;
        const double k = (gamma ? gamma->data[ch] : 1.0) * invstd;   /* gamma*invstd */
        const double mdy = train ? sdy / (double)M : 0.0;             /* mean(dy) */
        const double mdyx = train ? sdyx / (double)M : 0.0;           /* mean(dy*xhat) */
        for (int64_t n = 0; n < N; n++) {
            const float *p = x->data + (n * C + ch) * HW, *g = dy->data + (n * C + ch) * HW;
            float *q = dx->data + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) {
                const double xhat = (p[i] - mean) * invstd;
                q[i] = (float)(k * (g[i] - mdy - xhat * mdyx));
            }
        }
    }
    return NL_OK;
}
