/* tar.c: a small tar reader (POSIX ustar, GNU long names, pax path records)
 * and a safe extractor, enough for the CIFAR archives and their mirrors.
 *
 * A tar stream is a sequence of 512-byte blocks:
 *   header block   name[100]@0 mode[8]@100 uid[8]@108 gid[8]@116 size[12]@124
 *                  mtime[12]@136 chksum[8]@148 type@156 linkname[100]@157
 *                  magic[6]@257 ("ustar") ... prefix[155]@345
 *   data blocks    size bytes, padded with zeros to a multiple of 512
 * ending with zero blocks. Numbers are octal text (or, GNU, base-256 when the
 * first byte has its top bit set). The checksum is the sum of the header's
 * bytes with the checksum field read as 8 spaces. Type 'L' (GNU) carries the
 * next entry's long name as data; type 'x' (pax) carries "len key=value\n"
 * records, of which only "path" is used. Offsets in messages are positions in
 * the decompressed tar stream. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fetch.h"

#define BLOCK 512
#define MAX_META (1u << 16)   /* longest GNU long name / pax header we accept */

static int all_zero(const uint8_t *b) {
    for (int i = 0; i < BLOCK; i++)
        if (b[i]) return 0;
    return 1;
}

/* Parses a numeric header field; returns -1 when it is not a number. */
static int64_t field_num(const uint8_t *p, int n) {
    if (p[0] & 0x80) {   /* GNU base-256: big-endian in the remaining bits */
        if (p[0] != 0x80) return -1;   /* negative or more than 2^(8(n-1)): refuse */
        uint64_t v = 0;
        for (int i = 1; i < n; i++) {
            if (v >> 55) return -1;
            v = v << 8 | p[i];
        }
        return (int64_t)v;
    }
    int i = 0;
    while (i < n && p[i] == ' ') i++;
    if (i == n || p[i] < '0' || p[i] > '7') return (i == n || p[i] == 0) ? 0 : -1;
    uint64_t v = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        if (v >> 60) return -1;
        v = v * 8 + (uint64_t)(p[i] - '0');
    }
    for (; i < n; i++)   /* only spaces and NULs may follow */
        if (p[i] != ' ' && p[i] != 0) return -1;
    return (int64_t)v;
}

static int checksum_ok(const uint8_t *h) {
    int64_t want = field_num(h + 148, 8);
    if (want < 0) return 0;
    int64_t su = 0, ss = 0;   /* unsigned sum, and the signed one some old tars wrote */
    for (int i = 0; i < BLOCK; i++) {
        uint8_t b = (i >= 148 && i < 156) ? ' ' : h[i];
        su += b;
        ss += (int8_t)b;
    }
    return want == su || want == ss;
}

static void copy_field(char *dst, const uint8_t *src, int n) {
    int k = 0;
    while (k < n && src[k]) k++;
    memcpy(dst, src, (size_t)k);
    dst[k] = '\0';
}

/* Reads exactly n bytes or reports where the archive stops. */
static nl_status read_exact(NlCtx *c, NlGz *g, void *buf, size_t n, uint64_t at, const char *what) {
    size_t got;
    nl_status s = nl_gz_read(c, g, buf, n, &got);
    if (s != NL_OK) return s;
    if (got != n)
        return nl_fail(c, NL_EFORMAT, "%s: tar archive truncated at byte offset %llu (inside %s)",
                       g->name, (unsigned long long)(at + got), what);
    return NL_OK;
}

/* Picks "path" out of pax records "len key=value\n"; malformed records are an error. */
static nl_status pax_path(NlCtx *c, const char *arch, const char *buf, size_t n, uint64_t at, char *name,
                          size_t name_size) {
    size_t i = 0;
    while (i < n) {
        if (buf[i] == '\0') break;   /* zero padding after the records */
        size_t len = 0, j = i;
        while (j < n && buf[j] >= '0' && buf[j] <= '9' && len < MAX_META) len = len * 10 + (size_t)(buf[j++] - '0');
        if (j == i || j >= n || buf[j] != ' ' || len < j - i + 3 || len > n - i || buf[i + len - 1] != '\n')
            return nl_fail(c, NL_EFORMAT, "%s: malformed pax header record at byte offset %llu", arch,
                           (unsigned long long)(at + i));
        const char *kv = buf + j + 1, *end = buf + i + len - 1;
        if ((size_t)(end - kv) > 5 && !memcmp(kv, "path=", 5)) {
            size_t vl = (size_t)(end - kv) - 5;
            if (vl >= name_size)
                return nl_fail(c, NL_EFORMAT, "%s: pax path at byte offset %llu is too long", arch,
                               (unsigned long long)(at + i));
            memcpy(name, kv + 5, vl);
            name[vl] = '\0';
        }
        i += len;
    }
    return NL_OK;
}

