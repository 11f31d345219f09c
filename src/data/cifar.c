/* cifar.c: the binary versions of CIFAR-10 and CIFAR-100.
 *
 * Layout (www.cs.toronto.edu/~kriz/cifar.html, "binary version"):
 *   CIFAR-10  record = <label 0..9> <3072 pixels>                    3073 bytes
 *   CIFAR-100 record = <coarse 0..19> <fine 0..99> <3072 pixels>     3074 bytes
 * Pixels are planar: 1024 red, 1024 green, 1024 blue; each plane is 32x32,
 * row-major from the top row. Files have no header, so the only structural
 * checks are "a whole number of records", the expected record count when the
 * caller knows it, and every label in range. A file is checked completely
 * before the dataset is handed back; on failure nothing is kept. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "dataset.h"

void nl_dataset_free(NlDataset *ds) {
    free(ds->pixels);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

int nl_cifar_record_size(int kind) {
    return kind == NL_CIFAR10 ? 1 + NL_CIFAR_PIXELS : kind == NL_CIFAR100 ? 2 + NL_CIFAR_PIXELS : 0;
}

nl_status nl_cifar_unpack(NlCtx *c, const char *name, const uint8_t *buf, int64_t nrec,
                          int64_t first, int kind, int coarse, uint8_t *pixels, uint8_t *labels) {
    const int rs = nl_cifar_record_size(kind);
    const int nlab = kind == NL_CIFAR10 ? 1 : 2;
    for (int64_t r = 0; r < nrec; r++) {
        const uint8_t *p = buf + r * rs;
        long long rec = (long long)(first + r), off = (long long)((first + r) * rs);
        if (kind == NL_CIFAR10) {
            if (p[0] > 9)
                return nl_fail(c, NL_EFORMAT, "%s: record %lld (byte offset %lld): label %d out of range 0..9",
                               name, rec, off, p[0]);
            labels[r] = p[0];
        } else {
            if (p[0] > 19)
                return nl_fail(c, NL_EFORMAT, "%s: record %lld (byte offset %lld): coarse label %d out of "
                               "range 0..19", name, rec, off, p[0]);
            if (p[1] > 99)
                return nl_fail(c, NL_EFORMAT, "%s: record %lld (byte offset %lld): fine label %d out of "
                               "range 0..99", name, rec, off + 1, p[1]);
            labels[r] = coarse ? p[0] : p[1];
        }
        memcpy(pixels + r * NL_CIFAR_PIXELS, p + nlab, NL_CIFAR_PIXELS);
    }
    return NL_OK;
}

/* Turns a file size into a record count, or explains what is wrong with it. */
static nl_status count_records(NlCtx *c, const char *name, uint64_t size, int kind,
                               int64_t expect, int64_t *nrec) {
    const int rs = nl_cifar_record_size(kind);
    if (size == 0) return nl_fail(c, NL_EFORMAT, "%s: empty file (0 bytes, no records)", name);
    uint64_t whole = size / rs, rest = size % rs;
    if (rest)
        return nl_fail(c, NL_EFORMAT, "%s: wrong file size %llu bytes: not a whole number of %d-byte "
                       "CIFAR-%d records (record %llu at byte offset %llu is truncated: %llu of %d bytes)",
                       name, (unsigned long long)size, rs, kind, (unsigned long long)whole,
                       (unsigned long long)(whole * rs), (unsigned long long)rest, rs);
    if (expect > 0 && whole != (uint64_t)expect)
        return nl_fail(c, NL_EFORMAT, "%s: wrong file size %llu bytes (%llu records): expected %llu "
                       "bytes (%lld records of %d bytes)%s", name, (unsigned long long)size,
                       (unsigned long long)whole, (unsigned long long)expect * (unsigned)rs, (long long)expect, rs,
                       whole < (uint64_t)expect ? "; the file is truncated" : "");
    if (whole > (uint64_t)1 << 31)
        return nl_fail(c, NL_EFORMAT, "%s: %llu records is more than this loader supports", name,
                       (unsigned long long)whole);
    *nrec = (int64_t)whole;
    return NL_OK;
}

static nl_status alloc_ds(NlCtx *c, NlDataset *ds, const char *name, int64_t n, int ch, int h, int w,
                          int classes) {
    memset(ds, 0, sizeof *ds);
    size_t bytes = (size_t)n * ch * h * w;
    ds->pixels = (uint8_t *)malloc(bytes ? bytes : 1);
    ds->labels = (uint8_t *)malloc(n ? (size_t)n : 1);
    if (!ds->pixels || !ds->labels) {
        nl_dataset_free(ds);
        return nl_fail(c, NL_ENOMEM, "%s: out of memory for %lld images (%.1f MB)", name, (long long)n,
                       bytes / 1048576.0);
    }
    ds->n = n;
    ds->c = ch;
    ds->h = h;
    ds->w = w;
    ds->num_classes = classes;
    return NL_OK;
}

