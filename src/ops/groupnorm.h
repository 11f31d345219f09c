/* groupnorm.h: group normalization (PyTorch's nn.GroupNorm), forward and backward.
 *
 * Shapes: x, y, dy, dx: (N,C,H,W) contiguous; gamma, beta, dgamma, dbeta: (C);
 * save_mean, save_invstd: (N,G). The C channels are split into G consecutive groups of
 * C/G channels (G must divide C); each (image n, group g) is normalized over its
 * M = (C/G)*H*W values with the biased variance, then scaled per channel:
 *   mean = sum(x)/M   var = sum((x-mean)^2)/M   invstd = 1/sqrt(var+eps)
 *   y[n,ch] = (x[n,ch] - mean[n,g]) * invstd[n,g] * gamma[ch] + beta[ch],  g = ch/(C/G)
 * No running statistics: train and eval compute the same thing. G = C is instance
 * norm with a per-channel affine, G = 1 is layer norm over (C,H,W). */
#ifndef NL_OPS_GROUPNORM_H
#define NL_OPS_GROUPNORM_H

#include "../core/nl.h"
#include "../core/tensor.h"

/* Forward: y and the cache (save_mean, save_invstd) are outputs. gamma/beta may be NULL
 * (no affine). Fails with NL_EARG when groups < 1 or groups does not divide C.
 * relu != 0 fuses the ReLU that follows, exactly as nl_bn_forward's relu. */
nl_status nl_gn_forward(NlCtx *c, NlTensor *y, NlTensor *save_mean, NlTensor *save_invstd,
                        const NlTensor *x, const NlTensor *gamma, const NlTensor *beta,
                        int64_t groups, double eps, int relu);

/* Backward, with xhat = (x - mean[n,g]) * invstd[n,g] and dxhat = gamma[ch]*dy:
 *   dbeta[ch]  += sum over n,h,w of dy        dgamma[ch] += sum over n,h,w of dy*xhat
 *   dx = invstd * (dxhat - mean_g(dxhat) - xhat * mean_g(dxhat*xhat))   (overwritten)
 * where mean_g averages over the M values of the (n, g) group. dx, dgamma, dbeta may
 * each be NULL. relu != 0: a ReLU was fused into the forward, and dy is masked by its
 * rectified output as in nl_bn_backward; that output is recomputed from x (with the group
 * statistics in double, as the forward had them, and eps), gamma and beta, which must be
 * the forward's. beta and eps are used only then. */
nl_status nl_gn_backward(NlCtx *c, NlTensor *dx, NlTensor *dgamma, NlTensor *dbeta,
                         const NlTensor *dy, const NlTensor *x, const NlTensor *gamma,
                         const NlTensor *beta, const NlTensor *save_mean, const NlTensor *save_invstd,
                         int64_t groups, double eps, int relu);

/* The check used at construction and by both kernels: NL_EARG with
 * "groupnorm: 32 groups do not divide 48 channels" (or groups < 1). */
nl_status nl_gn_check_groups(NlCtx *c, int64_t groups, int64_t channels);

#endif
