/* bwprobe: the memory bandwidth of a device, as its cores see it.
 *
 * pocketbench builds this file with the device's C compiler (the host's cc,
 * or the cross toolchain of a phone), pushes it and runs it with the job's
 * thread count and core placement.  Each thread owns a slice of three arrays
 * far larger than the last-level cache, first-touched by that thread, and
 * runs three kernels in lock step with the others:
 *
 *   read   sum of a[]                 bytes counted: 1 x slice
 *   copy   b[] = a[]                  bytes counted: 2 x slice (STREAM's rule)
 *   triad  c[] = a[] + s * b[]        bytes counted: 3 x slice (STREAM's rule)
 *
 * A trial starts when every thread has passed a barrier.  Each thread reads
 * the clock itself just before and after its kernel, and the time of a trial
 * is from the earliest start to the latest end: on a busy machine the thread
 * that released the barrier may be descheduled for longer than the trial
 * lasts, so its own clock readings would say nothing.  Output is one line per fact, so a parser needs no guessing:
 *
 *   bwprobe 1                       format version
 *   threads N / cpus LIST / bytes B  what ran (B = bytes of one array, all threads)
 *   placed T CPU                    where thread T ran (sched_getcpu, -1 unknown)
 *   KERNEL TRIAL BYTES NANOSECONDS  one trial
 *   checksum X                      keeps the compiler from deleting the loads
 *
 * Usage: bwprobe [-t THREADS] [-c CPU,CPU,...] [-m MIB] [-r TRIALS]
 * Exit 2 on a bad argument, 1 when memory or threads cannot be had.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_TRIALS 1000

enum { K_READ, K_COPY, K_TRIAD, N_KERNELS };
static const char *KERNEL_NAMES[N_KERNELS] = {"read", "copy", "triad"};
static const int KERNEL_ARRAYS[N_KERNELS] = {1, 2, 3};

typedef struct {
    int index;
    int cpu;      /* -1: let the scheduler choose */
    size_t n;     /* doubles per array in this thread's slice */
    double *a, *b, *c;
    double sum;   /* read kernel result, kept so the loads stay */
    int placed;
    int failed;
    uint64_t start, end; /* this thread's own clock readings of the current trial */
} worker_t;

static pthread_barrier_t start_barrier, end_barrier;
static int n_threads = 1, n_trials = 10;
static volatile int current_kernel = -1; /* -2: stop */
static worker_t workers[MAX_THREADS];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Eight independent accumulators: the loads, not the additions, set the pace. */
static double kernel_read(const double *restrict a, size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += a[i];
        s1 += a[i + 1];
        s2 += a[i + 2];
        s3 += a[i + 3];
        s4 += a[i + 4];
        s5 += a[i + 5];
        s6 += a[i + 6];
        s7 += a[i + 7];
    }
    for (; i < n; i++) s0 += a[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

static void kernel_copy(double *restrict b, const double *restrict a, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = a[i];
}

static void kernel_triad(double *restrict c, const double *restrict a, const double *restrict b,
                         double s, size_t n) {
    for (size_t i = 0; i < n; i++) c[i] = a[i] + s * b[i];
}

static void *worker_main(void *arg) {
    worker_t *w = (worker_t *)arg;
    if (w->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(w->cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) w->failed = errno;
    }
    /* First touch by the owning thread: its pages are where it runs. */
    for (size_t i = 0; i < w->n; i++) {
        w->a[i] = 1.0 + (double)(i & 7);
        w->b[i] = 2.0;
        w->c[i] = 0.0;
    }
    w->placed = sched_getcpu();
    for (;;) {
        pthread_barrier_wait(&start_barrier);
        int k = current_kernel;
        if (k == -2) break;
        w->start = now_ns();
        if (k == K_READ) w->sum += kernel_read(w->a, w->n);
        else if (k == K_COPY) kernel_copy(w->b, w->a, w->n);
        else kernel_triad(w->c, w->a, w->b, 3.0, w->n);
        w->end = now_ns();
        pthread_barrier_wait(&end_barrier);
    }
    return NULL;
}

static int parse_cpus(const char *text, int *cpus, int max) {
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 4095 || count == max) return -1;
        cpus[count++] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return count;
}

