/* rng.c: splitmix64 (Steele, Lea, Flood 2014), the generator behind Java's
 * SplittableRandom. Streams are separated by hashing (seed, stream) into the
 * starting state, so streams with different ids never overlap in practice. */
#include <math.h>
#include "rng.h"

uint64_t nl_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t nl_rng_seed(uint64_t seed, uint64_t stream) {
    uint64_t s = seed ^ (stream * 0xD1B54A32D192ED03ULL);
    nl_rng_next(&s);            /* one mixing round decorrelates nearby seeds */
    return nl_rng_next(&s);
}

double nl_rng_uniform(uint64_t *s) {
    return (double)(nl_rng_next(s) >> 11) * 0x1.0p-53;
}

double nl_rng_normal(uint64_t *s) {
    double u1 = 1.0 - nl_rng_uniform(s);   /* (0, 1]: log stays finite */
    double u2 = nl_rng_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t nl_rng_below(uint64_t *s, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;   /* reject the biased tail */
    uint64_t r;
    do r = nl_rng_next(s); while (r >= limit);
    return r % n;
}

void nl_rng_shuffle(uint64_t *s, int64_t *perm, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)nl_rng_below(s, (uint64_t)i + 1);
        int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}
