/* pool.c: max pooling (with argmax indices for backward) and global average pooling.
 *
 * Shapes: x (N,C,H,W); maxpool y, idx (N,C,Ho,Wo); global average y (N,C).
 *   maxpool  y[p] = x[plane, idx[p]],  dx[plane, idx[p]] += dy[p]
 *   avgpool  y[n,c] = (1/HW) sum_{h,w} x[n,c,h,w],  dx[n,c,h,w] += dy[n,c] / HW
 * See pool.h for the window and tie/NaN rules (those of PyTorch's max_pool2d). */
#include <stdatomic.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "pool.h"
#include "parallel.h"

/* Planes are independent: both max-pooling passes split them between threads
 * (nl_par_threads_from with NL_PAR_MIN_NUMEL_WARM decides how many). */

/* take ? a : b on the bits (take is 0 or 1): compilers keep a ?: on floats as a branch. */
static inline float select_f(int take, float a, float b) {
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)take;   /* all ones or zero */
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* Indices are stored in float tensors: exact up to 2^24. */
#define MAX_PLANE ((int64_t)1 << 24)

/* Ho = floor((H + 2*pad - k) / stride) + 1 (PyTorch's floor mode: a last window that would
 * start in the padding or run off the end is dropped, never partially counted). */
nl_status nl_maxpool2d_out_size(NlCtx *c, int64_t *ho, int64_t *wo, int64_t h, int64_t w,
                                int k, int stride, int pad) {
    if (k < 1) return nl_fail(c, NL_EARG, "maxpool2d: kernel %d must be at least 1", k);
    if (stride < 1) return nl_fail(c, NL_EARG, "maxpool2d: stride %d must be at least 1", stride);
    if (pad < 0) return nl_fail(c, NL_EARG, "maxpool2d: padding %d is negative", pad);
    /* PyTorch's rule; it also guarantees that every window holds a real pixel */
    if (pad > k / 2)
        return nl_fail(c, NL_EARG, "maxpool2d: padding %d must be at most half the kernel %d", pad, k);
    if (h < 1 || w < 1)
        return nl_fail(c, NL_EARG, "maxpool2d: input image %lldx%lld is empty", (long long)h,
                       (long long)w);
    /* the argmax is stored as an exact float: positions must stay below 2^24 */
    if (h > MAX_PLANE || w > MAX_PLANE || h * w > MAX_PLANE)
        return nl_fail(c, NL_EARG, "maxpool2d: image %lldx%lld too large (at most 2^24 pixels)",
                       (long long)h, (long long)w);
    if (h + 2 * (int64_t)pad < k || w + 2 * (int64_t)pad < k)
        return nl_fail(c, NL_EARG, "maxpool2d: kernel %dx%d is larger than the padded input %lldx%lld",
                       k, k, (long long)(h + 2 * (int64_t)pad), (long long)(w + 2 * (int64_t)pad));
    *ho = (h + 2 * (int64_t)pad - k) / stride + 1;
    *wo = (w + 2 * (int64_t)pad - k) / stride + 1;
    return NL_OK;
}

/* One step of the scan: v replaces (best, off) when v > best or v is NaN. */
#define POOL_TAKE(v, o)                                                   \
    do {                                                                  \
        const int t_ = ((v) > best) | ((v) != (v));                       \
        best = select_f(t_, (v), best);                                   \
        off = select_f(t_, (o), off);                                     \
    } while (0)

/* The protocol's 2x2 stride-2 unpadded pooling of one output row: the window of output j is
 * r0[2j], r0[2j+1], r1[2j], r1[2j+1] (r1 = r0 + w), never clipped. `off` (0, 1, w or w+1,
 * exact as floats) is the chosen pixel's offset from the first; base is the first pixel's
 * position in the plane. Blocks of 8 outputs are computed in local arrays, branch-free, so
 * the compiler vectorizes them. */
static void pool2x2_row(float *yr, float *ir, const float *r0, int64_t w, int64_t wo, int64_t base) {
    const float *r1 = r0 + w;
    const float fw = (float)w, fw1 = (float)(w + 1);
    int64_t j = 0;
    for (; j + 8 <= wo; j += 8) {
        float a[8], b[8], c[8], d[8], yb[8], ob[8];
        for (int q = 0; q < 8; q++) {
            a[q] = r0[2 * (j + q)], b[q] = r0[2 * (j + q) + 1];
            c[q] = r1[2 * (j + q)], d[q] = r1[2 * (j + q) + 1];
        }
        for (int q = 0; q < 8; q++) {
            float best = a[q], off = 0.0f;   /* the first pixel always wins against -inf */
            POOL_TAKE(b[q], 1.0f);
            POOL_TAKE(c[q], fw);
            POOL_TAKE(d[q], fw1);
            yb[q] = best, ob[q] = off;
        }
        for (int q = 0; q < 8; q++) {
            yr[j + q] = yb[q];
            ir[j + q] = (float)(base + 2 * (j + q)) + ob[q];
        }
    }
    for (; j < wo; j++) {
        float best = r0[2 * j], off = 0.0f;
        POOL_TAKE(r0[2 * j + 1], 1.0f);
        POOL_TAKE(r1[2 * j], fw);
        POOL_TAKE(r1[2 * j + 1], fw1);
        yr[j] = best;
        ir[j] = (float)(base + 2 * j) + off;
    }
}

