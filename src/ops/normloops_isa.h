/* normloops_isa.h: the loops of normloops.c for one instruction set. normloops.c includes
 * this file once per ISA, after defining
 *   SUF        the name suffix (base, avx2, avx512)
 *   ATTR       the functions' target attribute (empty for the baseline build)
 *   cvt8(v)    a vf8 as a vd, converted exactly (the conversion differs per ISA, nothing else)
 *   load8(p)   cvt8 of p[0..8)
 * Every loop is written once here; bodies take their flags as constants so that each entry
 * point compiles a loop without a test inside. Not a public header. */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SUF)

/* g[i..i+8) as doubles; with r (the fused ReLU, masked != 0) zeroed where the forward's
 * rectified output (float)((p - r.mean) * r.a + r.b) was not positive, i.e. where the
 * ReLU's backward passes nothing (NaN and -0 are not positive). The float rounding is
 * the forward's, so the mask is the one the rectified output would give. */
#define loadg8(g, p, i, r, masked) \
    ((masked) ? cvt8((vf8)((vi8) * (const vf8 *)((g) + (i)) & \
                           (vi8)(__builtin_convertvector((load8((p) + (i)) - splat((r).mean)) * splat((r).a) + \
                                                             splat((r).b), vf8) > 0))) \
              : load8((g) + (i)))
#define loadg1(g, p, i, r, masked) \
    ((masked) && !((float)(((p)[i] - (r).mean) * (r).a + (r).b) > 0) ? 0.0 : (double)(g)[i])

INLINE ATTR double FN(sum_body)(const float *p, int64_t n) {
    vd a = { 0 }, b = { 0 };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) a += load8(p + i), b += load8(p + i + 8);
    double s = hsum(a + b);
    for (; i < n; i++) s += p[i];
    return s;
}

INLINE ATTR double FN(sumsq_dev_body)(const float *p, int64_t n, double mean) {
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

INLINE ATTR void FN(affine_body)(float *q, const float *p, int64_t n, double mean, double a, double b, int relu) {
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

INLINE ATTR void FN(dot_xhat_body)(const float *g, NlNlRelu r, const float *p, int64_t n, double mean,
                              double is, double *sg, double *sgx, int masked) {
    vd a = { 0 }, b = { 0 }, m = splat(mean), vis = splat(is);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vd gv = loadg8(g, p, i, r, masked);
        a += gv;
        b += gv * ((load8(p + i) - m) * vis);
    }
    double s = hsum(a), t = hsum(b);
    for (; i < n; i++) {
        const double gi = loadg1(g, p, i, r, masked);
        s += gi;
        t += gi * ((p[i] - mean) * is);
    }
    *sg = s, *sgx = t;
}

/* Both normalizations' input gradient: q = outer * (inner*g - mg - xhat*mgx). Batch norm
 * passes inner = 1 (1.0*g is g exactly, so its results are those of k*(g - ...)). */
INLINE ATTR void FN(norm_dx_body)(float *q, const float *g, NlNlRelu r, const float *p, int64_t n,
                                  double mean, double is, double outer, double inner, double mg, double mgx,
                                  int masked) {
    vd m = splat(mean), vis = splat(is), vo = splat(outer), vi = splat(inner), vmg = splat(mg), vmgx = splat(mgx);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vd xhat = (load8(p + i) - m) * vis;
        store8(q + i, vo * (vi * loadg8(g, p, i, r, masked) - vmg - xhat * vmgx));
    }
    for (; i < n; i++) {
        const double xhat = (p[i] - mean) * is;
        q[i] = (float)(outer * (inner * loadg1(g, p, i, r, masked) - mg - xhat * mgx));
    }
}

/* d = g + wd*w; with momentum: v = (float)d on the first step, else (float)(mu*v + d), and the
 * step uses that stored float velocity; w = (float)(w - lr*d) */
INLINE ATTR void FN(sgd_body)(float *w, float *v, const float *g, int64_t n, double lr, double mu, double wd,
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

/* The entry points: each branches once on its flag or mask pointer. */
ATTR static double FN(sum)(const float *p, int64_t n) { return FN(sum_body)(p, n); }

ATTR static double FN(sumsq_dev)(const float *p, int64_t n, double mean) {
    return FN(sumsq_dev_body)(p, n, mean);
}

ATTR static void FN(affine)(float *q, const float *p, int64_t n, double mean, double a, double b, int relu) {
    if (relu) FN(affine_body)(q, p, n, mean, a, b, 1);
    else FN(affine_body)(q, p, n, mean, a, b, 0);
}

ATTR static void FN(dot_xhat)(const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean,
                              double is, double *sg, double *sgx) {
    if (r) FN(dot_xhat_body)(g, *r, p, n, mean, is, sg, sgx, 1);
    else FN(dot_xhat_body)(g, NL_NO_RELU, p, n, mean, is, sg, sgx, 0);
}

ATTR static void FN(bn_dx)(float *q, const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean,
                           double is, double k, double mg, double mgx) {
    if (r) FN(norm_dx_body)(q, g, *r, p, n, mean, is, k, 1.0, mg, mgx, 1);
    else FN(norm_dx_body)(q, g, NL_NO_RELU, p, n, mean, is, k, 1.0, mg, mgx, 0);
}

ATTR static void FN(gn_dx)(float *q, const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean,
                           double is, double ga, double mg, double mgx) {
    if (r) FN(norm_dx_body)(q, g, *r, p, n, mean, is, is, ga, mg, mgx, 1);
    else FN(norm_dx_body)(q, g, NL_NO_RELU, p, n, mean, is, is, ga, mg, mgx, 0);
}

ATTR static void FN(sgd)(float *w, float *v, const float *g, int64_t n, double lr, double mu, double wd,
                         int first) {
    FN(sgd_body)(w, v, g, n, lr, mu, wd, first);
}

static const Loops FN(loops) = { FN(sum), FN(sumsq_dev), FN(affine), FN(dot_xhat), FN(bn_dx), FN(gn_dx), FN(sgd) };

#undef FN
#undef CAT
#undef CAT_
#undef loadg8
#undef loadg1
