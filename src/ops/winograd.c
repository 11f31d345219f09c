/* winograd.c: F(4x4, 3x3) and F(2x2, 3x3) Winograd convolution (see winograd.h for the maths
 * and shapes). Below, for F(4x4,3x3): 36 points, 6x6 patches, 4x4 output tiles; F(2x2,3x3)
 * (the accurate grad input, and the forward pass on request) is the same with 16 points,
 * 4x4 patches and 2x2 output tiles.
 *
 * Data flow for one chunk of images (one thread; the images of a call are split between
 * the threads, and each thread walks its share a chunk at a time so that a chunk's
 * transformed data stays in its core's L2):
 *
 *   x_n (Cin, H, W) --to_nhwc--> Xp (hp, wp, cip)        zero-padded NHWC image, channels
 *                                                         padded to cip = 16*ceil(Cin/16)
 *   Xp --in_tf--> V[a][t][c]     a < 36 transform points, t < T tiles of the chunk:
 *                                V[.][t][.] = B^T d B for the 6x6 patch d of tile t
 *   M[a] (T x cop) = V[a] (T x cip) . U[a] (cip x cop)    36 GEMMs (gemm_*)
 *   M --out_tf--> Yt (4*th, 4*tw, cop)   A^T m A (+ bias) for every 4x4 output tile
 *   Yt --from_nhwc--> y_n (Cout, Ho, Wo)  (= or +=)
 *
 * The backward pass (merged_worker, pad 1) runs the same pipeline per chunk on x (V, for the
 * weight gradient), on dy (transposed once into a padded NHWC buffer, read both as 4x4 tiles
 * D = A dy A^T and as the data gradient's input Vb) and finishes with dU += V^T D and
 * dx = A^T (Vb . U') A, U' the transformed flipped and transposed weights.
 *
 * A chunk's point GEMMs (the 36 or 16 of the forward pass, the weight gradient's and the data
 * gradient's) are an item set of helping.h: a thread that is done with its own share takes
 * some of them from a slower one (each GEMM whole, so the results do not change).
 *
 * Tiles: tile (i, j) of an image covers outputs [4i, 4i+4) x [4j, 4j+4) and reads the
 * padded input rows/cols [4i, 4i+6) x [4j, 4j+6); th = ceil(Ho/4), tw = ceil(Wo/4), and
 * Xp is (4*th + 2) x (4*tw + 2) with the image at offset (pad, pad) and zeros elsewhere.
 *
 * All transforms work on 16 channels at a time (one 512-bit vector: the channel is the
 * SIMD lane), which is why the images go through NHWC. Two builds of every inner kernel
 * exist: AVX-512 (intrinsics for the 16x16 transposes and a register-blocked GEMM whose
 * rows are tiles and whose columns are output channels) and generic C (GCC vector
 * extensions, scalar transposes, cblas_sgemm), picked once by CPU feature.
 *
 * Matrices (Lavin & Gray 2016, interpolation points 0, +-1, +-2, inf):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * Weight gradient (from sum_i dy_i y_i, y = A^T[(Gg).(B^T d)]):
 *   dg = G^T [ (A dy A^T) .* (B^T d B) ] G, summed over tiles: dU[a] (cip x cop) += V[a]^T . dM[a]. */
#include <cblas.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "helping.h"
#include "parallel.h"
#include "winograd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_BUILD 1
#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define HAVE_AVX512_BUILD 0
#endif

#define NA 36                       /* transform points, 6 x 6 */
#define INLINE static inline __attribute__((always_inline))
#define CHUNK_FLOATS (384 * 1024)   /* V + M of one chunk: ~1.5 MB, well inside a 2-4 MB L2 */

/* 16 floats; may_alias + aligned(4): loads and stores at any float address */
typedef float vf __attribute__((vector_size(64), aligned(4), may_alias));
#define LD(p) (*(const vf *)(p))
#define ST(p, v) (*(vf *)(p) = (v))

static int64_t up16(int64_t v) { return (v + 15) & ~(int64_t)15; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ------------------------------------------------------------------------------------
 * 1-D transforms (applied to vectors of 16 channels, or to floats)
 * ------------------------------------------------------------------------------------ */

/* o = B^T d (6 -> 6) */
#define BT6(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) do {                \
        __typeof__(d0) t1_ = (d4) - 4.0f * (d2), t2_ = (d3) - 4.0f * (d1);    \
        __typeof__(d0) t3_ = (d4) - (d2), t4_ = 2.0f * ((d3) - (d1));         \
        o0 = 4.0f * (d0) - 5.0f * (d2) + (d4);                                \
        o1 = t1_ + t2_; o2 = t1_ - t2_; o3 = t3_ + t4_; o4 = t3_ - t4_;       \
        o5 = 4.0f * (d1) - 5.0f * (d3) + (d5);                                \
    } while (0)

/* o = A^T m (6 -> 4) */
#define AT4(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3) do {                      \
        __typeof__(m0) a_ = (m1) + (m2), b_ = (m1) - (m2);                    \
        __typeof__(m0) c_ = (m3) + (m4), d_ = (m3) - (m4);                    \
        o0 = (m0) + a_ + c_; o1 = b_ + 2.0f * d_;                             \
        o2 = a_ + 4.0f * c_; o3 = b_ + 8.0f * d_ + (m5);                      \
    } while (0)

/* o = A y (4 -> 6), the transpose of AT4 (weight gradient: transforms dy) */
#define A6(y0, y1, y2, y3, o0, o1, o2, o3, o4, o5) do {                       \
        __typeof__(y0) a_ = (y0) + (y2), b_ = (y1) + (y3);                    \
        __typeof__(y0) c_ = (y0) + 4.0f * (y2), d_ = 2.0f * (y1) + 8.0f * (y3); \
        o0 = (y0); o1 = a_ + b_; o2 = a_ - b_; o3 = c_ + d_; o4 = c_ - d_; o5 = (y3); \
    } while (0)

/* o = G g (3 -> 6) */
#define G6(g0, g1, g2, o0, o1, o2, o3, o4, o5) do {                           \
        __typeof__(g0) s_ = ((g0) + (g2)) * (-1.0f / 6), s2_ = (g0) * (1.0f / 24) + (g2) * (1.0f / 6); \
        o0 = (g0) * 0.25f; o1 = s_ - (g1) * (1.0f / 6); o2 = s_ + (g1) * (1.0f / 6); \
        o3 = s2_ + (g1) * (1.0f / 12); o4 = s2_ - (g1) * (1.0f / 12); o5 = (g2); \
    } while (0)

/* o = G^T m (6 -> 3) */
#define GT3(m0, m1, m2, m3, m4, m5, o0, o1, o2) do {                          \
        __typeof__(m0) p_ = (m1) + (m2), q_ = (m3) + (m4);                    \
        o0 = (m0) * 0.25f - p_ * (1.0f / 6) + q_ * (1.0f / 24);               \
        o1 = ((m2) - (m1)) * (1.0f / 6) + ((m3) - (m4)) * (1.0f / 12);        \
        o2 = q_ * (1.0f / 6) - p_ * (1.0f / 6) + (m5);                        \
    } while (0)

/* F(2x2,3x3) (points 0, +-1, inf):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1] */
#define BT4(d0, d1, d2, d3, o0, o1, o2, o3) do {                                  \
        o0 = (d0) - (d2); o1 = (d1) + (d2); o2 = (d2) - (d1); o3 = (d1) - (d3);   \
    } while (0)
#define AT2(m0, m1, m2, m3, o0, o1) do {                                          \
        o0 = (m0) + (m1) + (m2); o1 = (m1) - (m2) - (m3);                         \
    } while (0)
#define G4(g0, g1, g2, o0, o1, o2, o3) do {                                       \
        __typeof__(g0) s_ = ((g0) + (g2)) * 0.5f;                                 \
        o0 = (g0); o1 = s_ + (g1) * 0.5f; o2 = s_ - (g1) * 0.5f; o3 = (g2);       \
    } while (0)

/* ------------------------------------------------------------------------------------
 * Tile transforms, written once with vector extensions and built for both ISAs.
 * Tile t = i*tw + j of an image; V/M/D are point-major: entry (point a, tile t, channel c)
 * at a*as + t*ld + c.
 * ------------------------------------------------------------------------------------ */

/* F(4x4,3x3) input transform: V[a] = (B^T d B)[a], d the 6x6 patch of X (hp, wp, cp) NHWC
 * at rows 4i.., cols 4j..; cp % 16 == 0. */
