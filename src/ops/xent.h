/* xent.h: softmax cross-entropy loss (PyTorch's nn.CrossEntropyLoss, reduction 'mean')
 * and top-1 accuracy.
 *
 * Shapes: logits, dlogits: (N,K); labels: (N), float32 holding 0-based class indices
 * (integral values in [0, K)); any other label is an error naming its row and value.
 *   loss = (1/N) * sum_i [ logsumexp(z_i) - z_i[y_i] ],
 *   logsumexp(z) = max(z) + log(sum_k exp(z_k - max(z)))        (numerically stable)
 *   dloss/dz_ik = (softmax(z_i)_k - [k == y_i]) / N */
#ifndef NL_OPS_XENT_H
#define NL_OPS_XENT_H

#include "../core/nl.h"
#include "../core/tensor.h"

/* Forward: *loss = the mean cross-entropy (accumulated in double). */
nl_status nl_xent_forward(NlCtx *c, double *loss, const NlTensor *logits, const NlTensor *labels);

/* Backward: dlogits = grad_loss * (softmax(logits) - onehot(labels)) / N  (overwritten,
 * not accumulated: it is a grad-input). grad_loss is dL/dloss, 1 for a plain loss. */
nl_status nl_xent_backward(NlCtx *c, NlTensor *dlogits, const NlTensor *logits,
                           const NlTensor *labels, double grad_loss);

/* *correct = number of rows whose (first) argmax equals the label. */
nl_status nl_xent_correct(NlCtx *c, int64_t *correct, const NlTensor *logits,
                          const NlTensor *labels);

#endif
