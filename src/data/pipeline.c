/* pipeline.c: uint8 images -> normalized, augmented float batches.
 *
 *   x: (B, C, H, W) float32, contiguous, reused by the caller across batches
 *   y: (B)          float32, 0-based class labels
 *   ds->pixels: n images of (C, H, W) bytes, planar
 *
 * Normalization (PROTOCOL.md): v -> (v/255 - mean[c]) / std[c], done through
 * a 256-entry table per channel so that a pixel costs one load.
 * Augmentation (train only), per image:
 *   canvas = the normalized image with `pad` zeros on each side (zero in
 *            normalized space, i.e. padding happens after normalizing)
 *   crop   = canvas[dy : dy+H, dx : dx+W],  dx, dy uniform in 0 .. 2*pad
 *   flip   = with probability 1/2, out[c][i][j] = crop[c][i][W-1-j]
 * computed directly into x without building the canvas:
 *   out[c][i][j] = in-range(r, s) ? lut[c][img[c][r][s]] : 0,
 *   r = i + dy - pad,  s = (flip ? W-1-j : j) + dx - pad.
 * Random numbers: see dataset.h (streams NL_STREAM_ORDER, NL_STREAM_AUGMENT of
 * src/core/rng.h, keyed by seed, epoch and position in the epoch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "../core/rng.h"

void nl_augment_image(float *out, const uint8_t *img, int C, int H, int W, const float (*lut)[256],
                      int pad, int dx, int dy, int flip) {
    const int sh = dx - pad;   /* column shift: source column = j' + sh */
    /* valid output columns [j0, j1): where the source column lies in 0..W-1 */
    int j0, j1;
    if (!flip) { j0 = sh < 0 ? -sh : 0; j1 = sh > 0 ? W - sh : W; }
    else { j0 = sh > 0 ? sh : 0; j1 = sh < 0 ? W + sh : W; }
    if (j0 > W) j0 = W;
    if (j1 < j0) j1 = j0;
    for (int ch = 0; ch < C; ch++) {
        const float *L = lut[ch];
        const uint8_t *src = img + (size_t)ch * H * W;
        float *dst = out + (size_t)ch * H * W;
        for (int i = 0; i < H; i++) {
            float *o = dst + (size_t)i * W;
            int r = i + dy - pad;
            if (r < 0 || r >= H) {   /* a padding row */
                memset(o, 0, (size_t)W * sizeof *o);
                continue;
            }
            const uint8_t *s = src + (size_t)r * W;
            for (int j = 0; j < j0; j++) o[j] = 0.0f;
            if (!flip) {
                const uint8_t *sp = s + sh;
                for (int j = j0; j < j1; j++) o[j] = L[sp[j]];
            } else {
                const uint8_t *sp = s + (W - 1 + sh);
                for (int j = j0; j < j1; j++) o[j] = L[*(sp - j)];
            }
            for (int j = j1; j < W; j++) o[j] = 0.0f;
        }
    }
}

nl_status nl_loader_init(NlCtx *c, NlLoader *ld, const NlDataset *ds, int64_t subset, int64_t batch,
                         int train, int drop_last, uint64_t seed, const float *mean, const float *std,
                         int pad, int flip) {
    memset(ld, 0, sizeof *ld);
    if (!ds || !ds->pixels || ds->n < 1)
        return nl_fail(c, NL_EARG, "loader: the dataset is empty or freed");
    if (ds->c < 1 || ds->c > NL_DATA_MAXC)
        return nl_fail(c, NL_EARG, "loader: %d channels (at most %d)", ds->c, NL_DATA_MAXC);
    if (batch < 1) return nl_fail(c, NL_EARG, "loader: batch size %lld (must be at least 1)", (long long)batch);
    if (subset < 0 || subset > ds->n)
        return nl_fail(c, NL_EARG, "loader: subset %lld out of range 1..%lld (0 = all)", (long long)subset,
                       (long long)ds->n);
    if (pad < 0 || pad > ds->h || pad > ds->w)
        return nl_fail(c, NL_EARG, "loader: padding %d out of range 0..%d", pad, ds->h < ds->w ? ds->h : ds->w);
    for (int ch = 0; ch < ds->c; ch++)
        if (!(std[ch] > 0) || !isfinite(std[ch]) || !isfinite(mean[ch]))
            return nl_fail(c, NL_EARG, "loader: channel %d has mean %g, std %g (std must be positive)",
                           ch + 1, mean[ch], std[ch]);
    int64_t n = subset ? subset : ds->n;
    int64_t nb = n / batch + (!drop_last && n % batch != 0);   /* (n + batch - 1) could overflow */
    if (nb < 1)
        return nl_fail(c, NL_EARG, "loader: batch size %lld is larger than the %lld images, and the last "
                       "partial batch is dropped: no batches", (long long)batch, (long long)n);
    ld->perm = (int64_t *)malloc((size_t)n * sizeof *ld->perm);
    if (!ld->perm) return nl_fail(c, NL_ENOMEM, "loader: out of memory for the order of %lld images", (long long)n);
    ld->ds = ds;
    ld->n = n;
    ld->batch = batch;
    ld->nbatches = nb;
    ld->train = train;
    ld->drop_last = drop_last;
    ld->pad = train ? pad : 0;
    ld->flip = train ? flip : 0;
    ld->seed = seed;
    for (int ch = 0; ch < ds->c; ch++)
        for (int v = 0; v < 256; v++)
            ld->lut[ch][v] = (float)(((double)v / 255.0 - mean[ch]) / std[ch]);
    ld->epoch = -1;
    nl_loader_set_epoch(ld, 0);
    return NL_OK;
}

