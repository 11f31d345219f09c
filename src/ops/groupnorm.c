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
#include <math.h>
#include "groupnorm.h"

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
                        int64_t groups, double eps) {
    const char *names[] = {"gamma", "beta"};
    const NlTensor *vecs[] = {gamma, beta};
    nl_status s = check_args(c, x, groups, names, vecs, 2, save_mean, save_invstd);
    if (s) return s;
    if ((s = nl_check_same(c, "groupnorm: output", y, x))) return s;
    if (!(eps > 0)) return nl_fail(c, NL_EARG, "groupnorm: eps must be positive, got %g", eps);

    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const int64_t CG = C / groups, M = CG * HW;   /* channels and values per group */
    for (int64_t n = 0; n < N; n++) {
        if (c->interrupted) return nl_fail(c, NL_EINTR, "groupnorm: interrupted");
        for (int64_t g = 0; g < groups; g++) {
            const float *p = x->data + (n * C + g * CG) * HW;   /* the group's M values */
            float *q = y->data + (n * C + g * CG) * HW;
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < M; i++) sum += p[i];
            const double mean = sum / (double)M;
            for (int64_t i = 0; i < M; i++) { double d = p[i] - mean; sq += d * d; }
            const double invstd = 1.0 / sqrt(sq / (double)M + eps);
            save_mean->data[n * groups + g] = (float)mean;
            save_invstd->data[n * groups + g] = (float)invstd;
            for (int64_t j = 0; j < CG; j++) {   /* per channel: gamma/beta of ch = g*CG + j */
                const int64_t ch = g * CG + j;
                const double scale = (gamma ? gamma->data[ch] : 1.0) * invstd;
                const double shift = beta ? beta->data[ch] : 0.0;
                for (int64_t i = j * HW; i < (j + 1) * HW; i++)
                    q[i] = (float)((p[i] - mean) * scale + shift);
            }
        }
    }
    return NL_OK;
}

nl_status nl_gn_backward(NlCtx *c, NlTensor *dx, NlTensor *dgamma, NlTensor *dbeta,
                         const NlTensor *dy, const NlTensor *x, const NlTensor *gamma,
                         const NlTensor *save_mean, const NlTensor *save_invstd,
                         int64_t groups) {
    const char *names[] = {"gamma", "dgamma", "dbeta"};
    const NlTensor *vecs[] = {gamma, dgamma, dbeta};
    nl_status s = check_args(c, x, groups, names, vecs, 3, save_mean, save_invstd);
    if (s) return s;
    if ((s = nl_check_same(c, "groupnorm: grad_output", dy, x))) return s;
    if (dx && (s = nl_check_same(c, "groupnorm: grad_input", dx, x))) return s;

    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const int64_t CG = C / groups, M = CG * HW;
    for (int64_t n = 0; n < N; n++) {
        if (c->interrupted) return nl_fail(c, NL_EINTR, "groupnorm: interrupted");
        for (int64_t g = 0; g < groups; g++) {
            const int64_t off = (n * C + g * CG) * HW;
            const float *p = x->data + off, *gy = dy->data + off;
            const double mean = save_mean->data[n * groups + g];
            const double invstd = save_invstd->data[n * groups + g];
            /* Per channel of the group: sum(dy), sum(dy*xhat) give dbeta/dgamma; their
             * gamma-weighted totals give sum(dxhat) and sum(dxhat*xhat) for dx. */
            double sdxh = 0, sdxhx = 0;
            for (int64_t j = 0; j < CG; j++) {
                const int64_t ch = g * CG + j;
                double sdy = 0, sdyx = 0;
                for (int64_t i = j * HW; i < (j + 1) * HW; i++) {
                    sdy += gy[i];
                    sdyx += gy[i] * ((p[i] - mean) * invstd);
                }
                if (dbeta) dbeta->data[ch] += (float)sdy;
                if (dgamma) dgamma->data[ch] += (float)sdyx;
                const double ga = gamma ? gamma->data[ch] : 1.0;
                sdxh += ga * sdy;
                sdxhx += ga * sdyx;
            }
            if (!dx) continue;
            const double mdxh = sdxh / (double)M, mdxhx = sdxhx / (double)M;
            float *q = dx->data + off;
            for (int64_t j = 0; j < CG; j++) {
                const double ga = gamma ? gamma->data[g * CG + j] : 1.0;
                for (int64_t i = j * HW; i < (j + 1) * HW; i++) {
                    const double xhat = (p[i] - mean) * invstd;
                    q[i] = (float)(invstd * (ga * gy[i] - mdxh - xhat * mdxhx));
                }
            }
        }
    }
    return NL_OK;
}
