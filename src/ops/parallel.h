/* parallel.h: a tiny fork-join pool for the kernels' own threading (normlab's OpenBLAS
 * keeps its own threads for sgemm).
 *
 *   nl_parallel(nth, fn, arg)  runs fn(arg, tid, nth) for tid = 0 .. nth-1 on nth threads
 *                              (the caller is tid 0) and returns when all have finished.
 *
 * Workers are started on first use and kept; between jobs they spin for about 100 us
 * (back-to-back kernel phases restart without a wake-up) and then sleep on a condition
 * variable. A call made while the pool is busy (from a worker, or from a second thread)
 * runs fn(arg, 0, 1) serially instead, so fn must handle any nth >= 1. nth is capped at
 * NL_PAR_MAX. The pool is process-wide, like OpenBLAS's own thread pool: it holds no
 * computation state, only idle threads. */
#ifndef NL_OPS_PARALLEL_H
#define NL_OPS_PARALLEL_H

#include <stdint.h>
#include "../core/nl.h"

#define NL_PAR_MAX 64

/* The streaming passes over activations (norm, pooling, activation loops) split their work
 * between c->threads threads from this many elements on: below ~1 MB the hand-off costs
 * more than it saves. */
#define NL_PAR_MIN_NUMEL ((int64_t)1 << 18)

/* The passes that read what a threaded kernel just wrote (batch and group norm after the
 * convolutions, max pooling after them, the optimizer on the summed gradients) split from
 * this many: half of their input sits in each core's cache, and their loops are short
 * (measured: a third less norm time per step at batch 2 on 2 cores). */
#define NL_PAR_MIN_NUMEL_WARM ((int64_t)1 << 14)

/* The thread count for a pass over numel elements split from min elements on (1 below
 * it or without a context). */
static inline int nl_par_threads_from(const NlCtx *c, int64_t numel, int64_t min) {
    return c && c->threads > 1 && numel >= min ? c->threads : 1;
}

/* The thread count for such a pass over numel elements (1 below the threshold or without
 * a context). */
static inline int nl_par_threads(const NlCtx *c, int64_t numel) {
    return nl_par_threads_from(c, numel, NL_PAR_MIN_NUMEL);
}

typedef void (*nl_par_fn)(void *arg, int tid, int nth);

/* One step of a spin-wait: the CPU's pause hint (it yields the core's pipeline to the other
 * hyperthread and saves power), nothing elsewhere. */
static inline void nl_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Returns the number of threads that actually ran the job (1 when it ran serially). */
int nl_parallel(int nth, nl_par_fn fn, void *arg);

/* [*lo, *hi) = the share of [0, n) that thread tid of nth gets (contiguous, balanced). */
static inline void nl_par_range(long long n, int tid, int nth, long long *lo, long long *hi) {
    *lo = n * tid / nth;
    *hi = n * (tid + 1) / nth;
}

#endif
