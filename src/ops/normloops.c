/* normloops.c: see normloops.h. Each loop is written once on 8-double vectors (GCC vector
 * extensions, as an always-inline body) and instantiated three times: AVX-512, AVX2 (target
 * attributes) and the baseline build; the first call picks one by CPUID. Floating-point
 * contraction is off in normlab's ISO C build (-std=c11), so a*b + c stays two roundings,
 * as in the scalar reference. */
#include "normloops.h"

/* GCC keeps a*b + c as two roundings under -std=c11; clang contracts within an expression
 * unless told not to. */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

typedef double vd __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int vi8 __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))
/* macros, not functions: a 64-byte vector argument would change the baseline build's ABI */
#define load8(p) __builtin_convertvector(*(const vf8 *)(p), vd)
#define store8(q, v) (*(vf8 *)(q) = __builtin_convertvector((v), vf8))
#define hsum(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))
#define splat(x) ((x) - (vd){ 0 })

/* The fused ReLU works on the float values, exactly as act.c's separate pass would:
 * forward v < 0 ? 0 : v (NaN and -0 pass through), backward g where y > 0, else 0. */
#define relu8(v) ((vf8)((vi8)(v) & ~(vi8)((v) < 0)))
INLINE float relu1(float v) { return v < 0 ? 0.0f : v; }
/* g[i..i+8) as doubles, zeroed where the rectified output y is not positive (masked) */
#define loadg8(g, y, i, masked) \
    ((masked) ? __builtin_convertvector((vf8)((vi8) * (const vf8 *)((g) + (i)) & (vi8)(*(const vf8 *)((y) + (i)) > 0)), vd) \
              : load8((g) + (i)))
#define loadg1(g, y, i, masked) ((masked) && !((y)[i] > 0) ? 0.0 : (double)(g)[i])

INLINE double sum_body(const float *p, int64_t n) {
    vd a = { 0 }, b = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) a += load8(p + i), b += load8(p + i + 8);
    double s = hsum(a + b);
    for (; i < n; i++) s += p[i];
    return s;
}

INLINE double sumsq_dev_body(const float *p, int64_t n, double mean) {
    vd a = { 0 }, b = { 0 }, m = splat(mean);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        vd d0 = load8(p + i) - m, d1 = load8(p + i + 8) - m;
        a += d0 * d0, b += d1 * d1;
    }
    double s = hsum(a + b);
    for (; i < n; i++) { double d = p[i] - mean; s += d * d; }
    return s;
}

INLINE void affine_body(float *q, const float *p, int64_t n, double mean, double a, double b, int relu) {
    vd m = splat(mean), va = splat(a), vb = splat(b);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vf8 v = __builtin_convertvector((load8(p + i) - m) * va + vb, vf8);
        *(vf8 *)(q + i) = relu ? relu8(v) : v;
    }
    for (; i < n; i++) {
        const float v = (float)((p[i] - mean) * a + b);
        q[i] = relu ? relu1(v) : v;
    }
}

/* In the three backward loops y (masked != 0) is the layer's ReLU-rectified output: the
 * gradient g is taken as 0 where y is not positive (a fused ReLU backward). */
INLINE void dot_xhat_body(const float *g, const float *y, const float *p, int64_t n, double mean, double is,
                          double *sg, double *sgx, int masked) {
    vd a = { 0 }, b = { 0 }, m = splat(mean), vis = splat(is);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vd gv = loadg8(g, y, i, masked);
        a += gv;
        b += gv * ((load8(p + i) - m) * vis);
    }
    double s = hsum(a), t = hsum(b);
    for (; i < n; i++) {
        const double gi = loadg1(g, y, i, masked);
        s += gi;
        t += gi * ((p[i] - mean) * is);
    }
    *sg = s, *sgx = t;
}

INLINE void bn_dx_body(float *q, const float *g, const float *y, const float *p, int64_t n, double mean,
                       double is, double k, double mg, double mgx, int masked) {
    vd m = splat(mean), vis = splat(is), vk = splat(k), vmg = splat(mg), vmgx = splat(mgx);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vd xhat = (load8(p + i) - m) * vis;
        store8(q + i, vk * (loadg8(g, y, i, masked) - vmg - xhat * vmgx));
    }
    for (; i < n; i++) {
        const double xhat = (p[i] - mean) * is;
        q[i] = (float)(k * (loadg1(g, y, i, masked) - mg - xhat * mgx));
    }
}

INLINE void gn_dx_body(float *q, const float *g, const float *y, const float *p, int64_t n, double mean,
                       double is, double ga, double mg, double mgx, int masked) {
    vd m = splat(mean), vis = splat(is), vga = splat(ga), vmg = splat(mg), vmgx = splat(mgx);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vd xhat = (load8(p + i) - m) * vis;
        store8(q + i, vis * (vga * loadg8(g, y, i, masked) - vmg - xhat * vmgx));
    }
    for (; i < n; i++) {
        const double xhat = (p[i] - mean) * is;
        q[i] = (float)(is * (ga * loadg1(g, y, i, masked) - mg - xhat * mgx));
    }
}

/* d = g + wd*w; with momentum: v = (float)d on the first step, else (float)(mu*v + d), and the
 * step uses that stored float velocity; w = (float)(w - lr*d) */
