/* test_data.c: the dataset parsers (CIFAR-10/100, IDX plain and gzip), the
 * gzip reader, MD5, the tar reader/extractor, file:// downloads and the batch
 * pipeline, on small files this test writes in each exact format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "check.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/fetch.h"

static char tmpdir[256];
static NlCtx ctx;

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) { perror(path); exit(2); }
    fclose(f);
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* gzip-compresses buf (deflate with a gzip wrapper); returns a malloc'ed buffer */
static uint8_t *gzip_buf(const uint8_t *buf, size_t n, size_t *outn) {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)buf;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *outn = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* A CIFAR record: label byte(s), then 3072 pixels with a pattern from seed. */
static void make_record(uint8_t *r, int kind, int coarse, int fine, int seed) {
    int k = 0;
    if (kind == 100) r[k++] = (uint8_t)coarse;
    r[k++] = (uint8_t)fine;
    for (int i = 0; i < 3072; i++) r[k + i] = (uint8_t)(i * 7 + seed * 31);
}

static void test_md5(void) {
    struct { const char *in, *hex; } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (int i = 0; i < 4; i++) {
        NlMd5 m;
        uint8_t d[16];
        char hex[33];
        nl_md5_init(&m);
        /* feed in uneven pieces to cover the buffering */
        size_t n = strlen(v[i].in), at = 0, step = 1;
        while (at < n) {
            size_t k = n - at < step ? n - at : step;
            nl_md5_update(&m, v[i].in + at, k);
            at += k;
            step = step * 3 + 1;
        }
        nl_md5_final(&m, d);
        nl_md5_hex(d, hex);
        CHECK(!strcmp(hex, v[i].hex), "md5 RFC 1321 vector", "'%s' -> %s, expected %s", v[i].in, hex, v[i].hex);
    }
    write_file(tpath("abc.txt"), "abc", 3);
    char hex[33] = "";
    nl_status s = nl_md5_file(&ctx, tpath("abc.txt"), hex);
    CHECK(s == NL_OK && !strcmp(hex, "900150983cd24fb0d6963f7d28e17f72"), "md5 of a file", "%s %s", hex, ctx.err);
}

static void test_cifar10(void) {
    const int rs = 3073;
    uint8_t *buf = calloc(5, rs);
    int labels[5] = {0, 5, 9, 3, 7};
    for (int r = 0; r < 5; r++) make_record(buf + r * rs, 10, 0, labels[r], r);
    write_file(tpath("c10_a.bin"), buf, 3 * rs);
    write_file(tpath("c10_b.bin"), buf + 3 * rs, 2 * rs);
    const char *paths[2] = {tpath("c10_a.bin"), tpath("c10_b.bin")};
    NlDataset ds;
    nl_status s = nl_cifar_load(&ctx, &ds, paths, 2, NL_CIFAR10, 0, 0);
    CHECK(s == NL_OK, "cifar10: load two generated files", "%s", ctx.err);
    CHECK(ds.n == 5 && ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.num_classes == 10, "cifar10: shape",
          "n=%lld c=%d h=%d w=%d classes=%d", (long long)ds.n, ds.c, ds.h, ds.w, ds.num_classes);
    int ok = 1;
    for (int r = 0; r < 5 && s == NL_OK; r++) {
        ok &= ds.labels[r] == labels[r];
        ok &= !memcmp(ds.pixels + r * 3072, buf + r * rs + 1, 3072);
    }
    CHECK(s == NL_OK && ok, "cifar10: labels and planar pixels in file order", "mismatch");
    /* planar layout: pixel (c, y, x) of record 1 is byte 1 + c*1024 + y*32 + x */
    CHECK(s == NL_OK && ds.pixels[3072 + 2 * 1024 + 5 * 32 + 7] == buf[rs + 1 + 2 * 1024 + 5 * 32 + 7],
          "cifar10: blue plane row 5 col 7", "wrong byte");
    nl_dataset_free(&ds);

    /* expected record count */
    s = nl_cifar_load(&ctx, &ds, paths, 1, NL_CIFAR10, 0, 10000);
    CHECK(s == NL_EFORMAT && has(ctx.err, "c10_a.bin") && has(ctx.err, "expected 30730000 bytes") &&
          has(ctx.err, "truncated") && ds.pixels == NULL && ds.n == 0,
          "cifar10: wrong record count for an official batch file", "%d %s", s, ctx.err);

    /* truncated record */
    write_file(tpath("c10_trunc.bin"), buf, 3 * rs - 1);
    const char *tp[2] = {tpath("c10_a.bin"), tpath("c10_trunc.bin")};
    s = nl_cifar_load(&ctx, &ds, tp, 2, NL_CIFAR10, 0, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "c10_trunc.bin") && has(ctx.err, "record 2 at byte offset 6146") &&
          has(ctx.err, "3072 of 3073 bytes") && ds.pixels == NULL && ds.labels == NULL && ds.n == 0,
          "cifar10: truncated record names file, record, byte offset; nothing loaded", "%s", ctx.err);

    /* label out of range */
    buf[rs] = 10;
    write_file(tpath("c10_badlabel.bin"), buf, 3 * rs);
    const char *bp[1] = {tpath("c10_badlabel.bin")};
    s = nl_cifar_load(&ctx, &ds, bp, 1, NL_CIFAR10, 0, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "c10_badlabel.bin: record 1 (byte offset 3073): label 10 out of range 0..9")
          && ds.pixels == NULL, "cifar10: label out of range", "%s", ctx.err);
    /* the same through the in-memory parser */
    s = nl_cifar_parse(&ctx, &ds, "mem", buf, 3 * rs, NL_CIFAR10, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "record 1") && ds.pixels == NULL, "cifar10: parse in memory rejects it too",
          "%s", ctx.err);

    /* empty and missing files */
    write_file(tpath("c10_empty.bin"), "", 0);
    const char *ep[1] = {tpath("c10_empty.bin")};
    s = nl_cifar_load(&ctx, &ds, ep, 1, NL_CIFAR10, 0, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "c10_empty.bin: empty file"), "cifar10: empty file", "%s", ctx.err);
    const char *mp[1] = {tpath("nope.bin")};
    s = nl_cifar_load(&ctx, &ds, mp, 1, NL_CIFAR10, 0, 0);
    CHECK(s == NL_EIO && has(ctx.err, "nope.bin: cannot open"), "cifar10: missing file", "%s", ctx.err);
    const char *dp[1] = {tmpdir};
    s = nl_cifar_load(&ctx, &ds, dp, 1, NL_CIFAR10, 0, 0);
    CHECK(s == NL_EIO && has(ctx.err, "not a regular file"), "cifar10: a directory is not a data file", "%s", ctx.err);
    free(buf);
}

