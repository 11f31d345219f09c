/* normloops.c: see normloops.h. Each loop is written once on 8-double vectors (GCC vector
 * extensions, in normloops_isa.h) and instantiated three times: AVX-512, AVX2 (target
 * attributes) and the baseline build; the first call picks one by CPUID. The instances
 * differ only in how 8 floats become 8 doubles: GCC 12 splits the generic conversion into
 * two halves and two shuffles, which bounds the AVX-512 loops, so that instance uses the
 * one-instruction intrinsic (exact either way). Floating-point contraction is off in
 * normlab's ISO C build (-std=c11), so a*b + c stays two roundings, as in the scalar
 * reference. */
#include "normloops.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

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
#define store8(q, v) (*(vf8 *)(q) = __builtin_convertvector((v), vf8))
#define hsum(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))
#define splat(x) ((x) - (vd){ 0 })

/* The fused ReLU works on the float values, exactly as act.c's separate pass would:
 * forward v < 0 ? 0 : v (NaN and -0 pass through), backward g where the output > 0, else 0. */
#define relu8(v) ((vf8)((vi8)(v) & ~(vi8)((v) < 0)))
INLINE float relu1(float v) { return v < 0 ? 0.0f : v; }

static const NlNlRelu NL_NO_RELU = { 0, 0, 0 };

typedef struct {
    double (*sum)(const float *, int64_t);
    double (*sumsq_dev)(const float *, int64_t, double);
    void (*affine)(float *, const float *, int64_t, double, double, double, int);
    void (*dot_xhat)(const float *, const NlNlRelu *, const float *, int64_t, double, double, double *, double *);
    void (*bn_dx)(float *, const float *, const NlNlRelu *, const float *, int64_t, double, double, double, double,
                  double);
    void (*gn_dx)(float *, const float *, const NlNlRelu *, const float *, int64_t, double, double, double, double,
                  double);
    void (*sgd)(float *, float *, const float *, int64_t, double, double, double, int);
} Loops;

#define load8(p) cvt8(*(const vf8 *)(p))
#define cvt8(v) __builtin_convertvector((v), vd)
#define SUF base
#define ATTR
#include "normloops_isa.h"
#undef SUF
#undef ATTR

#if defined(__x86_64__) && defined(__GNUC__)
#define SUF avx2
#define ATTR __attribute__((target("avx2")))
#include "normloops_isa.h"
#undef SUF
#undef ATTR
#undef cvt8

#define cvt8(v) ((vd)_mm512_cvtps_pd((__m256)(v)))
#define SUF avx512
#define ATTR __attribute__((target("avx512f")))
#include "normloops_isa.h"
#undef SUF
#undef ATTR
#endif
#undef cvt8
#undef load8

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
void nl_nl_dot_xhat(const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean, double is,
                    double *sg, double *sgx) {
    loops()->dot_xhat(g, r, p, n, mean, is, sg, sgx);
}
void nl_nl_bn_dx(float *q, const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean, double is,
                 double k, double mg, double mgx) {
    loops()->bn_dx(q, g, r, p, n, mean, is, k, mg, mgx);
}
void nl_nl_gn_dx(float *q, const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean, double is,
                 double ga, double mg, double mgx) {
    loops()->gn_dx(q, g, r, p, n, mean, is, ga, mg, mgx);
}
void nl_nl_sgd(float *w, float *v, const float *g, int64_t n, double lr, double mu, double wd, int first) {
    loops()->sgd(w, v, g, n, lr, mu, wd, first);
}
