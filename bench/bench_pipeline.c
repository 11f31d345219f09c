/* bench_pipeline.c: images per second of the training batch pipeline
 * (shuffle + pad/crop/flip augmentation + normalization into a reused float
 * batch) on one core, the work done by data.Loader for every training step.
 *
 *   bench/bench_pipeline.sh [seconds]       (builds it and pins it to one core)
 *   build/bench/bench_pipeline [dir] [seconds] [batch]
 * dir: a cifar-10-batches-bin directory (default ../shared/data/...); when it
 * is absent, 50,000 synthetic images are used (the speed does not depend on
 * the pixel values). Prints one line: "pipeline: N img/s (...)". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core/rng.h"
#include "data/dataset.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../shared/data/cifar-10-batches-bin";
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    int batch = argc > 3 ? atoi(argv[3]) : 128;
    NlCtx ctx = {0};
    NlDataset ds;
    char p[5][512];
    const char *paths[5];
    for (int i = 0; i < 5; i++) {
        snprintf(p[i], sizeof p[i], "%s/data_batch_%d.bin", dir, i + 1);
        paths[i] = p[i];
    }
    const char *source = "CIFAR-10 training set";
    if (access(p[0], R_OK) != 0 || nl_cifar_load(&ctx, &ds, paths, 5, NL_CIFAR10, 0, 10000) != NL_OK) {
        source = "50,000 synthetic 3x32x32 images";
        memset(&ds, 0, sizeof ds);
        ds.n = 50000; ds.c = 3; ds.h = 32; ds.w = 32; ds.num_classes = 10;
        ds.pixels = malloc((size_t)ds.n * 3072);
        ds.labels = malloc((size_t)ds.n);
        uint64_t st = nl_rng_seed(1, 7);
        for (size_t i = 0; i < (size_t)ds.n * 3072; i++) ds.pixels[i] = (uint8_t)nl_rng_next(&st);
        for (int64_t i = 0; i < ds.n; i++) ds.labels[i] = (uint8_t)(i % 10);
    }
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    NlLoader ld;
    if (nl_loader_init(&ctx, &ld, &ds, 0, batch, 1, 1, 1, mean, std, 4, 1) != NL_OK) {
        fprintf(stderr, "bench_pipeline: %s\n", ctx.err);
        return 1;
    }
    float *x = NULL;
    if (posix_memalign((void **)&x, 64, (size_t)batch * 3072 * sizeof(float))) return 1;
    float *y = malloc((size_t)batch * sizeof(float));
    NlTensor X = {x, 4, {batch, 3, 32, 32}, (int64_t)batch * 3072}, Y = {y, 1, {batch}, batch};

    int64_t images = 0, epoch = 0;
    double t_order = 0, t0 = now_s();
    volatile float sink = 0;
    /* whole epochs (so the per-epoch shuffle is counted) until `seconds` have passed */
    while (now_s() - t0 < seconds) {
        double ts = now_s();
        nl_loader_set_epoch(&ld, ++epoch);
        t_order += now_s() - ts;
        for (int64_t b = 0; b < ld.nbatches; b++) {
            nl_loader_fill(&ctx, &ld, b, &X, &Y);
            sink += x[(b * 977) % X.numel];
            images += batch;
        }
    }
    double el = now_s() - t0;
    printf("pipeline: %.0f img/s (%lld images in %.2f s, %lld epochs of %s, batch %d, pad 4 + crop + flip + "
           "normalize, one thread; shuffling %.1f%% of the time)\n",
           images / el, (long long)images, el, (long long)epoch, source, batch, 100 * t_order / el);
    nl_loader_free(&ld);
    nl_dataset_free(&ds);
    free(x);
    free(y);
    return 0;
}
