/* act.c: ReLU, LeakyReLU, Sigmoid and Tanh, forward and backward (formulas in act.h).
 *
 * Shapes: any; tensors are contiguous so each op is one flat loop over numel elements.
 * Only the element counts are compared, so a (N,C,H,W) gradient may be passed with a
 * flattened view of the same data.
 *
 * Speed: activations see every value of every feature map, twice per step. The loops are
 * branch-free (a data-dependent branch on the sign of x mispredicts half the time: 8 ms
 * instead of 0.7 ms per million values) and run in blocks of 8 that are first loaded into a
 * local array, so the compiler vectorizes them even at -O2 without assuming that y and x
 * are distinct (forward may run in place). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "act.h"
#include "parallel.h"

/* Same element count for the tensors of one call (b2 may be NULL). */
static nl_status same_numel(NlCtx *c, const char *what, const NlTensor *a, const NlTensor *b,
                            const NlTensor *b2) {
    char sa[96], sb[96];
    if (a->numel != b->numel)
        return nl_fail(c, NL_ESHAPE, "%s: shapes %s and %s differ", what,
                       nl_shape_str(a, sa, sizeof sa), nl_shape_str(b, sb, sizeof sb));
    if (b2 && a->numel != b2->numel)
        return nl_fail(c, NL_ESHAPE, "%s: shapes %s and %s differ", what,
                       nl_shape_str(a, sa, sizeof sa), nl_shape_str(b2, sb, sizeof sb));
    return NL_OK;
}

/* out[i] = F(a[i]) for i < n, in blocks of 8 (see the file comment), then the tail. */
#define MAP1(out, a, n, F)                                                      \
    do {                                                                        \
        int64_t i_ = 0;                                                         \
        for (; i_ + 8 <= (n); i_ += 8) {                                        \
            float va_[8];                                                       \
            for (int q_ = 0; q_ < 8; q_++) va_[q_] = (a)[i_ + q_];              \
            for (int q_ = 0; q_ < 8; q_++) (out)[i_ + q_] = F(va_[q_]);         \
        }                                                                       \
        for (; i_ < (n); i_++) (out)[i_] = F((a)[i_]);                          \
    } while (0)

/* out[i] += G(g[i], a[i]) for i < n: the backward form (g = grad output). */
#define ACC2(out, g, a, n, G)                                                   \
    do {                                                                        \
        int64_t i_ = 0;                                                         \
        for (; i_ + 8 <= (n); i_ += 8) {                                        \
            float vg_[8], va_[8];                                               \
            for (int q_ = 0; q_ < 8; q_++) vg_[q_] = (g)[i_ + q_], va_[q_] = (a)[i_ + q_]; \
            for (int q_ = 0; q_ < 8; q_++) (out)[i_ + q_] += G(vg_[q_], va_[q_]); \
        }                                                                       \
        for (; i_ < (n); i_++) (out)[i_] += G((g)[i_], (a)[i_]);                \
    } while (0)

/* ---- ReLU: y = max(x, 0); PyTorch's relu also keeps NaN as NaN ---- */

/* v < 0 ? 0 : v is exactly the x86 max instruction with v second: NaN passes through */
#define RELU(v) ((v) < 0.0f ? 0.0f : (v))
/* cond ? a : b on the bits (cond is 0 or 1). GCC -O2 leaves a ?: between two values as a
 * branch inside the block, which blocks vectorization; and/or of masks vectorizes. */
static inline float select_f(int cond, float a, float b) {
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)cond;   /* all ones or zero */
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* dx += dy * [x > 0] as a select, not a multiply (0 * inf would be NaN, PyTorch gives 0) */
static inline float relu_grad(float g, float v) { return select_f(v > 0.0f, g, 0.0f); }
#define RELU_GRAD(g, v) relu_grad(g, v)

/* ReLU and LeakyReLU are pure streams over memory: on tensors of at least NL_PAR_MIN_NUMEL
 * elements they are split into c->threads contiguous slices (nl_parallel), each element
 * computed exactly as in one pass. */
enum { OP_RELU_F, OP_RELU_B, OP_LEAKY_F, OP_LEAKY_B };

typedef struct {
    int op;
    float *out;
    const float *a, *b;   /* forward: a = x; backward: a = dy, b = x */
    int64_t n;
    float slope;
} ActJob;

