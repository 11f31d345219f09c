/* conv2d.c: 2-D convolution by im2col + sgemm (OpenBLAS), forward and backward.
 *
 * Layout (all contiguous, row-major):
 *   x  (N, Cin, H, W)    w  (Cout, Cin, kh, kw) = a (Cout, K) matrix, K = Cin*kh*kw
 *   y  (N, Cout, Ho, Wo) = per image a (Cout, P) matrix, P = Ho*Wo
 *   col (K, P) per image: col[(c*kh + u)*kw + v][i*Wo + j] = x[c, i*s - pad + u, j*s - pad + v]
 *
 * Forward   y_n  = W . col_n + b                     (Cout,K)(K,P)
 * Backward  dW  += dy_n . col_n^T                     (Cout,P)(P,K)
 *           dcol = W^T . dy_n, dx_n += col2im(dcol)   (K,Cout)(Cout,P)
 *           db  += sum over n and pixels of dy
 *
 * One image per sgemm: batching several small images into one wider product (with a
 * transposed copy of y) was measured and never paid off with OpenBLAS, so it is not done.
 * A 1x1, stride 1, unpadded convolution uses x_n itself as col_n. */
#include <cblas.h>
#include <limits.h>
#include <string.h>
#include "conv2d.h"

/* Geometry of one call, checked once by conv_geom. */
typedef struct {
    int64_t n, cin, h, w;     /* input (N, Cin, H, W) */
    int64_t cout, kh, kw;     /* weight (Cout, Cin, kh, kw) */
    int64_t ho, wo;           /* output spatial size */
    int64_t k, p;             /* K = Cin*kh*kw rows of col; P = Ho*Wo output pixels per image */
    int stride, pad;
    int direct;               /* 1x1, stride 1, pad 0: col_n is x_n */
} Geom;

nl_status nl_conv2d_out_size(NlCtx *c, int64_t *ho, int64_t *wo, int64_t h, int64_t w,
                             int64_t kh, int64_t kw, int stride, int pad) {
    if (kh < 1 || kw < 1)
        return nl_fail(c, NL_EARG, "conv2d: kernel %lldx%lld must be at least 1x1", (long long)kh,
                       (long long)kw);
    if (stride < 1) return nl_fail(c, NL_EARG, "conv2d: stride %d must be at least 1", stride);
    if (pad < 0) return nl_fail(c, NL_EARG, "conv2d: padding %d is negative", pad);
    if (h < 1 || w < 1)
        return nl_fail(c, NL_EARG, "conv2d: input image %lldx%lld is empty", (long long)h,
                       (long long)w);
    /* keeps h + 2*pad and the products below far from int64 overflow */
    if (h > NL_MAX_NUMEL || w > NL_MAX_NUMEL || kh > NL_MAX_NUMEL || kw > NL_MAX_NUMEL)
        return nl_fail(c, NL_EARG, "conv2d: image %lldx%lld or kernel %lldx%lld too large",
                       (long long)h, (long long)w, (long long)kh, (long long)kw);
    if (h + 2 * (int64_t)pad < kh || w + 2 * (int64_t)pad < kw)
        return nl_fail(c, NL_EARG, "conv2d: kernel %lldx%lld is larger than the padded input %lldx%lld",
                       (long long)kh, (long long)kw, (long long)(h + 2 * (int64_t)pad),
                       (long long)(w + 2 * (int64_t)pad));
    *ho = (h + 2 * (int64_t)pad - kh) / stride + 1;
    *wo = (w + 2 * (int64_t)pad - kw) / stride + 1;
    return NL_OK;
}

int64_t nl_conv2d_workspace(int64_t cin, int64_t kh, int64_t kw, int64_t ho, int64_t wo) {
    /* col (K, P) of one image; -1 when the product leaves [0, NL_MAX_NUMEL] */
    const int64_t f[5] = { cin, kh, kw, ho, wo };
    int64_t n = 1;
    for (int i = 0; i < 5; i++) {
        if (f[i] < 0 || (f[i] > 0 && n > NL_MAX_NUMEL / f[i])) return -1;
        n *= f[i];
    }
    return n;
}