INLINE void in_tf4_body(float *V, int64_t as, int64_t ldv, const float *X, int64_t wp, int64_t cp,
                        int64_t th, int64_t tw) {
    const int64_t rs = wp * cp;   /* row stride of X */
    for (int64_t i = 0; i < th; i++)
        for (int64_t j = 0; j < tw; j++) {
            const float *base = X + (4 * i * wp + 4 * j) * cp;
            float *vt = V + (i * tw + j) * ldv;
            for (int64_t cb = 0; cb < cp; cb += 16) {
                vf tmp[6][6];   /* tmp[k][s] = (B^T d)[k][s]: columns first */
                for (int s = 0; s < 6; s++) {
                    const float *p = base + s * cp + cb;
                    BT6(LD(p), LD(p + rs), LD(p + 2 * rs), LD(p + 3 * rs), LD(p + 4 * rs), LD(p + 5 * rs),
                        tmp[0][s], tmp[1][s], tmp[2][s], tmp[3][s], tmp[4][s], tmp[5][s]);
                }
                for (int k = 0; k < 6; k++) {
                    vf o0, o1, o2, o3, o4, o5;
                    BT6(tmp[k][0], tmp[k][1], tmp[k][2], tmp[k][3], tmp[k][4], tmp[k][5], o0, o1, o2, o3, o4, o5);
                    float *q = vt + (k * 6) * as + cb;
                    ST(q, o0); ST(q + as, o1); ST(q + 2 * as, o2);
                    ST(q + 3 * as, o3); ST(q + 4 * as, o4); ST(q + 5 * as, o5);
                }
            }
        }
}

/* F(2x2,3x3) input transform: 4x4 patches at rows 2i.., cols 2j.. */
INLINE void in_tf2_body(float *V, int64_t as, int64_t ldv, const float *X, int64_t wp, int64_t cp,
                        int64_t th, int64_t tw) {
    const int64_t rs = wp * cp;
    for (int64_t i = 0; i < th; i++)
        for (int64_t j = 0; j < tw; j++) {
            const float *base = X + (2 * i * wp + 2 * j) * cp;
            float *vt = V + (i * tw + j) * ldv;
            for (int64_t cb = 0; cb < cp; cb += 16) {
                vf tmp[4][4];
                for (int s = 0; s < 4; s++) {
                    const float *p = base + s * cp + cb;
                    BT4(LD(p), LD(p + rs), LD(p + 2 * rs), LD(p + 3 * rs), tmp[0][s], tmp[1][s], tmp[2][s], tmp[3][s]);
                }
                for (int k = 0; k < 4; k++) {
                    vf o0, o1, o2, o3;
                    BT4(tmp[k][0], tmp[k][1], tmp[k][2], tmp[k][3], o0, o1, o2, o3);
                    float *q = vt + (k * 4) * as + cb;
                    ST(q, o0); ST(q + as, o1); ST(q + 2 * as, o2); ST(q + 3 * as, o3);
                }
            }
        }
}

/* F(4x4,3x3) output transform: Y[((4i+a)*wy + 4j+b)*cp + o] = (A^T m A)[a][b] + bias[o];
 * bias: cp floats or NULL. */
INLINE void out_tf4_body(float *Y, int64_t wy, int64_t cp, const float *M, int64_t as, int64_t ldm,
                         const float *bias, int64_t th, int64_t tw) {
    for (int64_t i = 0; i < th; i++)
        for (int64_t j = 0; j < tw; j++) {
            const float *mt = M + (i * tw + j) * ldm;
            float *yt = Y + (4 * i * wy + 4 * j) * cp;
            for (int64_t ob = 0; ob < cp; ob += 16) {
                vf tmp[4][6];   /* tmp[a][l] = (A^T m)[a][l] */
                for (int l = 0; l < 6; l++) {
                    const float *p = mt + l * as + ob;
                    AT4(LD(p), LD(p + 6 * as), LD(p + 12 * as), LD(p + 18 * as), LD(p + 24 * as), LD(p + 30 * as),
                        tmp[0][l], tmp[1][l], tmp[2][l], tmp[3][l]);
                }
                vf bv = bias ? LD(bias + ob) : (vf){ 0 };
                for (int a = 0; a < 4; a++) {
                    vf o0, o1, o2, o3;
                    AT4(tmp[a][0], tmp[a][1], tmp[a][2], tmp[a][3], tmp[a][4], tmp[a][5], o0, o1, o2, o3);
                    float *q = yt + a * wy * cp + ob;
                    ST(q, o0 + bv); ST(q + cp, o1 + bv); ST(q + 2 * cp, o2 + bv); ST(q + 3 * cp, o3 + bv);
                }
            }
        }
}

/* F(2x2,3x3) output transform (2x2 output tiles) */
INLINE void out_tf2_body(float *Y, int64_t wy, int64_t cp, const float *M, int64_t as, int64_t ldm,
                         const float *bias, int64_t th, int64_t tw) {
    for (int64_t i = 0; i < th; i++)
        for (int64_t j = 0; j < tw; j++) {
            const float *mt = M + (i * tw + j) * ldm;
            float *yt = Y + (2 * i * wy + 2 * j) * cp;
            for (int64_t ob = 0; ob < cp; ob += 16) {
                vf tmp[2][4];
                for (int l = 0; l < 4; l++) {
                    const float *p = mt + l * as + ob;
                    AT2(LD(p), LD(p + 4 * as), LD(p + 8 * as), LD(p + 12 * as), tmp[0][l], tmp[1][l]);
                }
                vf bv = bias ? LD(bias + ob) : (vf){ 0 };
                for (int a = 0; a < 2; a++) {
                    vf o0, o1;
                    AT2(tmp[a][0], tmp[a][1], tmp[a][2], tmp[a][3], o0, o1);
                    float *q = yt + a * wy * cp + ob;
                    ST(q, o0 + bv); ST(q + cp, o1 + bv);
                }
            }
        }
}

/* F(4x4,3x3) grad-output transform for the weight gradient: D[a] = (A dy A^T)[a] for the
 * 4x4 dy tile t; Y: (4*th, wy, cp) NHWC. */
INLINE void dy_tf_body(float *D, int64_t as, int64_t ldd, const float *Y, int64_t wy, int64_t cp,
                       int64_t th, int64_t tw) {
    const int64_t rs = wy * cp;
    for (int64_t i = 0; i < th; i++)
        for (int64_t j = 0; j < tw; j++) {
            const float *base = Y + (4 * i * wy + 4 * j) * cp;
            float *dt = D + (i * tw + j) * ldd;
            for (int64_t ob = 0; ob < cp; ob += 16) {
                vf tmp[6][4];   /* tmp[k][s] = (A dy)[k][s] */
                for (int s = 0; s < 4; s++) {
                    const float *p = base + s * cp + ob;
                    A6(LD(p), LD(p + rs), LD(p + 2 * rs), LD(p + 3 * rs),
                       tmp[0][s], tmp[1][s], tmp[2][s], tmp[3][s], tmp[4][s], tmp[5][s]);
                }
                for (int k = 0; k < 6; k++) {
                    vf o0, o1, o2, o3, o4, o5;
                    A6(tmp[k][0], tmp[k][1], tmp[k][2], tmp[k][3], o0, o1, o2, o3, o4, o5);
                    float *q = dt + (k * 6) * as + ob;
                    ST(q, o0); ST(q + as, o1); ST(q + 2 * as, o2);
                    ST(q + 3 * as, o3); ST(q + 4 * as, o4); ST(q + 5 * as, o5);
                }
            }
        }
}

/* The 3x3 kernels linking role-input channel p to role-output channels q0..q0+15, as
 * g[u*3+v][lane]: forward (flip 0) w[q, p, u, v]; data gradient (flip 1) w[p, q, 2-u, 2-v]
 * (w: (co, ci, 3, 3)); zero outside P x Q. The weight transforms take the gather as an
 * argument (inlined): the AVX-512 build has its own, with gather instructions. */
typedef void (*gather_fn)(float g[9][16], const float *, int64_t, int, int64_t, int64_t, int64_t, int64_t);

INLINE void gather_g(float g[9][16], const float *w, int64_t ci, int flip, int64_t p, int64_t q0,
                     int64_t P, int64_t Q) {
    for (int l = 0; l < 16; l++) {
        int64_t q = q0 + l;
        for (int e = 0; e < 9; e++) {
            float v = 0.0f;
            if (p < P && q < Q) v = flip ? w[(p * ci + q) * 9 + 8 - e] : w[(q * ci + p) * 9 + e];
            g[e][l] = v;
        }
    }
}

/* F(4x4,3x3) weight transform: U[(a*pp + p)*qp + q] = (G g G^T)[a], rows p in [p0, p1),
 * columns q in [qa, qb) (multiples of 16) */
