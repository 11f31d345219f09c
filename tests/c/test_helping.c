/* test_helping.c: item sets shared between the threads of a pool job (src/ops/helping.h):
 * every item runs exactly once, over many sets in a row and on 1 to 4 threads; a thread
 * that is done with its own share really takes items of a busy owner; and an owner
 * returns only when the items a helper took are finished. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "ops/helping.h"
#include "ops/parallel.h"

#define MAX_ITEMS 255
#define SETS 50

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- exactly once ------------------------------------------------------------------ */

typedef struct {
    NlHelp help;
    int items;                           /* per set; thread t owns sets of items + t items */
    atomic_int runs[NL_PAR_MAX][MAX_ITEMS];
    atomic_int bad;                      /* an item ran twice, or was missing when the owner went on */
} CountJob;

typedef struct { CountJob *j; int owner; } CountSet;

static void count_item(void *ctx, int item) {
    const CountSet *s = ctx;
    atomic_fetch_add(&s->j->runs[s->owner][item], 1);
}

static void count_worker(void *arg, int tid, int nth) {
    CountJob *j = arg;
    const int n = j->items + tid;
    for (int set = 0; set < SETS; set++) {
        memset(j->runs[tid], 0, sizeof j->runs[tid]);   /* only this owner's row */
        CountSet s = { j, tid };
        nl_help_run(&j->help, tid, n, count_item, &s);
        for (int i = 0; i < n; i++)
            if (atomic_load(&j->runs[tid][i]) != 1) atomic_fetch_add(&j->bad, 1);
    }
    nl_help_finish(&j->help, tid, nth);
}

static void exactly_once(void) {
    static CountJob j;
    const int items[] = { 1, 7, 36, 250 };
    for (int threads = 1; threads <= 4; threads++)
        for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) {
            memset(&j, 0, sizeof j);
            j.items = items[k];
            nl_help_init(&j.help, threads);
            int ran = nl_parallel(threads, count_worker, &j);
            char name[120];
            snprintf(name, sizeof name, "every item once, %d sets of %d+tid items, %d threads (%d ran)", SETS,
                     items[k], threads, ran);
            CHECK(atomic_load(&j.bad) == 0, name, "%d items ran twice or were missing", atomic_load(&j.bad));
        }
}

/* ---- a finished thread helps a busy one ---------------------------------------------- */

typedef struct {
    NlHelp help;
    atomic_int taken_by_other;   /* items of thread 0's set run on another thread */
    atomic_int finished_items;
    int owner_saw;               /* finished_items when the owner's nl_help_run returned */
    int waited_out;              /* item 0 gave up waiting for a helper */
} HelpJob;

typedef struct { HelpJob *j; int tid; } Who;
static _Thread_local int my_tid;

static void slow_item(void *ctx, int item) {
    HelpJob *j = ((Who *)ctx)->j;
    if (my_tid != 0) atomic_fetch_add(&j->taken_by_other, 1);
    if (item == 0 && my_tid == 0) {   /* the owner holds item 0 until another thread takes one */
        const double t0 = now_s();
        while (atomic_load(&j->taken_by_other) == 0)
            if (now_s() - t0 > 5) { j->waited_out = 1; break; }
    }
    const double t0 = now_s(), work = my_tid == 0 ? 2e-4 : 2e-2;   /* a helper's items outlast the owner's */
    while (now_s() - t0 < work) {}
    atomic_fetch_add(&j->finished_items, 1);
}

static void help_worker(void *arg, int tid, int nth) {
    HelpJob *j = arg;
    my_tid = tid;
    if (tid == 0) {   /* all the work is thread 0's */
        Who w = { j, 0 };
        nl_help_run(&j->help, 0, 40, slow_item, &w);
        j->owner_saw = atomic_load(&j->finished_items);
    }
    nl_help_finish(&j->help, tid, nth);
}

static void helper_takes_items(void) {
    static HelpJob j;
    memset(&j, 0, sizeof j);
    nl_help_init(&j.help, 2);
    int ran = nl_parallel(2, help_worker, &j);
    if (ran < 2) {
        CHECK(1, "helping: the pool ran the job alone (busy), nothing to check", " ");
        return;
    }
    CHECK(!j.waited_out && atomic_load(&j.taken_by_other) > 0, "a thread without work takes a busy owner's items",
          "%d items taken by the other thread (waited out: %d)", atomic_load(&j.taken_by_other), j.waited_out);
    CHECK(j.owner_saw == 40, "the owner goes on only when every item, its own and the helper's, is finished",
          "%d of 40 finished when nl_help_run returned", j.owner_saw);
}

int main(void) {
    exactly_once();
    helper_takes_items();
    return check_done();
}