nl_status nl_tar_walk(NlCtx *c, NlGz *g, nl_tar_fn fn, void *ud) {
    uint8_t h[BLOCK];
    uint8_t *chunk = (uint8_t *)malloc(MAX_META + 1 > (1u << 16) ? MAX_META + 1 : (1u << 16));
    if (!chunk) return nl_fail(c, NL_ENOMEM, "tar: out of memory");
    char pending[sizeof ((NlTarEntry *)0)->name] = "";   /* long name for the next entry */
    uint64_t at = 0;
    nl_status s = NL_OK;
    NlTarEntry e;
    for (;;) {
        size_t got;
        s = nl_gz_read(c, g, h, BLOCK, &got);
        if (s != NL_OK) break;
        if (got == 0) break;   /* end of stream without the end-of-archive blocks: accepted */
        if (got != BLOCK) {
            s = nl_fail(c, NL_EFORMAT, "%s: tar archive truncated at byte offset %llu (inside a header)",
                        g->name, (unsigned long long)(at + got));
            break;
        }
        if (all_zero(h)) {   /* end-of-archive marker: read the rest so gzip checks its CRC and length */
            while ((s = nl_gz_read(c, g, chunk, 1u << 16, &got)) == NL_OK && got > 0) {}
            break;
        }
        if (!checksum_ok(h)) {
            s = nl_fail(c, NL_EFORMAT, "%s: bad tar header checksum at byte offset %llu (not a tar "
                        "archive, or corrupt)", g->name, (unsigned long long)at);
            break;
        }
        int64_t size = field_num(h + 124, 12);
        if (size < 0 || size > ((int64_t)1 << 40)) {
            s = nl_fail(c, NL_EFORMAT, "%s: bad size field in the tar header at byte offset %llu", g->name,
                        (unsigned long long)at);
            break;
        }
        memset(&e, 0, sizeof e);
        e.type = h[156] ? (char)h[156] : '0';
        e.size = (uint64_t)size;
        e.offset = at;
        at += BLOCK;
        uint64_t padded = ((uint64_t)size + BLOCK - 1) / BLOCK * BLOCK;

        if (e.type == 'L' || e.type == 'x' || e.type == 'g') {   /* metadata for the next entry */
            if ((uint64_t)size > MAX_META) {
                s = nl_fail(c, NL_EFORMAT, "%s: tar %s header at byte offset %llu is too long (%lld bytes)",
                            g->name, e.type == 'L' ? "long-name" : "pax", (unsigned long long)e.offset,
                            (long long)size);
                break;
            }
            s = read_exact(c, g, chunk, (size_t)padded, at, "a long-name/pax header");
            if (s != NL_OK) break;
            chunk[size] = '\0';
            if (e.type == 'L') {
                size_t k = strlen((char *)chunk);
                if (k >= sizeof pending) {
                    s = nl_fail(c, NL_EFORMAT, "%s: tar long name at byte offset %llu is too long", g->name,
                                (unsigned long long)e.offset);
                    break;
                }
                memcpy(pending, chunk, k + 1);
            } else if (e.type == 'x') {
                s = pax_path(c, g->name, (char *)chunk, (size_t)size, at, pending, sizeof pending);
                if (s != NL_OK) break;
            }
            at += padded;
            continue;
        }

        if (pending[0]) {
            strcpy(e.name, pending);
            pending[0] = '\0';
        } else {
            char name[101], prefix[156];
            copy_field(name, h, 100);
            copy_field(prefix, h + 345, 155);
            if (!memcmp(h + 257, "ustar", 5) && prefix[0])
                snprintf(e.name, sizeof e.name, "%s/%s", prefix, name);
            else
                strcpy(e.name, name);
        }
        /* links, devices, directories and fifos carry no data (a size there is ignored, as tar
         * does); files and every unknown type have `size` bytes of data, skipped if unknown */
        uint64_t datalen = strchr("123456", e.type) ? 0 : (uint64_t)size;
        padded = (datalen + BLOCK - 1) / BLOCK * BLOCK;

        s = fn(c, ud, &e, NL_TAR_BEGIN, NULL, 0);
        if (s != NL_OK) break;
        uint64_t left = datalen;
        while (left > 0 && s == NL_OK) {
            size_t k = left > (1u << 16) ? (1u << 16) : (size_t)left;
            s = read_exact(c, g, chunk, k, at + (datalen - left), e.name);
            if (s == NL_OK) s = fn(c, ud, &e, NL_TAR_DATA, chunk, k);
            left -= k;
        }
        if (s != NL_OK) break;
        if (padded > datalen) {
            s = read_exact(c, g, chunk, (size_t)(padded - datalen), at + datalen, "the padding of an entry");
            if (s != NL_OK) break;
        }
        at += padded;
        s = fn(c, ud, &e, NL_TAR_END, NULL, 0);
        if (s != NL_OK) break;
        if (c && c->interrupted) { s = nl_fail(c, NL_EINTR, "%s: interrupted", g->name); break; }
    }
    free(chunk);
    return s;
}