INLINE void sgd_body(float *w, float *v, const float *g, int64_t n, double lr, double mu, double wd,
                     int first) {
    vd vlr = splat(lr), vmu = splat(mu), vwd = splat(wd);
    int64_t i = 0;
    if (v) {
        for (; i + 8 <= n; i += 8) {
            vd wv = load8(w + i), d = load8(g + i) + vwd * wv;
            if (!first) d = vmu * load8(v + i) + d;
            store8(v + i, d);
            d = load8(v + i);
            store8(w + i, wv - vlr * d);
        }
        for (; i < n; i++) {
            double d = (double)g[i] + wd * w[i];
            d = first ? d : mu * v[i] + d;
            v[i] = (float)d;
            d = v[i];
            w[i] = (float)(w[i] - lr * d);
        }
    } else {
        for (; i + 8 <= n; i += 8) {
            vd wv = load8(w + i), d = load8(g + i) + vwd * wv;
            store8(w + i, wv - vlr * d);
        }
        for (; i < n; i++) {
            double d = (double)g[i] + wd * w[i];
            w[i] = (float)(w[i] - lr * d);
        }
    }
}

typedef struct {
    double (*sum)(const float *, int64_t);
    double (*sumsq_dev)(const float *, int64_t, double);
    void (*affine)(float *, const float *, int64_t, double, double, double, int);
    void (*dot_xhat)(const float *, const float *, const float *, int64_t, double, double, double *, double *);
    void (*bn_dx)(float *, const float *, const float *, const float *, int64_t, double, double, double, double,
                  double);
    void (*gn_dx)(float *, const float *, const float *, const float *, int64_t, double, double, double, double,
                  double);
    void (*sgd)(float *, float *, const float *, int64_t, double, double, double, int);
} Loops;

/* Each entry point branches once on its flag or mask pointer; the always-inline bodies
 * are then compiled twice, each loop without a test inside. */
#define INSTANCE(SUF, ATTR)                                                                           \
    ATTR static double sum_##SUF(const float *p, int64_t n) { return sum_body(p, n); }               \
    ATTR static double sumsq_dev_##SUF(const float *p, int64_t n, double mean) {                     \
        return sumsq_dev_body(p, n, mean);                                                           \
    }                                                                                                \
    ATTR static void affine_##SUF(float *q, const float *p, int64_t n, double mean, double a, double b, \
                                  int relu) {                                                        \
        if (relu) affine_body(q, p, n, mean, a, b, 1);                                               \
        else affine_body(q, p, n, mean, a, b, 0);                                                    \
    }                                                                                                \
    ATTR static void dot_xhat_##SUF(const float *g, const float *y, const float *p, int64_t n, double mean, \
                                    double is, double *sg, double *sgx) {                            \
        if (y) dot_xhat_body(g, y, p, n, mean, is, sg, sgx, 1);                                      \
        else dot_xhat_body(g, y, p, n, mean, is, sg, sgx, 0);                                        \
    }                                                                                                \
    ATTR static void bn_dx_##SUF(float *q, const float *g, const float *y, const float *p, int64_t n,  \
                                 double mean, double is, double k, double mg, double mgx) {          \
        if (y) bn_dx_body(q, g, y, p, n, mean, is, k, mg, mgx, 1);                                   \
        else bn_dx_body(q, g, y, p, n, mean, is, k, mg, mgx, 0);                                     \
    }                                                                                                \
    ATTR static void gn_dx_##SUF(float *q, const float *g, const float *y, const float *p, int64_t n,  \
                                 double mean, double is, double ga, double mg, double mgx) {         \
        if (y) gn_dx_body(q, g, y, p, n, mean, is, ga, mg, mgx, 1);                                  \
        else gn_dx_body(q, g, y, p, n, mean, is, ga, mg, mgx, 0);                                    \
    }                                                                                                \
    ATTR static void sgd_##SUF(float *w, float *v, const float *g, int64_t n, double lr, double mu,    \
                               double wd, int first) {                                               \
        sgd_body(w, v, g, n, lr, mu, wd, first);                                                     \
    }                                                                                                \
    static const Loops loops_##SUF = { sum_##SUF, sumsq_dev_##SUF, affine_##SUF, dot_xhat_##SUF,     \
                                       bn_dx_##SUF, gn_dx_##SUF, sgd_##SUF };

INSTANCE(base, )
#if defined(__x86_64__) && defined(__GNUC__)
INSTANCE(avx2, __attribute__((target("avx2"))))
INSTANCE(avx512, __attribute__((target("avx512f"))))
#endif

/* The loops for this CPU (chosen once; a race only stores the same pointer twice). */
static const Loops *loops(void) {
    static const Loops *chosen;
    const Loops *l = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (l) return l;
    l = &loops_base;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) l = &loops_avx512;
    else if (__builtin_cpu_supports("avx2")) l = &loops_avx2;
#endif
    __atomic_store_n(&chosen, l, __ATOMIC_RELEASE);
    return l;
}

double nl_nl_sum(const float *p, int64_t n) { return loops()->sum(p, n); }
double nl_nl_sumsq_dev(const float *p, int64_t n, double mean) { return loops()->sumsq_dev(p, n, mean); }
void nl_nl_affine(float *q, const float *p, int64_t n, double mean, double a, double b, int relu) {
    loops()->affine(q, p, n, mean, a, b, relu);
}
void nl_nl_dot_xhat(const float *g, const float *y, const float *p, int64_t n, double mean, double is,
                    double *sg, double *sgx) {
    loops()->dot_xhat(g, y, p, n, mean, is, sg, sgx);
}
void nl_nl_bn_dx(float *q, const float *g, const float *y, const float *p, int64_t n, double mean, double is,
                 double k, double mg, double mgx) {
    loops()->bn_dx(q, g, y, p, n, mean, is, k, mg, mgx);
}
void nl_nl_gn_dx(float *q, const float *g, const float *y, const float *p, int64_t n, double mean, double is,
                 double ga, double mg, double mgx) {
    loops()->gn_dx(q, g, y, p, n, mean, is, ga, mg, mgx);
}
void nl_nl_sgd(float *w, float *v, const float *g, int64_t n, double lr, double mu, double wd, int first) {
    loops()->sgd(w, v, g, n, lr, mu, wd, first);
}
