/* gz.c: one reader for plain and gzip files (RFC 1952, inflated by zlib).
 *
 * The first two bytes decide: 1f 8b is gzip, anything else is read as is.
 * A gzip input must end exactly at the end of a member; further members
 * (concatenated gzip, as `cat a.gz b.gz`) are read in turn, and any other
 * trailing bytes are an error. Offsets in messages are in the compressed
 * source ("byte offset") so a user can find the spot with `cmp` or `xxd`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fetch.h"

#define GZ_BUFSZ (1u << 16)
#define GZ_DEFAULT_MAX ((size_t)1 << 30)

static nl_status open_common(NlCtx *c, NlGz *g) {
    /* sniff the magic; for a file the first chunk stays in inbuf */
    const uint8_t *p;
    size_t avail;
    if (g->f) {
        g->inlen = fread(g->inbuf, 1, GZ_BUFSZ, g->f);
        if (ferror(g->f)) return nl_fail(c, NL_EIO, "%s: read error at byte offset 0: %s", g->name, strerror(errno));
        p = g->inbuf;
        avail = g->inlen;
    } else {
        p = g->mem;
        avail = g->memlen;
    }
    g->gz = avail >= 2 && p[0] == 0x1f && p[1] == 0x8b;
    if (!g->gz) return NL_OK;
    memset(&g->z, 0, sizeof g->z);
    int zr = inflateInit2(&g->z, 15 + 16);   /* gzip wrapper only */
    if (zr != Z_OK) return nl_fail(c, NL_ENOMEM, "%s: cannot start zlib (%s)", g->name, zError(zr));
    g->zinit = 1;
    if (g->f) {
        g->z.next_in = g->inbuf;
        g->z.avail_in = (uInt)g->inlen;
        g->in_off = g->inlen;   /* in gzip mode in_off counts source bytes handed to zlib */
    }
    return NL_OK;
}

nl_status nl_gz_open_file(NlCtx *c, NlGz *g, const char *path) {
    memset(g, 0, sizeof *g);
    g->name = path;
    g->f = fopen(path, "rb");
    if (!g->f) return nl_fail(c, NL_EIO, "%s: cannot open: %s", path, strerror(errno));
    g->inbuf = (uint8_t *)malloc(GZ_BUFSZ);
    if (!g->inbuf) {
        nl_gz_close(g);
        return nl_fail(c, NL_ENOMEM, "%s: out of memory for the read buffer", path);
    }
    nl_status s = open_common(c, g);
    if (s != NL_OK) nl_gz_close(g);
    return s;
}

void nl_gz_open_mem(NlGz *g, const char *name, const uint8_t *buf, size_t len) {
    memset(g, 0, sizeof *g);
    g->name = name;
    g->mem = buf;
    g->memlen = len;
    open_common(NULL, g);   /* cannot fail except inflateInit2 out of memory */
}

void nl_gz_close(NlGz *g) {
    if (g->zinit) inflateEnd(&g->z);
    if (g->f) fclose(g->f);
    free(g->inbuf);
    memset(g, 0, sizeof *g);
}

/* Source bytes consumed by zlib so far (gzip mode). */
static uint64_t consumed(const NlGz *g) { return g->in_off - g->z.avail_in; }

/* Hands zlib more source bytes, keeping `keep` unconsumed ones in front.
 * Returns the number of new bytes (0 at the end of the source). */
static nl_status refill(NlCtx *c, NlGz *g, size_t *added) {
    *added = 0;
    if (g->f) {
        size_t keep = g->z.avail_in;
        if (keep) memmove(g->inbuf, g->z.next_in, keep);
        size_t k = fread(g->inbuf + keep, 1, GZ_BUFSZ - keep, g->f);
        if (ferror(g->f))
            return nl_fail(c, NL_EIO, "%s: read error at byte offset %llu: %s", g->name,
                           (unsigned long long)g->in_off, strerror(errno));
        g->z.next_in = g->inbuf;
        g->z.avail_in = (uInt)(keep + k);
        g->in_off += k;
        *added = k;
    } else {
        /* memory: next_in always points into mem, so just widen the window */
        size_t pos = (size_t)consumed(g);
        size_t left = g->memlen - pos;
        size_t k = left > (1u << 30) ? (1u << 30) : left;
        size_t fresh = pos + k - (size_t)g->in_off;
        g->z.next_in = (Bytef *)(g->mem + pos);
        g->z.avail_in = (uInt)k;
        g->in_off = pos + k;
        *added = fresh;
    }
    return NL_OK;
}

static nl_status read_plain(NlCtx *c, NlGz *g, uint8_t *out, size_t n, size_t *got) {
    size_t done = 0;
    if (g->f) {
        if (g->inpos < g->inlen) {
            size_t k = g->inlen - g->inpos < n ? g->inlen - g->inpos : n;
            memcpy(out, g->inbuf + g->inpos, k);
            g->inpos += k;
            done = k;
        }
        if (done < n) {
            done += fread(out + done, 1, n - done, g->f);
            if (ferror(g->f))
                return nl_fail(c, NL_EIO, "%s: read error at byte offset %llu: %s", g->name,
                               (unsigned long long)(g->out_off + done), strerror(errno));
        }
    } else {
        size_t left = g->memlen - g->mempos;
        done = left < n ? left : n;
        memcpy(out, g->mem + g->mempos, done);
        g->mempos += done;
    }
    g->out_off += done;
    *got = done;
    return NL_OK;
}

