/* fuzz_tar.c: libFuzzer harness for the tar reader (src/data/tar.c) over a
 * plain or gzip stream, and for the name cleaning that guards extraction.
 * Checks: DATA chunks add up to the entry's size for file entries, names are
 * terminated, and a cleaned name is never absolute and never has a ".." part. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "data/fetch.h"

typedef struct { uint64_t seen; int entries; } St;

static nl_status on_entry(NlCtx *c, void *ud, const NlTarEntry *e, int ev, const uint8_t *p, size_t n) {
    St *st = (St *)ud;
    if (memchr(e->name, 0, sizeof e->name) == NULL) abort();
    if (ev == NL_TAR_BEGIN) {
        st->seen = 0;
        st->entries++;
        char rel[1024];
        int r = nl_tar_clean_name(e->name, rel, sizeof rel);
        if (r > 0) {
            if (rel[0] == '/') abort();
            const char *q = rel;
            while (q) {   /* no ".." component */
                if (q[0] == '.' && q[1] == '.' && (q[2] == '/' || q[2] == 0)) abort();
                q = strchr(q, '/');
                if (q) q++;
            }
            if (strstr(rel, "//")) abort();
        }
    } else if (ev == NL_TAR_DATA) {
        if (!p || n == 0) abort();
        st->seen += n;
        if (st->seen > e->size) abort();
    } else if ((e->type == '0' || e->type == '7') && st->seen != e->size) {
        abort();
    }
    return NL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NlCtx ctx = {0};
    NlGz g;
    nl_gz_open_mem(&g, "fuzz.tar", data, size);
    St st = {0, 0};
    nl_tar_walk(&ctx, &g, on_entry, &st);
    nl_gz_close(&g);
    /* the cleaner on its own, with the input as a name */
    char name[300], rel[64];
    size_t k = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, k);
    name[k] = '\0';
    int r = nl_tar_clean_name(name, rel, sizeof rel);
    if (r > 0 && (rel[0] == '/' || strlen(rel) >= sizeof rel)) abort();
    return 0;
}
