/* pool.h: max pooling and global average pooling over NCHW images.
 *
 * MaxPool2d (PyTorch semantics, floor mode, dilation 1, implicit -inf padding):
 *   x (N,C,H,W) -> y (N,C,Ho,Wo), Ho = (H + 2*pad - k) / stride + 1 (floor), same for Wo
 *   y[n,c,i,j] = max over the window rows i*stride-pad .. +k-1, cols j*stride-pad .. +k-1
 *   (clipped to the image); pad <= k/2 so every window holds at least one pixel.
 *   idx has y's shape and stores, as an exact float, the flat position h*W + w of the chosen
 *   pixel inside its (H, W) plane: the first maximum in row-major window order; a NaN wins
 *   (and propagates), as in PyTorch.
 *
 * Global average pooling: x (N,C,H,W) -> y (N,C), y[n,c] = mean_{h,w} x[n,c,h,w]. */
#ifndef NL_OPS_POOL_H
#define NL_OPS_POOL_H

#include "../core/tensor.h"

/* Output size; NL_EARG for k < 1, stride < 1, pad < 0, pad > k/2 or a window larger than
 * the padded input. */
nl_status nl_maxpool2d_out_size(NlCtx *c, int64_t *ho, int64_t *wo, int64_t h, int64_t w,
                                int k, int stride, int pad);

/* y and idx: (N,C,Ho,Wo); both overwritten. */
nl_status nl_maxpool2d_forward(NlCtx *c, NlTensor *y, NlTensor *idx, const NlTensor *x,
                               int k, int stride, int pad);

/* dx (N,C,H,W) += scatter of dy (N,C,Ho,Wo) to the positions in idx. */
nl_status nl_maxpool2d_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *idx);

/* y (N,C) = mean over H, W of x (N,C,H,W). */
nl_status nl_global_avgpool_forward(NlCtx *c, NlTensor *y, const NlTensor *x);

/* dx (N,C,H,W) += dy[n,c] / (H*W). */
nl_status nl_global_avgpool_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy);

#endif