typedef struct {
    NlTensor *y, *idx, *dx;
    const NlTensor *x, *dy, *cidx;
    int k, stride, pad;
    int64_t h, w, ho, wo, planes;
    volatile sig_atomic_t *interrupted;
    atomic_int stopped;     /* any thread may set it */
    int64_t bad[NL_PAR_MAX];   /* backward, per thread: the position of an invalid index + 1, or 0 */
} PoolJob;

/* One thread's planes of the forward pass. */
static void pool_fwd_worker(void *arg, int tid, int nth) {
    PoolJob *job = arg;
    long long p0, p1;
    nl_par_range(job->planes, tid, nth, &p0, &p1);
    const NlTensor *x = job->x;
    NlTensor *y = job->y, *idx = job->idx;
    const int64_t h = job->h, w = job->w, ho = job->ho, wo = job->wo;
    const int k = job->k, stride = job->stride, pad = job->pad;
    for (int64_t pl = p0; pl < p1; pl++) {   /* one (H, W) plane at a time */
        if (job->interrupted && (pl & 63) == 0 && *job->interrupted) { job->stopped = 1; return; }
        const float *xp = x->data + pl * h * w;
        float *yp = y->data + pl * ho * wo, *ip = idx->data + pl * ho * wo;
        if (k == 2 && stride == 2 && pad == 0) {
            for (int64_t i = 0; i < ho; i++)
                pool2x2_row(yp + i * wo, ip + i * wo, xp + 2 * i * w, w, wo, 2 * i * w);
            continue;
        }
        for (int64_t i = 0; i < ho; i++) {
            /* window rows [h0, h1) clipped to the image: padding rows are -inf, never chosen */
            int64_t h0 = i * stride - pad, h1 = h0 + k;
            if (h0 < 0) h0 = 0;
            if (h1 > h) h1 = h;
            for (int64_t j = 0; j < wo; j++) {
                int64_t w0 = j * stride - pad, w1 = w0 + k;
                if (w0 < 0) w0 = 0;
                if (w1 > w) w1 = w;
                /* PyTorch: start at -inf with the window's first pixel, take val > max or NaN.
                 * Written without branches: on real data the comparison is a coin flip, and
                 * mispredicted branches made this loop 10x slower. */
                float best = -INFINITY;
                int64_t at = h0 * w + w0;
                for (int64_t a = h0; a < h1; a++)
                    for (int64_t b = w0; b < w1; b++) {
                        const float v = xp[a * w + b];
                        const int take = (v > best) | (v != v);   /* 0 or 1 */
                        best = select_f(take, v, best);
                        at += take * (a * w + b - at);
                    }
                yp[i * wo + j] = best;
                ip[i * wo + j] = (float)at;
            }
        }
    }
}

/* x (N,C,H,W) -> y, idx (N,C,Ho,Wo); every (n, c) plane is pooled independently. */
nl_status nl_maxpool2d_forward(NlCtx *c, NlTensor *y, NlTensor *idx, const NlTensor *x,
                               int k, int stride, int pad) {
    char sx[96];
    if (x->ndim != 4)
        return nl_fail(c, NL_ESHAPE, "maxpool2d: input must be 4-D (N,C,H,W), got %s",
                       nl_shape_str(x, sx, sizeof sx));
    const int64_t n = x->shape[0], ch = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t ho, wo;
    nl_status s = nl_maxpool2d_out_size(c, &ho, &wo, h, w, k, stride, pad);
    if (s) return s;
    int64_t dims[4] = { n, ch, ho, wo };
    if ((s = nl_check_shape(c, "maxpool2d: output", y, 4, dims))) return s;
    if ((s = nl_check_shape(c, "maxpool2d: indices", idx, 4, dims))) return s;
    PoolJob j = { .y = y, .idx = idx, .x = x, .k = k, .stride = stride, .pad = pad, .h = h, .w = w,
                  .ho = ho, .wo = wo, .planes = n * ch, .interrupted = c ? &c->interrupted : NULL };
    nl_parallel(nl_par_threads_from(c, x->numel, NL_PAR_MIN_NUMEL_WARM), pool_fwd_worker, &j);
    if (j.stopped) return nl_fail(c, NL_EINTR, "maxpool2d: interrupted");
    return NL_OK;
}

