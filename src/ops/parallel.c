/* parallel.c: the fork-join pool of parallel.h.
 *
 * One job at a time: the caller takes `run_mu` (trylock; a busy pool means the job runs
 * serially), publishes fn/arg and bumps the job ticket `ticket` (a generation count and
 * the job's nth in one word, so that a worker outside the job reads nothing else: the
 * next job may overwrite fn/arg as soon as the workers inside it are done). Worker k
 * (1-based) runs fn(arg, k, nth) when k < nth and decrements `pending`. Workers spin on
 * `ticket` for SPIN_NS before sleeping on `cv_start`, and the caller spins on `pending`
 * the same way before sleeping on `cv_done`.
 *
 * The mutex `mu` and the condition variables are touched only when someone sleeps
 * (`sleepers`, `caller_sleeps`): a worker that locked `mu` after every job to signal a
 * caller who was spinning anyway could find it held by the caller publishing the next job,
 * and then sleep in the kernel; in a VM that wake-up took 10-100+ us. At batch 2 (60 jobs a
 * training step) the workers' start latency summed to 5-10% of a run before, about 1% now
 * (the step's img/s did not change measurably: other waiting overlaps it). Lost wake-ups
 * are excluded by the order of the sequentially consistent atomics: a sleeper announces
 * itself, then re-checks its condition under `mu`; a waker changes the condition, then
 * checks for announced sleepers and, if any, signals under `mu`. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "parallel.h"

/* How long an idle thread spins before it sleeps. A batch-2 training step leaves gaps of a
 * few hundred us between its jobs (Lua, the small serial layers); at 100 us the worker
 * slept about 1000 times a second and each wake-up took about 25 us. At 1 ms it sleeps
 * only between steps' phases that are longer than that. */
#define SPIN_NS 1000000

static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;   /* one job at a time */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;       /* guards the sleeps */
static pthread_cond_t cv_start = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static int nworkers;                  /* started so far (guarded by run_mu) */
static atomic_uint ticket;            /* generation << NTH_BITS | the job's nth */
static atomic_int pending;            /* workers still running the current job */
static atomic_int sleepers;           /* workers asleep (or about to be) on cv_start */
static atomic_int caller_sleeps;      /* the caller is asleep (or about to be) on cv_done */
static nl_par_fn job_fn;
static void *job_arg;
#define NTH_BITS 7                    /* nth <= NL_PAR_MAX = 64 */
_Static_assert(NL_PAR_MAX < (1 << NTH_BITS), "nth must fit in the ticket");
static unsigned start_ticket[NL_PAR_MAX];   /* the ticket each worker was started at */

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *worker(void *p) {
    int id = (int)(long)p;
    pthread_setname_np(pthread_self(), "nl-worker");   /* as top -H and perf show it */
    unsigned seen = start_ticket[id];   /* jobs published after the start are never missed */
    for (;;) {
        unsigned g = atomic_load_explicit(&ticket, memory_order_acquire);
        if (g == seen) {
            long long t0 = now_ns();
            for (int i = 0; g == seen; i++) {
                nl_cpu_relax();
                g = atomic_load_explicit(&ticket, memory_order_acquire);
                if ((i & 63) == 63 && now_ns() - t0 > SPIN_NS) break;
            }
            if (g == seen) {
                pthread_mutex_lock(&mu);
                atomic_fetch_add(&sleepers, 1);
                while ((g = atomic_load(&ticket)) == seen) pthread_cond_wait(&cv_start, &mu);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&mu);
            }
        }
        seen = g;
        const int nth = (int)(g & ((1u << NTH_BITS) - 1));
        if (id >= nth) continue;
        job_fn(job_arg, id, nth);
        if (atomic_fetch_sub(&pending, 1) == 1 && atomic_load(&caller_sleeps)) {
            pthread_mutex_lock(&mu);
            pthread_cond_signal(&cv_done);
            pthread_mutex_unlock(&mu);
        }
    }
    return NULL;
}

int nl_parallel(int nth, nl_par_fn fn, void *arg) {
    if (nth > NL_PAR_MAX) nth = NL_PAR_MAX;
    if (nth <= 1 || pthread_mutex_trylock(&run_mu) != 0) {
        fn(arg, 0, 1);
        return 1;
    }
    while (nworkers < nth - 1) {   /* start the missing workers (ids 1 .. nth-1) */
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        start_ticket[nworkers + 1] = atomic_load(&ticket);
        int ok = pthread_create(&t, &at, worker, (void *)(long)(nworkers + 1)) == 0;
        pthread_attr_destroy(&at);
        if (!ok) break;
        nworkers++;
    }
    if (nth > nworkers + 1) nth = nworkers + 1;
    if (nth <= 1) {
        pthread_mutex_unlock(&run_mu);
        fn(arg, 0, 1);
        return 1;
    }
    job_fn = fn, job_arg = arg;
    atomic_store(&pending, nth - 1);
    const unsigned t = atomic_load_explicit(&ticket, memory_order_relaxed);   /* only we write it */
    atomic_store(&ticket, (((t >> NTH_BITS) + 1) << NTH_BITS) | (unsigned)nth);
    if (atomic_load(&sleepers)) {
        pthread_mutex_lock(&mu);
        pthread_cond_broadcast(&cv_start);
        pthread_mutex_unlock(&mu);
    }

    fn(arg, 0, nth);

    if (atomic_load_explicit(&pending, memory_order_acquire) > 0) {
        long long t0 = now_ns();
        for (int i = 0; atomic_load_explicit(&pending, memory_order_acquire) > 0; i++) {
            nl_cpu_relax();
            if ((i & 63) == 63 && now_ns() - t0 > SPIN_NS) break;
        }
        pthread_mutex_lock(&mu);
        atomic_store(&caller_sleeps, 1);
        while (atomic_load(&pending) > 0) pthread_cond_wait(&cv_done, &mu);
        atomic_store(&caller_sleeps, 0);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_unlock(&run_mu);
    return nth;
}
