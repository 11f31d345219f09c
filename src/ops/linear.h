/* linear.h: fully connected layer, y = x W^T + b (PyTorch's nn.Linear layout).
 *
 *   x: (N, in)   w: (out, in)   b: (out) or NULL   y: (N, out)
 *   y[n,o] = b[o] + sum_i x[n,i] * w[o,i]
 */
#ifndef NL_OPS_LINEAR_H
#define NL_OPS_LINEAR_H

#include "../core/tensor.h"

/* y = x W^T + b (overwrites y). */
nl_status nl_linear_forward(NlCtx *c, NlTensor *y, const NlTensor *x, const NlTensor *w,
                            const NlTensor *b);

/* Gradients, all accumulated (+=); dx, dw, db may each be NULL.
 *   dx (N, in)   += dy W          dw (out, in) += dy^T x          db (out) += sum_n dy[n,:] */
nl_status nl_linear_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db,
                             const NlTensor *dy, const NlTensor *x, const NlTensor *w);

#endif