static int usage(const char *why) {
    fprintf(stderr, "bwprobe: %s\nusage: bwprobe [-t THREADS] [-c CPU,CPU,...] [-m MIB] [-r TRIALS]\n", why);
    return 2;
}

int main(int argc, char **argv) {
    long mib = 128;
    int cpus[MAX_THREADS], n_cpus = 0;
    const char *cpu_text = "";
    int opt;
    while ((opt = getopt(argc, argv, "t:c:m:r:")) != -1) {
        char *end;
        long v;
        switch (opt) {
        case 't':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > MAX_THREADS) return usage("-t wants 1..256 threads");
            n_threads = (int)v;
            break;
        case 'c':
            n_cpus = parse_cpus(optarg, cpus, MAX_THREADS);
            if (n_cpus <= 0) return usage("-c wants a list of CPU numbers such as 4,5,6,7");
            cpu_text = optarg;
            break;
        case 'm':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 65536) return usage("-m wants 1..65536 MiB per array");
            mib = v;
            break;
        case 'r':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > MAX_TRIALS) return usage("-r wants 1..1000 trials");
            n_trials = (int)v;
            break;
        default:
            return usage("unknown option");
        }
    }
    size_t total = (size_t)mib << 20;
    size_t per_thread = total / (size_t)n_threads / sizeof(double) / 8 * 8;
    if (per_thread < 8) return usage("-m is too small for that many threads");

    for (int t = 0; t < n_threads; t++) {
        worker_t *w = &workers[t];
        w->index = t;
        w->cpu = n_cpus ? cpus[t % n_cpus] : -1;
        w->n = per_thread;
        /* 64-byte alignment: whole cache lines, as the runtimes' weights are. */
        if (posix_memalign((void **)&w->a, 64, per_thread * sizeof(double)) ||
            posix_memalign((void **)&w->b, 64, per_thread * sizeof(double)) ||
            posix_memalign((void **)&w->c, 64, per_thread * sizeof(double))) {
            fprintf(stderr, "bwprobe: cannot allocate 3 x %ld MiB\n", mib);
            return 1;
        }
    }
    pthread_barrier_init(&start_barrier, NULL, (unsigned)n_threads + 1);
    pthread_barrier_init(&end_barrier, NULL, (unsigned)n_threads + 1);
    pthread_t ids[MAX_THREADS];
    for (int t = 0; t < n_threads; t++) {
        if (pthread_create(&ids[t], NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "bwprobe: cannot start thread %d\n", t);
            return 1;
        }
    }
    size_t bytes = per_thread * sizeof(double) * (size_t)n_threads;
    printf("bwprobe 1\nthreads %d\ncpus %s\nbytes %zu\n", n_threads, cpu_text, bytes);
    /* One untimed pass of every kernel: page faults and first-touch stay out of the trials. */
    for (int trial = -1; trial < n_trials; trial++) {
        for (int k = 0; k < N_KERNELS; k++) {
            current_kernel = k;
            pthread_barrier_wait(&start_barrier);
            pthread_barrier_wait(&end_barrier);
            uint64_t t0 = workers[0].start, t1 = workers[0].end;
            for (int t = 1; t < n_threads; t++) {
                if (workers[t].start < t0) t0 = workers[t].start;
                if (workers[t].end > t1) t1 = workers[t].end;
            }
            if (trial >= 0)
                printf("%s %d %zu %llu\n", KERNEL_NAMES[k], trial, bytes * (size_t)KERNEL_ARRAYS[k],
                       (unsigned long long)(t1 - t0));
        }
    }
    current_kernel = -2;
    pthread_barrier_wait(&start_barrier);
    double checksum = 0;
    for (int t = 0; t < n_threads; t++) {
        pthread_join(ids[t], NULL);
        if (workers[t].failed) {
            fprintf(stderr, "bwprobe: cannot pin thread %d to CPU %d: %s\n", t, workers[t].cpu,
                    strerror(workers[t].failed));
            return 1;
        }
        printf("placed %d %d\n", t, workers[t].placed);
        checksum += workers[t].sum + workers[t].c[workers[t].n - 1];
    }
    printf("checksum %.6g\n", checksum);
    return 0;
}
