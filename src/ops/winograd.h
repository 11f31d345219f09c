/* winograd.h: 3x3, stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (and
 * F(2x2, 3x3) for an accurate forward pass)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), forward and
 * both backward gradients. Same tensors and results as src/ops/conv2d.h, to about 1e-5
 * relative (the transforms lose a little precision against im2col + sgemm):
 *
 *   x: (N, Cin, H, W)   w: (Cout, Cin, 3, 3)   b: (Cout) or NULL   pad: 0, 1 or 2
 *   y: (N, Cout, Ho, Wo), Ho = H + 2*pad - 2, Wo = W + 2*pad - 2
 *   y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] * x[n, c, i - pad + u, j - pad + v]
 *
 * Per 4x4 output tile and channel pair the product is taken in the 6x6 transform domain:
 *   Y = A^T [ sum_c (G w[o,c] G^T) .* (B^T d_c B) ] A        (d_c: the 6x6 input patch)
 * i.e. 36 independent matrix products M[a] (tiles x Cout) = V[a] (tiles x Cin) . U[a] (Cin x Cout),
 * 36 multiplies per 16 outputs instead of 144 (4x fewer). The backward passes are
 *   dx = conv(dy, w flipped and transposed) with pad 2 - pad     (forward machinery, 2x2 tiles)
 *   dw = G^T [ sum_tiles (A dy A^T) .* (B^T d B) ] G            (dU[a] += V[a]^T . dM[a])
 *
 * The kernels run on the nl_parallel pool with c->threads threads (images split between
 * them) and need a scratch tensor of at least nl_winograd_workspace(...) floats. */
#ifndef NL_OPS_WINOGRAD_H
#define NL_OPS_WINOGRAD_H

#include "../core/tensor.h"

/* 1 when the Winograd kernels handle this convolution: 3x3 kernel, stride 1, pad 0..2. */
int nl_winograd_applies(int64_t kh, int64_t kw, int stride, int pad);

/* Floats of scratch that forward and backward need for an (n, cin, h, w) input with
 * `threads` threads (both calls accept any larger scratch; fewer threads need less).
 * 0 when the geometry does not apply or is out of range. */
int64_t nl_winograd_workspace(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w, int pad,
                              int threads);

/* y = conv(x, w) + b (overwrites y), in tile x tile output tiles: tile 4 is F(4x4,3x3) (36
 * multiplies per 16 outputs, rounding errors about 8x those of im2col + sgemm), tile 2 is
 * F(2x2,3x3) (16 multiplies per 4 outputs, 2.25x fewer than direct, about as accurate as
 * im2col: use it where a forward value decides something discrete, such as a ReLU gate or a
 * max-pool choice that a test compares with another framework). */
nl_status nl_winograd_forward(NlCtx *c, NlTensor *y, NlTensor *ws, const NlTensor *x,
                              const NlTensor *w, const NlTensor *b, int pad, int tile);

/* Gradients, accumulated (+=) as in nl_conv2d_backward; dx, dw, db may each be NULL.
 * dw in F(4x4,3x3) (about 5e-6 relative); dx in dx_tile x dx_tile tiles: 2 is F(2x2,3x3),
 * as accurate as im2col (a grad input travels on through the whole network), 4 is
 * F(4x4,3x3), 1.8x fewer multiplies and rounding errors like the F(4x4) forward pass's;
 * db comes out of the weight gradient's dy transform when dw is wanted. With pad 1 one
 * sweep over the images does all three.
 * dx_overwrite != 0: dx = (instead of +=) the input gradient, which spares the caller a
 * zeroing pass over dx. */
nl_status nl_winograd_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db, NlTensor *ws,
                               const NlTensor *dy, const NlTensor *x, const NlTensor *w, int pad,
                               int dx_tile, int dx_overwrite);

/* Which code the kernels use: "avx512" (intrinsics + own small GEMMs) or "generic"
 * (portable C + cblas_sgemm). nl_winograd_force_generic(1) selects the generic code even
 * on an AVX-512 machine (tests and benchmarks only; not thread-safe against running calls). */
const char *nl_winograd_isa(void);
void nl_winograd_force_generic(int on);

/* How the threads share a call: 0 (the default) by the rule in winograd.c (images, or
 * channels for few tiles per call), 1 always images, 2 channels wherever that form exists
 * (pad 1, at least 16 channels per thread both ways). Tests and benchmarks only. */
void nl_winograd_force_split(int mode);

#endif
