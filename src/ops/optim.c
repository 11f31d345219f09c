/* optim.c: SGD-with-momentum and Adam updates, element by element.
 *
 * Layout: w, g and the state buffers are flat arrays of the same length (any shape with
 * equal numel is accepted). Reference: torch/optim/sgd.py and adam.py (PyTorch 1.13,
 * single-tensor path); formulas in optim.h. Per-element arithmetic is done in double
 * and rounded once to float, so the result is at least as accurate as PyTorch's. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "optim.h"
#include "normloops.h"
#include "parallel.h"

/* t (named `name`: gradient or a state buffer) must have as many elements as w. */
static nl_status check_like(NlCtx *c, const char *what, const char *name, const NlTensor *t,
                            const NlTensor *w) {
    if (t->numel == w->numel) return NL_OK;
    char st[96], sw[96];
    return nl_fail(c, NL_ESHAPE, "%s: parameter %s has %lld elements but its %s %s has %lld",
                   what, nl_shape_str(w, sw, sizeof sw), (long long)w->numel, name,
                   nl_shape_str(t, st, sizeof st), (long long)t->numel);
}

static nl_status check_hyper(NlCtx *c, const char *what, double lr, double weight_decay) {
    if (!(lr >= 0) || !isfinite(lr))
        return nl_fail(c, NL_EARG, "%s: learning rate must be finite and >= 0, got %g", what, lr);
    if (!(weight_decay >= 0) || !isfinite(weight_decay))
        return nl_fail(c, NL_EARG, "%s: weight_decay must be finite and >= 0, got %g", what,
                       weight_decay);
    return NL_OK;
}

/* SGD's hyperparameters: lr and weight_decay finite and >= 0, momentum in [0, 1). */
static nl_status check_sgd(NlCtx *c, double lr, double momentum, double weight_decay) {
    nl_status s = check_hyper(c, "sgd", lr, weight_decay);
    if (!s && !(momentum >= 0 && momentum < 1))
        return nl_fail(c, NL_EARG, "sgd: momentum must be in [0, 1), got %g", momentum);
    return s;
}

/* [*i0, *i1): thread tid's share of n elements, in whole 16-float blocks (no cache line
 * is shared). */
static void block_share(int64_t n, int tid, int nth, int64_t *i0, int64_t *i1) {
    long long b0, b1;
    nl_par_range((n + 15) / 16, tid, nth, &b0, &b1);
    *i0 = 16 * b0, *i1 = 16 * b1 < n ? 16 * b1 : n;
}

/* A job over a list of tensors as one concatenation of their elements: each thread takes
 * a contiguous share of it, in pieces that lie within one tensor. */
typedef struct {
    NlTensor *const *w;        /* the tensors (the parameters, for SGD) */
    NlTensor *const *v;        /* SGD: the velocities (NULL without momentum) */
    NlTensor *const *g;        /* SGD: the gradients (read only) */
    int n;
    int64_t total;             /* elements of all n tensors */
    double lr, mu, wd;
    int first;
} ListJob;

/* Calls piece(j, k, off, len) for this thread's share: elements [off, off + len) of tensor k. */
static void for_my_pieces(const ListJob *j, int tid, int nth, void (*piece)(const ListJob *, int, int64_t, int64_t)) {
    int64_t lo, hi, at = 0;
    block_share(j->total, tid, nth, &lo, &hi);
    for (int k = 0; k < j->n && at < hi; k++) {
        const int64_t m = j->w[k]->numel, a = lo > at ? lo : at, b = hi < at + m ? hi : at + m;
        if (a < b) piece(j, k, a - at, b - a);
        at += m;
    }
}

static int64_t total_numel(NlTensor *const *ts, int n) {
    int64_t t = 0;
    for (int k = 0; k < n; k++) t += ts[k]->numel;
    return t;
}

static void zero_piece(const ListJob *j, int k, int64_t off, int64_t len) {
    memset(j->w[k]->data + off, 0, (size_t)len * sizeof(float));
}

static void zero_worker(void *arg, int tid, int nth) { for_my_pieces(arg, tid, nth, zero_piece); }

void nl_zero_grads(NlCtx *c, NlTensor *const *ts, int n) {
    ListJob j = { .w = ts, .n = n, .total = total_numel(ts, n) };
    nl_parallel(nl_par_threads_from(c, j.total, NL_PAR_MIN_NUMEL_WARM), zero_worker, &j);
}

static void sgd_piece(const ListJob *j, int k, int64_t off, int64_t len) {
    nl_nl_sgd(j->w[k]->data + off, j->v ? j->v[k]->data + off : NULL, j->g[k]->data + off, len, j->lr, j->mu, j->wd,
              j->first);
}

