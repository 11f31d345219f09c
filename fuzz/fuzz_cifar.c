/* fuzz_cifar.c: libFuzzer harness for the CIFAR-10/100 binary parser.
 * Byte 0 picks the format (bit 0: CIFAR-100) and the label kind (bit 1:
 * coarse); the rest is the file. Checks: success only for a whole number of
 * records with every label in range; failure leaves the dataset empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int kind = (data[0] & 1) ? NL_CIFAR100 : NL_CIFAR10, coarse = (data[0] >> 1) & 1;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    NlCtx ctx = {0};
    NlDataset ds;
    nl_status s = nl_cifar_parse(&ctx, &ds, "fuzz.bin", buf, len, kind, coarse);
    int rs = nl_cifar_record_size(kind);
    if (s == NL_OK) {
        if (len == 0 || len % (size_t)rs || (size_t)ds.n * rs != len) abort();
        for (int64_t i = 0; i < ds.n; i++) {
            if (ds.labels[i] >= ds.num_classes) abort();
            if (memcmp(ds.pixels + i * 3072, buf + i * rs + (rs - 3072), 3072)) abort();
        }
        nl_dataset_free(&ds);
    } else {
        if (ds.pixels || ds.labels || ds.n) abort();   /* nothing half-loaded */
        if (!strstr(ctx.err, "fuzz.bin")) abort();     /* the message names the file */
    }
    return 0;
}
