/* parallel.c: the fork-join pool of parallel.h.
 *
 * One job at a time: the caller takes `run_mu` (trylock; a busy pool means the job runs
 * serially), publishes fn/arg/nth, bumps the generation counter `gen` and wakes the
 * workers. Worker k (1-based) runs fn(arg, k, nth) when k < nth and decrements `pending`;
 * the last one signals the caller. Workers spin on `gen` for SPIN_NS before sleeping on
 * `cv_start`, and the caller spins on `pending` the same way before sleeping on `cv_done`. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "parallel.h"

#define SPIN_NS 100000   /* 100 us */

static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;   /* one job at a time */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;       /* guards the sleeps */
static pthread_cond_t cv_start = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static int nworkers;                  /* started so far (guarded by run_mu) */
static atomic_uint gen;               /* job generation */
static atomic_int pending;            /* workers still running the current job */
static nl_par_fn job_fn;
static void *job_arg;
static int job_nth;
static unsigned start_gen[NL_PAR_MAX];   /* the generation each worker was started at */

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *p) {
    int id = (int)(long)p;
    unsigned seen = start_gen[id];   /* jobs published after the start are never missed */
    for (;;) {
        unsigned g = atomic_load_explicit(&gen, memory_order_acquire);
        if (g == seen) {
            long long t0 = now_ns();
            for (int i = 0; g == seen; i++) {
                relax();
                g = atomic_load_explicit(&gen, memory_order_acquire);
                if ((i & 63) == 63 && now_ns() - t0 > SPIN_NS) break;
            }
            if (g == seen) {
                pthread_mutex_lock(&mu);
                while ((g = atomic_load(&gen)) == seen) pthread_cond_wait(&cv_start, &mu);
                pthread_mutex_unlock(&mu);
            }
        }
        seen = g;
        int nth = job_nth;
        if (id >= nth) continue;
        job_fn(job_arg, id, nth);
        if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1) {
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
        start_gen[nworkers + 1] = atomic_load(&gen);
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
    job_fn = fn, job_arg = arg, job_nth = nth;
    atomic_store(&pending, nth - 1);
    pthread_mutex_lock(&mu);
    atomic_fetch_add_explicit(&gen, 1, memory_order_release);
    pthread_cond_broadcast(&cv_start);
    pthread_mutex_unlock(&mu);

    fn(arg, 0, nth);

    if (atomic_load_explicit(&pending, memory_order_acquire) > 0) {
        long long t0 = now_ns();
        for (int i = 0; atomic_load_explicit(&pending, memory_order_acquire) > 0; i++) {
            relax();
            if ((i & 63) == 63 && now_ns() - t0 > SPIN_NS) break;
        }
        pthread_mutex_lock(&mu);
        while (atomic_load(&pending) > 0) pthread_cond_wait(&cv_done, &mu);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_unlock(&run_mu);
    return nth;
}