INLINE void wtf4_body(float *U, int64_t pp, int64_t qp, int64_t P, int64_t Q, const float *w,
                      int64_t ci, int flip, int64_t p0, int64_t p1, int64_t qa, int64_t qb, gather_fn gather) {
    const int64_t s = pp * qp;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t q0 = qa; q0 < qb; q0 += 16) {
            float g[9][16];
            gather(g, w, ci, flip, p, q0, P, Q);
            vf t[6][3];   /* t = G g */
            for (int v = 0; v < 3; v++)
                G6(LD(g[v]), LD(g[3 + v]), LD(g[6 + v]), t[0][v], t[1][v], t[2][v], t[3][v], t[4][v], t[5][v]);
            for (int a = 0; a < 6; a++) {
                vf o0, o1, o2, o3, o4, o5;
                G6(t[a][0], t[a][1], t[a][2], o0, o1, o2, o3, o4, o5);
                float *u = U + ((a * 6) * pp + p) * qp + q0;
                ST(u, o0); ST(u + s, o1); ST(u + 2 * s, o2); ST(u + 3 * s, o3); ST(u + 4 * s, o4); ST(u + 5 * s, o5);
            }
        }
}

/* F(2x2,3x3) weight transform (16 points) */
INLINE void wtf2_body(float *U, int64_t pp, int64_t qp, int64_t P, int64_t Q, const float *w,
                      int64_t ci, int flip, int64_t p0, int64_t p1, int64_t qa, int64_t qb, gather_fn gather) {
    const int64_t s = pp * qp;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t q0 = qa; q0 < qb; q0 += 16) {
            float g[9][16];
            gather(g, w, ci, flip, p, q0, P, Q);
            vf t[4][3];
            for (int v = 0; v < 3; v++) G4(LD(g[v]), LD(g[3 + v]), LD(g[6 + v]), t[0][v], t[1][v], t[2][v], t[3][v]);
            for (int a = 0; a < 4; a++) {
                vf o0, o1, o2, o3;
                G4(t[a][0], t[a][1], t[a][2], o0, o1, o2, o3);
                float *u = U + ((a * 4) * pp + p) * qp + q0;
                ST(u, o0); ST(u + s, o1); ST(u + 2 * s, o2); ST(u + 3 * s, o3);
            }
        }
}

/* dw[o, c, u, v] += (G^T dU G)[u][v] with dU[a] = sum over k < nk of dUs[k*ks + (c*36 + a)*cop + o]
 * (channel-major: the 36 points of one channel are adjacent, so this reads 36 nearby rows,
 * not 36 rows a whole cip x cop matrix apart),
 * ks = 36*cip*cop (the threads' partial sums); channels c in [c0, c1), o in [oa, ob) 16 at a time. */
INLINE void dw_body(float *dw, const float *dUs, int nk, int64_t cip, int64_t cop, int64_t ci,
                    int64_t co, int64_t c0, int64_t c1, int64_t oa, int64_t ob) {
    const int64_t ks = NA * cip * cop;
    for (int64_t c = c0; c < c1; c++)
        for (int64_t o0 = oa; o0 < ob && o0 < co; o0 += 16) {
            vf m[NA];
            for (int a = 0; a < NA; a++) {
                const float *s = dUs + (c * NA + a) * cop + o0;
                vf acc = LD(s);
                for (int k = 1; k < nk; k++) acc += LD(s + k * ks);
                m[a] = acc;
            }
            vf t[3][6];   /* t = G^T m (over the first index) */
            for (int b = 0; b < 6; b++)
                GT3(m[b], m[6 + b], m[12 + b], m[18 + b], m[24 + b], m[30 + b], t[0][b], t[1][b], t[2][b]);
            float r[9][16];
            for (int u = 0; u < 3; u++) {
                vf o0v, o1v, o2v;
                GT3(t[u][0], t[u][1], t[u][2], t[u][3], t[u][4], t[u][5], o0v, o1v, o2v);
                ST(r[u * 3], o0v); ST(r[u * 3 + 1], o1v); ST(r[u * 3 + 2], o2v);
            }
            for (int l = 0; l < 16 && o0 + l < co; l++)
                for (int e = 0; e < 9; e++) dw[((o0 + l) * ci + c) * 9 + e] += r[e][l];
        }
}

/* ------------------------------------------------------------------------------------
 * Generic build: scalar layout changes, cblas_sgemm
 * ------------------------------------------------------------------------------------ */

/* X[((h+pad)*wp + w+pad)*cp + c] = src[c][h][w]  (other entries of X untouched) */
static void to_nhwc_generic(float *X, int64_t cp, int64_t wp, int64_t pad, const float *src,
                            int64_t C, int64_t H, int64_t W) {
    for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) {
            float *d = X + ((h + pad) * wp + w + pad) * cp;
            const float *s = src + h * W + w;
            for (int64_t c = 0; c < C; c++) d[c] = s[c * H * W];
        }
}

/* dst[c][h][w] (+)= Y[(h*wy + w)*cp + c] for c < C, h < H, w < W */
static void from_nhwc_generic(float *dst, int64_t C, int64_t H, int64_t W, const float *Y, int64_t wy,
                              int64_t cp, int acc) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t h = 0; h < H; h++) {
            float *d = dst + (c * H + h) * W;
            const float *s = Y + h * wy * cp + c;
            if (acc)
                for (int64_t w = 0; w < W; w++) d[w] += s[w * cp];
            else
                for (int64_t w = 0; w < W; w++) d[w] = s[w * cp];
        }
}

/* C (R x N, ldc) (+)= A . B, A(r, k) = A[r*sar + k*sak] (sar == 1 or sak == 1), B (K x N, ldb) */
static void gemm_generic(int64_t R, int64_t N, int64_t K, const float *A, int64_t sar, int64_t sak,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
    if (R <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!acc)
            for (int64_t r = 0; r < R; r++) memset(C + r * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    int ta = sak != 1;   /* A stored K x R */
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)R, (int)N, (int)K,
                1.0f, A, (int)(ta ? sak : sar), B, (int)ldb, acc ? 1.0f : 0.0f, C, (int)ldc);
}

/* The transforms for one ISA: thin wrappers that instantiate the bodies above with the
 * target attribute ATTR (empty: the file's baseline ISA). */
#define TRANSFORM_WRAPPERS(SUF, ATTR)                                                            \
    ATTR static void in_tf4_##SUF(float *V, int64_t as, int64_t ldv, const float *X, int64_t wp,  \
                                  int64_t cp, int64_t th, int64_t tw) {                          \
        in_tf4_body(V, as, ldv, X, wp, cp, th, tw);                                              \
    }                                                                                            \
    ATTR static void in_tf2_##SUF(float *V, int64_t as, int64_t ldv, const float *X, int64_t wp,  \
                                  int64_t cp, int64_t th, int64_t tw) {                          \
        in_tf2_body(V, as, ldv, X, wp, cp, th, tw);                                              \
    }                                                                                            \
    ATTR static void out_tf4_##SUF(float *Y, int64_t wy, int64_t cp, const float *M, int64_t as,  \
                                   int64_t ldm, const float *bias, int64_t th, int64_t tw) {     \
        out_tf4_body(Y, wy, cp, M, as, ldm, bias, th, tw);                                       \
    }                                                                                            \
    ATTR static void out_tf2_##SUF(float *Y, int64_t wy, int64_t cp, const float *M, int64_t as,  \
                                   int64_t ldm, const float *bias, int64_t th, int64_t tw) {     \
        out_tf2_body(Y, wy, cp, M, as, ldm, bias, th, tw);                                       \
    }                                                                                            \
    ATTR static void dy_tf_##SUF(float *D, int64_t as, int64_t ldd, const float *Y, int64_t wy,   \
                                 int64_t cp, int64_t th, int64_t tw) {                           \
        dy_tf_body(D, as, ldd, Y, wy, cp, th, tw);                                               \
    }                                                                                            \
    ATTR static void wtf4_##SUF(float *U, int64_t pp, int64_t qp, int64_t P, int64_t Q,           \
                                const float *w, int64_t ci, int flip, int64_t p0, int64_t p1,    \
                                int64_t qa, int64_t qb) {                                        \
        wtf4_body(U, pp, qp, P, Q, w, ci, flip, p0, p1, qa, qb, gather_##SUF);                   \
    }                                                                                            \
    ATTR static void wtf2_##SUF(float *U, int64_t pp, int64_t qp, int64_t P, int64_t Q,           \
                                const float *w, int64_t ci, int flip, int64_t p0, int64_t p1,    \
                                int64_t qa, int64_t qb) {                                        \
        wtf2_body(U, pp, qp, P, Q, w, ci, flip, p0, p1, qa, qb, gather_##SUF);                   \
    }                                                                                            \
    ATTR static void dw_##SUF(float *dw, const float *dUs, int nk, int64_t cip, int64_t cop,      \
                              int64_t ci, int64_t co, int64_t c0, int64_t c1, int64_t oa,        \
                              int64_t ob) {                                                      \
        dw_body(dw, dUs, nk, cip, cop, ci, co, c0, c1, oa, ob);                                  \
    }