static void test_cifar100(void) {
    const int rs = 3074;
    uint8_t *buf = calloc(4, rs);
    int coarse[4] = {0, 19, 4, 11}, fine[4] = {99, 0, 42, 7};
    for (int r = 0; r < 4; r++) make_record(buf + r * rs, 100, coarse[r], fine[r], r + 10);
    write_file(tpath("c100.bin"), buf, 4 * rs);
    const char *p[1] = {tpath("c100.bin")};
    NlDataset ds;
    nl_status s = nl_cifar_load(&ctx, &ds, p, 1, NL_CIFAR100, 0, 0);
    int ok = s == NL_OK && ds.n == 4 && ds.num_classes == 100;
    for (int r = 0; ok && r < 4; r++)
        ok = ds.labels[r] == fine[r] && !memcmp(ds.pixels + r * 3072, buf + r * rs + 2, 3072);
    CHECK(ok, "cifar100: fine labels by default, pixels after two label bytes", "%s", ctx.err);
    nl_dataset_free(&ds);
    s = nl_cifar_load(&ctx, &ds, p, 1, NL_CIFAR100, 1, 0);
    ok = s == NL_OK && ds.n == 4 && ds.num_classes == 20;
    for (int r = 0; ok && r < 4; r++) ok = ds.labels[r] == coarse[r];
    CHECK(ok, "cifar100: coarse labels when selected", "%s", ctx.err);
    nl_dataset_free(&ds);

    /* a CIFAR-10 file read as CIFAR-100 (or vice versa) fails on the size */
    s = nl_cifar_load(&ctx, &ds, p, 1, NL_CIFAR10, 0, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "not a whole number of 3073-byte"), "cifar100 file read as cifar10",
          "%s", ctx.err);

    buf[2 * rs] = 20;   /* record 2: coarse 20 */
    write_file(tpath("c100_badc.bin"), buf, 4 * rs);
    const char *bp[1] = {tpath("c100_badc.bin")};
    s = nl_cifar_load(&ctx, &ds, bp, 1, NL_CIFAR100, 0, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "c100_badc.bin: record 2 (byte offset 6148): coarse label 20 out of range 0..19")
          && ds.pixels == NULL, "cifar100: coarse label out of range (checked even for fine labels)", "%s", ctx.err);
    buf[2 * rs] = 3;
    buf[3 * rs + 1] = 100;   /* record 3: fine 100 */
    write_file(tpath("c100_badf.bin"), buf, 4 * rs);
    bp[0] = tpath("c100_badf.bin");
    s = nl_cifar_load(&ctx, &ds, bp, 1, NL_CIFAR100, 1, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "record 3 (byte offset 9223): fine label 100 out of range 0..99"),
          "cifar100: fine label out of range", "%s", ctx.err);
    free(buf);
}

/* IDX files: n images of h x w and n labels. */
static size_t make_idx_images(uint8_t *out, int n, int h, int w) {
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, (uint8_t)h, 0, 0, 0, (uint8_t)w};
    memcpy(out, hdr, 16);
    for (int i = 0; i < n * h * w; i++) out[16 + i] = (uint8_t)(i * 13 + 1);
    return 16 + (size_t)n * h * w;
}

static size_t make_idx_labels(uint8_t *out, int n) {
    uint8_t hdr[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n};
    memcpy(out, hdr, 8);
    for (int i = 0; i < n; i++) out[8 + i] = (uint8_t)(i % 10);
    return 8 + (size_t)n;
}