/* Checks x, w and b against each other and fills g. */
static nl_status conv_geom(NlCtx *c, Geom *g, const NlTensor *x, const NlTensor *w,
                           const NlTensor *b, int stride, int pad) {
    char sx[96], sw[96];
    /* x (N, Cin, H, W) and w (Cout, Cin, kh, kw) must agree on Cin */
    if (x->ndim != 4)
        return nl_fail(c, NL_ESHAPE, "conv2d: input must be 4-D (N,C,H,W), got %s",
                       nl_shape_str(x, sx, sizeof sx));
    if (w->ndim != 4)
        return nl_fail(c, NL_ESHAPE, "conv2d: weight must be 4-D (Cout,Cin,kh,kw), got %s",
                       nl_shape_str(w, sw, sizeof sw));
    if (x->shape[1] != w->shape[1])
        return nl_fail(c, NL_ESHAPE, "conv2d: input %s has %lld channels, weight %s expects %lld",
                       nl_shape_str(x, sx, sizeof sx), (long long)x->shape[1],
                       nl_shape_str(w, sw, sizeof sw), (long long)w->shape[1]);
    g->n = x->shape[0], g->cin = x->shape[1], g->h = x->shape[2], g->w = x->shape[3];
    g->cout = w->shape[0], g->kh = w->shape[2], g->kw = w->shape[3];
    g->stride = stride, g->pad = pad;
    if (g->cout < 1 || g->cin < 1)
        return nl_fail(c, NL_ESHAPE, "conv2d: weight %s has no channels", nl_shape_str(w, sw, sizeof sw));
    nl_status s = nl_conv2d_out_size(c, &g->ho, &g->wo, g->h, g->w, g->kh, g->kw, stride, pad);
    if (s) return s;
    if (b && (b->ndim != 1 || b->shape[0] != g->cout))
        return nl_fail(c, NL_ESHAPE, "conv2d: bias %s does not match weight %s (%lld output channels)",
                       nl_shape_str(b, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw),
                       (long long)g->cout);
    /* BLAS takes int sizes: K, P, Cout, K*P (col), Cout*P (y_n) and Cin*H*W must all fit.
     * K <= numel(w) <= NL_MAX_NUMEL; an empty batch may carry any H, W, so test them first. */
    g->k = g->cin * g->kh * g->kw;
    const int64_t big = (int64_t)INT_MAX + 1;   /* stands for "does not fit" */
    g->p = g->ho <= INT_MAX && g->wo <= INT_MAX ? g->ho * g->wo : big;
    const int64_t hw = g->h <= INT_MAX && g->w <= INT_MAX ? g->h * g->w : big;
    if (g->k > INT_MAX || g->p > INT_MAX || g->cout > INT_MAX || g->cin > INT_MAX || hw > INT_MAX ||
        g->k * g->p > INT_MAX || g->cout * g->p > INT_MAX || g->cin * hw > INT_MAX)
        return nl_fail(c, NL_EARG, "conv2d: one image is too large for BLAS (input %s, weight %s)",
                       nl_shape_str(x, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw));
    g->direct = g->kh == 1 && g->kw == 1 && stride == 1 && pad == 0;
    return NL_OK;
}

/* First output index j with 0 <= j*s + off (off = v - pad), and one past the last with
 * j*s + off < len; the result is clamped to [0, n]. */
static void valid_range(int64_t *j0, int64_t *j1, int64_t off, int64_t s, int64_t len, int64_t n) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;      /* ceil(-off / s) */
    int64_t last = len - 1 - off;                       /* j*s <= last */
    int64_t b = last < 0 ? 0 : last / s + 1;
    if (a > n) a = n;
    if (b > n) b = n;
    if (b < a) b = a;
    *j0 = a, *j1 = b;
}

/* dst[0..n) += src[0..n). The fixed 8-wide inner block is unrolled and vectorized by the
 * compiler even at -O2 (GCC's "very cheap" vectorizer skips loops that need an epilogue). */
