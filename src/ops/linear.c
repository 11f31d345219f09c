/* linear.c: y = x W^T + b by one sgemm per call (OpenBLAS).
 *
 * Row-major shapes: x (N, in), W (out, in), b (out), y (N, out).
 * Forward    y  = x . W^T + 1 b^T         sgemm(NoTrans, Trans)   (N,in)(in,out)
 * Backward   dx += dy . W                 sgemm(NoTrans, NoTrans) (N,out)(out,in)
 *            dW += dy^T . x               sgemm(Trans, NoTrans)   (out,N)(N,in)
 *            db += column sums of dy
 */
#include <cblas.h>
#include <limits.h>
#include "linear.h"

/* Checks x (N, in), w (out, in), b (out); sets *n, *in, *out. */
static nl_status linear_geom(NlCtx *c, int64_t *n, int64_t *in, int64_t *out, const NlTensor *x,
                             const NlTensor *w, const NlTensor *b) {
    char sx[96], sw[96];
    if (x->ndim != 2)
        return nl_fail(c, NL_ESHAPE, "linear: input must be 2-D (N,features), got %s",
                       nl_shape_str(x, sx, sizeof sx));
    if (w->ndim != 2)
        return nl_fail(c, NL_ESHAPE, "linear: weight must be 2-D (out,in), got %s",
                       nl_shape_str(w, sw, sizeof sw));
    if (x->shape[1] != w->shape[1])
        return nl_fail(c, NL_ESHAPE, "linear: input %s has %lld features, weight %s expects %lld",
                       nl_shape_str(x, sx, sizeof sx), (long long)x->shape[1],
                       nl_shape_str(w, sw, sizeof sw), (long long)w->shape[1]);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return nl_fail(c, NL_ESHAPE, "linear: bias %s does not match weight %s (%lld outputs)",
                       nl_shape_str(b, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw),
                       (long long)w->shape[0]);
    if (x->shape[0] > INT_MAX || w->shape[0] > INT_MAX || w->shape[1] > INT_MAX)
        return nl_fail(c, NL_EARG, "linear: sizes too large for BLAS (input %s, weight %s)",
                       nl_shape_str(x, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw));
    *n = x->shape[0], *in = w->shape[1], *out = w->shape[0];
    return NL_OK;
}

/* y (N, out) = x (N, in) . W^T (in, out) + b: one sgemm over the whole batch. */
nl_status nl_linear_forward(NlCtx *c, NlTensor *y, const NlTensor *x, const NlTensor *w,
                            const NlTensor *b) {
    int64_t n, in, out;
    nl_status s = linear_geom(c, &n, &in, &out, x, w, b);
    if (s) return s;
    int64_t dims[2] = { n, out };
    if ((s = nl_check_shape(c, "linear: output", y, 2, dims))) return s;
    /* y rows start as b (or 0), then y += x W^T */
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) y->data[r * out + o] = b ? b->data[o] : 0.0f;
    /* BLAS rejects zero leading dimensions: an empty product has nothing to add */
    if (n == 0 || out == 0 || in == 0) return NL_OK;
    /* W is stored (out, in) row-major, so x W^T is NoTrans x Trans with ldb = in */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f,
                x->data, (int)in, w->data, (int)in, 1.0f, y->data, (int)out);
    return NL_OK;
}

/* From L(y) with y = x W^T + b:  dL/dx = dy W,  dL/dW = dy^T x,  dL/db = 1^T dy.
 * All three accumulate (beta = 1), so a caller can sum gradients over several calls. */
nl_status nl_linear_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db,
                             const NlTensor *dy, const NlTensor *x, const NlTensor *w) {
    int64_t n, in, out;
    nl_status s = linear_geom(c, &n, &in, &out, x, w, db);
    if (s) return s;
    int64_t dims[2] = { n, out };
    if ((s = nl_check_shape(c, "linear: grad output", dy, 2, dims))) return s;
    if (dx && (s = nl_check_same(c, "linear: grad input and input", dx, x))) return s;
    if (dw && (s = nl_check_same(c, "linear: grad weight and weight", dw, w))) return s;
    /* db[o] += sum_r dy[r,o] */
    if (db)
        for (int64_t o = 0; o < out; o++) {
            double acc = 0;
            for (int64_t r = 0; r < n; r++) acc += dy->data[r * out + o];
            db->data[o] += (float)acc;
        }
    if (n == 0 || out == 0 || in == 0) return NL_OK;
    /* dx (N, in) += dy (N, out) . W (out, in) */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out, 1.0f,
                    dy->data, (int)out, w->data, (int)in, 1.0f, dx->data, (int)in);
    /* dW (out, in) += dy^T (out, N) . x (N, in) */
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n, 1.0f,
                    dy->data, (int)out, x->data, (int)in, 1.0f, dw->data, (int)in);
    return NL_OK;
}
