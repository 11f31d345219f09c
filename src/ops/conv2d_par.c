/* conv2d_par.c: conv2d.c's kernels over image slices on the nl_parallel pool.
 *
 * Thread t of nth takes images [n*t/nth, n*(t+1)/nth) and calls nl_conv2d_forward (or
 * _backward) one image at a time on 1-image views of x, y, dy, dx, with its own im2col
 * scratch, its own NlCtx (errors are copied back afterwards) and, for the backward pass, its
 * own zeroed partial dw/db that are added to the caller's in thread order at the end.
 * OpenBLAS runs single-threaded during the call (our threads are the parallelism) and gets
 * the context's thread count back afterwards. Interrupts are polled between images. */
#include <string.h>
#include "conv2d.h"
#include "conv2d_par.h"
#include "parallel.h"

void openblas_set_num_threads(int num_threads);

static int clamp_threads(int threads, int64_t n) {
    if (threads < 1) threads = 1;
    if (threads > NL_PAR_MAX) threads = NL_PAR_MAX;
    if (threads > n) threads = (int)n;
    return threads;
}

/* floats per thread: im2col (cin*kh*kw x ho*wo) + dw (cout*cin*kh*kw) + db (cout), each
 * rounded up to 16 */
static int64_t per_thread(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t ho, int64_t wo) {
    int64_t col = nl_conv2d_workspace(cin, kh, kw, ho, wo);
    if (col < 1) col = 1;
    return ((col + 15) & ~15LL) + ((cout * cin * kh * kw + 15) & ~15LL) + ((cout + 15) & ~15LL);
}

int64_t nl_conv2d_par_workspace(int64_t n, int64_t cin, int64_t cout, int64_t kh, int64_t kw,
                                int64_t ho, int64_t wo, int threads) {
    if (n < 1 || cin < 1 || cout < 1 || kh < 1 || kw < 1 || ho < 1 || wo < 1) return 0;
    return clamp_threads(threads, n) * per_thread(cin, cout, kh, kw, ho, wo);
}

typedef struct {
    NlTensor *y, *dx, *dw, *db, *ws;
    const NlTensor *x, *w, *b, *dy;
    int stride, pad, backward;
    int64_t per;                      /* floats of scratch per thread */
    volatile sig_atomic_t *interrupted;
    nl_status st[NL_PAR_MAX];
    char err[NL_PAR_MAX][128];
} Job;

/* A view of image i of a 4-D tensor. */
static NlTensor image(const NlTensor *t, int64_t i) {
    NlTensor v = *t;
    v.shape[0] = 1;
    v.numel = t->numel / t->shape[0];
    v.data = t->data + i * v.numel;
    return v;
}

static NlTensor flat(float *p, int64_t n) {
    NlTensor v = { .data = p, .ndim = 1, .numel = n };
    v.shape[0] = n;
    return v;
}

static void worker(void *arg, int tid, int nth) {
    Job *j = arg;
    long long n0, n1;
    nl_par_range(j->x->shape[0], tid, nth, &n0, &n1);
    NlCtx ctx = { .threads = 1 };
    float *base = j->ws->data + tid * j->per;
    const int64_t ncol = j->per - ((j->w->numel + 15) & ~15LL) - ((j->w->shape[0] + 15) & ~15LL);
    NlTensor col = flat(base, ncol), dwp = *j->w, dbp = flat(base + j->per - ((j->w->shape[0] + 15) & ~15LL),
                                                           j->w->shape[0]);
    dwp.data = base + ncol;
    nl_status s = NL_OK;
    if (j->backward) {
        if (j->dw) memset(dwp.data, 0, (size_t)dwp.numel * sizeof(float));
        if (j->db) memset(dbp.data, 0, (size_t)dbp.numel * sizeof(float));
    }
    for (int64_t i = n0; i < n1 && !s; i++) {
        if (j->interrupted && *j->interrupted) { s = nl_fail(&ctx, NL_EINTR, "conv2d: interrupted"); break; }
        NlTensor xi = image(j->x, i);
        if (!j->backward) {
            NlTensor yi = image(j->y, i);
            s = nl_conv2d_forward(&ctx, &yi, &col, &xi, j->w, j->b, j->stride, j->pad);
        } else {
            NlTensor dyi = image(j->dy, i), dxi;
            if (j->dx) dxi = image(j->dx, i);
            s = nl_conv2d_backward(&ctx, j->dx ? &dxi : NULL, j->dw ? &dwp : NULL, j->db ? &dbp : NULL,
                                   &col, &dyi, &xi, j->w, j->stride, j->pad);
        }
    }
    j->st[tid] = s;
    if (s) memcpy(j->err[tid], ctx.err, sizeof j->err[tid] - 1);
}