/* One thread's planes of the backward pass; an invalid index stops the thread and is
 * reported (indices come from Lua-visible tensors: never trust them with memory). */
static void pool_bwd_worker(void *arg, int tid, int nth) {
    PoolJob *j = arg;
    long long p0, p1;
    nl_par_range(j->planes, tid, nth, &p0, &p1);
    /* hw: pixels of an input plane; pq: pixels of an output plane */
    const int64_t hw = j->h * j->w, pq = j->ho * j->wo;
    for (int64_t pl = p0; pl < p1; pl++) {
        float *dp = j->dx->data + pl * hw;
        const float *gp = j->dy->data + pl * pq, *ip = j->cidx->data + pl * pq;
        for (int64_t q = 0; q < pq; q++) {
            float f = ip[q];
            if (!(f >= 0 && f < (float)hw) || f != (float)(int64_t)f) {
                j->bad[tid] = pl * pq + q + 1;
                return;
            }
            dp[(int64_t)f] += gp[q];
        }
    }
}

/* dx (N,C,H,W) += scatter(dy): dx[plane][idx[p]] += dy[p]. Overlapping windows (stride < k)
 * may pick the same pixel several times; the contributions add up. */
nl_status nl_maxpool2d_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *idx) {
    char sx[96], sy[96];
    nl_status s;
    if (dx->ndim != 4 || dy->ndim != 4 || dx->shape[0] != dy->shape[0] || dx->shape[1] != dy->shape[1])
        return nl_fail(c, NL_ESHAPE, "maxpool2d: grad input %s does not match grad output %s",
                       nl_shape_str(dx, sx, sizeof sx), nl_shape_str(dy, sy, sizeof sy));
    if ((s = nl_check_same(c, "maxpool2d: indices and grad output", idx, dy))) return s;
    PoolJob j = { .dx = dx, .dy = dy, .cidx = idx, .planes = dx->shape[0] * dx->shape[1],
                  .h = dx->shape[2], .w = dx->shape[3], .ho = dy->shape[2], .wo = dy->shape[3] };
    const int nth = nl_parallel(nl_par_threads_from(c, dx->numel, NL_PAR_MIN_NUMEL_WARM), pool_bwd_worker, &j);
    int64_t bad = 0;   /* the first invalid index in plane order */
    for (int t = 0; t < nth; t++)
        if (j.bad[t] && (!bad || j.bad[t] < bad)) bad = j.bad[t];
    if (bad) {
        const float f = idx->data[bad - 1];
        return nl_fail(c, NL_EARG, "maxpool2d: index %g out of range for a %lldx%lld input", (double)f,
                       (long long)dx->shape[2], (long long)dx->shape[3]);
    }
    return NL_OK;
}

/* Checks x (N,C,H,W) against y (N,C) for global average pooling; returns H*W in *hw. */
static nl_status gap_check(NlCtx *c, const char *what, const NlTensor *x, const NlTensor *y, int64_t *hw) {
    char sx[96], sy[96];
    if (x->ndim != 4 || y->ndim != 2 || x->shape[0] != y->shape[0] || x->shape[1] != y->shape[1])
        return nl_fail(c, NL_ESHAPE, "global_avgpool: %s %s does not match %s (expected (N,C,H,W) -> (N,C))",
                       what, nl_shape_str(x, sx, sizeof sx), nl_shape_str(y, sy, sizeof sy));
    *hw = x->shape[2] * x->shape[3];
    if (*hw == 0)
        return nl_fail(c, NL_ESHAPE, "global_avgpool: input %s has an empty image",
                       nl_shape_str(x, sx, sizeof sx));
    return NL_OK;
}

/* y[n,c] = (1/HW) sum_{h,w} x[n,c,h,w], summed in double (up to 1024 terms per plane). */
nl_status nl_global_avgpool_forward(NlCtx *c, NlTensor *y, const NlTensor *x) {
    int64_t hw;
    nl_status s = gap_check(c, "input", x, y, &hw);
    if (s) return s;
    for (int64_t pl = 0; pl < y->numel; pl++) {
        const float *xp = x->data + pl * hw;
        double acc = 0;
        for (int64_t q = 0; q < hw; q++) acc += xp[q];
        y->data[pl] = (float)(acc / (double)hw);
    }
    return NL_OK;
}

/* dx[n,c,h,w] += dy[n,c] / HW: every pixel of a plane had the same weight 1/HW. */
nl_status nl_global_avgpool_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy) {
    int64_t hw;
    nl_status s = gap_check(c, "grad input", dx, dy, &hw);
    if (s) return s;
    for (int64_t pl = 0; pl < dy->numel; pl++) {
        float *dp = dx->data + pl * hw;
        const float g = dy->data[pl] / (float)hw;
        for (int64_t q = 0; q < hw; q++) dp[q] += g;
    }
    return NL_OK;
}