static inline void add_row(float *restrict d, const float *restrict s, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int q = 0; q < 8; q++) d[j + q] += s[j + q];
    for (; j < n; j++) d[j] += s[j];
}

/* With stride 1 and Wo == W (e.g. 3x3 pad 1: the protocol's convolution) output pixel
 * c = i*Wo + j of tap (u, v) reads input pixel c + (u - pad)*W + (v - pad) of its plane, so the
 * valid rows i0..i1-1 of a tap are ONE contiguous run of the plane, from c = i0*Wo + j0 to
 * (i1-1)*Wo + j1 (exclusive). Inside the run, the columns j < j0 and j >= j1 of each row are
 * the pixels that wrapped around from the neighbouring row: they stand for zero padding. */
static int same_width(const Geom *g) { return g->stride == 1 && g->wo == g->w; }

/* Sets the wrapped columns (j < j0, j >= j1) of rows i0..i1-1 of one tap's row to zero. */
static void zero_wrapped(float *row, const Geom *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    for (int64_t i = i0; i < i1; i++) {
        float *r = row + i * g->wo;
        for (int64_t j = 0; j < j0; j++) r[j] = 0.0f;
        for (int64_t j = j1; j < g->wo; j++) r[j] = 0.0f;
    }
}

/* col (K rows, row stride ld) = im2col(x_n), x_n: (Cin, H, W). Zero outside the image:
 * col[(ci*kh + u)*kw + v][i*Wo + j] = x[ci, i*s - pad + u, j*s - pad + v]. */
static void im2col(float *col, int64_t ld, const float *x, const Geom *g) {
    const int64_t s = g->stride, pad = g->pad;
    const int same = same_width(g);
    for (int64_t ci = 0; ci < g->cin; ci++) {
        const float *xc = x + ci * g->h * g->w;
        for (int64_t u = 0; u < g->kh; u++) {
            /* rows i whose input row i*s - pad + u lies inside the image */
            int64_t i0, i1;
            valid_range(&i0, &i1, u - pad, s, g->h, g->ho);
            for (int64_t v = 0; v < g->kw; v++) {
                float *row = col + ((ci * g->kh + u) * g->kw + v) * ld;
                /* columns j whose input column j*s - pad + v lies inside the image */
                int64_t j0, j1;
                valid_range(&j0, &j1, v - pad, s, g->w, g->wo);
                const int64_t r1 = j0 == j1 ? i0 : i1;   /* a tap reading only padding: all zero */
                memset(row, 0, (size_t)(i0 * g->wo) * sizeof(float));
                if (same && r1 > i0) {
                    int64_t a = i0 * g->wo + j0, e = (r1 - 1) * g->wo + j1;
                    memcpy(row + a, xc + a + (u - pad) * g->w + (v - pad), (size_t)(e - a) * sizeof(float));
                    zero_wrapped(row, g, i0, r1, j0, j1);
                } else {
                    for (int64_t i = i0; i < r1; i++) {
                        float *out = row + i * g->wo;
                        const float *xr = xc + (i * s - pad + u) * g->w;   /* input row */
                        for (int64_t j = 0; j < j0; j++) out[j] = 0.0f;
                        if (s == 1)
                            memcpy(out + j0, xr + j0 + v - pad, (size_t)(j1 - j0) * sizeof(float));
                        else
                            for (int64_t j = j0; j < j1; j++) out[j] = xr[j * s + v - pad];
                        for (int64_t j = j1; j < g->wo; j++) out[j] = 0.0f;
                    }
                }
                memset(row + r1 * g->wo, 0, (size_t)((g->ho - r1) * g->wo) * sizeof(float));
            }
        }
    }
}

/* dx_n (Cin, H, W) += col2im(col): every col entry is added back to the input pixel it was
 * copied from by im2col (entries that came from the zero padding are dropped). col is
 * scratch: the same-width path zeroes its wrapped entries and then adds whole runs. */
