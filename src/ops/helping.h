/* helping.h: a thread of a pool job that has finished its own share helps the others
 * with theirs.
 *
 * A job splits its work statically (nl_par_range), so on a shared 2-vCPU machine, where
 * either core can run 20-40% slower for a while, the faster thread waits at the end of
 * every job: at batch 2 that was 7-14% of the threads' time in jobs (measured per job in
 * an instrumented pool), most of it in the Winograd backward pass. Here an owner thread
 * publishes a set of independent items (the 16 or 36 point GEMMs of a Winograd chunk); it
 * and any thread that is done with its own share take items from it until none is left,
 * and the owner goes on once all are finished. Each item is computed whole by one thread
 * with the same code, so the results are bitwise the same whoever takes it.
 *
 *   NlHelp h;  nl_help_init(&h, nth)     before a job of up to nth threads (shared by them)
 *   nl_help_run(&h, tid, n, fn, ctx)     owner tid: fn(ctx, 0..n-1), helped when n <= 255
 *                                        (the word's item field; more run on tid alone).
 *                                        ctx must stay valid until it returns (it does).
 *   nl_help_finish(&h, tid, nth)         last thing a worker does: helps the others until
 *                                        all nth threads have called it
 *
 * A thread reads an item set's fn and ctx only after it has claimed an item of it (an
 * atomic increment of a word that also holds the set's generation and size), and the
 * owner publishes the next set only when every claimed item is done, so a helper never
 * sees a half-written set. */
#ifndef NL_OPS_HELPING_H
#define NL_OPS_HELPING_H

#include <stdatomic.h>
#include <stdint.h>
#include "parallel.h"

typedef void (*nl_help_fn)(void *ctx, int item);

typedef struct {
    _Alignas(64) _Atomic uint64_t ctl;   /* generation << 40 | items << 32 | next item */
    _Alignas(64) atomic_int done;        /* items of the current set finished */
    nl_help_fn fn;
    void *ctx;
} NlHelpSlot;

typedef struct {
    NlHelpSlot slot[NL_PAR_MAX];   /* one per thread of the job: its current item set */
    atomic_int finished;           /* threads that have called nl_help_finish */
} NlHelp;

void nl_help_init(NlHelp *h, int nth);
void nl_help_run(NlHelp *h, int tid, int n, nl_help_fn fn, void *ctx);
void nl_help_finish(NlHelp *h, int tid, int nth);

#endif
