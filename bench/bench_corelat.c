/* bench_corelat.c: how long a cache line takes to go from one core to the other and back.
 *
 *   bench_corelat [--trips N] [--repeats R]
 *
 * Two threads, pinned to the first two CPUs this process may run on, pass one cache line
 * back and forth: N/4 round trips to warm up, then R times N (defaults 20000 and 5, about
 * 10 ms in all); the round trip is the time over N, and the median of the R is printed as
 *   CORELAT ns=X min_ns=Y max_ns=Z cpus=A,B      (ns=nan cpus=one on a single CPU)
 * Why the benchmark records it: on a VM the host can move the two vCPUs apart (another
 * core complex or socket) for seconds at a time. A program whose threads hand data to each
 * other at every layer (normlab's pool at batch 2) can then slow down by up to half, while
 * two independent processes do not (measured on an EPYC VM: round trip ~55-80 ns near,
 * ~305-400 ns apart; normlab's batch-2 img/s often, not always, halved in the same seconds).
 * bench/run.sh probes it before and after every normlab and PyTorch run, so that their
 * numbers can be read with the placement.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Alignas(64) atomic_long ball;   /* odd: the partner's turn; even: ours; -1: stop */
static int cpu_a = -1, cpu_b = -1;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);   /* best effort: unpinned is fine */
}

/* The partner returns every odd ball as the next even one until it sees -1. */
static void *partner(void *arg) {
    (void)arg;
    pin(cpu_b);
    for (;;) {
        long b = atomic_load_explicit(&ball, memory_order_acquire);
        if (b < 0) return NULL;
        if (b & 1) atomic_store_explicit(&ball, b + 1, memory_order_release);
    }
}

/* n round trips from the current ball on; the mean round trip in ns. */
static double rally(long n) {
    long b = atomic_load(&ball);
    double t0 = now();
    for (long i = 0; i < n; i++, b += 2) {
        atomic_store_explicit(&ball, b + 1, memory_order_release);
        while (atomic_load_explicit(&ball, memory_order_acquire) != b + 2) {}
    }
    return (now() - t0) / (double)n * 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long trips = 20000;
    int repeats = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--trips") && i + 1 < argc) trips = atol(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_corelat [--trips N] [--repeats R]\n");
            return 2;
        }
    }
    if (trips < 1 || repeats < 1 || repeats > 100) {
        fprintf(stderr, "bench_corelat: --trips and --repeats must be positive (repeats <= 100)\n");
        return 2;
    }
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE && cpu_b < 0; c++)
            if (CPU_ISSET(c, &allowed)) {
                if (cpu_a < 0) cpu_a = c;
                else cpu_b = c;
            }
    if (cpu_b < 0) {   /* one CPU: the two threads would only take turns, nothing to measure */
        printf("CORELAT ns=nan min_ns=nan max_ns=nan cpus=one\n");
        return 0;
    }
    pin(cpu_a);
    pthread_t t;
    if (pthread_create(&t, NULL, partner, NULL) != 0) {
        fprintf(stderr, "bench_corelat: cannot start a thread\n");
        return 1;
    }
    rally(trips / 4 + 1);   /* warm-up: the partner's vCPU may have been idle (halted) */
    double ns[100];
    for (int r = 0; r < repeats; r++) ns[r] = rally(trips);
    atomic_store(&ball, -1);
    pthread_join(t, NULL);
    qsort(ns, (size_t)repeats, sizeof ns[0], cmp_double);
    printf("CORELAT ns=%.0f min_ns=%.0f max_ns=%.0f cpus=%d,%d\n", ns[repeats / 2], ns[0], ns[repeats - 1],
           cpu_a, cpu_b);
    return 0;
}
