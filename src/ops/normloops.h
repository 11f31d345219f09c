/* normloops.h: the inner loops of batch and group normalization and of SGD, vectorized (AVX-512 or
 * AVX2 when the CPU has them, chosen once at run time) and in double precision exactly as the
 * scalar reference writes them, so the per-element results are bitwise those of the plain
 * loops; only the sums are reassociated (8-way, in double).
 *
 *   nl_nl_sum(p, n)                      sum_i p[i]
 *   nl_nl_sumsq_dev(p, n, mean)          sum_i (p[i] - mean)^2
 *   nl_nl_affine(q, p, n, mean, a, b, relu)
 *                                        q[i] = (float)((p[i] - mean) * a + b), then with relu != 0
 *                                        q[i] = q[i] < 0 ? 0 : q[i] (a fused ReLU, as act.c's)
 *   nl_nl_dot_xhat(g, r, p, n, mean, is, &sg, &sgx)
 *                                        sg = sum g'[i], sgx = sum g'[i] * ((p[i] - mean) * is)
 *   nl_nl_bn_dx(q, g, r, p, n, mean, is, k, mg, mgx)
 *                                        q[i] = (float)(k * (g'[i] - mg - ((p[i] - mean) * is) * mgx))
 *   nl_nl_gn_dx(q, g, r, p, n, mean, is, ga, mg, mgx)
 *                                        q[i] = (float)(is * (ga * g'[i] - mg - ((p[i] - mean) * is) * mgx))
 *     where g'[i] = g[i], or with a fused ReLU (r not NULL: the forward's affine map)
 *     g'[i] = y > 0 ? g[i] : 0 (the ReLU's backward) with y = (float)((p[i] - r->mean) * r->a + r->b)
 *     recomputed as nl_nl_affine made it, so the mask is bitwise the one its rectified output
 *     gives (NaN and -0 included) when mean, a and b are the forward's doubles exactly
 *   nl_nl_sgd(w, v, g, n, lr, mu, wd, first)
 *                                        SGD with momentum, per element (src/ops/optim.h):
 *                                        d = g + wd*w; v = (float)(first ? d : mu*v + d) (v may
 *                                        be NULL when mu == 0: then v is d); w = (float)(w - lr*v)
 * (all arithmetic in double; p, g: float inputs; q: float output, may not alias them) */
#ifndef NL_OPS_NORMLOOPS_H
#define NL_OPS_NORMLOOPS_H

#include <stdint.h>

/* A fused ReLU's forward affine map, for the backward loops to recompute its mask from p. */
typedef struct { double mean, a, b; } NlNlRelu;

double nl_nl_sum(const float *p, int64_t n);
double nl_nl_sumsq_dev(const float *p, int64_t n, double mean);
void nl_nl_affine(float *q, const float *p, int64_t n, double mean, double a, double b, int relu);
void nl_nl_dot_xhat(const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean, double is,
                    double *sg, double *sgx);
void nl_nl_bn_dx(float *q, const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean, double is,
                 double k, double mg, double mgx);
void nl_nl_gn_dx(float *q, const float *g, const NlNlRelu *r, const float *p, int64_t n, double mean, double is,
                 double ga, double mg, double mgx);
void nl_nl_sgd(float *w, float *v, const float *g, int64_t n, double lr, double mu, double wd, int first);

#endif