#define gather_generic gather_g
TRANSFORM_WRAPPERS(generic, )

/* ------------------------------------------------------------------------------------
 * AVX-512 build
 * ------------------------------------------------------------------------------------ */
#if HAVE_AVX512_BUILD

/* In-register transpose of a 16x16 block: r[i][j] -> r[j][i]. */
INLINE AVX512 void tr16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (int h = 0; h < 16; h += 8)
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

AVX512 static void to_nhwc_avx512(float *X, int64_t cp, int64_t wp, int64_t pad, const float *src,
                                  int64_t C, int64_t H, int64_t W) {
    const int64_t P = H * W;
    int64_t c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
        int64_t q0 = 0;
        for (; q0 + 16 <= P; q0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (c0 + i) * P + q0);
            tr16(r);
            int64_t h = q0 / W, w = q0 - h * W;
            for (int j = 0; j < 16; j++) {
                _mm512_storeu_ps(X + ((h + pad) * wp + w + pad) * cp + c0, r[j]);
                if (++w == W) w = 0, h++;
            }
        }
        for (; q0 < P; q0++) {
            int64_t h = q0 / W, w = q0 - h * W;
            float *d = X + ((h + pad) * wp + w + pad) * cp + c0;
            for (int i = 0; i < 16; i++) d[i] = src[(c0 + i) * P + q0];
        }
    }
    if (c0 < C) {   /* the last, partial channel block */
        for (int64_t q = 0; q < P; q++) {
            int64_t h = q / W, w = q - h * W;
            float *d = X + ((h + pad) * wp + w + pad) * cp;
            for (int64_t c = c0; c < C; c++) d[c] = src[c * P + q];
        }
    }
}

AVX512 static void from_nhwc_avx512(float *dst, int64_t C, int64_t H, int64_t W, const float *Y,
                                    int64_t wy, int64_t cp, int acc) {
    const int64_t P = H * W;
    int64_t c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
        int64_t q0 = 0;
        for (; q0 + 16 <= P; q0 += 16) {
            __m512 r[16];
            int64_t h = q0 / W, w = q0 - h * W;
            for (int j = 0; j < 16; j++) {
                r[j] = _mm512_loadu_ps(Y + (h * wy + w) * cp + c0);
                if (++w == W) w = 0, h++;
            }
            tr16(r);
            for (int i = 0; i < 16; i++) {
                float *d = dst + (c0 + i) * P + q0;
                _mm512_storeu_ps(d, acc ? _mm512_add_ps(r[i], _mm512_loadu_ps(d)) : r[i]);
            }
        }
        for (; q0 < P; q0++) {
            int64_t h = q0 / W, w = q0 - h * W;
            const float *s = Y + (h * wy + w) * cp + c0;
            for (int i = 0; i < 16; i++) {
                float *d = dst + (c0 + i) * P + q0;
                *d = acc ? *d + s[i] : s[i];
            }
        }
    }
    if (c0 < C) from_nhwc_generic(dst + c0 * P, C - c0, H, W, Y + c0, wy, cp, acc);
}

/* Register block of the GEMM: rb (<= 12) rows x 16*nv (nv = 1, 2) columns of C,
 * accumulated over K in zmm registers: per k, nv loads of B and rb broadcasts of A. */
#define RB 12
INLINE AVX512 void kblock(const int rb, const int nv, int64_t K, const float *A, int64_t sar,
                          int64_t sak, const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
    __m512 c0[RB], c1[RB];
#pragma GCC unroll 12
    for (int r = 0; r < rb; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        const float *bk = B + k * ldb, *ak = A + k * sak;
        __m512 b0 = _mm512_loadu_ps(bk);
        __m512 b1 = nv > 1 ? _mm512_loadu_ps(bk + 16) : b0;
#pragma GCC unroll 12
        for (int r = 0; r < rb; r++) {
            __m512 av = _mm512_set1_ps(ak[r * sar]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            if (nv > 1) c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < rb; r++) {
        float *cr = C + r * ldc;
        if (acc) c0[r] = _mm512_add_ps(c0[r], _mm512_loadu_ps(cr));
        _mm512_storeu_ps(cr, c0[r]);
        if (nv > 1) {
            if (acc) c1[r] = _mm512_add_ps(c1[r], _mm512_loadu_ps(cr + 16));
            _mm512_storeu_ps(cr + 16, c1[r]);
        }
    }
}

#define KB_CASE(n, nv) case n: kblock(n, nv, K, a, sar, sak, b, ldb, cc, ldc, acc); break;
#define KB_SWITCH(nv) switch (rb) { KB_CASE(1, nv) KB_CASE(2, nv) KB_CASE(3, nv) KB_CASE(4, nv) \
        KB_CASE(5, nv) KB_CASE(6, nv) KB_CASE(7, nv) KB_CASE(8, nv) KB_CASE(9, nv) KB_CASE(10, nv) \
        KB_CASE(11, nv) default: kblock(12, nv, K, a, sar, sak, b, ldb, cc, ldc, acc); break; }

/* Same contract as gemm_generic; N % 16 == 0. */
AVX512 static void gemm_avx512(int64_t R, int64_t N, int64_t K, const float *A, int64_t sar,
                               int64_t sak, const float *B, int64_t ldb, float *C, int64_t ldc, int acc) {
    for (int64_t n0 = 0; n0 < N; n0 += 32) {
        const float *b = B + n0;
        for (int64_t r0 = 0; r0 < R; r0 += RB) {
            const int rb = (int)(R - r0 < RB ? R - r0 : RB);
            const float *a = A + r0 * sar;
            float *cc = C + r0 * ldc + n0;
            if (N - n0 >= 32) {
                KB_SWITCH(2)
            } else {
                KB_SWITCH(1)
            }
        }
    }
}

/* gather_g with one masked gather instruction per kernel element: lane l reads
 * w[(q0+l)*ci + p][e] (forward) or w[p*ci + q0+l][8-e] (flipped), zero outside P x Q. */
INLINE AVX512 void gather_avx512(float g[9][16], const float *w, int64_t ci, int flip, int64_t p,
                                 int64_t q0, int64_t P, int64_t Q) {
    const int64_t live = p < P ? (Q - q0 < 16 ? Q - q0 : 16) : 0;
    if (live <= 0) {
        for (int e = 0; e < 9; e++) _mm512_storeu_ps(g[e], _mm512_setzero_ps());
        return;
    }
    const __mmask16 k = (__mmask16)((1u << live) - 1);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(flip ? 9 : (int)(ci * 9)));
    const float *base = flip ? w + (p * ci + q0) * 9 + 8 : w + (q0 * ci + p) * 9;
    for (int e = 0; e < 9; e++)
        _mm512_storeu_ps(g[e], _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, idx, base + (flip ? -e : e), 4));
}

TRANSFORM_WRAPPERS(avx512, AVX512)
#endif


/* ------------------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------------------ */

typedef void (*in_tf_fn)(float *, int64_t, int64_t, const float *, int64_t, int64_t, int64_t, int64_t);
typedef void (*out_tf_fn)(float *, int64_t, int64_t, const float *, int64_t, int64_t, const float *,
                          int64_t, int64_t);
typedef void (*wtf_fn)(float *, int64_t, int64_t, int64_t, int64_t, const float *, int64_t, int, int64_t,
                       int64_t, int64_t, int64_t);

typedef struct {
    const char *name;
    int threaded;   /* 1: our own threads, single-threaded GEMMs; 0: one thread, BLAS threads */
    void (*to_nhwc)(float *, int64_t, int64_t, int64_t, const float *, int64_t, int64_t, int64_t);
    void (*from_nhwc)(float *, int64_t, int64_t, int64_t, const float *, int64_t, int64_t, int);
    in_tf_fn in_tf[2];      /* [0]: F(2x2,3x3), [1]: F(4x4,3x3) */
    out_tf_fn out_tf[2];
    wtf_fn wtf[2];
    void (*dy_tf)(float *, int64_t, int64_t, const float *, int64_t, int64_t, int64_t, int64_t);
    void (*gemm)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, int64_t,
                 float *, int64_t, int);
    void (*dw)(float *, const float *, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
               int64_t);
} Kern;

static const Kern kern_generic = {
    "generic", 0, to_nhwc_generic, from_nhwc_generic, { in_tf2_generic, in_tf4_generic },
    { out_tf2_generic, out_tf4_generic }, { wtf2_generic, wtf4_generic }, dy_tf_generic,
    gemm_generic, dw_generic
};
#if HAVE_AVX512_BUILD
static const Kern kern_avx512 = {
    "avx512", 1, to_nhwc_avx512, from_nhwc_avx512, { in_tf2_avx512, in_tf4_avx512 },
    { out_tf2_avx512, out_tf4_avx512 }, { wtf2_avx512, wtf4_avx512 }, dy_tf_avx512,
    gemm_avx512, dw_avx512
};
#endif
static int force_generic;