static nl_status run(NlCtx *c, Job *j, int64_t n, int64_t per) {
    int nth = clamp_threads(c ? c->threads : 1, n);
    while (nth > 1 && nth * per > j->ws->numel) nth--;
    if (per > j->ws->numel)
        return nl_fail(c, NL_ESHAPE, "conv2d: scratch has %lld floats, needs at least %lld",
                       (long long)j->ws->numel, (long long)per);
    j->per = per;
    j->interrupted = c ? &c->interrupted : NULL;
    for (int t = 0; t < nth; t++) j->st[t] = NL_OK, j->err[t][0] = 0;
    if (nth > 1) openblas_set_num_threads(1);
    nth = nl_parallel(nth, worker, j);   /* fewer (1) when the pool was busy: then 1 did all */
    if (c && c->threads > 1) nl_set_threads(c, c->threads);
    for (int t = 0; t < nth; t++)
        if (j->st[t]) return nl_fail(c, j->st[t], "%s", j->err[t]);
    if (j->backward) {   /* partial weight/bias gradients, in thread order */
        for (int t = 0; t < nth; t++) {
            const float *base = j->ws->data + t * per;
            const int64_t ncol = per - ((j->w->numel + 15) & ~15LL) - ((j->w->shape[0] + 15) & ~15LL);
            if (j->dw)
                for (int64_t k = 0; k < j->dw->numel; k++) j->dw->data[k] += base[ncol + k];
            if (j->db)
                for (int64_t k = 0; k < j->db->numel; k++)
                    j->db->data[k] += base[per - ((j->w->shape[0] + 15) & ~15LL) + k];
        }
    }
    return NL_OK;
}

/* x and w 4-D with at least one image; the output size (*ho, *wo); out (the output, or the
 * gradient of it), named `what`, must be (N, Cout, Ho, Wo). */
static nl_status check_geometry(NlCtx *c, const char *what, const NlTensor *out, const NlTensor *x,
                                const NlTensor *w, int stride, int pad, int64_t *ho, int64_t *wo) {
    char sx[96], sw[96];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[0] < 1)
        return nl_fail(c, NL_ESHAPE, "conv2d: input %s and weight %s must be 4-D with at least one image",
                       nl_shape_str(x, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw));
    nl_status s = nl_conv2d_out_size(c, ho, wo, x->shape[2], x->shape[3], w->shape[2], w->shape[3], stride, pad);
    if (s) return s;
    int64_t dims[4] = { x->shape[0], w->shape[0], *ho, *wo };
    return nl_check_shape(c, what, out, 4, dims);
}

nl_status nl_conv2d_par_forward(NlCtx *c, NlTensor *y, NlTensor *ws, const NlTensor *x,
                                const NlTensor *w, const NlTensor *b, int stride, int pad) {
    int64_t ho, wo;
    nl_status s = check_geometry(c, "conv2d: output", y, x, w, stride, pad, &ho, &wo);
    if (s) return s;
    Job j = { .y = y, .ws = ws, .x = x, .w = w, .b = b, .stride = stride, .pad = pad };
    return run(c, &j, x->shape[0], per_thread(x->shape[1], w->shape[0], w->shape[2], w->shape[3], ho, wo));
}

nl_status nl_conv2d_par_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db, NlTensor *ws,
                                 const NlTensor *dy, const NlTensor *x, const NlTensor *w,
                                 int stride, int pad) {
    int64_t ho, wo;
    nl_status s = check_geometry(c, "conv2d: grad output", dy, x, w, stride, pad, &ho, &wo);
    if (s) return s;
    if (dx && (s = nl_check_same(c, "conv2d: grad input and input", dx, x))) return s;
    if (dw && (s = nl_check_same(c, "conv2d: grad weight and weight", dw, w))) return s;
    if (db && (db->ndim != 1 || db->shape[0] != w->shape[0]))
        return nl_fail(c, NL_ESHAPE, "conv2d: grad bias has %lld elements, expected %lld",
                       (long long)db->numel, (long long)w->shape[0]);
    Job j = { .dx = dx, .dw = dw, .db = db, .ws = ws, .dy = dy, .x = x, .w = w, .stride = stride,
              .pad = pad, .backward = 1 };
    return run(c, &j, x->shape[0], per_thread(x->shape[1], w->shape[0], w->shape[2], w->shape[3], ho, wo));
}
