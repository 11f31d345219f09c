/* dataset.h: image datasets held as uint8 in memory, their parsers, and the
 * batch pipeline that turns them into normalized float batches.
 *
 * Pure C (no Lua). Every parser validates the whole input before it hands
 * anything back: on failure the NlDataset is left empty (all fields zero),
 * never half-loaded, and ctx->err names the file and the byte offset or
 * record at fault.
 *
 * Formats
 *   CIFAR-10 binary   records of 1 label byte + 3072 pixel bytes, no header.
 *   CIFAR-100 binary  records of 1 coarse-label byte + 1 fine-label byte + 3072
 *                     pixel bytes. Pixels (both): planar, 1024 R, 1024 G,
 *                     1024 B, each plane 32x32 row-major from the top row.
 *   IDX (MNIST)       big-endian header: 0x00 0x00 <type> <ndim>, then ndim
 *                     uint32 sizes, then the elements; only type 0x08 (ubyte).
 *                     Plain or gzip (read through zlib, see gz.h).
 */
#ifndef NL_DATASET_H
#define NL_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "../core/nl.h"
#include "../core/tensor.h"

#define NL_DATA_MAXC 4   /* most channels an image may have */

/* n images of (c, h, w) bytes each, planar, plus one label per image. */
typedef struct NlDataset {
    uint8_t *pixels;   /* n * c * h * w bytes; image i at pixels + i*c*h*w */
    uint8_t *labels;   /* n labels in 0 .. num_classes-1 */
    int64_t n;
    int c, h, w;
    int num_classes;
} NlDataset;

void nl_dataset_free(NlDataset *ds);   /* frees and zeroes; safe on a zeroed struct */

/* ---- CIFAR ---- */
enum { NL_CIFAR10 = 10, NL_CIFAR100 = 100 };
#define NL_CIFAR_PIXELS 3072

/* Record size in bytes of a CIFAR kind (3073 or 3074); 0 for an unknown kind. */
int nl_cifar_record_size(int kind);

/* Validates nrec records at buf and unpacks them into pixels (nrec*3072) and
 * labels (nrec). `first` is the index of buf's first record in its file (for
 * messages). coarse selects CIFAR-100's coarse label (both are range-checked). */
nl_status nl_cifar_unpack(NlCtx *c, const char *name, const uint8_t *buf, int64_t nrec,
                          int64_t first, int kind, int coarse, uint8_t *pixels, uint8_t *labels);

/* Parses an in-memory CIFAR file (used by the fuzzer and the tests). */
nl_status nl_cifar_parse(NlCtx *c, NlDataset *ds, const char *name, const uint8_t *buf,
                         size_t len, int kind, int coarse);

/* Loads and concatenates nfiles CIFAR files. expect_records > 0 requires each
 * file to hold exactly that many records (10000 for the official CIFAR-10
 * batches); 0 accepts any whole number of records. */
nl_status nl_cifar_load(NlCtx *c, NlDataset *ds, const char *const *paths, int nfiles,
                        int kind, int coarse, int64_t expect_records);

/* ---- IDX ---- */
typedef struct NlIdxInfo {
    int ndim;
    int64_t dims[4];
    int64_t numel;
    size_t offset;   /* where the elements start */
} NlIdxInfo;

/* Checks the header (magic, type 0x08, ndim == want_ndim unless want_ndim is
 * 0, nonzero sizes) and that len is exactly header + elements. No copy. */
nl_status nl_idx_parse(NlCtx *c, const char *name, const uint8_t *buf, size_t len,
                       int want_ndim, NlIdxInfo *info);

/* Builds a dataset from an image buffer (N, H, W) and a label buffer (N), both
 * in IDX format (already decompressed). Labels must be < num_classes. */
nl_status nl_idx_build(NlCtx *c, NlDataset *ds, const char *images_name, const uint8_t *images,
                       size_t images_len, const char *labels_name, const uint8_t *labels,
                       size_t labels_len, int num_classes);

/* Reads two IDX files (plain or .gz) and builds the dataset. */
nl_status nl_idx_load(NlCtx *c, NlDataset *ds, const char *images_path,
                      const char *labels_path, int num_classes);

/* ---- the batch pipeline ----
 *
 * Per epoch e (train): the order is a Fisher-Yates shuffle of 0..n-1 driven by
 *   nl_rng_seed(nl_rng_seed(seed, NL_STREAM_ORDER) + e, NL_STREAM_ORDER);
 * the k-th image of the epoch (k counts from 0 over the whole epoch) draws,
 * from nl_rng_seed(nl_rng_seed(nl_rng_seed(seed, NL_STREAM_AUGMENT) + e,
 * NL_STREAM_AUGMENT) + k, NL_STREAM_AUGMENT), in this order:
 *   dx = below(2*pad+1), dy = below(2*pad+1), flip = below(2).
 * The image is normalized per channel, ((v/255) - mean)/std, placed in a
 * zero-padded canvas (the zero is in normalized space), cropped at (dy, dx) to
 * (h, w) and, when flip == 1, mirrored left-right:
 *   out[c][i][j] = canvas[c][i+dy][(flip ? w-1-j : j) + dx]
 * So a batch depends only on (seed, epoch, batch index, batch size), never on
 * which batches were made before it. Test mode (train == 0): order 0..n-1, no
 * augmentation, the last partial batch kept unless drop_last. */
typedef struct NlLoader {
    const NlDataset *ds;   /* borrowed; must outlive the loader */
    int64_t n;             /* images used: the first n of ds (subset) */
    int64_t batch;         /* batch size */
    int64_t nbatches;
    int train, drop_last, pad, flip;
    uint64_t seed;
    int64_t epoch;         /* the epoch whose order is in perm; -1 before the first */
    uint64_t aug_base;     /* augmentation state of the current epoch */
    int64_t *perm;         /* n indices into ds */
    float lut[NL_DATA_MAXC][256];   /* byte value -> normalized float, per channel */
} NlLoader;

/* mean/std: ds->c values each (fractions of 255). pad: the zero padding of the
 * crop (4 for CIFAR; 0 turns cropping off); flip: random left-right flips. The
 * augmentation is applied only when train is set. */
nl_status nl_loader_init(NlCtx *c, NlLoader *ld, const NlDataset *ds, int64_t subset,
                         int64_t batch, int train, int drop_last, uint64_t seed,
                         const float *mean, const float *std, int pad, int flip);
void nl_loader_free(NlLoader *ld);
void nl_loader_set_epoch(NlLoader *ld, int64_t epoch);
int64_t nl_loader_batch_len(const NlLoader *ld, int64_t b);   /* images in batch b (0-based) */
/* Fills x (B, c, h, w) and y (B) (labels as floats, 0-based) with batch b
 * (0-based) of the current epoch; B must equal nl_loader_batch_len(ld, b). */
nl_status nl_loader_fill(NlCtx *c, NlLoader *ld, int64_t b, NlTensor *x, NlTensor *y);

/* One image, augmented or not, into out (c*h*w floats). Exposed for tests. */
void nl_augment_image(float *out, const uint8_t *img, int c, int h, int w,
                      const float (*lut)[256], int pad, int dx, int dy, int flip);

#endif