static const Kern *kern(void) {
#if HAVE_AVX512_BUILD
    if (!force_generic && __builtin_cpu_supports("avx512f")) return &kern_avx512;
#endif
    return &kern_generic;
}

const char *nl_winograd_isa(void) { return kern()->name; }
void nl_winograd_force_generic(int on) { force_generic = on; }

/* ------------------------------------------------------------------------------------
 * Geometry and workspace
 * ------------------------------------------------------------------------------------ */

/* One convolution "role": a (ci, h, w) input to a (co, ho, wo) output with padding pad,
 * in m x m output tiles (m = 2 or 4). */
typedef struct {
    int m, na;                  /* output tile, transform points (m+2)^2 */
    int64_t ci, co, cip, cop;   /* channels and their multiples of 16 */
    int64_t h, w, ho, wo;
    int pad;
    int64_t th, tw, tpi;        /* tiles over the output, per image */
    int64_t hp, wp;             /* the padded NHWC input Xp: m*th + 2, m*tw + 2 */
    int64_t ipc, tmax;          /* images and tiles per chunk */
} Role;

/* Per-thread buffers (floats): Xp, V, M, Yt, and for the merged backward pass (pad 1) Xq
 * (the padded NHWC dy) and M2 (a third transform-domain buffer). */
typedef struct { int64_t xp, v, m, yt, xq, m2; } Bufs;

static void role_init(Role *r, int m, int64_t ci, int64_t co, int64_t h, int64_t w, int pad,
                      int64_t per_thread) {
    r->m = m, r->na = (m + 2) * (m + 2);
    r->ci = ci, r->co = co, r->cip = up16(ci), r->cop = up16(co);
    r->h = h, r->w = w, r->pad = pad;
    r->ho = h + 2 * pad - 2, r->wo = w + 2 * pad - 2;
    r->th = (r->ho + m - 1) / m, r->tw = (r->wo + m - 1) / m, r->tpi = r->th * r->tw;
    r->hp = m * r->th + 2, r->wp = m * r->tw + 2;
    int64_t target = CHUNK_FLOATS / (r->na * (r->cip + r->cop));
    r->ipc = target / r->tpi;
    if (r->ipc > per_thread) r->ipc = per_thread;
    if (r->ipc < 1) r->ipc = 1;
    r->tmax = r->ipc * r->tpi;
}

static void bufs_max(Bufs *b, const Role *r) {
    int64_t xp = up16(r->hp * r->wp * r->cip), v = up16(r->na * r->tmax * r->cip);
    int64_t m = up16(r->na * r->tmax * r->cop), yt = up16(r->m * r->th * r->m * r->tw * r->cop);
    if (xp > b->xp) b->xp = xp;
    if (v > b->v) b->v = v;
    if (m > b->m) b->m = m;
    if (yt > b->yt) b->yt = yt;
}

/* The plan of a call: the roles and the scratch layout (offsets in floats from the 64-byte
 * aligned start of the scratch):
 *   U (36 x cip x cop) | bias (cop) | nth x dU (cip x 36 x cop; one when the channels are
 *   split) | nth x db (cop) | nth x Bufs */
typedef struct {
    Role f2, f4;               /* forward in 2x2 or 4x4 tiles; f4 is also the weight gradient's */
    Role b2, b4;               /* data gradient: conv(dy, flipped w), in 2x2 or 4x4 tiles */
    int64_t xq_h, xq_w;        /* merged backward: the padded dy buffer */
    Bufs bufs;
    int64_t per_thread;        /* floats of one thread's Bufs */
    int64_t usz;               /* floats of U and of one dU */
    int64_t u, bias, du, db, th0;
    int64_t total;             /* floats needed, including 16 for the alignment */
    int nth;
    int split_channels;        /* 1: threads split the channels, not the images (see below) */
} Plan;

/* How the threads share a call. By images (the default): each thread runs its images
 * through the whole pipeline with its own dU, and the dUs are summed at the end. By
 * channels: every thread transforms all the images' tiles itself, but computes U, the
 * GEMMs, dU and the output only for its own share of the channels. With few tiles per call
 * (a small batch of small images) the weight domain (36 x cip x cop per U and per dU) costs
 * more than the tiles, and splitting the images would repeat it on every thread; splitting
 * the channels repeats only the (then small) tile transforms. The rule: channels when
 * SPLIT_DIV x tiles x (cip + cop) <= cip x cop, i.e. when the tiles' transformed data is
 * well below the weight domain's, and both channel counts give every thread a 16-block.
 * (bench_conv --split, 2 threads: plain(8)'s 8x8 layers gain 5-10% at batch 2; the 16x16
 * layers lose 20% at batch 2, and the 8x8 ones 5% at batch 8: the rule picks neither.)
 * Only the merged backward pass (pad 1) has a channel-split form, so only pad 1 uses it. */
#define SPLIT_DIV 4
static int split_force;   /* 0: the rule; 1: always images; 2: channels wherever possible */

void nl_winograd_force_split(int mode) { split_force = mode; }

static int use_channel_split(const Role *f4, int64_t n, int pad, int nth) {
    if (nth < 2 || pad != 1 || f4->cip < 16 * nth || f4->cop < 16 * nth || split_force == 1) return 0;
    return split_force == 2 || SPLIT_DIV * n * f4->tpi * (f4->cip + f4->cop) <= f4->cip * f4->cop;
}

static void plan_init(Plan *p, int64_t n, int64_t ci, int64_t co, int64_t h, int64_t w, int pad, int nth) {
    int64_t per = (n + nth - 1) / nth;   /* images per thread */
    role_init(&p->f4, 4, ci, co, h, w, pad, per);
    p->split_channels = kern()->threaded && use_channel_split(&p->f4, n, pad, nth);
    if (p->split_channels) per = n;
    role_init(&p->f2, 2, ci, co, h, w, pad, per);
    role_init(&p->f4, 4, ci, co, h, w, pad, per);
    role_init(&p->b2, 2, co, ci, p->f4.ho, p->f4.wo, 2 - pad, per);
    role_init(&p->b4, 4, co, ci, p->f4.ho, p->f4.wo, 2 - pad, per);
    memset(&p->bufs, 0, sizeof p->bufs);
    bufs_max(&p->bufs, &p->f2);
    bufs_max(&p->bufs, &p->f4);
    bufs_max(&p->bufs, &p->b2);
    bufs_max(&p->bufs, &p->b4);
    if (pad == 1) {   /* merged backward: dy padded for both of its readers, a third buffer */
        const int64_t cm = p->f4.cip > p->f4.cop ? p->f4.cip : p->f4.cop;
        p->xq_h = max64(max64(p->b2.hp, p->b4.hp), 4 * p->f4.th + 2);
        p->xq_w = max64(max64(p->b2.wp, p->b4.wp), 4 * p->f4.tw + 2);
        p->bufs.xq = up16(p->xq_h * p->xq_w * p->b2.cip);
        /* D (36 points) and Vb, Mx (the data gradient's 16 or 36 points) of one chunk */
        const int64_t big = max64(NA * p->f4.tmax, max64(16 * p->f4.ipc * p->b2.tpi, NA * p->f4.ipc * p->b4.tpi));
        p->bufs.m2 = up16(big * cm);
        if (p->bufs.v < p->bufs.m2) p->bufs.v = p->bufs.m2;
        if (p->bufs.m < p->bufs.m2) p->bufs.m = p->bufs.m2;
    }
    p->per_thread = p->bufs.xp + p->bufs.v + p->bufs.m + p->bufs.yt + p->bufs.xq + p->bufs.m2;
    p->usz = up16(NA * p->f4.cip * p->f4.cop);
    const int64_t cmax = up16(p->f4.cip > p->f4.cop ? p->f4.cip : p->f4.cop);
    p->u = 0;
    p->bias = p->usz;
    p->du = p->bias + cmax;
    p->db = p->du + (int64_t)(p->split_channels ? 1 : nth) * p->usz;   /* split: one shared dU */
    p->th0 = p->db + (int64_t)nth * cmax;
    p->total = p->th0 + (int64_t)nth * p->per_thread + 16;
    p->nth = nth;
}

int nl_winograd_applies(int64_t kh, int64_t kw, int stride, int pad) {
    return kh == 3 && kw == 3 && stride == 1 && pad >= 0 && pad <= 2;
}