/* ---- extraction ---- */

int nl_mkdirs(const char *path, int mode) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char keep = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST) return -1;
            buf[i] = keep;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

int nl_rmtree(const char *path) { return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

typedef struct Extract {
    const char *archive;
    char tmp[4096];
    FILE *out;
    char path[4096];
    char *tops;
    size_t tops_size;
    int skipped;
} Extract;

/* See fetch.h: "./a//b/" -> "a/b"; "/x" and "a/../b" are refused. */
int nl_tar_clean_name(const char *name, char *rel, size_t n) {
    if (name[0] == '/') return -1;
    size_t o = 0;
    const char *p = name;
    while (*p) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return -1;
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (o + len + 2 > n) return -1;
            if (o) rel[o++] = '/';
            memcpy(rel + o, p, len);
            o += len;
        }
        p += len;
        if (*p == '/') p++;
    }
    rel[o] = '\0';
    return o ? 1 : 0;
}

static void add_top(Extract *x, const char *rel) {
    char top[1024];
    size_t k = strcspn(rel, "/");
    if (k >= sizeof top) return;
    memcpy(top, rel, k);
    top[k] = '\0';
    /* the list is "a\nb\n"; look for "\ntop\n" in "\n" + list */
    size_t used = strlen(x->tops);
    const char *p = x->tops;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if ((size_t)(nl - p) == k && !memcmp(p, top, k)) return;
        p = nl + 1;
    }
    if (used + k + 2 <= x->tops_size) {
        memcpy(x->tops + used, top, k);
        x->tops[used + k] = '\n';
        x->tops[used + k + 1] = '\0';
    }
}

static nl_status on_entry(NlCtx *c, void *ud, const NlTarEntry *e, int event, const uint8_t *chunk, size_t n) {
    Extract *x = (Extract *)ud;
    if (event == NL_TAR_BEGIN) {
        char rel[1024];
        int r = nl_tar_clean_name(e->name, rel, sizeof rel);
        if (r < 0)
            return nl_fail(c, NL_EFORMAT, "%s: unsafe name '%s' in the tar entry at byte offset %llu "
                           "(absolute or with '..'); refusing to extract", x->archive, e->name,
                           (unsigned long long)e->offset);
        if (r == 0 || (e->type != '0' && e->type != '7' && e->type != '5')) {
            if (r) x->skipped++;   /* links, devices, fifos: not needed for datasets */
            return NL_OK;
        }
        if (snprintf(x->path, sizeof x->path, "%s/%s", x->tmp, rel) >= (int)sizeof x->path)
            return nl_fail(c, NL_EIO, "%s: the name '%s' is too long to extract", x->archive, rel);
        add_top(x, rel);
        if (e->type == '5') {
            if (nl_mkdirs(x->path, 0755) != 0)
                return nl_fail(c, NL_EIO, "%s: cannot create %s: %s", x->archive, x->path, strerror(errno));
            return NL_OK;
        }
        char *slash = strrchr(x->path, '/');
        *slash = '\0';
        int ok = nl_mkdirs(x->path, 0755) == 0;
        *slash = '/';
        if (!ok) return nl_fail(c, NL_EIO, "%s: cannot create the directory of %s: %s", x->archive, x->path,
                                strerror(errno));
        x->out = fopen(x->path, "wb");
        if (!x->out) return nl_fail(c, NL_EIO, "%s: cannot create %s: %s", x->archive, x->path, strerror(errno));
    } else if (event == NL_TAR_DATA) {
        if (x->out && fwrite(chunk, 1, n, x->out) != n)
            return nl_fail(c, NL_EIO, "%s: cannot write %s: %s", x->archive, x->path, strerror(errno));
    } else if (x->out) {
        int bad = fclose(x->out) != 0;
        x->out = NULL;
        if (bad) return nl_fail(c, NL_EIO, "%s: cannot write %s: %s", x->archive, x->path, strerror(errno));
    }
    return NL_OK;
}

