/* md5.c: MD5 message digest, RFC 1321 (the reference's step order, written
 * out with the per-round shift table). Only used to check that a download is
 * the published archive; not for anything security-related.
 *
 *   per 64-byte block, 64 steps i = 0..63 in four rounds:
 *     F = (B&C)|(~B&D), G = (D&B)|(~D&C), H = B^C^D, I = C^(B|~D)
 *     A' = D, D' = C, C' = B, B' = B + rotl(A + f + K[i] + M[g], s[i])
 *   with K[i] = floor(|sin(i+1)| * 2^32) and message word index g per round:
 *     i, (5i+1)%16, (3i+5)%16, 7i%16. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "fetch.h"

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t S[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static uint32_t rotl(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }

static void block(NlMd5 *m, const uint8_t *p) {
    uint32_t M[16];
    for (int i = 0; i < 16; i++)   /* little-endian words */
        M[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t A = m->a, B = m->b, C = m->c, D = m->d;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) { f = (B & C) | (~B & D); g = i; }
        else if (i < 32) { f = (D & B) | (~D & C); g = (5 * i + 1) & 15; }
        else if (i < 48) { f = B ^ C ^ D; g = (3 * i + 5) & 15; }
        else { f = C ^ (B | ~D); g = (7 * i) & 15; }
        uint32_t t = D;
        D = C;
        C = B;
        B = B + rotl(A + f + K[i] + M[g], S[i]);
        A = t;
    }
    m->a += A; m->b += B; m->c += C; m->d += D;
}

void nl_md5_init(NlMd5 *m) {
    m->a = 0x67452301; m->b = 0xefcdab89; m->c = 0x98badcfe; m->d = 0x10325476;
    m->len = 0;
}

void nl_md5_update(NlMd5 *m, const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    size_t have = (size_t)(m->len & 63);
    m->len += n;
    if (have) {
        size_t k = 64 - have < n ? 64 - have : n;
        memcpy(m->buf + have, p, k);
        p += k; n -= k; have += k;
        if (have < 64) return;
        block(m, m->buf);
    }
    for (; n >= 64; p += 64, n -= 64) block(m, p);
    memcpy(m->buf, p, n);
}

void nl_md5_final(NlMd5 *m, uint8_t digest[16]) {
    uint64_t bits = m->len * 8;
    static const uint8_t pad[64] = {0x80};
    size_t have = (size_t)(m->len & 63);
    nl_md5_update(m, pad, have < 56 ? 56 - have : 120 - have);   /* 1 bit, zeros, to 56 mod 64 */
    uint8_t lenle[8];
    for (int i = 0; i < 8; i++) lenle[i] = (uint8_t)(bits >> (8 * i));
    nl_md5_update(m, lenle, 8);
    uint32_t w[4] = {m->a, m->b, m->c, m->d};
    for (int i = 0; i < 16; i++) digest[i] = (uint8_t)(w[i / 4] >> (8 * (i % 4)));
}

void nl_md5_hex(const uint8_t digest[16], char hex[33]) {
    static const char *h = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = h[digest[i] >> 4];
        hex[2 * i + 1] = h[digest[i] & 15];
    }
    hex[32] = '\0';
}

nl_status nl_md5_file(NlCtx *c, const char *path, char hex[33]) {
    FILE *f = fopen(path, "rb");
    if (!f) return nl_fail(c, NL_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t buf[1 << 15];
    NlMd5 m;
    nl_md5_init(&m);
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) nl_md5_update(&m, buf, k);
    int bad = ferror(f);
    fclose(f);
    if (bad) return nl_fail(c, NL_EIO, "%s: read error at byte offset %llu", path, (unsigned long long)m.len);
    uint8_t d[16];
    nl_md5_final(&m, d);
    nl_md5_hex(d, hex);
    return NL_OK;
}