static void col2im_add(float *dx, float *col, int64_t ld, const Geom *g) {
    const int64_t s = g->stride, pad = g->pad;
    const int same = same_width(g);
    for (int64_t ci = 0; ci < g->cin; ci++) {
        float *dc = dx + ci * g->h * g->w;
        for (int64_t u = 0; u < g->kh; u++) {
            int64_t i0, i1;
            valid_range(&i0, &i1, u - pad, s, g->h, g->ho);
            for (int64_t v = 0; v < g->kw; v++) {
                float *row = col + ((ci * g->kh + u) * g->kw + v) * ld;
                int64_t j0, j1;
                valid_range(&j0, &j1, v - pad, s, g->w, g->wo);
                if (j0 == j1 || i0 == i1) continue;   /* this tap only ever reads padding */
                if (same) {
                    int64_t a = i0 * g->wo + j0, e = (i1 - 1) * g->wo + j1;
                    zero_wrapped(row, g, i0, i1, j0, j1);
                    add_row(dc + a + (u - pad) * g->w + (v - pad), row + a, e - a);
                    continue;
                }
                for (int64_t i = i0; i < i1; i++) {
                    const float *in = row + i * g->wo + j0;
                    float *dr = dc + (i * s - pad + u) * g->w + j0 * s + v - pad;  /* pixel of j0 */
                    if (s == 1) {
                        add_row(dr, in, j1 - j0);
                    } else {
                        for (int64_t j = 0; j < j1 - j0; j++) dr[j * s] += in[j];
                    }
                }
            }
        }
    }
}

static nl_status check_col(NlCtx *c, const NlTensor *col, const Geom *g) {
    if (g->direct || col->numel >= g->k * g->p) return NL_OK;
    return nl_fail(c, NL_ESHAPE, "conv2d: scratch col has %lld floats, needs at least %lld (%lldx%lld)",
                   (long long)col->numel, (long long)(g->k * g->p), (long long)g->k, (long long)g->p);
}

static nl_status check_output(NlCtx *c, const char *what, const NlTensor *t, const Geom *g) {
    int64_t dims[4] = { g->n, g->cout, g->ho, g->wo };
    return nl_check_shape(c, what, t, 4, dims);
}

nl_status nl_conv2d_forward(NlCtx *c, NlTensor *y, NlTensor *col, const NlTensor *x,
                            const NlTensor *w, const NlTensor *b, int stride, int pad) {
    Geom g;
    nl_status s = conv_geom(c, &g, x, w, b, stride, pad);
    if (!s) s = check_output(c, "conv2d: output", y, &g);
    if (!s) s = check_col(c, col, &g);
    if (s) return s;
    const int64_t xs = g.cin * g.h * g.w, ys = g.cout * g.p;   /* per-image strides */
    for (int64_t n = 0; n < g.n; n++) {
        if (c && c->interrupted) return nl_fail(c, NL_EINTR, "conv2d: interrupted");
        /* y_n (Cout, P) = b 1^T + W (Cout, K) . col_n (K, P) */
        float *yn = y->data + n * ys;
        const float *bm = x->data + n * xs;
        if (!g.direct) {
            im2col(col->data, g.p, x->data + n * xs, &g);
            bm = col->data;
        }
        /* rows of y_n start at the bias (or 0) and the product is added with beta = 1 */
        for (int64_t o = 0; o < g.cout; o++) {
            float bo = b ? b->data[o] : 0.0f;
            for (int64_t q = 0; q < g.p; q++) yn[o * g.p + q] = bo;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g.cout, (int)g.p, (int)g.k,
                    1.0f, w->data, (int)g.k, bm, (int)g.p, 1.0f, yn, (int)g.p);
    }
    return NL_OK;
}