static int geometry_ok(int64_t n, int64_t ci, int64_t co, int64_t h, int64_t w, int pad) {
    if (n < 1 || ci < 1 || co < 1 || pad < 0 || pad > 2) return 0;
    if (h + 2 * pad < 3 || w + 2 * pad < 3) return 0;
    /* keep every buffer far below BLAS's int range and size_t overflow */
    const int64_t lim = (int64_t)1 << 28;
    if (ci > 65536 || co > 65536 || h > 65536 || w > 65536) return 0;
    if ((h + 8) * (w + 8) * up16(ci > co ? ci : co) > lim) return 0;
    if (NA * up16(ci) * up16(co) > lim) return 0;
    return 1;
}

static int clamp_threads(int threads, int64_t n) {
    if (threads < 1) threads = 1;
    if (threads > NL_PAR_MAX) threads = NL_PAR_MAX;
    if (threads > n) threads = (int)n;
    return threads;
}

int64_t nl_winograd_workspace(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w, int pad,
                              int threads) {
    if (!geometry_ok(n, cin, cout, h, w, pad)) return 0;
    Plan p;
    plan_init(&p, n, cin, cout, h, w, pad, kern()->threaded ? clamp_threads(threads, n) : 1);
    return p.total;
}

/* The largest thread count whose plan fits `avail` floats (0 if none does). */
static int plan_fit(Plan *p, int64_t n, int64_t ci, int64_t co, int64_t h, int64_t w, int pad,
                    int threads, int64_t avail) {
    for (int t = kern()->threaded ? clamp_threads(threads, n) : 1; t >= 1; t--) {
        plan_init(p, n, ci, co, h, w, pad, t);
        if (p->total <= avail) return t;
    }
    return 0;
}

static float *aligned_base(NlTensor *ws) {
    uintptr_t a = (uintptr_t)ws->data;
    return (float *)((a + 63) & ~(uintptr_t)63);
}

/* ------------------------------------------------------------------------------------
 * Jobs (run on every thread of the pool; tid/nth split the images or the channels)
 * ------------------------------------------------------------------------------------ */

typedef struct {
    const Kern *k;
    const Plan *p;
    const Role *r;          /* the role being computed */
    float *base;            /* aligned scratch */
    int64_t n;              /* images */
    float *y;               /* conv: output */
    const float *x;         /* conv: input; weight gradient: the layer's input */
    const float *dy;        /* weight gradient: grad output */
    const float *w;         /* weight transform: the layer's weight (co, ci, 3, 3) */
    float *dw, *db;         /* weight gradient outputs (+=) */
    int acc, flip, nk;      /* conv: y += ; weights flipped (data gradient); partial sums */
    const float *bias;      /* padded bias or NULL */
    volatile sig_atomic_t *interrupted;
    atomic_int stopped;     /* any thread may set it: atomic, not volatile */
    NlHelp help;            /* conv and merged jobs: point GEMMs the other threads may take */
} Job;

/* The point GEMMs of one chunk as an item set of helping.h: item a is
 * C + a*sc (+)= (A + a*sa) . (B + a*sb), with the gemm contract's strides. */
typedef struct {
    const Kern *k;
    int64_t rows, cols, depth, sar, sak, ldb, ldc, sa, sb, sc;
    const float *A, *B;
    float *C;
    int acc;
} PointGemms;

static void point_gemm(void *ctx, int a) {
    const PointGemms *g = ctx;
    g->k->gemm(g->rows, g->cols, g->depth, g->A + a * g->sa, g->sar, g->sak, g->B + a * g->sb, g->ldb,
               g->C + a * g->sc, g->ldc, g->acc);
}

static float *thread_buf(const Job *j, int tid) { return j->base + j->p->th0 + tid * j->p->per_thread; }

/* U (role cip x cop per point) from w, rows split between the threads */
static void wtf_worker(void *arg, int tid, int nth) {
    Job *j = arg;
    const Role *r = j->r;
    long long p0, p1;
    nl_par_range(r->cip, tid, nth, &p0, &p1);
    j->k->wtf[r->m == 4](j->base + j->p->u, r->cip, r->cop, r->ci, r->co, j->w, j->p->f4.ci, j->flip, p0, p1, 0,
                         r->cop);
}

/* This thread's part of a call: images [n0, n1), (padded) output channels [o0, o1) and
 * input channels [i0, i1) of role r. Split by images: a share of the images, all channels;
 * split by channels: all images, a share of each channel count in whole 16-blocks. */
typedef struct { int64_t n0, n1, o0, o1, i0, i1; } Share;

static void block_range(int64_t cp, int tid, int nth, int64_t *c0, int64_t *c1) {
    long long b0, b1;
    nl_par_range(cp / 16, tid, nth, &b0, &b1);
    *c0 = 16 * b0, *c1 = 16 * b1;
}

static Share share_of(const Job *j, const Role *r, int tid, int nth) {
    Share s = { 0, j->n, 0, r->cop, 0, r->cip };
    if (j->p->split_channels) {
        block_range(r->cop, tid, nth, &s.o0, &s.o1);
        block_range(r->cip, tid, nth, &s.i0, &s.i1);
    } else {
        long long n0, n1;
        nl_par_range(j->n, tid, nth, &n0, &n1);
        s.n0 = n0, s.n1 = n1;
    }
    return s;
}

/* y (+)= conv(x, U) (+ bias) for this thread's images and output channels, chunk by chunk.
 * Split by channels, the thread first transforms its own columns of U (no other thread
 * reads them, so the call needs no second parallel region). */
static void conv_share(Job *j, int tid, int nth) {
    const Role *r = j->r;
    const Kern *K = j->k;
    const int f4 = r->m == 4, m = r->m;
    const Share sh = share_of(j, r, tid, nth);
    const int64_t q0 = sh.o0, nq = sh.o1 - sh.o0, nqo = min64(sh.o1, r->co) - q0;   /* padded, real */
    if (nq <= 0 || sh.n0 >= sh.n1) return;
    float *U = j->base + j->p->u;
    if (j->p->split_channels)
        K->wtf[f4](U, r->cip, r->cop, r->ci, r->co, j->w, j->p->f4.ci, j->flip, 0, r->cip, q0, sh.o1);
    float *xp = thread_buf(j, tid), *v = xp + j->p->bufs.xp, *mm = v + j->p->bufs.v, *yt = mm + j->p->bufs.m;
    memset(xp, 0, (size_t)(r->hp * r->wp * r->cip) * sizeof(float));
    const int64_t xs = r->ci * r->h * r->w, ys = r->co * r->ho * r->wo, po = r->ho * r->wo;
    const int64_t av = r->tmax * r->cip, am = r->tmax * r->cop;   /* point strides of V, M */
    for (int64_t c0 = sh.n0; c0 < sh.n1; c0 += r->ipc) {
        if (j->interrupted && *j->interrupted) { j->stopped = 1; return; }
        const int64_t cn = min64(sh.n1 - c0, r->ipc);
        for (int64_t k = 0; k < cn; k++) {
            K->to_nhwc(xp, r->cip, r->wp, r->pad, j->x + (c0 + k) * xs, r->ci, r->h, r->w);
            K->in_tf[f4](v + k * r->tpi * r->cip, av, r->cip, xp, r->wp, r->cip, r->th, r->tw);
        }
        const PointGemms g = { K, cn * r->tpi, nq, r->cip, r->cip, 1, r->cop, r->cop, av, r->cip * r->cop, am,
                               v, U + q0, mm + q0, 0 };
        nl_help_run(&j->help, tid, r->na, point_gemm, (void *)&g);
        for (int64_t k = 0; k < cn; k++) {   /* Yt: the thread's nq channels per pixel */
            K->out_tf[f4](yt, m * r->tw, nq, mm + k * r->tpi * r->cop + q0, am, r->cop,
                          j->bias ? j->bias + q0 : NULL, r->th, r->tw);
            K->from_nhwc(j->y + (c0 + k) * ys + q0 * po, nqo, r->ho, r->wo, yt, m * r->tw, nq, j->acc);
        }
    }
}

static void conv_worker(void *arg, int tid, int nth) {
    conv_share(arg, tid, nth);
    nl_help_finish(&((Job *)arg)->help, tid, nth);
}

/* dU_tid[a] = sum of V[a]^T . dM[a] over this thread's images (F(4x4,3x3); the first chunk
 * writes, later ones add); db_tid += the tile sums of dy, which are dM at point (1,1) (row 1
 * of A is all ones). */