static void act_slice(const ActJob *j, int64_t lo, int64_t hi) {
    float *out = j->out + lo;
    const float *a = j->a + lo, *b = j->b ? j->b + lo : NULL;
    const int64_t n = hi - lo;
    const float slope = j->slope;
    switch (j->op) {
    case OP_RELU_F: MAP1(out, a, n, RELU); break;
    case OP_RELU_B: ACC2(out, a, b, n, RELU_GRAD); break;
    case OP_LEAKY_F: {
        /* y = x * (x > 0 ? 1 : slope); x * 1 is exact */
#define LEAKY(v) ((v) * select_f((v) > 0.0f, 1.0f, slope))
        MAP1(out, a, n, LEAKY);
#undef LEAKY
        break;
    }
    case OP_LEAKY_B: {
        /* dx += dy * (x > 0 ? 1 : slope) */
#define LEAKY_GRAD(g, v) ((g) * select_f((v) > 0.0f, 1.0f, slope))
        ACC2(out, a, b, n, LEAKY_GRAD);
#undef LEAKY_GRAD
        break;
    }
    }
}

static void act_worker(void *arg, int tid, int nth) {
    const ActJob *j = arg;
    long long lo, hi;
    nl_par_range(j->n / 16, tid, nth, &lo, &hi);   /* slices of whole 64-byte lines */
    lo *= 16, hi = tid == nth - 1 ? j->n : hi * 16;
    act_slice(j, lo, hi);
}

static void act_run(NlCtx *c, ActJob *j) {
    const int nth = nl_par_threads(c, j->n);
    if (nth > 1)
        nl_parallel(nth, act_worker, j);
    else
        act_slice(j, 0, j->n);
}

nl_status nl_relu_forward(NlCtx *c, NlTensor *y, const NlTensor *x) {
    nl_status s = same_numel(c, "relu: output and input", y, x, NULL);
    if (s) return s;
    ActJob j = { OP_RELU_F, y->data, x->data, NULL, x->numel, 0.0f };
    act_run(c, &j);
    return NL_OK;
}

nl_status nl_relu_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *x) {
    nl_status s = same_numel(c, "relu: grad input, grad output and input", dx, dy, x);
    if (s) return s;
    ActJob j = { OP_RELU_B, dx->data, dy->data, x->data, x->numel, 0.0f };
    act_run(c, &j);
    return NL_OK;
}

/* ---- LeakyReLU: the protocol uses slope 0.01 ---- */

nl_status nl_leakyrelu_forward(NlCtx *c, NlTensor *y, const NlTensor *x, float slope) {
    nl_status s = same_numel(c, "leakyrelu: output and input", y, x, NULL);
    if (s) return s;
    ActJob j = { OP_LEAKY_F, y->data, x->data, NULL, x->numel, slope };
    act_run(c, &j);
    return NL_OK;
}

nl_status nl_leakyrelu_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *x,
                                float slope) {
    nl_status s = same_numel(c, "leakyrelu: grad input, grad output and input", dx, dy, x);
    if (s) return s;
    ActJob j = { OP_LEAKY_B, dx->data, dy->data, x->data, x->numel, slope };
    act_run(c, &j);
    return NL_OK;
}

/* ---- Sigmoid: the derivative y (1 - y) needs only the output, so x need not be kept ---- */

/* e^-a for a >= 0 (or NaN) without libm, so that it vectorizes (glibc's expf is scalar).
 * Relative error about 1e-7:
 *   -a is clamped to [-87, 0] (e^-87 = 1.6e-38, the smallest normal power of two is 2^-126),
 *   k = round(-a / ln 2) by the 1.5*2^23 trick (the integer lands in the low mantissa bits,
 *   so no float->int conversion is needed, which would be undefined for NaN),
 *   r = -a - k ln 2 in two parts (Cody-Waite), |r| <= ln(2)/2,
 *   e^r by its Taylor series to r^7 (the first omitted term is below 5e-9),
 *   e^-a = e^r * 2^k with 2^k built from its exponent bits. NaN propagates through r.
 * EXP_NEG_BODY is written once for float and for 4-float vectors (GCC/clang vector
 * extensions): T is the value type, U the matching unsigned integer type, SEL a select. */
#define EXP_MAGIC 12582912.0f   /* 1.5 * 2^23 */
#define EXP_NEG_BODY(T, U, SEL, a)                                                        \
    T z = -(a);                                                                           \
    z = SEL(z < -87.0f, (T){0} - 87.0f, z);                                                \
    T m = z * 1.44269504f + EXP_MAGIC;                     /* magic + k */                \
    T k = m - EXP_MAGIC;                                                                  \
    T r = (z - k * 0.693359375f) - k * -2.12194440e-4f;    /* ln 2 = hi + lo */           \
    T p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +                 \
          r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));                    \
    U mb, sb;                                                                             \
    memcpy(&mb, &m, sizeof mb);                                                           \
    sb = (mb - 0x4B400000u + 127u) << 23;                  /* exponent bits of 2^k */     \
    T scale;                                                                              \
    memcpy(&scale, &sb, sizeof scale);                                                    \
    return p * scale