void nl_loader_free(NlLoader *ld) {
    free(ld->perm);
    memset(ld, 0, sizeof *ld);
}

void nl_loader_set_epoch(NlLoader *ld, int64_t epoch) {
    if (!ld->perm || epoch == ld->epoch) return;
    for (int64_t i = 0; i < ld->n; i++) ld->perm[i] = i;
    if (ld->train) {
        uint64_t st = nl_rng_seed(nl_rng_seed(ld->seed, NL_STREAM_ORDER) + (uint64_t)epoch, NL_STREAM_ORDER);
        nl_rng_shuffle(&st, ld->perm, ld->n);
    }
    ld->aug_base = nl_rng_seed(nl_rng_seed(ld->seed, NL_STREAM_AUGMENT) + (uint64_t)epoch, NL_STREAM_AUGMENT);
    ld->epoch = epoch;
}

int64_t nl_loader_batch_len(const NlLoader *ld, int64_t b) {
    if (b < 0 || b >= ld->nbatches) return 0;
    int64_t left = ld->n - b * ld->batch;
    return left < ld->batch ? left : ld->batch;
}

nl_status nl_loader_fill(NlCtx *c, NlLoader *ld, int64_t b, NlTensor *x, NlTensor *y) {
    if (!ld->perm) return nl_fail(c, NL_EARG, "loader: freed");
    if (!ld->ds->pixels) return nl_fail(c, NL_EARG, "loader: its dataset was freed");
    int64_t B = nl_loader_batch_len(ld, b);
    if (B == 0)
        return nl_fail(c, NL_EARG, "loader: batch %lld out of range 1..%lld", (long long)b + 1,
                       (long long)ld->nbatches);
    const NlDataset *ds = ld->ds;
    int64_t xd[4] = {B, ds->c, ds->h, ds->w}, yd[1] = {B};
    nl_status s = nl_check_shape(c, "loader: x", x, 4, xd);
    if (s == NL_OK) s = nl_check_shape(c, "loader: y", y, 1, yd);
    if (s != NL_OK) return s;
    const size_t img = (size_t)ds->c * ds->h * ds->w;
    const uint64_t span = 2 * (uint64_t)ld->pad + 1;
    for (int64_t k = 0; k < B; k++) {
        int64_t pos = b * ld->batch + k;   /* position in the epoch */
        int64_t idx = ld->perm[pos];
        int dx = 0, dy = 0, flip = 0, pad = 0;
        if (ld->train && (ld->pad || ld->flip)) {
            uint64_t st = nl_rng_seed(ld->aug_base + (uint64_t)pos, NL_STREAM_AUGMENT);
            dx = (int)nl_rng_below(&st, span);
            dy = (int)nl_rng_below(&st, span);
            flip = (int)nl_rng_below(&st, 2) & ld->flip;
            pad = ld->pad;
        }
        nl_augment_image(x->data + (size_t)k * img, ds->pixels + (size_t)idx * img, ds->c, ds->h, ds->w,
                         (const float (*)[256])ld->lut, pad, dx, dy, flip);
        y->data[k] = (float)ds->labels[idx];
        if ((k & 63) == 63 && c && c->interrupted)
            return nl_fail(c, NL_EINTR, "loader: interrupted");
    }
    return NL_OK;
}
