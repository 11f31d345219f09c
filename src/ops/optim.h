/* optim.h: one optimizer step on one parameter tensor (PyTorch torch.optim semantics).
 *
 * Shapes: w (the parameter, updated in place), g (its gradient, read only) and the state
 * tensors (v; m, v) all have the same number of elements. Weight decay is L2 added to
 * the gradient, as in torch.optim.SGD/Adam (not AdamW's decoupled decay). */
#ifndef NL_OPS_OPTIM_H
#define NL_OPS_OPTIM_H

#include "../core/nl.h"
#include "../core/tensor.h"

/* SGD with momentum, PyTorch form (dampening 0, no Nesterov):
 *   d = g + weight_decay*w
 *   v = d                  on the first step (first != 0: PyTorch clones d into the buffer)
 *   v = momentum*v + d     afterwards
 *   w = w - lr*v
 * With momentum == 0 the buffer is not used (v may be NULL) and w -= lr*d. */
nl_status nl_sgd_step(NlCtx *c, NlTensor *w, NlTensor *v, const NlTensor *g,
                      double lr, double momentum, double weight_decay, int first);

/* The same step for n parameters at once (w[k], v[k], g[k]; v may be NULL when momentum
 * is 0): one parallel job over all their elements instead of n calls. Every tensor is
 * checked first; an error names the parameter ("sgd: parameter 3 of 34: parameter (32)
 * has 32 elements but its gradient ...") and changes nothing. */
nl_status nl_sgd_step_many(NlCtx *c, NlTensor *const *w, NlTensor *const *v, NlTensor *const *g, int n,
                           double lr, double momentum, double weight_decay, int first);

/* Adam (Kingma & Ba), PyTorch form; step is the 1-based count including this step:
 *   d = g + weight_decay*w
 *   m = beta1*m + (1-beta1)*d          v = beta2*v + (1-beta2)*d*d
 *   w = w - (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps) */
nl_status nl_adam_step(NlCtx *c, NlTensor *w, NlTensor *m, NlTensor *v, const NlTensor *g,
                       double lr, double beta1, double beta2, double eps, double weight_decay,
                       int64_t step);

/* Sets every element of the n tensors ts[0..n-1] to zero: a model's gradients cleared in one
 * job, split by elements between the threads (model:zero_grad at batch 2: 85 us per step
 * as a call per tensor, 70 us as one job). */
void nl_zero_grads(NlCtx *c, NlTensor *const *ts, int n);

#endif
