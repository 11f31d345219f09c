/* fuzz_gzip.c: libFuzzer harness for the gzip/plain reader (src/data/gz.c).
 * Reads the input whole, then again in chunks of varying sizes; both must
 * agree, byte for byte and in success or failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "data/fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NlCtx ctx = {0};
    uint8_t *all = NULL;
    size_t n = 0;
    nl_status s = nl_read_all_mem(&ctx, "fuzz.gz", data, size, &all, &n, 1 << 22);
    if (s != NL_OK && all) abort();
    if (s == NL_OK && !(size >= 2 && data[0] == 0x1f && data[1] == 0x8b) && (n != size || memcmp(all, data, n)))
        abort();   /* plain input passes through unchanged */
    NlGz g;
    nl_gz_open_mem(&g, "fuzz.gz", data, size);
    uint8_t buf[4099];
    size_t at = 0, step = 1;
    nl_status s2 = NL_OK;
    for (;;) {
        size_t got;
        s2 = nl_gz_read(&ctx, &g, buf, step, &got);
        if (s2 != NL_OK || got == 0) break;
        if (s == NL_OK && (at + got > n || memcmp(buf, all + at, got))) abort();
        at += got;
        if (at > (1u << 22)) break;
        step = step * 7 % 4099 + 1;
    }
    nl_gz_close(&g);
    if (s == NL_OK && (s2 != NL_OK || at != n)) abort();
    free(all);
    return 0;
}