static void test_idx(void) {
    uint8_t im[16 + 7 * 28 * 28], lb[8 + 7];
    size_t imn = make_idx_images(im, 7, 28, 28), lbn = make_idx_labels(lb, 7);
    write_file(tpath("im.idx"), im, imn);
    write_file(tpath("lb.idx"), lb, lbn);
    size_t gzn, gzl;
    uint8_t *gim = gzip_buf(im, imn, &gzn), *glb = gzip_buf(lb, lbn, &gzl);
    write_file(tpath("im.idx.gz"), gim, gzn);
    write_file(tpath("lb.idx.gz"), glb, gzl);

    NlDataset ds;
    nl_status s = nl_idx_load(&ctx, &ds, tpath("im.idx"), tpath("lb.idx"), 10);
    int ok = s == NL_OK && ds.n == 7 && ds.c == 1 && ds.h == 28 && ds.w == 28 &&
             !memcmp(ds.pixels, im + 16, 7 * 784) && ds.labels[6] == 6;
    CHECK(ok, "idx: plain files", "%s", ctx.err);
    nl_dataset_free(&ds);
    s = nl_idx_load(&ctx, &ds, tpath("im.idx.gz"), tpath("lb.idx.gz"), 10);
    ok = s == NL_OK && ds.n == 7 && !memcmp(ds.pixels, im + 16, 7 * 784) && !memcmp(ds.labels, lb + 8, 7);
    CHECK(ok, "idx: gzip files through zlib", "%s", ctx.err);
    nl_dataset_free(&ds);

    /* concatenated gzip members are one stream */
    uint8_t *two = malloc(2 * gzn);
    size_t half = imn / 2, g1n, g2n;
    uint8_t *g1 = gzip_buf(im, half, &g1n), *g2 = gzip_buf(im + half, imn - half, &g2n);
    memcpy(two, g1, g1n);
    memcpy(two + g1n, g2, g2n);
    uint8_t *out;
    size_t outn;
    s = nl_read_all_mem(&ctx, "two.gz", two, g1n + g2n, &out, &outn, 0);
    CHECK(s == NL_OK && outn == imn && !memcmp(out, im, imn), "gzip: concatenated members", "%s", ctx.err);
    free(out);
    free(g1);
    free(g2);

    /* truncated gzip */
    write_file(tpath("im_trunc.idx.gz"), gim, gzn / 2);
    s = nl_idx_load(&ctx, &ds, tpath("im_trunc.idx.gz"), tpath("lb.idx.gz"), 10);
    CHECK(s == NL_EFORMAT && has(ctx.err, "im_trunc.idx.gz: gzip stream ends early") && has(ctx.err, "byte offset")
          && ds.pixels == NULL, "idx: truncated gzip names the file and offset", "%s", ctx.err);
    write_file(tpath("im_trunc2.idx.gz"), gim, gzn - 4);   /* only the trailer's size field missing */
    s = nl_idx_load(&ctx, &ds, tpath("im_trunc2.idx.gz"), tpath("lb.idx.gz"), 10);
    CHECK(s == NL_EFORMAT && has(ctx.err, "gzip stream ends early"), "gzip: stream missing its last 4 bytes",
          "%s", ctx.err);
    /* corrupt deflate data / CRC */
    uint8_t *bad = malloc(gzn);
    memcpy(bad, gim, gzn);
    bad[gzn - 6] ^= 0xff;   /* inside the CRC32 */
    s = nl_read_all_mem(&ctx, "crc.gz", bad, gzn, &out, &outn, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "crc.gz: corrupt gzip data") && out == NULL, "gzip: CRC mismatch",
          "%s", ctx.err);
    /* trailing garbage */
    uint8_t *tg = malloc(gzn + 3);
    memcpy(tg, gim, gzn);
    memcpy(tg + gzn, "xyz", 3);
    s = nl_read_all_mem(&ctx, "tail.gz", tg, gzn + 3, &out, &outn, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "unexpected byte(s) after the end of the gzip stream"), "gzip: trailing garbage",
          "%s", ctx.err);
    /* output limit */
    s = nl_read_all_mem(&ctx, "big.gz", gim, gzn, &out, &outn, 1000);
    CHECK(s == NL_EFORMAT && has(ctx.err, "more than 1000 bytes"), "gzip: output size limit", "%s", ctx.err);
    free(bad);
    free(tg);
    free(two);

    /* header errors */
    NlIdxInfo info;
    uint8_t h[sizeof im];
    memcpy(h, im, imn);
    h[0] = 1;
    s = nl_idx_parse(&ctx, "m.idx", h, imn, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "bad IDX magic number 0x01000803 at byte offset 0"), "idx: bad magic",
          "%s", ctx.err);
    s = nl_idx_parse(&ctx, "gz.idx", gim, gzn, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "gzip data"), "idx: gzip data handed to the parser is explained",
          "%s", ctx.err);
    memcpy(h, im, imn);
    h[2] = 0x0D;
    s = nl_idx_parse(&ctx, "t.idx", h, imn, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "element type 0x0d (float)"), "idx: unsupported element type", "%s", ctx.err);
    s = nl_idx_parse(&ctx, "lb.idx", lb, lbn, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "1 dimension(s) (byte offset 3), expected 3"), "idx: wrong dimension count",
          "%s", ctx.err);
    memcpy(h, im, imn);
    h[3] = 9;
    s = nl_idx_parse(&ctx, "d.idx", h, imn, 0, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "dimension count 9"), "idx: absurd dimension count", "%s", ctx.err);
    memcpy(h, im, imn);
    h[11] = 0;
    s = nl_idx_parse(&ctx, "z.idx", h, imn, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "size 2 (byte offset 8) is 0"), "idx: zero size", "%s", ctx.err);
    s = nl_idx_parse(&ctx, "short.idx", im, imn - 5, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "short.idx: wrong IDX data size") && has(ctx.err, "ends early"),
          "idx: truncated data", "%s", ctx.err);
    memcpy(h, im, imn);
    h[15] = 27;   /* 27 columns: 7 extra bytes */
    s = nl_idx_parse(&ctx, "long.idx", h, imn, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "extra bytes start at byte offset"), "idx: extra bytes", "%s", ctx.err);
    s = nl_idx_parse(&ctx, "hdr.idx", im, 9, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "truncated IDX header"), "idx: truncated header", "%s", ctx.err);
    uint8_t huge[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    s = nl_idx_parse(&ctx, "huge.idx", huge, 16, 3, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "more than 2^40"), "idx: size overflow", "%s", ctx.err);

    /* labels: out of range, count mismatch */
    uint8_t lb2[sizeof lb];
    memcpy(lb2, lb, lbn);
    lb2[8 + 4] = 10;
    s = nl_idx_build(&ctx, &ds, "im", im, imn, "lb2", lb2, lbn, 10);
    CHECK(s == NL_EFORMAT && has(ctx.err, "lb2: record 4 (byte offset 12): label 10 out of range 0..9") &&
          ds.pixels == NULL, "idx: label out of range", "%s", ctx.err);
    uint8_t lb6[8 + 6];
    size_t lb6n = make_idx_labels(lb6, 6);
    s = nl_idx_build(&ctx, &ds, "im", im, imn, "lb6", lb6, lb6n, 10);
    CHECK(s == NL_EFORMAT && has(ctx.err, "im has 7 images but lb6 has 6 labels"), "idx: count mismatch", "%s", ctx.err);
    s = nl_idx_load(&ctx, &ds, tpath("missing.gz"), tpath("lb.idx"), 10);
    CHECK(s == NL_EIO && has(ctx.err, "missing.gz: cannot open"), "idx: missing file", "%s", ctx.err);
    free(gim);
    free(glb);
}

