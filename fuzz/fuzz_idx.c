/* fuzz_idx.c: libFuzzer harness for the IDX parser behind the gzip reader.
 * Bytes 0-1 split the rest into an image file and a label file (each plain or
 * gzip); both go through nl_read_all_mem, nl_idx_parse and nl_idx_build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset.h"
#include "data/fetch.h"

static void check_parse(const uint8_t *buf, size_t len) {
    NlCtx ctx = {0};
    NlIdxInfo info;
    if (nl_idx_parse(&ctx, "any.idx", buf, len, 0, &info) == NL_OK) {
        if (info.offset + (size_t)info.numel != len) abort();
        if (info.offset != 4 + 4 * (size_t)info.ndim) abort();
    } else if (!strstr(ctx.err, "any.idx")) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t split = (size_t)(data[0] | data[1] << 8);
    data += 2;
    size -= 2;
    if (split > size) split = size;
    NlCtx ctx = {0};
    uint8_t *im = NULL, *lb = NULL;
    size_t imn = 0, lbn = 0;
    nl_status s1 = nl_read_all_mem(&ctx, "images", data, split, &im, &imn, 1 << 24);
    nl_status s2 = nl_read_all_mem(&ctx, "labels", data + split, size - split, &lb, &lbn, 1 << 24);
    if (s1 == NL_OK) check_parse(im, imn);
    if (s2 == NL_OK) check_parse(lb, lbn);
    if (s1 == NL_OK && s2 == NL_OK) {
        NlDataset ds;
        nl_status s = nl_idx_build(&ctx, &ds, "images", im, imn, "labels", lb, lbn, 10);
        if (s == NL_OK) {
            if (ds.c != 1 || ds.n < 1) abort();
            for (int64_t i = 0; i < ds.n; i++)
                if (ds.labels[i] >= 10) abort();
            nl_dataset_free(&ds);
        } else if (ds.pixels || ds.labels || ds.n) {
            abort();
        }
    }
    if ((s1 != NL_OK && im) || (s2 != NL_OK && lb)) abort();
    free(im);
    free(lb);
    return 0;
}
