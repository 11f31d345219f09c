/* rng.h: a small seeded generator whose state the caller owns (llm.c style).
 *
 * xoshiro256** would be overkill here: a splitmix64 stream is 8 bytes of
 * state, passes BigCrush, and is trivially serializable. Separate streams
 * (initialization, data order, augmentation) are made by nl_rng_seed with
 * different stream ids, so they never interfere. */
#ifndef NL_RNG_H
#define NL_RNG_H

#include <stdint.h>

enum { NL_STREAM_INIT = 1, NL_STREAM_ORDER = 2, NL_STREAM_AUGMENT = 3 };

uint64_t nl_rng_seed(uint64_t seed, uint64_t stream);   /* a fresh state */
uint64_t nl_rng_next(uint64_t *state);                  /* 64 random bits */
double nl_rng_uniform(uint64_t *state);                 /* [0, 1), 53 bits */
double nl_rng_normal(uint64_t *state);                  /* N(0, 1), Box-Muller */
uint64_t nl_rng_below(uint64_t *state, uint64_t n);     /* uniform in [0, n), unbiased */
/* Fisher-Yates shuffle of perm[0..n-1]. */
void nl_rng_shuffle(uint64_t *state, int64_t *perm, int64_t n);

#endif
