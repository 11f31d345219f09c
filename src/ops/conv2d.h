/* conv2d.h: 2-D convolution (cross-correlation, as in PyTorch), NCHW.
 *
 *   x:   (N, Cin, H, W)          input
 *   w:   (Cout, Cin, kh, kw)     weight
 *   b:   (Cout) or NULL          bias
 *   y:   (N, Cout, Ho, Wo)       output, Ho = (H + 2*pad - kh) / stride + 1 (floor)
 *   col: scratch tensor (any shape) of at least nl_conv2d_workspace(...) = Cin*kh*kw * Ho*Wo
 *        floats (unused, so it may be tiny, for a 1x1 stride-1 unpadded kernel)
 *
 *   y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] * x[n, c, i*stride - pad + u, j*stride - pad + v]
 *   (x outside the image reads as zero)
 *
 * Stride and padding are the same along both axes; the kernel may be rectangular. */
#ifndef NL_OPS_CONV2D_H
#define NL_OPS_CONV2D_H

#include "../core/tensor.h"

/* Output size along the two axes; NL_EARG for a non-positive kernel or stride, a negative
 * padding, or a kernel larger than the padded input. */
nl_status nl_conv2d_out_size(NlCtx *c, int64_t *ho, int64_t *wo, int64_t h, int64_t w,
                             int64_t kh, int64_t kw, int stride, int pad);

/* Floats of `col` scratch the kernels need: cin*kh*kw * ho*wo (one image's im2col matrix). */
int64_t nl_conv2d_workspace(int64_t cin, int64_t kh, int64_t kw, int64_t ho, int64_t wo);

/* y = conv(x, w) + b. Overwrites y. Polls c->interrupted between images. */
nl_status nl_conv2d_forward(NlCtx *c, NlTensor *y, NlTensor *col, const NlTensor *x,
                            const NlTensor *w, const NlTensor *b, int stride, int pad);

/* Gradients, all accumulated (+=); any of dx, dw, db may be NULL to skip it.
 *   dx (N,Cin,H,W)   += conv_transpose(dy, w)
 *   dw (Cout,Cin,kh,kw) += sum_n dy_n (Cout, Ho*Wo) . im2col(x_n)^T
 *   db (Cout)        += sum_{n,i,j} dy[n,o,i,j]
 * dy: (N, Cout, Ho, Wo); x is only read when dw is wanted (pass it anyway: it gives H, W). */
nl_status nl_conv2d_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db, NlTensor *col,
                             const NlTensor *dy, const NlTensor *x, const NlTensor *w,
                             int stride, int pad);

/* The reference: a direct 7-loop convolution with double accumulation (tests only; slow). */
nl_status nl_conv2d_forward_naive(NlCtx *c, NlTensor *y, const NlTensor *x, const NlTensor *w,
                                  const NlTensor *b, int stride, int pad);

#endif
