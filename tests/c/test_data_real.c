/* test_data_real.c: the real CIFAR-10 copy (../shared/data, or $NORMLAB_SHARED_CIFAR10)
 * when it is present, the bundled sample in data/sample, and Debian's
 * Fashion-MNIST when installed. Each part is skipped (and says so) when its
 * files are absent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "data/dataset.h"

static NlCtx ctx;

static int exists(const char *p) { return access(p, R_OK) == 0; }

static void hist(const NlDataset *ds, int64_t *h) {
    memset(h, 0, 256 * sizeof *h);
    for (int64_t i = 0; i < ds->n; i++) h[ds->labels[i]]++;
}

static void test_full(const char *dir) {
    char p[6][600];
    for (int i = 0; i < 5; i++) snprintf(p[i], sizeof p[i], "%s/data_batch_%d.bin", dir, i + 1);
    snprintf(p[5], sizeof p[5], "%s/test_batch.bin", dir);
    if (!exists(p[0])) {
        printf("ok %d - real CIFAR-10 # SKIP not found in %s\n", ++check_count, dir);
        return;
    }
    const char *train[5] = {p[0], p[1], p[2], p[3], p[4]};
    const char *test[1] = {p[5]};
    NlDataset tr, te;
    nl_status s = nl_cifar_load(&ctx, &tr, train, 5, NL_CIFAR10, 0, 10000);
    CHECK(s == NL_OK && tr.n == 50000, "real CIFAR-10: 50,000 training records", "%s n=%lld", ctx.err, (long long)tr.n);
    s = nl_cifar_load(&ctx, &te, test, 1, NL_CIFAR10, 0, 10000);
    CHECK(s == NL_OK && te.n == 10000, "real CIFAR-10: 10,000 test records", "%s", ctx.err);
    if (!tr.n || !te.n) return;
    int64_t h[256];
    hist(&tr, h);
    int ok = 1;
    for (int k = 0; k < 10; k++) ok &= h[k] == 5000;
    CHECK(ok, "real CIFAR-10: 5000 training images per class", "class 0: %lld", (long long)h[0]);
    hist(&te, h);
    ok = 1;
    for (int k = 0; k < 10; k++) ok &= h[k] == 1000;
    CHECK(ok, "real CIFAR-10: 1000 test images per class", "class 0: %lld", (long long)h[0]);
    /* per-channel mean of pixels/255 as in ../shared/data/README.md: 0.4913 0.4821 0.4465 */
    const double want[3] = {0.4913, 0.4821, 0.4465};
    double mean[3];
    for (int c = 0; c < 3; c++) {
        uint64_t sum = 0;
        for (int64_t i = 0; i < tr.n; i++) {
            const uint8_t *q = tr.pixels + i * 3072 + c * 1024;
            for (int j = 0; j < 1024; j++) sum += q[j];
        }
        mean[c] = (double)sum / (tr.n * 1024.0) / 255.0;
    }
    CHECK(fabs(mean[0] - want[0]) < 2e-4 && fabs(mean[1] - want[1]) < 2e-4 && fabs(mean[2] - want[2]) < 2e-4,
          "real CIFAR-10: channel means match the README (planar RGB read correctly)", "%.4f %.4f %.4f",
          mean[0], mean[1], mean[2]);

    /* the bundled sample is the first 2500 / 500 records, byte for byte */
    const char *sd = "data/sample/cifar-10-batches-bin";
    char sp[2][600];
    snprintf(sp[0], sizeof sp[0], "%s/data_batch_1.bin", sd);
    snprintf(sp[1], sizeof sp[1], "%s/test_batch.bin", sd);
    if (exists(sp[0])) {
        NlDataset a, b;
        const char *pa[1] = {sp[0]}, *pb[1] = {sp[1]};
        nl_status s1 = nl_cifar_load(&ctx, &a, pa, 1, NL_CIFAR10, 0, 0);
        nl_status s2 = nl_cifar_load(&ctx, &b, pb, 1, NL_CIFAR10, 0, 0);
        CHECK(s1 == NL_OK && s2 == NL_OK && a.n == 2500 && b.n == 500, "sample: 2500 train and 500 test records",
              "%s", ctx.err);
        CHECK(s1 == NL_OK && s2 == NL_OK && !memcmp(a.pixels, tr.pixels, 2500 * 3072) &&
              !memcmp(a.labels, tr.labels, 2500) && !memcmp(b.pixels, te.pixels, 500 * 3072) &&
              !memcmp(b.labels, te.labels, 500), "sample: the first records of the real set", "differ");
        nl_dataset_free(&a);
        nl_dataset_free(&b);
    }
    nl_dataset_free(&tr);
    nl_dataset_free(&te);
}

static void test_fashion(void) {
    const char *d = "/usr/share/datasets/fashion-mnist";
    char im[300], lb[300];
    snprintf(im, sizeof im, "%s/t10k-images-idx3-ubyte.gz", d);
    snprintf(lb, sizeof lb, "%s/t10k-labels-idx1-ubyte.gz", d);
    if (!exists(im)) {
        printf("ok %d - Fashion-MNIST # SKIP dataset-fashion-mnist is not installed\n", ++check_count);
        return;
    }
    NlDataset ds;
    nl_status s = nl_idx_load(&ctx, &ds, im, lb, 10);
    CHECK(s == NL_OK && ds.n == 10000 && ds.h == 28 && ds.w == 28 && ds.c == 1, "Fashion-MNIST: t10k from Debian",
          "%s", ctx.err);
    int64_t h[256];
    if (s == NL_OK) {
        hist(&ds, h);
        int ok = 1;
        for (int k = 0; k < 10; k++) ok &= h[k] == 1000;
        CHECK(ok, "Fashion-MNIST: 1000 test images per class", "class 0 %lld", (long long)h[0]);
    }
    nl_dataset_free(&ds);
}

int main(void) {
    const char *dir = getenv("NORMLAB_SHARED_CIFAR10");
    if (!dir || !*dir)
        dir = exists("../shared/data/cifar-10-batches-bin/data_batch_1.bin") ? "../shared/data/cifar-10-batches-bin"
                                                                            : "/work/shared/data/cifar-10-batches-bin";
    test_full(dir);
    test_fashion();
    return check_done();
}