static void sgd_worker(void *arg, int tid, int nth) { for_my_pieces(arg, tid, nth, sgd_piece); }

/* The update of checked tensors: per element, in double: d = g + wd*w (L2 decay joins the
 * gradient); with momentum v = d, then v = mu*v + d, stored as float, and the step uses the
 * stored (float) velocity, as PyTorch does; w -= lr*d. Vectorized in normloops.c, same
 * bits; the elements are independent, so splitting them between threads changes nothing. */
static void run_sgd(NlCtx *c, NlTensor *const *w, NlTensor *const *v, NlTensor *const *g, int n, double lr,
                    double momentum, double weight_decay, int first) {
    ListJob j = { .w = w, .v = momentum != 0 ? v : NULL, .g = g, .n = n, .total = total_numel(w, n), .lr = lr,
                  .mu = momentum, .wd = weight_decay, .first = first };
    nl_parallel(nl_par_threads_from(c, j.total, NL_PAR_MIN_NUMEL_WARM), sgd_worker, &j);
}

nl_status nl_sgd_step(NlCtx *c, NlTensor *w, NlTensor *v, const NlTensor *g,
                      double lr, double momentum, double weight_decay, int first) {
    nl_status s;
    if ((s = check_sgd(c, lr, momentum, weight_decay))) return s;
    if ((s = check_like(c, "sgd", "gradient", g, w))) return s;
    if (momentum != 0) {
        if (!v) return nl_fail(c, NL_EARG, "sgd: momentum %g needs a velocity buffer", momentum);
        if ((s = check_like(c, "sgd", "momentum buffer", v, w))) return s;
    }
    NlTensor *gm = (NlTensor *)g;   /* the list job's type; the gradient is only read */
    run_sgd(c, &w, &v, &gm, 1, lr, momentum, weight_decay, first);
    return NL_OK;
}

nl_status nl_sgd_step_many(NlCtx *c, NlTensor *const *w, NlTensor *const *v, NlTensor *const *g, int n,
                           double lr, double momentum, double weight_decay, int first) {
    nl_status s;
    if ((s = check_sgd(c, lr, momentum, weight_decay))) return s;
    if (momentum != 0 && !v) return nl_fail(c, NL_EARG, "sgd: momentum %g needs velocity buffers", momentum);
    for (int k = 0; k < n; k++) {   /* every tensor is checked before any is updated */
        if (g[k]->numel == w[k]->numel && (momentum == 0 || v[k]->numel == w[k]->numel)) continue;
        char what[64];
        snprintf(what, sizeof what, "sgd: parameter %d of %d", k + 1, n);
        if ((s = check_like(c, what, "gradient", g[k], w[k]))) return s;
        return check_like(c, what, "momentum buffer", v[k], w[k]);
    }
    run_sgd(c, w, v, g, n, lr, momentum, weight_decay, first);
    return NL_OK;
}

nl_status nl_adam_step(NlCtx *c, NlTensor *w, NlTensor *m, NlTensor *v, const NlTensor *g,
                       double lr, double beta1, double beta2, double eps, double weight_decay,
                       int64_t step) {
    nl_status s;
    if ((s = check_hyper(c, "adam", lr, weight_decay))) return s;
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        return nl_fail(c, NL_EARG, "adam: betas must be in [0, 1), got (%g, %g)", beta1, beta2);
    if (!(eps >= 0)) return nl_fail(c, NL_EARG, "adam: eps must be >= 0, got %g", eps);
    if (step < 1) return nl_fail(c, NL_EARG, "adam: step must be >= 1, got %lld", (long long)step);
    if ((s = check_like(c, "adam", "gradient", g, w)) || (s = check_like(c, "adam", "exp_avg", m, w)) ||
        (s = check_like(c, "adam", "exp_avg_sq", v, w)))
        return s;
    const double bc1 = 1.0 - pow(beta1, (double)step);          /* bias corrections */
    const double bc2_sqrt = sqrt(1.0 - pow(beta2, (double)step));
    const double step_size = lr / bc1;
    for (int64_t i = 0; i < w->numel; i++) {
        const double d = (double)g->data[i] + weight_decay * w->data[i];
        m->data[i] = (float)(beta1 * m->data[i] + (1.0 - beta1) * d);      /* first moment */
        v->data[i] = (float)(beta2 * v->data[i] + (1.0 - beta2) * d * d);  /* second moment */
        const double denom = sqrt((double)v->data[i]) / bc2_sqrt + eps;
        w->data[i] = (float)(w->data[i] - step_size * m->data[i] / denom);
    }
    return NL_OK;
}
