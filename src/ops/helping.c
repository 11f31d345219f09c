/* helping.c: the item sets of helping.h. */
#include "helping.h"

#define NEXT_MASK 0xffffffffull
#define ITEMS(w) ((int)(((w) >> 32) & 0xff))
#define NEXT(w) ((int)((w) & NEXT_MASK))

/* Pauses between an idle helper's looks at the owners' words: every look shares the owner's
 * cache line, which its next claim must take back, but a late look leaves items undone
 * (64 instead of 8 was no better: 0.97x the img/s at batch 2, 95% interval 0.92-1.02, over
 * 40 interleaved pairs of runs). */
#define POLL_PAUSES 8

void nl_help_init(NlHelp *h, int nth) {
    if (nth > NL_PAR_MAX) nth = NL_PAR_MAX;
    for (int t = 0; t < nth; t++) {
        atomic_init(&h->slot[t].ctl, 0);   /* no items */
        atomic_init(&h->slot[t].done, 0);
    }
    atomic_init(&h->finished, 0);
}

/* Takes one item of slot s and runs it; 0 when none was left. The relaxed look first keeps
 * an idle helper from writing the owner's cache line while there is nothing to take. */
static int take_one(NlHelpSlot *s) {
    uint64_t w = atomic_load_explicit(&s->ctl, memory_order_relaxed);
    if (NEXT(w) >= ITEMS(w)) return 0;
    w = atomic_fetch_add_explicit(&s->ctl, 1, memory_order_acquire);   /* pairs with the publish */
    if (NEXT(w) >= ITEMS(w)) return 0;
    s->fn(s->ctx, NEXT(w));
    atomic_fetch_add_explicit(&s->done, 1, memory_order_release);      /* pairs with the owner's wait */
    return 1;
}

void nl_help_run(NlHelp *h, int tid, int n, nl_help_fn fn, void *ctx) {
    NlHelpSlot *s = &h->slot[tid];
    if (n > 0xff) {   /* more than the word holds: alone */
        for (int i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    if (n <= 0) return;
    s->fn = fn, s->ctx = ctx;
    atomic_store_explicit(&s->done, 0, memory_order_relaxed);
    const uint64_t gen = (atomic_load_explicit(&s->ctl, memory_order_relaxed) >> 40) + 1;
    atomic_store_explicit(&s->ctl, gen << 40 | (uint64_t)n << 32, memory_order_release);
    while (take_one(s)) {}
    while (atomic_load_explicit(&s->done, memory_order_acquire) < n) nl_cpu_relax();
}

void nl_help_finish(NlHelp *h, int tid, int nth) {
    atomic_fetch_add_explicit(&h->finished, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&h->finished, memory_order_acquire) < nth) {
        int took = 0;
        for (int t = 0; t < nth; t++)
            if (t != tid) took |= take_one(&h->slot[t]);
        if (!took)
            for (int i = 0; i < POLL_PAUSES; i++) nl_cpu_relax();   /* poll the owners' words gently */
    }
}