/* Moves src onto dst: a plain rename when dst does not exist (atomic), else a
 * merge, file by file, for two directories (renaming over existing files). */
static nl_status move_into(NlCtx *c, const char *src, const char *dst) {
    struct stat ss, ds;
    if (lstat(dst, &ds) != 0) {
        if (rename(src, dst) != 0)
            return nl_fail(c, NL_EIO, "cannot move %s to %s: %s", src, dst, strerror(errno));
        return NL_OK;
    }
    if (lstat(src, &ss) != 0) return nl_fail(c, NL_EIO, "%s: %s", src, strerror(errno));
    if (!S_ISDIR(ss.st_mode) || !S_ISDIR(ds.st_mode)) {
        if (S_ISDIR(ss.st_mode) || S_ISDIR(ds.st_mode))
            return nl_fail(c, NL_EIO, "cannot move %s to %s: one is a directory, the other is not", src, dst);
        if (rename(src, dst) != 0)
            return nl_fail(c, NL_EIO, "cannot move %s to %s: %s", src, dst, strerror(errno));
        return NL_OK;
    }
    DIR *d = opendir(src);
    if (!d) return nl_fail(c, NL_EIO, "cannot read %s: %s", src, strerror(errno));
    nl_status s = NL_OK;
    struct dirent *de;
    while (s == NL_OK && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char a[4096], b[4096];
        if (snprintf(a, sizeof a, "%s/%s", src, de->d_name) >= (int)sizeof a ||
            snprintf(b, sizeof b, "%s/%s", dst, de->d_name) >= (int)sizeof b) {
            s = nl_fail(c, NL_EIO, "path too long under %s", dst);
            break;
        }
        s = move_into(c, a, b);
    }
    closedir(d);
    return s;
}

nl_status nl_tar_extract(NlCtx *c, const char *archive, const char *dest_dir, char *tops, size_t tops_size) {
    Extract x;
    char own[4096];
    memset(&x, 0, sizeof x);
    x.archive = archive;
    if (!tops || tops_size < 2) {   /* the caller does not want the list: keep our own */
        tops = own;
        tops_size = sizeof own;
    }
    x.tops = tops;
    x.tops_size = tops_size;
    tops[0] = '\0';
    if (nl_mkdirs(dest_dir, 0755) != 0)
        return nl_fail(c, NL_EIO, "cannot create the directory %s: %s", dest_dir, strerror(errno));
    if (snprintf(x.tmp, sizeof x.tmp, "%s/.extract-XXXXXX", dest_dir) >= (int)sizeof x.tmp)
        return nl_fail(c, NL_EIO, "%s: path too long", dest_dir);
    if (!mkdtemp(x.tmp))
        return nl_fail(c, NL_EIO, "cannot create a temporary directory in %s: %s", dest_dir, strerror(errno));
    NlGz g;
    nl_status s = nl_gz_open_file(c, &g, archive);
    if (s == NL_OK) {
        s = nl_tar_walk(c, &g, on_entry, &x);
        nl_gz_close(&g);
    }
    if (x.out) fclose(x.out);
    if (s == NL_OK && !tops[0])
        s = nl_fail(c, NL_EFORMAT, "%s: the archive holds no files", archive);
    /* move every top-level entry into place */
    for (const char *p = tops; s == NL_OK && *p;) {
        const char *nl = strchr(p, '\n');
        char a[4096], b[4096];
        int k = (int)(nl - p);
        if (snprintf(a, sizeof a, "%s/%.*s", x.tmp, k, p) >= (int)sizeof a ||
            snprintf(b, sizeof b, "%s/%.*s", dest_dir, k, p) >= (int)sizeof b)
            s = nl_fail(c, NL_EIO, "%s: path too long under %s", archive, dest_dir);
        else
            s = move_into(c, a, b);
        p = nl + 1;
    }
    nl_rmtree(x.tmp);
    return s;
}