nl_status nl_cifar_parse(NlCtx *c, NlDataset *ds, const char *name, const uint8_t *buf, size_t len,
                         int kind, int coarse) {
    memset(ds, 0, sizeof *ds);
    if (!nl_cifar_record_size(kind)) return nl_fail(c, NL_EARG, "cifar: unknown kind %d (10 or 100)", kind);
    int64_t n;
    nl_status s = count_records(c, name, len, kind, 0, &n);
    if (s != NL_OK) return s;
    s = alloc_ds(c, ds, name, n, 3, 32, 32, kind == NL_CIFAR10 ? 10 : coarse ? 20 : 100);
    if (s != NL_OK) return s;
    s = nl_cifar_unpack(c, name, buf, n, 0, kind, coarse, ds->pixels, ds->labels);
    if (s != NL_OK) nl_dataset_free(ds);
    return s;
}

#define CHUNK_RECORDS 1024

nl_status nl_cifar_load(NlCtx *c, NlDataset *ds, const char *const *paths, int nfiles, int kind,
                        int coarse, int64_t expect_records) {
    memset(ds, 0, sizeof *ds);
    if (!nl_cifar_record_size(kind)) return nl_fail(c, NL_EARG, "cifar: unknown kind %d (10 or 100)", kind);
    if (nfiles < 1) return nl_fail(c, NL_EARG, "cifar: no files given");
    const int rs = nl_cifar_record_size(kind);
    int64_t total = 0;
    int64_t *counts = (int64_t *)calloc((size_t)nfiles, sizeof *counts);
    if (!counts) return nl_fail(c, NL_ENOMEM, "cifar: out of memory");
    nl_status s = NL_OK;

    /* 1. sizes first: a wrong file fails before anything big is allocated */
    for (int i = 0; i < nfiles && s == NL_OK; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0)
            s = nl_fail(c, NL_EIO, "%s: cannot open: %s", paths[i], strerror(errno));
        else if (!S_ISREG(st.st_mode))
            s = nl_fail(c, NL_EIO, "%s: not a regular file", paths[i]);
        else
            s = count_records(c, paths[i], (uint64_t)st.st_size, kind, expect_records, &counts[i]);
        total += counts[i];
    }
    if (s == NL_OK)
        s = alloc_ds(c, ds, "cifar", total, 3, 32, 32, kind == NL_CIFAR10 ? 10 : coarse ? 20 : 100);

    /* 2. read and check every record */
    uint8_t *chunk = NULL;
    if (s == NL_OK && !(chunk = (uint8_t *)malloc((size_t)CHUNK_RECORDS * rs)))
        s = nl_fail(c, NL_ENOMEM, "cifar: out of memory for the read buffer");
    int64_t at = 0;
    for (int i = 0; i < nfiles && s == NL_OK; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) { s = nl_fail(c, NL_EIO, "%s: cannot open: %s", paths[i], strerror(errno)); break; }
        for (int64_t r = 0; r < counts[i] && s == NL_OK; r += CHUNK_RECORDS) {
            int64_t k = counts[i] - r < CHUNK_RECORDS ? counts[i] - r : CHUNK_RECORDS;
            size_t got = fread(chunk, 1, (size_t)k * rs, f);
            if (got != (size_t)k * rs) {
                s = nl_fail(c, NL_EIO, "%s: read failed at byte offset %lld (record %lld): %s", paths[i],
                            (long long)(r * rs + (int64_t)got), (long long)(r + (int64_t)got / rs),
                            ferror(f) ? strerror(errno) : "the file is shorter than when it was opened");
                break;
            }
            s = nl_cifar_unpack(c, paths[i], chunk, k, r, kind, coarse,
                                ds->pixels + (at + r) * NL_CIFAR_PIXELS, ds->labels + at + r);
            if (s == NL_OK && (c ? c->interrupted : 0))
                s = nl_fail(c, NL_EINTR, "%s: interrupted while reading", paths[i]);
        }
        fclose(f);
        at += counts[i];
    }
    free(chunk);
    free(counts);
    if (s != NL_OK) nl_dataset_free(ds);
    return s;
}