static void dw_worker(void *arg, int tid, int nth) {
    Job *j = arg;
    const Role *r = j->r;
    const Kern *K = j->k;
    long long n0, n1;
    nl_par_range(j->n, tid, nth, &n0, &n1);
    float *xp = thread_buf(j, tid), *v = xp + j->p->bufs.xp, *m = v + j->p->bufs.v, *yt = m + j->p->bufs.m;
    float *du = j->base + j->p->du + tid * j->p->usz;
    float *db = j->base + j->p->db + tid * up16(r->cip > r->cop ? r->cip : r->cop);
    memset(db, 0, (size_t)r->cop * sizeof(float));
    memset(xp, 0, (size_t)(r->hp * r->wp * r->cip) * sizeof(float));
    memset(yt, 0, (size_t)(16 * r->th * r->tw * r->cop) * sizeof(float));
    const int64_t xs = r->ci * r->h * r->w, ys = r->co * r->ho * r->wo;
    const int64_t av = r->tmax * r->cip, am = r->tmax * r->cop;
    for (int64_t c0 = n0; c0 < n1; c0 += r->ipc) {
        if (j->interrupted && *j->interrupted) { j->stopped = 1; return; }
        const int64_t cn = min64(n1 - c0, r->ipc);
        for (int64_t k = 0; k < cn; k++) {
            K->to_nhwc(xp, r->cip, r->wp, r->pad, j->x + (c0 + k) * xs, r->ci, r->h, r->w);
            K->in_tf[1](v + k * r->tpi * r->cip, av, r->cip, xp, r->wp, r->cip, r->th, r->tw);
            K->to_nhwc(yt, r->cop, 4 * r->tw, 0, j->dy + (c0 + k) * ys, r->co, r->ho, r->wo);
            K->dy_tf(m + k * r->tpi * r->cop, am, r->cop, yt, 4 * r->tw, r->cop, r->th, r->tw);
        }
        const int64_t T = cn * r->tpi;
        if (j->db) {
            const float *s = m + 7 * am;
            for (int64_t t = 0; t < T; t++)
                for (int64_t o = 0; o < r->cop; o++) db[o] += s[t * r->cop + o];
        }
        for (int a = 0; a < NA; a++)
            K->gemm(r->cip, r->cop, T, v + a * av, 1, r->cip, m + a * am, r->cop,
                    du + a * r->cop, NA * r->cop, c0 > n0);   /* the first chunk writes */
    }
}

#define DW_ROWS 16   /* merged_worker's fused weight gradient: dU rows per block (36 x 16 x cop floats) */

/* The whole backward pass in one sweep when pad == 1: per chunk, x -> V; dy -> Xq (padded
 * NHWC, once) -> D (the weight gradient's A dy A^T over 4x4 tiles, read at offset (1,1)) and
 * Vb (B^T dy B over the data gradient's 2x2 or 4x4 tiles); dU += V^T D (the first chunk writes,
 * later ones add) and db += D[7] as in dw_worker; then Mx = Vb . U' (U' = the flipped,
 * transposed weights) into V's space, and dx (+)= A^T Mx A.
 * Split by images, each thread has its own dU (summed by dw_reduce_worker) and U' comes
 * from wtf_worker. Split by channels, every thread transforms all of x and dy but takes the
 * weight and bias gradients of its output channels [o0, o1) (its columns of the one shared
 * dU, which it reduces itself at the end) and the data gradient of its input channels
 * [i0, i1) (its columns of U', which it transforms itself first). */
static void merged_share(Job *j, int tid, int nth) {
    const Plan *p = j->p;
    const Role *r = &p->f4, *rb = j->r;   /* rb: the data gradient's role (2x2 or 4x4 tiles) */
    const Kern *K = j->k;
    const int split = p->split_channels, b4 = rb->m == 4;
    const Share sh = share_of(j, r, tid, nth);
    const int64_t o0 = sh.o0, o1 = sh.o1, i0 = sh.i0, ni = sh.i1 - sh.i0, nio = min64(sh.i1, r->ci) - i0;
    const int want_w = j->dw && o0 < o1, want_b = j->db && o0 < o1, want_x = j->y && ni > 0;
    if (sh.n0 >= sh.n1) return;
    /* split by channels with all images in one chunk, dU's rows are final as soon as their
     * GEMMs are done: transform them into dw right away, while they are in cache (the whole
     * dU of a 128 -> 128 layer is 2.4 MB, more than a core's L2) */
    const int fuse_dw = split && sh.n1 - sh.n0 <= r->ipc;
    float *U = j->base + p->u;                                     /* U' (cop x cip per point) */
    if (split && want_x) K->wtf[b4](U, rb->cip, rb->cop, rb->ci, rb->co, j->w, r->ci, 1, 0, rb->cip, i0, sh.i1);
    float *xp = thread_buf(j, tid), *v = xp + p->bufs.xp, *m = v + p->bufs.v, *yt = m + p->bufs.m;
    float *xq = yt + p->bufs.yt, *m2 = xq + p->bufs.xq;
    float *du = j->base + p->du + (split ? 0 : tid * p->usz);
    float *db = j->base + p->db + tid * up16(r->cip > r->cop ? r->cip : r->cop);
    memset(db, 0, (size_t)r->cop * sizeof(float));
    memset(xp, 0, (size_t)(r->hp * r->wp * r->cip) * sizeof(float));
    memset(xq, 0, (size_t)(p->xq_h * p->xq_w * rb->cip) * sizeof(float));
    const int64_t xs = r->ci * r->h * r->w, ys = r->co * r->ho * r->wo, pi = r->h * r->w;
    const int64_t tb = r->ipc * rb->tpi;                           /* data-gradient tiles per chunk */
    const int64_t av = r->tmax * r->cip, am = r->tmax * r->cop;   /* V (cip), D (cop) */
    const int64_t ab = tb * r->cop, ax = tb * r->cip;              /* Vb (cop), Mx (cip) */
    const int64_t qs = p->xq_w * rb->cip;                          /* row stride of Xq */
    for (int64_t c0 = sh.n0; c0 < sh.n1; c0 += r->ipc) {
        if (j->interrupted && *j->interrupted) { j->stopped = 1; return; }
        const int64_t cn = min64(sh.n1 - c0, r->ipc);
        for (int64_t k = 0; k < cn; k++) {
            if (want_w) {
                K->to_nhwc(xp, r->cip, r->wp, 1, j->x + (c0 + k) * xs, r->ci, r->h, r->w);
                K->in_tf[1](v + k * r->tpi * r->cip, av, r->cip, xp, r->wp, r->cip, r->th, r->tw);
            }
            K->to_nhwc(xq, rb->cip, p->xq_w, 1, j->dy + (c0 + k) * ys, r->co, r->ho, r->wo);
            if (want_w || want_b)
                K->dy_tf(m + k * r->tpi * r->cop, am, r->cop, xq + qs + rb->cip, p->xq_w, rb->cip, r->th, r->tw);
            if (want_x) K->in_tf[b4](m2 + k * rb->tpi * r->cop, ab, r->cop, xq, p->xq_w, rb->cip, rb->th, rb->tw);
        }
        const int64_t T = cn * r->tpi, Tb = cn * rb->tpi;
        if (want_b) {
            const float *sd = m + 7 * am;
            for (int64_t t = 0; t < T; t++)
                for (int64_t o = o0; o < o1; o++) db[o] += sd[t * r->cop + o];
        }
        if (want_w && fuse_dw) {   /* the whole batch in this chunk: dU a row block at a time, into dw */
            for (int64_t cb = 0; cb < r->ci; cb += DW_ROWS) {
                const int64_t nr = min64(DW_ROWS, r->ci - cb);
                for (int a = 0; a < NA; a++)
                    K->gemm(nr, o1 - o0, T, v + a * av + cb, 1, r->cip, m + a * am + o0, r->cop,
                            du + (cb * NA + a) * r->cop + o0, NA * r->cop, 0);
                K->dw(j->dw, du, 1, r->cip, r->cop, r->ci, r->co, cb, cb + nr, o0, o1);
            }
        } else if (want_w) {
            const PointGemms g = { K, r->cip, o1 - o0, T, 1, r->cip, r->cop, NA * r->cop, av, am, r->cop,
                                   v, m + o0, du + o0, c0 > sh.n0 };
            nl_help_run(&j->help, tid, NA, point_gemm, (void *)&g);
        }
        if (!want_x) continue;
        /* Mx[a] (Tb x ni) = Vb[a] (Tb x cop) . U'[a] (cop x ni), into V's space */
        const PointGemms g = { K, Tb, ni, r->cop, r->cop, 1, r->cip, r->cip, ab, r->cop * r->cip, ax,
                               m2, U + i0, v + i0, 0 };
        nl_help_run(&j->help, tid, rb->na, point_gemm, (void *)&g);
        for (int64_t k = 0; k < cn; k++) {
            K->out_tf[b4](yt, rb->m * rb->tw, ni, v + k * rb->tpi * r->cip + i0, ax, r->cip, NULL, rb->th, rb->tw);
            K->from_nhwc(j->y + (c0 + k) * xs + i0 * pi, nio, r->h, r->w, yt, rb->m * rb->tw, ni, j->acc);
        }
    }
    if (!split) return;
    if (want_w && !fuse_dw) K->dw(j->dw, du, 1, r->cip, r->cop, r->ci, r->co, 0, r->ci, o0, o1);
    if (want_b)
        for (int64_t o = o0; o < o1 && o < r->co; o++) j->db[o] += db[o];
}

