/* bench_sgemm.c: the sgemm rate OpenBLAS reaches on the plain model's own GEMM shapes.
 *
 *   bench_sgemm [--threads T] [--batch B] [--depth D] [--time S] [--group-pixels N] [--quiet]
 *
 * Shapes (row-major, as src/ops/conv2d.c and src/ops/winograd.c call cblas_sgemm):
 *   im2col, per conv layer (Cin -> Cout on an HxW image, K = 9*Cin, P = H*W, one image per
 *   call, as src/ops/conv2d.c makes them; --group-pixels N groups images until G*P >= N):
 *     fwd   NN  (Cout x K) . (K x G*P)
 *     dW    NT  (Cout x G*P) . (G*P x K)
 *     dcol  TN  (K x Cout) . (Cout x G*P)
 *   Winograd F(4x4,3x3), per layer and per each of the 36 transform points, a chunk of
 *   T tiles (what one thread multiplies at a time, single-threaded):
 *     fwd   NN  (T x Cin) . (Cin x Cout)
 *   plus a large square reference (2048^3).
 * Each shape runs for about S seconds (default 0.15) after one warm-up call; the rate is
 * 2*M*N*K / time. The summary line weights every im2col shape by its flops in one
 * training step (that is the "sgemm alone" time for normlab's convolutions).
 * The last line is machine readable:
 *   SUMMARY threads=T batch=B depth=D im2col_gflops=X square_gflops=Y conv_sgemm_ms=Z */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static float *buf(size_t n) {
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) / 64 * 64);
    if (!p) { fprintf(stderr, "bench_sgemm: out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7919u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* Seconds per call of one sgemm shape (ta, tb: 'N' or 'T'). */
static double time_gemm(char ta, char tb, int m, int n, int k, double budget) {
    float *a = buf((size_t)m * k), *b = buf((size_t)k * n), *c = buf((size_t)m * n);
    int lda = ta == 'N' ? k : m, ldb = tb == 'N' ? n : k;
    enum CBLAS_TRANSPOSE TA = ta == 'N' ? CblasNoTrans : CblasTrans;
    enum CBLAS_TRANSPOSE TB = tb == 'N' ? CblasNoTrans : CblasTrans;
    cblas_sgemm(CblasRowMajor, TA, TB, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
    int reps = 0;
    double t0 = now(), t;
    do {
        cblas_sgemm(CblasRowMajor, TA, TB, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        reps++;
        t = now() - t0;
    } while (t < budget || reps < 3);
    free(a), free(b), free(c);
    return t / reps;
}

int main(int argc, char **argv) {
    int threads = 2, batch = 128, depth = 8, quiet = 0, group = 0;
    double budget = 0.15;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc) depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--time") && i + 1 < argc) budget = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--group-pixels") && i + 1 < argc) group = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_sgemm [--threads T] [--batch B] [--depth D] [--time S] [--group-pixels N] [--quiet]\n");
            return 2;
        }
    }
    if (depth < 1 || depth > 8 || batch < 1 || threads < 1) {
        fprintf(stderr, "bench_sgemm: bad depth/batch/threads\n");
        return 2;
    }
    openblas_set_num_threads(threads);
    printf("# OpenBLAS %s core %s, %d thread(s), plain model depth %d, batch %d\n",
           openblas_get_config(), openblas_get_corename(), threads, depth, batch);

    /* the protocol's layers: block b in stage 3b/depth, width 32*2^s, pool between stages */
    double flops_total = 0, time_total = 0;
    int cin = 3, hw = 32, prev_stage = 0;
    if (!quiet) printf("%-28s %-4s %6s %6s %6s %6s %9s\n", "layer", "op", "M", "N", "K", "calls", "GFLOP/s");
    for (int b = 0; b < depth; b++) {
        int s = 3 * b / depth;
        if (b > 0 && s != prev_stage) hw /= 2;
        prev_stage = s;
        int cout = 32 << s, k = 9 * cin, p = hw * hw;
        int g = group <= p ? 1 : (group + p - 1) / p;
        if (g > batch) g = batch;
        int calls = (batch + g - 1) / g;
        struct { const char *op; char ta, tb; int m, n, k; } sh[3] = {
            { "fwd", 'N', 'N', cout, g * p, k },
            { "dW", 'N', 'T', cout, k, g * p },
            { "dcol", 'T', 'N', k, g * p, cout },
        };
        for (int i = 0; i < 3; i++) {
            double t = time_gemm(sh[i].ta, sh[i].tb, sh[i].m, sh[i].n, sh[i].k, budget);
            double f = 2.0 * sh[i].m * sh[i].n * sh[i].k;
            flops_total += f * calls;
            time_total += t * calls;
            if (!quiet) {
                char name[64];
                snprintf(name, sizeof name, "conv%d %d->%d %dx%d", b + 1, cin, cout, hw, hw);
                printf("%-28s %-4s %6d %6d %6d %6d %9.1f\n", name, sh[i].op, sh[i].m, sh[i].n,
                       sh[i].k, calls, f / t * 1e-9);
            }
        }
        cin = cout;
    }
    double im2col_rate = flops_total / time_total * 1e-9;
    printf("# im2col GEMMs of one training step: %.1f GFLOP in %.1f ms of sgemm = %.1f GFLOP/s\n",
           flops_total * 1e-9, time_total * 1e3, im2col_rate);

    /* Winograd F(4x4,3x3) GEMMs: one thread, chunks of about 16384/(Cin+Cout) tiles */
    openblas_set_num_threads(1);
    if (!quiet) {
        printf("# Winograd F(4x4,3x3) per-point GEMMs, single-threaded (T x Cin) . (Cin x Cout):\n");
        int chans[][2] = { { 32, 32 }, { 32, 64 }, { 64, 64 }, { 64, 128 }, { 128, 128 } };
        int tiles[] = { 16, 64, 128, 256, 512 };
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++) {
                double t = time_gemm('N', 'N', tiles[j], chans[i][1], chans[i][0], budget / 3);
                printf("wino NN T=%-4d Cin=%-4d Cout=%-4d %9.1f GFLOP/s\n", tiles[j], chans[i][0],
                       chans[i][1], 2.0 * tiles[j] * chans[i][0] * chans[i][1] / t * 1e-9);
            }
    }
    openblas_set_num_threads(threads);
    double tsq = time_gemm('N', 'N', 2048, 2048, 2048, budget * 2);
    double square = 2.0 * 2048 * 2048 * 2048 / tsq * 1e-9;
    printf("# square 2048^3: %.1f GFLOP/s\n", square);
    printf("SUMMARY threads=%d batch=%d depth=%d im2col_gflops=%.1f square_gflops=%.1f conv_sgemm_ms=%.2f\n",
           threads, batch, depth, im2col_rate, square, time_total * 1e3);
    return 0;
}