/* ---- tar ---- */

typedef struct { uint8_t *p; size_t n, cap; } Buf;
static void put(Buf *b, const void *p, size_t n) {
    if (n == 0) return;
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2; b->p = realloc(b->p, b->cap); }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void tar_entry(Buf *b, const char *name, char type, const void *data, size_t n) {
    uint8_t h[512];
    memset(h, 0, sizeof h);
    if (strlen(name) > 99) {   /* GNU long name */
        tar_entry(b, "././@LongLink", 'L', name, strlen(name) + 1);
        memcpy(h, name, 99);
    } else {
        memcpy(h, name, strlen(name));
    }
    snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)n & 07777777777ULL);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar\0" "00", 8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    put(b, h, 512);
    put(b, data, n);
    static const uint8_t zeros[512];
    if (n % 512) put(b, zeros, 512 - n % 512);
}

static void tar_end(Buf *b) {
    static const uint8_t zeros[1024];
    put(b, zeros, 1024);
}

static int read_back(const char *path, const void *want, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t *got = malloc(n + 1);
    size_t k = fread(got, 1, n + 1, f);
    fclose(f);
    int ok = k == n && !memcmp(got, want, n);
    free(got);
    return ok;
}

static void test_tar(void) {
    uint8_t big[5000];
    for (int i = 0; i < 5000; i++) big[i] = (uint8_t)(i * 3);
    char longname[200];
    snprintf(longname, sizeof longname, "set/%0150d.txt", 7);
    Buf b = {0};
    tar_entry(&b, "set/", '5', NULL, 0);
    tar_entry(&b, "set/data_1.bin", '0', big, sizeof big);
    tar_entry(&b, "./set/meta.txt", '0', "a\nb\n", 4);
    tar_entry(&b, "set/link", '2', NULL, 0);
    tar_entry(&b, longname, '0', "long", 4);
    tar_entry(&b, "other.txt", '0', "x", 1);
    tar_end(&b);
    size_t gzn;
    uint8_t *gz = gzip_buf(b.p, b.n, &gzn);
    write_file(tpath("a.tar.gz"), gz, gzn);
    write_file(tpath("a.tar"), b.p, b.n);

    char tops[256];
    const char *dest = tpath("x1");
    nl_status s = nl_tar_extract(&ctx, tpath("a.tar.gz"), dest, tops, sizeof tops);
    char p1[600], p2[600], p3[600], p4[600];
    snprintf(p1, sizeof p1, "%s/set/data_1.bin", dest);
    snprintf(p2, sizeof p2, "%s/set/meta.txt", dest);
    snprintf(p3, sizeof p3, "%s/%s", dest, longname);
    snprintf(p4, sizeof p4, "%s/set/link", dest);
    CHECK(s == NL_OK, "tar: extract a .tar.gz", "%s", ctx.err);
    CHECK(read_back(p1, big, sizeof big) && read_back(p2, "a\nb\n", 4), "tar: file contents", "bad contents");
    CHECK(read_back(p3, "long", 4), "tar: GNU long name", "missing %s", p3);
    CHECK(access(p4, F_OK) != 0, "tar: symlinks are not extracted", "%s exists", p4);
    CHECK(!strcmp(tops, "set\nother.txt\n"), "tar: top-level names", "got '%s'", tops);
    /* no temporary directory left behind */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -q extract", dest);
    CHECK(system(cmd) != 0, "tar: temporary directory removed", "left in %s", dest);

    /* plain tar, merged into the existing directory (a file there is replaced) */
    write_file(p2, "old", 3);
    s = nl_tar_extract(&ctx, tpath("a.tar"), dest, NULL, 0);
    CHECK(s == NL_OK && read_back(p2, "a\nb\n", 4), "tar: plain tar merged into an existing directory", "%s", ctx.err);

    /* unsafe names */
    Buf e = {0};
    tar_entry(&e, "ok.txt", '0', "1", 1);
    tar_entry(&e, "../evil.txt", '0', "2", 1);
    tar_end(&e);
    write_file(tpath("evil.tar"), e.p, e.n);
    const char *d2 = tpath("x2/inner");
    s = nl_tar_extract(&ctx, tpath("evil.tar"), d2, NULL, 0);
    char ev[600], ok[600];
    snprintf(ev, sizeof ev, "%s/x2/evil.txt", tmpdir);
    snprintf(ok, sizeof ok, "%s/ok.txt", d2);
    CHECK(s == NL_EFORMAT && has(ctx.err, "unsafe name '../evil.txt'") && has(ctx.err, "byte offset 1024") &&
          access(ev, F_OK) != 0 && access(ok, F_OK) != 0,
          "tar: '..' refused, nothing extracted", "%s", ctx.err);
    Buf a = {0};
    tar_entry(&a, "/etc/x", '0', "2", 1);
    tar_end(&a);
    NlGz g;
    nl_gz_open_mem(&g, "abs.tar", a.p, a.n);
    write_file(tpath("abs.tar"), a.p, a.n);
    s = nl_tar_extract(&ctx, tpath("abs.tar"), d2, NULL, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "unsafe name '/etc/x'"), "tar: absolute name refused", "%s", ctx.err);
    nl_gz_close(&g);

    /* truncated archive and bad checksum */
    write_file(tpath("t.tar"), b.p, 512 + 512 + 2000);
    s = nl_tar_extract(&ctx, tpath("t.tar"), tpath("x3"), NULL, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "t.tar: tar archive truncated at byte offset 3024") &&
          has(ctx.err, "set/data_1.bin"), "tar: truncated inside an entry", "%s", ctx.err);
    uint8_t *bc = malloc(b.n);
    memcpy(bc, b.p, b.n);
    bc[512 + 5] ^= 1;   /* a name byte of the second header */
    write_file(tpath("c.tar"), bc, b.n);
    s = nl_tar_extract(&ctx, tpath("c.tar"), tpath("x4"), NULL, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "bad tar header checksum at byte offset 512"), "tar: bad checksum",
          "%s", ctx.err);
    write_file(tpath("t.tar.gz"), gz, gzn - 10);
    s = nl_tar_extract(&ctx, tpath("t.tar.gz"), tpath("x5"), NULL, 0);
    CHECK(s == NL_EFORMAT && has(ctx.err, "t.tar.gz"), "tar: truncated gzip", "%s", ctx.err);
    free(bc);
    free(gz);
    free(a.p);
    free(e.p);
    free(b.p);
}

