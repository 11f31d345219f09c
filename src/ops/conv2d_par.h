/* conv2d_par.h: the plain im2col + sgemm convolution of conv2d.h, run on the nl_parallel pool
 * with the images split between the threads (OpenBLAS single-threaded inside each). Same
 * tensors and contracts as nl_conv2d_forward / nl_conv2d_backward.
 *
 * Per image the work is exactly conv2d.c's, so with a BLAS whose sgemm does not depend on
 * its thread count (OpenBLAS's SkylakeX kernels: checked by tests/c/test_conv2d_par.c) the
 * forward pass and grad input are bitwise those of nl_conv2d_forward / _backward. The weight
 * and bias gradients are summed per thread and then over the threads in a fixed order (the
 * same result for the same thread count, not bitwise the serial sum).
 *
 *   ws: scratch of at least nl_conv2d_par_workspace(...) floats: per thread one im2col
 *       matrix and a (Cout, Cin*kh*kw + 1) partial weight + bias gradient. */
#ifndef NL_OPS_CONV2D_PAR_H
#define NL_OPS_CONV2D_PAR_H

#include "../core/tensor.h"

int64_t nl_conv2d_par_workspace(int64_t n, int64_t cin, int64_t cout, int64_t kh, int64_t kw,
                                int64_t ho, int64_t wo, int threads);

nl_status nl_conv2d_par_forward(NlCtx *c, NlTensor *y, NlTensor *ws, const NlTensor *x,
                                const NlTensor *w, const NlTensor *b, int stride, int pad);

nl_status nl_conv2d_par_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db, NlTensor *ws,
                                 const NlTensor *dy, const NlTensor *x, const NlTensor *w,
                                 int stride, int pad);

#endif
