/* checkpoint.c: reader and writer of the data-only checkpoint format
 * described in checkpoint.h. The reader never trusts a length: every field
 * is checked against the bytes that remain before it is read. */
#include <string.h>
#include <zlib.h>
#include "checkpoint.h"

/* ---- writing ---- */

static void put(NlCkptWriter *w, const void *p, size_t n) {
    if (w->failed) return;
    if (n && fwrite(p, 1, n, w->f) != n) { w->failed = 1; return; }
    w->crc = (uint32_t)crc32(w->crc, (const Bytef *)p, (uInt)n);
}
static void put_u8(NlCkptWriter *w, unsigned v) { unsigned char b = (unsigned char)v; put(w, &b, 1); }
static void put_le(NlCkptWriter *w, uint64_t v, int bytes) {
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, (size_t)bytes);
}
static void put_name(NlCkptWriter *w, const char *name, nl_ckpt_kind kind) {
    size_t n = strlen(name);
    if (n > NL_CKPT_MAX_NAME) { w->failed = 1; return; }
    put_le(w, n, 2); put(w, name, n); put_u8(w, kind);
}

void nl_ckpt_begin(NlCkptWriter *w, FILE *f, uint32_t count) {
    w->f = f; w->crc = (uint32_t)crc32(0L, Z_NULL, 0); w->count = count; w->failed = 0;
    put(w, NL_CKPT_MAGIC, 8);
    put_le(w, NL_CKPT_VERSION, 4);
    put_le(w, count, 4);
}

void nl_ckpt_put_tensor(NlCkptWriter *w, const char *name, const NlTensor *t) {
    put_name(w, name, NL_CKPT_TENSOR);
    put_u8(w, (unsigned)t->ndim);
    for (int i = 0; i < t->ndim; i++) put_le(w, (uint64_t)t->shape[i], 8);
    /* floats are written in host order: x86-64 and aarch64 are little-endian */
    put(w, t->data, (size_t)t->numel * sizeof(float));
}

void nl_ckpt_put_number(NlCkptWriter *w, const char *name, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_name(w, name, NL_CKPT_NUMBER);
    put_le(w, bits, 8);
}

void nl_ckpt_put_string(NlCkptWriter *w, const char *name, const char *s, size_t len) {
    put_name(w, name, NL_CKPT_STRING);
    put_le(w, len, 4);
    put(w, s, len);
}

int nl_ckpt_end(NlCkptWriter *w) {
    uint32_t crc = w->crc;
    put_le(w, crc, 4);
    return w->failed ? -1 : 0;
}

/* ---- reading ---- */

typedef struct { const unsigned char *p; size_t len, off; const char *fname; NlCtx *c; } Cursor;

static nl_status need(Cursor *k, size_t n, const char *what) {
    if (k->len - k->off >= n) return NL_OK;
    return nl_fail(k->c, NL_EFORMAT, "%s: truncated at byte %zu (reading %s: need %zu bytes, %zu left)",
                   k->fname, k->off, what, n, k->len - k->off);
}
static uint64_t get_le(Cursor *k, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)k->p[k->off + i] << (8 * i);
    k->off += (size_t)bytes;
    return v;
}

nl_status nl_ckpt_parse(NlCtx *c, const unsigned char *buf, size_t len, const char *fname,
                        int (*on_record)(void *ud, const NlCkptRecord *r), void *ud) {
    Cursor k = { buf, len, 0, fname, c };
    nl_status s;
    if (len < 20 || memcmp(buf, NL_CKPT_MAGIC, 8) != 0)
        return nl_fail(c, NL_EFORMAT, "%s: not a normlab checkpoint (bad magic number at byte 0)", fname);
    uint32_t stored = (uint32_t)(buf[len - 4] | buf[len - 3] << 8 | buf[len - 2] << 16 | (uint32_t)buf[len - 1] << 24);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(len - 4));
    k.off = 8;
    uint32_t version = (uint32_t)get_le(&k, 4);
    if (version != NL_CKPT_VERSION)
        return nl_fail(c, NL_EFORMAT, "%s: checkpoint version %u, this normlab reads version %u",
                       fname, version, NL_CKPT_VERSION);
    if (stored != crc)
        return nl_fail(c, NL_EFORMAT, "%s: checksum mismatch (file corrupt or truncated, %zu bytes)", fname, len);
    k.len = len - 4;   /* the CRC is not part of the records */
    uint32_t count = (uint32_t)get_le(&k, 4);
    for (uint32_t r = 0; r < count; r++) {
        NlCkptRecord rec;
        memset(&rec, 0, sizeof rec);
        if ((s = need(&k, 2, "a record name length"))) return s;
        rec.name_len = (size_t)get_le(&k, 2);
        if (rec.name_len > NL_CKPT_MAX_NAME)
            return nl_fail(c, NL_EFORMAT, "%s: record %u at byte %zu: name of %zu bytes is too long",
                           fname, r, k.off - 2, rec.name_len);
        if ((s = need(&k, rec.name_len + 1, "a record name"))) return s;
        rec.name = (const char *)k.p + k.off;
        k.off += rec.name_len;
        size_t at = k.off;
        unsigned kind = k.p[k.off++];
        rec.kind = (nl_ckpt_kind)kind;
        if (kind == NL_CKPT_TENSOR) {
            if ((s = need(&k, 1, "a tensor rank"))) return s;
            int ndim = k.p[k.off++];
            if (ndim > NL_MAXDIM)
                return nl_fail(c, NL_EFORMAT, "%s: record %u at byte %zu: %d dimensions (at most %d)",
                               fname, r, at, ndim, NL_MAXDIM);
            if ((s = need(&k, (size_t)ndim * 8, "tensor dimensions"))) return s;
            int64_t dims[NL_MAXDIM];
            for (int i = 0; i < ndim; i++) dims[i] = (int64_t)get_le(&k, 8);
            if (nl_tensor_set_shape(c, &rec.tensor, ndim, dims) != NL_OK)
                return nl_fail(c, NL_EFORMAT, "%s: record %u at byte %zu: invalid tensor shape", fname, r, at);
            if ((s = need(&k, (size_t)rec.tensor.numel * 4, "tensor data"))) return s;
            rec.raw = k.p + k.off;
            rec.raw_len = (size_t)rec.tensor.numel * 4;
            k.off += rec.raw_len;
        } else if (kind == NL_CKPT_NUMBER) {
            if ((s = need(&k, 8, "a number"))) return s;
            uint64_t bits = get_le(&k, 8);
            memcpy(&rec.number, &bits, 8);
        } else if (kind == NL_CKPT_STRING) {
            if ((s = need(&k, 4, "a string length"))) return s;
            rec.raw_len = (size_t)get_le(&k, 4);
            if ((s = need(&k, rec.raw_len, "string bytes"))) return s;
            rec.raw = k.p + k.off;
            k.off += rec.raw_len;
        } else {
            return nl_fail(c, NL_EFORMAT, "%s: record %u at byte %zu: unknown kind %u", fname, r, at, kind);
        }
        int stop = on_record(ud, &rec);
        if (stop) return nl_fail(c, NL_EFORMAT, "%s: record %u rejected", fname, r);
    }
    if (k.off != k.len)
        return nl_fail(c, NL_EFORMAT, "%s: %zu unexpected bytes after the last record (byte %zu)",
                       fname, k.len - k.off, k.off);
    return NL_OK;
}