/* file:// downloads exercise the .part / md5 / rename logic without a server
 * (the HTTP tests with a local server are in tests/lua/test_data_download.lua). */
static void test_download_file_url(void) {
    uint8_t blob[70000];
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i * 11 + (i >> 8));
    write_file(tpath("src.bin"), blob, sizeof blob);
    NlMd5 m;
    uint8_t d[16];
    char hex[33];
    nl_md5_init(&m);
    nl_md5_update(&m, blob, sizeof blob);
    nl_md5_final(&m, d);
    nl_md5_hex(d, hex);
    char url[600];
    snprintf(url, sizeof url, "file://%s", tpath("src.bin"));
    NlDownloadInfo info;
    nl_status s = nl_download(&ctx, url, tpath("dl.bin"), hex, NULL, &info);
    CHECK(s == NL_OK && read_back(tpath("dl.bin"), blob, sizeof blob) && access(tpath("dl.bin.part"), F_OK) != 0,
          "download file://: complete, verified, renamed", "%s", ctx.err);
    s = nl_download(&ctx, url, tpath("dl.bin"), hex, NULL, &info);
    CHECK(s == NL_OK && info.skipped, "download: an existing verified file is kept", "%s", ctx.err);
    /* resume: a part file holding the first 30000 bytes */
    write_file(tpath("dl2.bin.part"), blob, 30000);
    s = nl_download(&ctx, url, tpath("dl2.bin"), hex, NULL, &info);
    CHECK(s == NL_OK && info.resumed && info.resumed_from == 30000 && info.bytes == 40000 &&
          read_back(tpath("dl2.bin"), blob, sizeof blob), "download: resume a partial file",
          "%s resumed=%d from=%lld bytes=%lld", ctx.err, info.resumed, (long long)info.resumed_from,
          (long long)info.bytes);
    /* checksum mismatch: deleted, never used */
    s = nl_download(&ctx, url, tpath("dl3.bin"), "00000000000000000000000000000000", NULL, &info);
    CHECK(s == NL_EFORMAT && has(ctx.err, "checksum mismatch") && has(ctx.err, hex) &&
          access(tpath("dl3.bin"), F_OK) != 0 && access(tpath("dl3.bin.part"), F_OK) != 0,
          "download: checksum mismatch deletes the file", "%s", ctx.err);
    /* a corrupt part file makes the resumed result fail the check and vanish */
    uint8_t junk[30000];
    memset(junk, 0xAB, sizeof junk);
    write_file(tpath("dl4.bin.part"), junk, sizeof junk);
    s = nl_download(&ctx, url, tpath("dl4.bin"), hex, NULL, &info);
    CHECK(s == NL_EFORMAT && access(tpath("dl4.bin.part"), F_OK) != 0 && access(tpath("dl4.bin"), F_OK) != 0,
          "download: a bad resumed part fails the checksum and is deleted", "%s", ctx.err);
    /* a missing source */
    snprintf(url, sizeof url, "file://%s", tpath("nothing.bin"));
    s = nl_download(&ctx, url, tpath("dl5.bin"), hex, NULL, &info);
    CHECK(s == NL_EIO && has(ctx.err, "nothing.bin") && access(tpath("dl5.bin"), F_OK) != 0,
          "download: a missing source is an error", "%s", ctx.err);
}

