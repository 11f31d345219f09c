/* idx.c: the IDX format of MNIST and Fashion-MNIST (yann.lecun.com/exdb/mnist).
 *
 *   byte 0,1  0x00 0x00
 *   byte 2    element type: 0x08 ubyte (the only one images and labels use;
 *             0x09 sbyte, 0x0B short, 0x0C int, 0x0D float, 0x0E double exist)
 *   byte 3    number of dimensions (images 3: N,H,W; labels 1: N)
 *   then      one big-endian uint32 size per dimension, then the elements,
 *             row-major, last dimension fastest.
 * Files are often gzip-compressed (*.gz); nl_idx_load reads both through
 * nl_read_all (gz.c). Offsets in messages are in the decompressed data. */
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "fetch.h"

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *type_name(int t) {
    switch (t) {
    case 0x08: return "ubyte";
    case 0x09: return "sbyte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    }
    return "unknown";
}

nl_status nl_idx_parse(NlCtx *c, const char *name, const uint8_t *buf, size_t len, int want_ndim,
                       NlIdxInfo *info) {
    memset(info, 0, sizeof *info);
    if (len < 4)
        return nl_fail(c, NL_EFORMAT, "%s: not an IDX file: %zu bytes, shorter than the 4-byte magic number",
                       name, len);
    if (buf[0] != 0 || buf[1] != 0)
        return nl_fail(c, NL_EFORMAT, "%s: bad IDX magic number 0x%02x%02x%02x%02x at byte offset 0 "
                       "(expected 0x0000TTNN)%s", name, buf[0], buf[1], buf[2], buf[3],
                       buf[0] == 0x1f && buf[1] == 0x8b ? "; this is gzip data: decompress it first" : "");
    if (buf[2] != 0x08)
        return nl_fail(c, NL_EFORMAT, "%s: IDX element type 0x%02x (%s) at byte offset 2 is not supported "
                       "(only 0x08, unsigned bytes)", name, buf[2], type_name(buf[2]));
    int nd = buf[3];
    if (nd < 1 || nd > 4)
        return nl_fail(c, NL_EFORMAT, "%s: IDX dimension count %d at byte offset 3 (expected 1..4)", name, nd);
    if (want_ndim && nd != want_ndim)
        return nl_fail(c, NL_EFORMAT, "%s: IDX file has %d dimension(s) (byte offset 3), expected %d (%s)",
                       name, nd, want_ndim, want_ndim == 3 ? "images: N,H,W" : want_ndim == 1 ? "labels: N" : "");
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr)
        return nl_fail(c, NL_EFORMAT, "%s: truncated IDX header: %zu bytes, the %d sizes need %zu",
                       name, len, nd, hdr);
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        uint32_t d = be32(buf + 4 + 4 * i);
        if (d == 0)
            return nl_fail(c, NL_EFORMAT, "%s: IDX size %d (byte offset %d) is 0", name, i + 1, 4 + 4 * i);
        if (numel > ((uint64_t)1 << 40) / d)
            return nl_fail(c, NL_EFORMAT, "%s: IDX sizes (byte offset 4) multiply to more than 2^40 elements",
                           name);
        numel *= d;
        info->dims[i] = d;
    }
    uint64_t need = hdr + numel;
    if (len != need)
        return nl_fail(c, NL_EFORMAT, "%s: wrong IDX data size: the header (%d sizes) calls for %llu bytes "
                       "in all, the data has %zu%s at byte offset %zu", name, nd,
                       (unsigned long long)need, len, len < need ? ": it ends early" : ": extra bytes start",
                       len < need ? len : (size_t)need);
    info->ndim = nd;
    info->numel = (int64_t)numel;
    info->offset = hdr;
    return NL_OK;
}

nl_status nl_idx_build(NlCtx *c, NlDataset *ds, const char *images_name, const uint8_t *images,
                       size_t images_len, const char *labels_name, const uint8_t *labels,
                       size_t labels_len, int num_classes) {
    memset(ds, 0, sizeof *ds);
    NlIdxInfo im, lb;
    nl_status s = nl_idx_parse(c, images_name, images, images_len, 3, &im);
    if (s != NL_OK) return s;
    s = nl_idx_parse(c, labels_name, labels, labels_len, 1, &lb);
    if (s != NL_OK) return s;
    if (im.dims[0] != lb.dims[0])
        return nl_fail(c, NL_EFORMAT, "%s has %lld images but %s has %lld labels", images_name,
                       (long long)im.dims[0], labels_name, (long long)lb.dims[0]);
    if (im.dims[1] > 4096 || im.dims[2] > 4096)
        return nl_fail(c, NL_EFORMAT, "%s: images of %lldx%lld pixels are larger than 4096x4096", images_name,
                       (long long)im.dims[1], (long long)im.dims[2]);
    if (num_classes < 1 || num_classes > 256)
        return nl_fail(c, NL_EARG, "idx: num_classes %d out of range 1..256", num_classes);
    const uint8_t *lab = labels + lb.offset;
    for (int64_t i = 0; i < lb.dims[0]; i++)
        if (lab[i] >= num_classes)
            return nl_fail(c, NL_EFORMAT, "%s: record %lld (byte offset %lld): label %d out of range 0..%d",
                           labels_name, (long long)i, (long long)(lb.offset + i), lab[i], num_classes - 1);
    size_t bytes = (size_t)im.numel;
    ds->pixels = (uint8_t *)malloc(bytes);
    ds->labels = (uint8_t *)malloc((size_t)lb.numel);
    if (!ds->pixels || !ds->labels) {
        nl_dataset_free(ds);
        return nl_fail(c, NL_ENOMEM, "%s: out of memory (%.1f MB)", images_name, bytes / 1048576.0);
    }
    memcpy(ds->pixels, images + im.offset, bytes);
    memcpy(ds->labels, lab, (size_t)lb.numel);
    ds->n = im.dims[0];
    ds->c = 1;
    ds->h = (int)im.dims[1];
    ds->w = (int)im.dims[2];
    ds->num_classes = num_classes;
    return NL_OK;
}

nl_status nl_idx_load(NlCtx *c, NlDataset *ds, const char *images_path, const char *labels_path,
                      int num_classes) {
    memset(ds, 0, sizeof *ds);
    uint8_t *im = NULL, *lb = NULL;
    size_t imn = 0, lbn = 0;
    nl_status s = nl_read_all(c, images_path, &im, &imn, 0);
    if (s == NL_OK) s = nl_read_all(c, labels_path, &lb, &lbn, 0);
    if (s == NL_OK) s = nl_idx_build(c, ds, images_path, im, imn, labels_path, lb, lbn, num_classes);
    free(im);
    free(lb);
    return s;
}
