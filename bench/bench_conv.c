/* bench_conv.c: per-layer convolution time of the plain model, im2col + sgemm
 * (src/ops/conv2d.c) against Winograd F(4x4,3x3) (src/ops/winograd.c), forward and backward.
 *
 *   bench_conv [--threads T] [--batch B] [--depth D] [--reps R] [--generic] [--only plain|winograd] [--tile 2|4]
 *              [--dx-tile 2|4] [--split auto|images|channels]
 *
 * For each conv layer of plain(D) at batch B: milliseconds per forward and per backward
 * (grad input + grad weight + grad bias; the first layer's grad input too, as the Lua
 * layer asks for it), medians of R repetitions with the two algorithms alternating, and the
 * effective rate 2*MACs/time. --tile: the Winograd forward pass's output tile (2: F(2x2,3x3),
 * the default; 4: F(4x4,3x3), as Conv2d's 'winograd-auto' uses it); --dx-tile: the grad
 * input's (2, the default, as Conv2d's 'auto'; 4, as 'winograd-auto'); the grad weight is
 * always F(4x4,3x3). Last line (machine readable):
 *   CONV threads=T batch=B depth=D plain_ms=X winograd_ms=Y (one training step's convs) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/nl.h"
#include "core/tensor.h"
#include "ops/conv2d.h"
#include "ops/winograd.h"

void openblas_set_num_threads(int);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static NlTensor tnew(int nd, const int64_t *d) {
    NlTensor t = { 0 };
    if (nl_tensor_set_shape(NULL, &t, nd, d)) abort();
    t.data = malloc((size_t)t.numel * sizeof(float) + 64);
    if (!t.data) abort();
    for (int64_t i = 0; i < t.numel; i++) t.data[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    return t;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    int threads = 2, batch = 128, depth = 8, reps = 5, algo = 3, tile = 2, dxtile = 2;   /* bit 1: plain, bit 2: winograd */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--depth") && i + 1 < argc) depth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--generic")) nl_winograd_force_generic(1);
        else if (!strcmp(argv[i], "--split") && i + 1 < argc) {
            i++;
            nl_winograd_force_split(!strcmp(argv[i], "images") ? 1 : !strcmp(argv[i], "channels") ? 2 : 0);
        }
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc) tile = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dx-tile") && i + 1 < argc) dxtile = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            i++;
            algo = !strcmp(argv[i], "plain") ? 1 : !strcmp(argv[i], "winograd") ? 2 : 0;
            if (!algo) return 2;
        }
        else {
            fprintf(stderr, "usage: bench_conv [--threads T] [--batch B] [--depth D] [--reps R] [--generic] [--only plain|winograd] [--tile 2|4] [--dx-tile 2|4] [--split auto|images|channels]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || depth < 1 || depth > 8 || batch < 1) return 2;
    NlCtx ctx = { 0 };
    nl_set_threads(&ctx, threads);
    printf("# conv layers of plain(depth %d), batch %d, %d thread(s), winograd code: %s, forward tile %d, grad input tile %d\n",
           depth, batch, threads, nl_winograd_isa(), tile, dxtile);
    printf("%-22s %9s %9s %9s %9s %8s %8s\n", "layer", "plain fw", "wino fw", "plain bw", "wino bw",
           "GF/s pl", "GF/s wg");
    double tot_p = 0, tot_w = 0;
    int cin = 3, hw = 32, prev = 0;
    for (int b = 0; b < depth; b++) {
        int s = 3 * b / depth;
        if (b > 0 && s != prev) hw /= 2;
        prev = s;
        int cout = 32 << s;
        NlTensor x = tnew(4, (int64_t[]){ batch, cin, hw, hw }), w = tnew(4, (int64_t[]){ cout, cin, 3, 3 });
        NlTensor bias = tnew(1, (int64_t[]){ cout }), y = tnew(4, (int64_t[]){ batch, cout, hw, hw });
        NlTensor dy = tnew(4, (int64_t[]){ batch, cout, hw, hw }), dx = tnew(4, (int64_t[]){ batch, cin, hw, hw });
        NlTensor dw = tnew(4, (int64_t[]){ cout, cin, 3, 3 }), db = tnew(1, (int64_t[]){ cout });
        NlTensor col = tnew(1, (int64_t[]){ nl_conv2d_workspace(cin, 3, 3, hw, hw) });
        NlTensor ws = tnew(1, (int64_t[]){ nl_winograd_workspace(batch, cin, cout, hw, hw, 1, threads) });
        double t[4][1000];
        for (int r = -1; r < reps; r++) {
            double t0 = now();
            if ((algo & 1) && nl_conv2d_forward(&ctx, &y, &col, &x, &w, &bias, 1, 1)) goto fail;
            double t1 = now();
            if ((algo & 1) && nl_conv2d_backward(&ctx, &dx, &dw, &db, &col, &dy, &x, &w, 1, 1)) goto fail;
            double t2 = now();
            if ((algo & 2) && nl_winograd_forward(&ctx, &y, &ws, &x, &w, &bias, 1, tile)) goto fail;
            double t3 = now();
            if ((algo & 2) && nl_winograd_backward(&ctx, &dx, &dw, &db, &ws, &dy, &x, &w, 1, dxtile, 1)) goto fail;
            double t4 = now();
            if (r >= 0) t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3;
        }
        double pf = median(t[0], reps), pb = median(t[1], reps), wf = median(t[2], reps), wb = median(t[3], reps);
        double flops = 2.0 * batch * cout * hw * hw * cin * 9 * 3;   /* fwd + dx + dw */
        char name[64];
        snprintf(name, sizeof name, "conv%d %d->%d %dx%d", b + 1, cin, cout, hw, hw);
        printf("%-22s %9.2f %9.2f %9.2f %9.2f %8.1f %8.1f\n", name, pf * 1e3, wf * 1e3, pb * 1e3, wb * 1e3,
               flops / (pf + pb) * 1e-9, flops / (wf + wb) * 1e-9);
        tot_p += pf + pb, tot_w += wf + wb;
        free(x.data), free(w.data), free(bias.data), free(y.data), free(dy.data), free(dx.data);
        free(dw.data), free(db.data), free(col.data), free(ws.data);
        cin = cout;
    }
    printf("CONV threads=%d batch=%d depth=%d plain_ms=%.2f winograd_ms=%.2f\n", threads, batch, depth,
           tot_p * 1e3, tot_w * 1e3);
    return 0;
fail:
    fprintf(stderr, "bench_conv: %s\n", ctx.err);
    return 1;
}