nl_status nl_gz_read(NlCtx *c, NlGz *g, void *buf, size_t n, size_t *got) {
    *got = 0;
    if (!g->gz) return read_plain(c, g, (uint8_t *)buf, n, got);
    uint8_t *out = (uint8_t *)buf;
    size_t done = 0;
    while (done < n) {
        if (g->zend) {
            /* a member ended: another member, the end of the input, or garbage */
            size_t added = 1;
            while (g->z.avail_in < 2 && added) {
                nl_status s = refill(c, g, &added);
                if (s != NL_OK) return s;
            }
            if (g->z.avail_in == 0) break;   /* clean end */
            if (g->z.avail_in < 2 || g->z.next_in[0] != 0x1f || g->z.next_in[1] != 0x8b)
                return nl_fail(c, NL_EFORMAT, "%s: %u unexpected byte(s) after the end of the gzip "
                               "stream at byte offset %llu", g->name, g->z.avail_in,
                               (unsigned long long)consumed(g));
            inflateReset(&g->z);
            g->zend = 0;
        }
        if (g->z.avail_in == 0) {
            size_t added;
            nl_status s = refill(c, g, &added);
            if (s != NL_OK) return s;
            if (added == 0 && g->z.avail_in == 0)
                return nl_fail(c, NL_EFORMAT, "%s: gzip stream ends early: the data stops at byte "
                               "offset %llu, before the end of the compressed stream (%llu bytes "
                               "decompressed)", g->name, (unsigned long long)consumed(g),
                               (unsigned long long)(g->out_off + done));
        }
        size_t want = n - done > (1u << 30) ? (1u << 30) : n - done;
        g->z.next_out = out + done;
        g->z.avail_out = (uInt)want;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        done += want - g->z.avail_out;
        if (zr == Z_STREAM_END) {
            g->zend = 1;
        } else if (zr == Z_BUF_ERROR) {
            /* no progress possible: zlib needs input we do not have yet */
            size_t added;
            nl_status s = refill(c, g, &added);
            if (s != NL_OK) return s;
            if (added == 0)
                return nl_fail(c, NL_EFORMAT, "%s: gzip stream ends early: the data stops at byte "
                               "offset %llu, before the end of the compressed stream (%llu bytes "
                               "decompressed)", g->name, (unsigned long long)consumed(g),
                               (unsigned long long)(g->out_off + done));
        } else if (zr == Z_MEM_ERROR) {
            return nl_fail(c, NL_ENOMEM, "%s: zlib is out of memory", g->name);
        } else if (zr != Z_OK) {
            return nl_fail(c, NL_EFORMAT, "%s: corrupt gzip data near byte offset %llu: %s",
                           g->name, (unsigned long long)consumed(g),
                           g->z.msg ? g->z.msg : zError(zr));
        }
    }
    g->out_off += done;
    *got = done;
    return NL_OK;
}

static nl_status read_all(NlCtx *c, NlGz *g, uint8_t **out, size_t *len, size_t max_bytes, size_t hint) {
    if (!max_bytes) max_bytes = GZ_DEFAULT_MAX;
    size_t cap = hint < 4096 ? 4096 : hint, n = 0;   /* grows by doubling */
    if (cap > max_bytes) cap = max_bytes;
    uint8_t *buf = (uint8_t *)malloc(cap);
    if (!buf) return nl_fail(c, NL_ENOMEM, "%s: out of memory", g->name);
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                /* one more byte tells "exactly max_bytes" from "too big" */
                uint8_t probe;
                size_t got;
                nl_status s = nl_gz_read(c, g, &probe, 1, &got);
                if (s != NL_OK) { free(buf); return s; }
                if (got == 0) break;
                free(buf);
                return nl_fail(c, NL_EFORMAT, "%s: more than %zu bytes of data (the limit)", g->name, max_bytes);
            }
            size_t ncap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *nb = (uint8_t *)realloc(buf, ncap);
            if (!nb) { free(buf); return nl_fail(c, NL_ENOMEM, "%s: out of memory (%zu bytes)", g->name, ncap); }
            buf = nb;
            cap = ncap;
        }
        size_t got;
        nl_status s = nl_gz_read(c, g, buf + n, cap - n, &got);
        if (s != NL_OK) { free(buf); return s; }
        n += got;
        if (got == 0) break;
    }
    *out = buf;
    *len = n;
    return NL_OK;
}

nl_status nl_read_all(NlCtx *c, const char *path, uint8_t **out, size_t *len, size_t max_bytes) {
    NlGz g;
    *out = NULL;
    *len = 0;
    nl_status s = nl_gz_open_file(c, &g, path);
    if (s != NL_OK) return s;
    s = read_all(c, &g, out, len, max_bytes, (size_t)1 << 20);
    nl_gz_close(&g);
    return s;
}

nl_status nl_read_all_mem(NlCtx *c, const char *name, const uint8_t *buf, size_t n,
                          uint8_t **out, size_t *len, size_t max_bytes) {
    NlGz g;
    *out = NULL;
    *len = 0;
    nl_gz_open_mem(&g, name, buf, n);
    if (g.gz && !g.zinit) return nl_fail(c, NL_ENOMEM, "%s: cannot start zlib", name);
    nl_status s = read_all(c, &g, out, len, max_bytes, n < ((size_t)1 << 28) ? 4 * n : n);
    nl_gz_close(&g);
    return s;
}