/* ---- pipeline ---- */

/* The definition, written out: normalize, pad with zeros, crop, flip. */
static void reference_augment(float *out, const uint8_t *img, int C, int H, int W, const float *mean,
                              const float *std, int pad, int dx, int dy, int flip) {
    int PH = H + 2 * pad, PW = W + 2 * pad;
    float *canvas = calloc((size_t)C * PH * PW, sizeof(float));
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                canvas[(c * PH + i + pad) * PW + j + pad] =
                    (float)(((double)img[(c * H + i) * W + j] / 255.0 - mean[c]) / std[c]);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int jj = flip ? W - 1 - j : j;
                out[(c * H + i) * W + j] = canvas[(c * PH + i + dy) * PW + jj + dx];
            }
    free(canvas);
}

static NlDataset make_ds(int n, int C, int H, int W, uint64_t seed) {
    NlDataset ds = {0};
    ds.n = n; ds.c = C; ds.h = H; ds.w = W; ds.num_classes = 10;
    ds.pixels = malloc((size_t)n * C * H * W);
    ds.labels = malloc((size_t)n);
    uint64_t st = nl_rng_seed(seed, 99);
    for (size_t i = 0; i < (size_t)n * C * H * W; i++) ds.pixels[i] = (uint8_t)nl_rng_next(&st);
    for (int i = 0; i < n; i++) {
        ds.labels[i] = (uint8_t)(i % 10);
        ds.pixels[(size_t)i * C * H * W] = (uint8_t)i;   /* an id in the first byte (n <= 256) */
    }
    return ds;
}

static const float MEAN[3] = {0.4914f, 0.4822f, 0.4465f}, STD[3] = {0.2470f, 0.2435f, 0.2616f};