nl_status nl_conv2d_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db, NlTensor *col,
                             const NlTensor *dy, const NlTensor *x, const NlTensor *w,
                             int stride, int pad) {
    Geom g;
    nl_status s = conv_geom(c, &g, x, w, db, stride, pad);
    if (!s) s = check_output(c, "conv2d: grad output", dy, &g);
    if (!s && dx) s = nl_check_same(c, "conv2d: grad input and input", dx, x);
    if (!s && dw) s = nl_check_same(c, "conv2d: grad weight and weight", dw, w);
    if (!s && (dx || dw)) s = check_col(c, col, &g);
    if (s) return s;
    const int64_t xs = g.cin * g.h * g.w, ys = g.cout * g.p;   /* per-image strides */

    /* db[o] += sum_{n,q} dy[n][o][q]  (double per row keeps 1024-term sums exact enough) */
    if (db) {
        for (int64_t n = 0; n < g.n; n++)
            for (int64_t o = 0; o < g.cout; o++) {
                const float *r = dy->data + n * ys + o * g.p;
                double acc = 0;
                for (int64_t q = 0; q < g.p; q++) acc += r[q];
                db->data[o] += (float)acc;
            }
    }
    if (!dx && !dw) return NL_OK;

    /* Per image: im2col once, dW from it, then reuse col for dcol (its content is no longer
     * needed). The Ctrl-C flag is polled between images: a long sgemm cannot be stopped. */
    for (int64_t n = 0; n < g.n; n++) {
        if (c && c->interrupted) return nl_fail(c, NL_EINTR, "conv2d: interrupted");
        const float *dyn = dy->data + n * ys;   /* dy_n (Cout, P) */
        if (dw) {
            /* dW (Cout, K) += dy_n (Cout, P) . col_n^T (P, K) */
            const float *cm = x->data + n * xs;
            if (!g.direct) {
                im2col(col->data, g.p, x->data + n * xs, &g);
                cm = col->data;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g.cout, (int)g.k, (int)g.p,
                        1.0f, dyn, (int)g.p, cm, (int)g.p, 1.0f, dw->data, (int)g.k);
        }
        if (dx) {
            if (g.direct) {
                /* dx_n (Cin, P) += W^T (Cin, Cout) . dy_n (Cout, P) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.k, (int)g.p, (int)g.cout,
                            1.0f, w->data, (int)g.k, dyn, (int)g.p, 1.0f, dx->data + n * xs, (int)g.p);
            } else {
                /* dcol (K, P) = W^T (K, Cout) . dy_n (Cout, P), then scatter-add into dx_n */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g.k, (int)g.p, (int)g.cout,
                            1.0f, w->data, (int)g.k, dyn, (int)g.p, 0.0f, col->data, (int)g.p);
                col2im_add(dx->data + n * xs, col->data, g.p, &g);
            }
        }
    }
    return NL_OK;
}

/* The definition itself, one output at a time: y[n,o,i,j] = b[o] + sum over (ci, u, v) of
 * w[o,ci,u,v] * x[n, ci, i*s - pad + u, j*s - pad + v], skipping taps that fall in the padding. */
nl_status nl_conv2d_forward_naive(NlCtx *c, NlTensor *y, const NlTensor *x, const NlTensor *w,
                                  const NlTensor *b, int stride, int pad) {
    Geom g;
    nl_status s = conv_geom(c, &g, x, w, b, stride, pad);
    if (!s) s = check_output(c, "conv2d: output", y, &g);
    if (s) return s;
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t o = 0; o < g.cout; o++)
            for (int64_t i = 0; i < g.ho; i++)
                for (int64_t j = 0; j < g.wo; j++) {
                    double acc = b ? b->data[o] : 0.0;
                    for (int64_t ci = 0; ci < g.cin; ci++)
                        for (int64_t u = 0; u < g.kh; u++)
                            for (int64_t v = 0; v < g.kw; v++) {
                                int64_t hi = i * stride - pad + u, wi = j * stride - pad + v;
                                if (hi < 0 || hi >= g.h || wi < 0 || wi >= g.w) continue;
                                acc += (double)w->data[((o * g.cin + ci) * g.kh + u) * g.kw + v] *
                                       x->data[((n * g.cin + ci) * g.h + hi) * g.w + wi];
                            }
                    y->data[((n * g.cout + o) * g.ho + i) * g.wo + j] = (float)acc;
                }
    return NL_OK;
}