#define SEL1(cond, a, b) select_f((cond), (a), (b))
static inline float exp_neg(float a) { EXP_NEG_BODY(float, uint32_t, SEL1, a); }

/* sigmoid(x) from t = e^-|x| in (0, 1], which never overflows:
 * x >= 0: 1 / (1 + t);  x < 0: t / (1 + t) (= e^x / (1 + e^x)). */
static inline float sigmoid_f(float v) {
    float t = exp_neg(fabsf(v));
    float d = 1.0f / (1.0f + t);
    return select_f(v >= 0.0f, d, t * d);
}

#if defined(__GNUC__)
/* The same on 4 floats at a time: SSE on x86-64, NEON on arm64, scalar code elsewhere. */
typedef float v4f __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
#define SEL4(cond, a, b) sel4((cond), (a), (b))
static inline v4f sel4(v4i cond, v4f a, v4f b) {   /* cond lanes are -1 (true) or 0 */
    v4u m = (v4u)cond;
    return (v4f)(((v4u)a & m) | ((v4u)b & ~m));
}
static inline v4f exp_neg4(v4f a) { EXP_NEG_BODY(v4f, v4u, SEL4, a); }
static inline v4f sigmoid4(v4f v) {
    v4f t = exp_neg4((v4f)((v4u)v & 0x7FFFFFFFu));   /* |v| */
    v4f d = 1.0f / (1.0f + t);
    return sel4(v >= 0.0f, d, t * d);
}
#endif

nl_status nl_sigmoid_forward(NlCtx *c, NlTensor *y, const NlTensor *x) {
    nl_status s = same_numel(c, "sigmoid: output and input", y, x, NULL);
    if (s) return s;
    const float *xd = x->data;
    float *yd = y->data;
    const int64_t n = x->numel;
    int64_t i = 0;
#if defined(__GNUC__)
    for (; i + 4 <= n; i += 4) {   /* memcpy: unaligned loads and stores, also in place */
        v4f v;
        memcpy(&v, xd + i, sizeof v);
        v = sigmoid4(v);
        memcpy(yd + i, &v, sizeof v);
    }
#endif
    for (; i < n; i++) yd[i] = sigmoid_f(xd[i]);   /* the same operations, one at a time */
    return NL_OK;
}

nl_status nl_sigmoid_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *y) {
    nl_status s = same_numel(c, "sigmoid: grad input, grad output and output", dx, dy, y);
    if (s) return s;
    /* dx += dy * y * (1 - y) */
#define SIGMOID_GRAD(g, v) ((g) * (v) * (1.0f - (v)))
    ACC2(dx->data, dy->data, y->data, y->numel, SIGMOID_GRAD);
#undef SIGMOID_GRAD
    return NL_OK;
}

/* ---- Tanh: likewise, d tanh(x)/dx = 1 - tanh(x)^2 from the output ---- */

/* tanh through one double exp (glibc's tanhf and expm1f take ~20 ns, exp ~4 ns):
 * tanh|x| = (1 - t) / (1 + t) with t = e^(-2|x|) in (0, 1]. In double, the cancellation in
 * 1 - t costs at most 1e-16 / (2|x|) relative, far below float's 6e-8 for |x| >= 1e-6; below
 * that tanh x = x - x^3/3 to float precision. NaN stays NaN, +-inf gives +-1. */
static inline float tanh_f(float v) {
    double a = fabs((double)v);
    if (a < 1e-6) return (float)((double)v - (double)v * v * v / 3.0);
    double t = exp(-2.0 * a);
    return (float)copysign((1.0 - t) / (1.0 + t), (double)v);
}

nl_status nl_tanh_forward(NlCtx *c, NlTensor *y, const NlTensor *x) {
    nl_status s = same_numel(c, "tanh: output and input", y, x, NULL);
    if (s) return s;
    for (int64_t i = 0; i < x->numel; i++) y->data[i] = tanh_f(x->data[i]);
    return NL_OK;
}

nl_status nl_tanh_backward(NlCtx *c, NlTensor *dx, const NlTensor *dy, const NlTensor *y) {
    nl_status s = same_numel(c, "tanh: grad input, grad output and output", dx, dy, y);
    if (s) return s;
    /* dx += dy * (1 - y^2) */
#define TANH_GRAD(g, v) ((g) * (1.0f - (v) * (v)))
    ACC2(dx->data, dy->data, y->data, y->numel, TANH_GRAD);
#undef TANH_GRAD
    return NL_OK;
}