static void test_augment(void) {
    NlDataset ds = make_ds(1, 3, 32, 32, 5);
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = (float)(((double)v / 255.0 - MEAN[c]) / STD[c]);
    float a[3072], r[3072];
    int bad = 0;
    for (int dy = 0; dy <= 8; dy++)
        for (int dx = 0; dx <= 8; dx++)
            for (int f = 0; f < 2; f++) {
                nl_augment_image(a, ds.pixels, 3, 32, 32, (const float (*)[256])lut, 4, dx, dy, f);
                reference_augment(r, ds.pixels, 3, 32, 32, MEAN, STD, 4, dx, dy, f);
                if (memcmp(a, r, sizeof a)) bad++;
            }
    CHECK(bad == 0, "augment: all 162 (dx, dy, flip) equal the pad-normalize-crop-flip definition", "%d differ", bad);
    /* centre crop without flip is plain normalization; zeros are normalized-space zeros */
    nl_augment_image(a, ds.pixels, 3, 32, 32, (const float (*)[256])lut, 4, 4, 4, 0);
    float v = (float)((ds.pixels[1024 + 33] / 255.0 - MEAN[1]) / STD[1]);
    CHECK(a[1024 + 33] == v, "augment: centre crop = normalization", "%g vs %g", a[1024 + 33], v);
    nl_augment_image(a, ds.pixels, 3, 32, 32, (const float (*)[256])lut, 4, 0, 0, 0);
    CHECK(a[0] == 0.0f && a[3 * 32 + 3] == 0.0f && a[4 * 32 + 4] == lut[0][ds.pixels[0]],
          "augment: offset (0,0) shifts the image by 4 and pads with 0", "%g %g", a[0], a[4 * 32 + 4]);
    nl_augment_image(a, ds.pixels, 3, 32, 32, (const float (*)[256])lut, 4, 4, 4, 1);
    CHECK(a[31] == lut[0][ds.pixels[0]], "augment: flip mirrors columns", "%g", a[31]);
    nl_dataset_free(&ds);
}

static int same_batch(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }

static void test_loader(void) {
    NlDataset ds = make_ds(200, 3, 32, 32, 7);
    NlLoader ld, ld2;
    nl_status s = nl_loader_init(&ctx, &ld, &ds, 0, 16, 1, 1, 42, MEAN, STD, 4, 1);
    CHECK(s == NL_OK && ld.nbatches == 12, "loader: 200 images, batch 16, train drops the partial batch",
          "%s nb=%lld", ctx.err, (long long)ld.nbatches);
    nl_loader_init(&ctx, &ld2, &ds, 0, 16, 1, 1, 42, MEAN, STD, 4, 1);

    float *x = malloc(16 * 3072 * sizeof(float)), *x2 = malloc(16 * 3072 * sizeof(float));
    float y[16], y2[16];
    NlTensor X = {x, 4, {16, 3, 32, 32}, 16 * 3072}, Y = {y, 1, {16}, 16};
    NlTensor X2 = {x2, 4, {16, 3, 32, 32}, 16 * 3072}, Y2 = {y2, 1, {16}, 16};

    /* determinism: same (seed, epoch) -> same batches, whatever was made before */
    nl_loader_set_epoch(&ld, 3);
    nl_loader_set_epoch(&ld2, 3);
    nl_loader_fill(&ctx, &ld, 5, &X, &Y);
    nl_loader_fill(&ctx, &ld2, 0, &X2, &Y2);
    nl_loader_fill(&ctx, &ld2, 5, &X2, &Y2);
    CHECK(same_batch(x, x2, 16 * 3072) && !memcmp(y, y2, sizeof y), "loader: batch 6 of epoch 3 is reproducible",
          "differs");
    nl_loader_set_epoch(&ld2, 4);
    nl_loader_fill(&ctx, &ld2, 5, &X2, &Y2);
    CHECK(!same_batch(x, x2, 16 * 3072), "loader: another epoch gives another batch", "same");
    NlLoader ld3;
    nl_loader_init(&ctx, &ld3, &ds, 0, 16, 1, 1, 43, MEAN, STD, 4, 1);
    nl_loader_set_epoch(&ld3, 3);
    nl_loader_fill(&ctx, &ld3, 5, &X2, &Y2);
    CHECK(!same_batch(x, x2, 16 * 3072), "loader: another seed gives another batch", "same");
    nl_loader_free(&ld3);

    /* the batch follows the documented draws */
    {
        int64_t pos = 5 * 16 + 3, idx = ld.perm[pos];
        uint64_t st = nl_rng_seed(nl_rng_seed(nl_rng_seed(42, NL_STREAM_AUGMENT) + 3, NL_STREAM_AUGMENT) + pos,
                                  NL_STREAM_AUGMENT);
        int dx = (int)nl_rng_below(&st, 9), dy = (int)nl_rng_below(&st, 9), f = (int)nl_rng_below(&st, 2);
        float r[3072];
        reference_augment(r, ds.pixels + idx * 3072, 3, 32, 32, MEAN, STD, 4, dx, dy, f);
        uint64_t os = nl_rng_seed(nl_rng_seed(42, NL_STREAM_ORDER) + 3, NL_STREAM_ORDER);
        int64_t perm[200];
        for (int i = 0; i < 200; i++) perm[i] = i;
        nl_rng_shuffle(&os, perm, 200);
        CHECK(perm[pos] == idx && same_batch(x + 3 * 3072, r, 3072) && y[3] == ds.labels[idx],
              "loader: order and augmentation follow dataset.h's recipe", "idx %lld vs %lld", (long long)idx,
              (long long)perm[pos]);
    }

    /* every epoch is a permutation; the augmentation statistics are as specified */
    {
        NlLoader pl;   /* no augmentation, so the id byte survives */
        nl_loader_init(&ctx, &pl, &ds, 0, 16, 1, 1, 42, MEAN, STD, 0, 0);
        int seen[200] = {0}, okp = 1;
        for (int b = 0; b < pl.nbatches; b++) {
            nl_loader_fill(&ctx, &pl, b, &X, &Y);
            for (int k = 0; k < 16; k++) {
                int id = -1;
                for (int v = 0; v < 256; v++)
                    if (pl.lut[0][v] == x[k * 3072]) id = v;
                if (id < 0 || id >= 200) okp = 0;
                else seen[id]++;
            }
        }
        int dup = 0, order_diff = 0;
        for (int i = 0; i < 200; i++) dup += seen[i] > 1;
        for (int i = 0; i < 200; i++) order_diff += pl.perm[i] != i;
        CHECK(okp && dup == 0, "loader: an epoch visits each image at most once (192 of 200)", "dup %d", dup);
        CHECK(order_diff > 150, "loader: the training order is shuffled", "%d moved", order_diff);
        nl_loader_free(&pl);

        int hist_dx[9] = {0}, flips = 0, N = 90000;
        uint64_t base = nl_rng_seed(nl_rng_seed(1, NL_STREAM_AUGMENT) + 1, NL_STREAM_AUGMENT);
        for (int k = 0; k < N; k++) {
            uint64_t st = nl_rng_seed(base + (uint64_t)k, NL_STREAM_AUGMENT);
            hist_dx[nl_rng_below(&st, 9)]++;
            nl_rng_below(&st, 9);
            flips += (int)nl_rng_below(&st, 2);
        }
        int okh = 1;
        for (int i = 0; i < 9; i++) okh &= abs(hist_dx[i] - N / 9) < 500;   /* ~5 sigma */
        CHECK(okh && abs(flips - N / 2) < 800, "augment draws: offsets uniform on 0..8, flips p=1/2",
              "flips %d, dx[0] %d", flips, hist_dx[0]);
    }

    /* test mode: in order, no augmentation, last partial batch kept */
    NlLoader te;
    s = nl_loader_init(&ctx, &te, &ds, 0, 64, 0, 0, 42, MEAN, STD, 4, 1);
    CHECK(s == NL_OK && te.nbatches == 4 && nl_loader_batch_len(&te, 3) == 8, "loader: test keeps the partial batch",
          "%lld", (long long)te.nbatches);
    float *xt = malloc(64 * 3072 * sizeof(float)), yt[64];
    NlTensor XT = {xt, 4, {8, 3, 32, 32}, 8 * 3072}, YT = {yt, 1, {8}, 8};
    s = nl_loader_fill(&ctx, &te, 3, &XT, &YT);
    float r[3072];
    reference_augment(r, ds.pixels + 195 * 3072, 3, 32, 32, MEAN, STD, 0, 0, 0, 0);
    CHECK(s == NL_OK && same_batch(xt + 3 * 3072, r, 3072) && yt[3] == ds.labels[195],
          "loader: test batch 4 holds images 192..199 unaugmented", "%s", ctx.err);
    /* shape errors */
    s = nl_loader_fill(&ctx, &te, 2, &XT, &YT);
    CHECK(s == NL_ESHAPE && has(ctx.err, "expected shape (64,3,32,32), got (8,3,32,32)"),
          "loader: wrong x shape names both shapes", "%s", ctx.err);
    s = nl_loader_fill(&ctx, &te, 4, &XT, &YT);
    CHECK(s == NL_EARG && has(ctx.err, "batch 5 out of range 1..4"), "loader: batch index out of range", "%s", ctx.err);
    nl_loader_free(&te);

    /* subset: only the first n images */
    NlLoader sub;
    s = nl_loader_init(&ctx, &sub, &ds, 50, 10, 1, 1, 1, MEAN, STD, 4, 1);
    int in = s == NL_OK && sub.nbatches == 5;
    for (int i = 0; in && i < 50; i++) in = sub.perm[i] < 50;
    CHECK(in, "loader: subset uses the first 50 images", "%s", ctx.err);
    nl_loader_free(&sub);
    s = nl_loader_init(&ctx, &sub, &ds, 201, 10, 1, 1, 1, MEAN, STD, 4, 1);
    CHECK(s == NL_EARG && has(ctx.err, "subset 201"), "loader: subset too large", "%s", ctx.err);
    s = nl_loader_init(&ctx, &sub, &ds, 10, 16, 1, 1, 1, MEAN, STD, 4, 1);
    CHECK(s == NL_EARG && has(ctx.err, "no batches"), "loader: batch larger than a dropped-last set", "%s", ctx.err);
    float zero[3] = {0, 0, 0};
    s = nl_loader_init(&ctx, &sub, &ds, 0, 16, 1, 1, 1, MEAN, zero, 4, 1);
    CHECK(s == NL_EARG && has(ctx.err, "std must be positive"), "loader: zero std refused", "%s", ctx.err);

    nl_loader_free(&ld);
    nl_loader_free(&ld2);
    free(x); free(x2); free(xt);
    nl_dataset_free(&ds);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/normlab_test_data_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    test_md5();
    test_cifar10();
    test_cifar100();
    test_idx();
    test_tar();
    test_download_file_url();
    test_augment();
    test_loader();
    nl_rmtree(tmpdir);
    return check_done();
}