static void merged_worker(void *arg, int tid, int nth) {
    merged_share(arg, tid, nth);
    nl_help_finish(&((Job *)arg)->help, tid, nth);
}

/* dw += G^T (sum of the threads' dU) G, input channels split between the threads;
 * thread 0 also adds the threads' db partial sums. */
static void dw_reduce_worker(void *arg, int tid, int nth) {
    Job *j = arg;
    const Role *r = j->r;
    long long c0, c1;
    nl_par_range(r->ci, tid, nth, &c0, &c1);
    if (j->dw) j->k->dw(j->dw, j->base + j->p->du, j->nk, r->cip, r->cop, r->ci, r->co, c0, c1, 0, r->cop);
    if (j->db && tid == 0) {
        const int64_t cs = up16(r->cip > r->cop ? r->cip : r->cop);
        for (int64_t o = 0; o < r->co; o++) {
            double s = 0;
            for (int k = 0; k < j->nk; k++) s += j->base[j->p->db + k * cs + o];
            j->db[o] += (float)s;
        }
    }
}

/* ------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------ */

static nl_status check_args(NlCtx *c, const char *who, const NlTensor *x, const NlTensor *w, int pad) {
    char sx[96], sw[96];
    if (x->ndim != 4 || w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3 || x->shape[1] != w->shape[1])
        return nl_fail(c, NL_ESHAPE, "%s: input %s and weight %s are not a 3x3 convolution", who,
                       nl_shape_str(x, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw));
    if (pad < 0 || pad > 2) return nl_fail(c, NL_EARG, "%s: padding %d (expected 0, 1 or 2)", who, pad);
    if (!geometry_ok(x->shape[0], x->shape[1], w->shape[0], x->shape[2], x->shape[3], pad))
        return nl_fail(c, NL_EARG, "%s: input %s with weight %s is outside the supported sizes", who,
                       nl_shape_str(x, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw));
    return NL_OK;
}

static nl_status check_ws(NlCtx *c, const char *who, Plan *p, const NlTensor *ws, const NlTensor *x,
                          int64_t co, int pad) {
    int64_t n = x->shape[0];
    if (!plan_fit(p, n, x->shape[1], co, x->shape[2], x->shape[3], pad, c ? c->threads : 1, ws->numel))
        return nl_fail(c, NL_ESHAPE, "%s: scratch has %lld floats, needs at least %lld", who,
                       (long long)ws->numel,
                       (long long)nl_winograd_workspace(n, x->shape[1], co, x->shape[2], x->shape[3], pad, 1));
    return NL_OK;
}

/* Runs fn on up to nth threads; *ran = how many did (1 when the pool was busy). */
static nl_status run(NlCtx *c, const char *who, Job *j, nl_par_fn fn, int nth, int *ran) {
    j->stopped = 0;
    nl_help_init(&j->help, nth);
    int r = nl_parallel(nth, fn, j);
    if (ran) *ran = r;
    if (j->stopped) return nl_fail(c, NL_EINTR, "%s: interrupted", who);
    return NL_OK;
}

nl_status nl_winograd_forward(NlCtx *c, NlTensor *y, NlTensor *ws, const NlTensor *x,
                              const NlTensor *w, const NlTensor *b, int pad, int tile) {
    const char *who = "winograd conv2d";
    nl_status s = check_args(c, who, x, w, pad);
    if (s) return s;
    if (tile != 2 && tile != 4) return nl_fail(c, NL_EARG, "%s: tile %d (expected 2 or 4)", who, tile);
    const int64_t n = x->shape[0], co = w->shape[0];
    Plan p;
    if ((s = check_ws(c, who, &p, ws, x, co, pad))) return s;
    int64_t dims[4] = { n, co, p.f4.ho, p.f4.wo };
    if ((s = nl_check_shape(c, "winograd conv2d: output", y, 4, dims))) return s;
    if (b && (b->ndim != 1 || b->shape[0] != co))
        return nl_fail(c, NL_ESHAPE, "%s: bias has %lld elements, expected %lld", who, (long long)b->numel,
                       (long long)co);
    Job j = { .k = kern(), .p = &p, .r = tile == 4 ? &p.f4 : &p.f2, .base = aligned_base(ws), .n = n,
              .y = y->data, .x = x->data, .w = w->data, .interrupted = c ? &c->interrupted : NULL };
    if (b) {
        float *bp = j.base + p.bias;
        memset(bp, 0, (size_t)p.f4.cop * sizeof(float));
        memcpy(bp, b->data, (size_t)co * sizeof(float));
        j.bias = bp;
    }
    if (!p.split_channels && (s = run(c, who, &j, wtf_worker, p.nth, NULL))) return s;
    return run(c, who, &j, conv_worker, p.nth, NULL);
}

nl_status nl_winograd_backward(NlCtx *c, NlTensor *dx, NlTensor *dw, NlTensor *db, NlTensor *ws,
                               const NlTensor *dy, const NlTensor *x, const NlTensor *w, int pad,
                               int dx_tile, int dx_overwrite) {
    const char *who = "winograd conv2d backward";
    nl_status s = check_args(c, who, x, w, pad);
    if (s) return s;
    if (dx_tile != 2 && dx_tile != 4)
        return nl_fail(c, NL_EARG, "%s: grad input tile %d (expected 2 or 4)", who, dx_tile);
    const int64_t n = x->shape[0], co = w->shape[0];
    Plan p;
    if ((s = check_ws(c, who, &p, ws, x, co, pad))) return s;
    int64_t dims[4] = { n, co, p.f4.ho, p.f4.wo };
    if ((s = nl_check_shape(c, "winograd conv2d: grad output", dy, 4, dims))) return s;
    if (dx && (s = nl_check_same(c, "winograd conv2d: grad input and input", dx, x))) return s;
    if (dw && (s = nl_check_same(c, "winograd conv2d: grad weight and weight", dw, w))) return s;
    if (db && (db->ndim != 1 || db->shape[0] != co))
        return nl_fail(c, NL_ESHAPE, "%s: grad bias has %lld elements, expected %lld", who,
                       (long long)db->numel, (long long)co);
    Job j = { .k = kern(), .p = &p, .base = aligned_base(ws), .n = n, .w = w->data,
              .interrupted = c ? &c->interrupted : NULL };
    if (pad == 1 && (dx || dw)) {   /* one sweep for everything (see merged_worker) */
        j.r = dx_tile == 4 ? &p.b4 : &p.b2, j.x = x->data, j.dy = dy->data, j.dw = dw ? dw->data : NULL;
        j.db = db ? db->data : NULL, j.y = dx ? dx->data : NULL, j.acc = !dx_overwrite, j.flip = 1;
        if (p.split_channels) return run(c, who, &j, merged_worker, p.nth, NULL);
        if (dx && (s = run(c, who, &j, wtf_worker, p.nth, NULL))) return s;   /* U' */
        int ran;
        if ((s = run(c, who, &j, merged_worker, p.nth, &ran))) return s;
        if (dw || db) {
            j.r = &p.f4, j.nk = ran;
            if ((s = run(c, who, &j, dw_reduce_worker, p.nth, NULL))) return s;
        }
        return NL_OK;
    }
    if (dw) {   /* weight gradient, and the bias gradient on the way */
        j.r = &p.f4, j.x = x->data, j.dy = dy->data, j.dw = dw->data, j.db = db ? db->data : NULL;
        int ran;
        if ((s = run(c, who, &j, dw_worker, p.nth, &ran))) return s;
        j.nk = ran;   /* the partial sums that were written */
        if ((s = run(c, who, &j, dw_reduce_worker, p.nth, NULL))) return s;
    } else if (db) {   /* db[o] += sum_{n,q} dy[n][o][q] */
        const int64_t P = p.f4.ho * p.f4.wo;
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < co; o++) {
                const float *r = dy->data + (i * co + o) * P;
                double acc = 0;
                for (int64_t q = 0; q < P; q++) acc += r[q];
                db->data[o] += (float)acc;
            }
    }
    if (dx) {
        /* dx += conv(dy, w flipped and transposed), pad 2 - pad, in dx_tile x dx_tile tiles */
        Job jx = { .k = kern(), .p = &p, .r = dx_tile == 4 ? &p.b4 : &p.b2, .base = aligned_base(ws), .n = n, .x = dy->data,
                   .y = dx->data, .w = w->data, .acc = !dx_overwrite, .flip = 1,
                   .interrupted = c ? &c->interrupted : NULL };
        if ((s = run(c, who, &jx, wtf_worker, p.nth, NULL))) return s;
        if ((s = run(c, who, &jx, conv_worker, p.nth, NULL))) return s;
    }
    return NL_OK;
}
