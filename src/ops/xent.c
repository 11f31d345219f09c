/* xent.c: softmax cross-entropy over a batch of logits, its gradient, and accuracy.
 *
 * logits (N,K) row-major: row i is z_i = logits[i*K .. i*K+K). labels (N) floats.
 * Reference: PyTorch F.cross_entropy(z, y) with reduction='mean':
 *   loss = (1/N) sum_i [ m_i + log(sum_k exp(z_ik - m_i)) - z_i[y_i] ],  m_i = max_k z_ik
 * Subtracting the row max keeps every exp() in (0, 1], so nothing overflows.
 *   d loss / d z_ik = (p_ik - [k == y_i]) / N,  p_i = softmax(z_i) = exp(z_i - m_i) / sum */
#include <math.h>
#include "xent.h"

/* Shapes and labels: logits (N,K) with N, K >= 1, labels (N) holding integral floats in
 * [0, K). Messages name the offending row (1-based, like the Lua side) and value. */
static nl_status check_args(NlCtx *c, const NlTensor *logits, const NlTensor *labels) {
    char sz[96], sy[96];
    if (logits->ndim != 2 || logits->shape[0] < 1 || logits->shape[1] < 1)
        return nl_fail(c, NL_ESHAPE, "cross_entropy: expected (N,K) logits with N, K >= 1, got %s",
                       nl_shape_str(logits, sz, sizeof sz));
    const int64_t N = logits->shape[0], K = logits->shape[1];
    if (labels->ndim != 1 || labels->shape[0] != N)
        return nl_fail(c, NL_ESHAPE, "cross_entropy: labels %s do not match logits %s (want (%lld))",
                       nl_shape_str(labels, sy, sizeof sy), nl_shape_str(logits, sz, sizeof sz),
                       (long long)N);
    for (int64_t i = 0; i < N; i++) {
        const float y = labels->data[i];
        if (!(y >= 0 && y < (float)K) || y != floorf(y))
            return nl_fail(c, NL_EARG,
                           "cross_entropy: label %g at row %lld is not a class index in 0..%lld",
                           (double)y, (long long)(i + 1), (long long)(K - 1));
    }
    return NL_OK;
}

/* Row max and log(sum exp(z - max)) of one row of K logits. */
static void row_lse(const float *z, int64_t K, double *max, double *logsum) {
    float m = z[0];
    for (int64_t k = 1; k < K; k++) if (z[k] > m) m = z[k];
    double s = 0;
    for (int64_t k = 0; k < K; k++) s += exp((double)z[k] - m);
    *max = m;
    *logsum = log(s);
}

nl_status nl_xent_forward(NlCtx *c, double *loss, const NlTensor *logits, const NlTensor *labels) {
    nl_status s = check_args(c, logits, labels);
    if (s) return s;
    const int64_t N = logits->shape[0], K = logits->shape[1];
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *z = logits->data + i * K;
        double m, ls;
        row_lse(z, K, &m, &ls);
        total += m + ls - z[(int64_t)labels->data[i]];   /* -log p_i[y_i] */
    }
    *loss = total / (double)N;
    return NL_OK;
}

nl_status nl_xent_backward(NlCtx *c, NlTensor *dlogits, const NlTensor *logits,
                           const NlTensor *labels, double grad_loss) {
    nl_status s = check_args(c, logits, labels);
    if (s) return s;
    if ((s = nl_check_same(c, "cross_entropy: grad_input", dlogits, logits))) return s;
    const int64_t N = logits->shape[0], K = logits->shape[1];
    const double scale = grad_loss / (double)N;
    for (int64_t i = 0; i < N; i++) {
        const float *z = logits->data + i * K;
        float *d = dlogits->data + i * K;
        double m, ls;
        row_lse(z, K, &m, &ls);
        for (int64_t k = 0; k < K; k++) d[k] = (float)(scale * exp((double)z[k] - m - ls));   /* p_ik */
        const int64_t y = (int64_t)labels->data[i];
        d[y] = (float)(scale * (exp((double)z[y] - m - ls) - 1.0));   /* p_iy - 1 */
    }
    return NL_OK;
}

nl_status nl_xent_correct(NlCtx *c, int64_t *correct, const NlTensor *logits,
                          const NlTensor *labels) {
    nl_status s = check_args(c, logits, labels);
    if (s) return s;
    const int64_t N = logits->shape[0], K = logits->shape[1];
    int64_t hits = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *z = logits->data + i * K;
        int64_t best = 0;   /* first maximum, as nl_argmax_rows */
        for (int64_t k = 1; k < K; k++) if (z[k] > z[best]) best = k;
        hits += best == (int64_t)labels->data[i];
    }
    *correct = hits;
    return NL_OK;
}
