/* batchnorm.h: 2-D batch normalization (PyTorch's BatchNorm2d), forward and backward.
 *
 * Shapes: x, y, dy, dx: (N,C,H,W) contiguous; gamma, beta, running_mean, running_var,
 * save_mean, save_invstd, dgamma, dbeta: (C).
 *
 * Train mode normalizes with the batch statistics of each channel over M = N*H*W values,
 *   mean = sum(x)/M,  var = sum((x-mean)^2)/M   (biased),  invstd = 1/sqrt(var + eps)
 *   y = (x - mean) * invstd * gamma + beta
 * and updates the running statistics PyTorch-style with momentum m (0.1 in normlab):
 *   running_mean = (1-m)*running_mean + m*mean
 *   running_var  = (1-m)*running_var  + m*var*M/(M-1)   (unbiased batch variance)
 * M == 1 is an error (a variance from one value is meaningless), never a silent switch.
 * Eval mode uses mean = running_mean, invstd = 1/sqrt(running_var + eps).
 *
 * In both modes the forward pass stores the mean and invstd it used in save_mean /
 * save_invstd (the cache, owned by the caller) and the backward pass reads them back. */
#ifndef NL_OPS_BATCHNORM_H
#define NL_OPS_BATCHNORM_H

#include "../core/nl.h"
#include "../core/tensor.h"

/* Forward. train != 0: batch statistics, running stats updated (running_mean/var may be
 * NULL to skip that). train == 0: running statistics, which are then required.
 * save_mean and save_invstd are required in both modes. gamma/beta may be NULL
 * (no affine: gamma 1, beta 0).
 * relu != 0 fuses the ReLU that follows (the cna block's norm -> act): y = max(bn(x), 0),
 * elementwise exactly as nl_relu_forward after it, one read and write of y fewer. */
nl_status nl_bn_forward(NlCtx *c, NlTensor *y, NlTensor *save_mean, NlTensor *save_invstd,
                        NlTensor *running_mean, NlTensor *running_var,
                        const NlTensor *x, const NlTensor *gamma, const NlTensor *beta,
                        int train, double momentum, double eps, int relu);

/* Backward, with xhat = (x - save_mean) * save_invstd per channel:
 *   dbeta  += sum(dy)                 dgamma += sum(dy * xhat)        (accumulate)
 *   train: dx = gamma*invstd * (dy - sum(dy)/M - xhat*sum(dy*xhat)/M)  (overwritten)
 *   eval:  dx = gamma*invstd * dy     (the statistics are constants: an affine map)
 * dx, dgamma and dbeta may each be NULL (not wanted).
 * relu != 0: a ReLU was fused into the forward pass; dy is taken as 0 where its rectified
 * output was not positive (nl_relu_backward's rule), bitwise the same as the separate ReLU
 * backward before this one. That output is recomputed from x, the cache, gamma and beta
 * (no pass over it), so x, gamma and beta must be the forward's (as in a training step). */
nl_status nl_bn_backward(NlCtx *c, NlTensor *dx, NlTensor *dgamma, NlTensor *dbeta,
                         const NlTensor *dy, const NlTensor *x, const NlTensor *gamma,
                         const NlTensor *beta, const NlTensor *save_mean, const NlTensor *save_invstd,
                         int train, int relu);

#endif
