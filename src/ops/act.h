/* act.h: elementwise activations over tensors of any shape.
 *
 *   relu       y = max(x, 0)                       dy/dx = [x > 0]
 *   leakyrelu  y = x > 0 ? x : slope*x             dy/dx = x > 0 ? 1 : slope
 *   sigmoid    y = 1 / (1 + exp(-x))               dy/dx = y (1 - y)
 *   tanh       y = tanh(x)                         dy/dx = 1 - y^2
 *
 * Forward overwrites y (y may be x itself: in place). Backward accumulates, dx += dy * dy/dx,
 * and dx must not alias dy. The derivative at a ReLU kink (x == 0) is 0, as in PyTorch.
 * All tensors of one call must have the same number of elements.
 * Sigmoid and tanh are computed without libm's expf/tanhf (see act.c): within 4e-7 and
 * 2e-7 relative of the exact values; below x = -87 sigmoid stays at sigmoid(-87) = 1.6e-38. */
#ifndef NL_OPS_ACT_H
#define NL_OPS_ACT_H

#include "../core/tensor.h"

nl_status nl_relu_forward(NlCtx *c, NlTensor *y, const NlTensor *x);
nl_status nl_relu_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *x);

nl_status nl_leakyrelu_forward(NlCtx *c, NlTensor *y, const NlTensor *x, float slope);
nl_status nl_leakyrelu_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *x,
                                float slope);

/* Backward of sigmoid and tanh reads the forward output y, not x. */
nl_status nl_sigmoid_forward(NlCtx *c, NlTensor *y, const NlTensor *x);
nl_status nl_sigmoid_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *y);

nl_status nl_tanh_forward(NlCtx *c, NlTensor *y, const NlTensor *x);
nl_status nl_tanh_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *y);

#endif
