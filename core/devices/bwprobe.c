/* bwprobe: the memory bandwidth of a device, as fast as its cores can read it.
 *
 * pocketbench builds this file with the device's C compiler (the host's cc
 * with -march=native, or the cross toolchain of a phone with the runtime's
 * -mcpu), pushes it and runs it with the job's thread count and core
 * placement.  Each thread owns a slice of three arrays far larger than the
 * last-level cache, first-touched by that thread, and runs three kernels in
 * lock step with the others:
 *
 *   read   sum of a[]                 bytes counted: 1 x slice
 *   copy   b[] = a[]                  bytes counted: 2 x slice (STREAM's rule)
 *   triad  c[] = a[] + s * b[]        bytes counted: 3 x slice (STREAM's rule)
 *
 * The read kernel is the one a decode step resembles (it streams weights), so
 * it is written to run as fast as the hardware allows, like likwid-bench's
 * load kernels: vector loads of every width the compiler was allowed (128-bit
 * SSE2/NEON always, AVX2 and AVX-512 when the target has them: chosen at
 * build time from its features), eight independent accumulators so that no
 * addition waits on another, and several streams per thread (one per part
 * of its slice) so that the prefetchers keep several pages in flight.  The
 * widest load is not always the fastest: on AMD Zen 4 one core reads more
 * with 128-bit loads than with AVX-512 ones (likwid-bench agrees:
 * load_sse 19-20 GB/s, load_avx512 13-14 on this project's CI host).  On
 * x86 there are also non-temporal loads (MOVNTDQA, likwid-bench's
 * load_mem), which in some minutes read a quarter more with one thread on
 * that host and in others less.  So before the trials the probe times every
 * kind of load it has and reads with the fastest.
 *
 * A trial is as many passes over the slice as last MIN_TRIAL_NS (a short
 * trial says more about a lucky moment than about the memory): it starts
 * when every thread has passed a barrier, and its time runs from the
 * earliest start to the latest end.  Each thread also reads its own CPU
 * clock: a trial in which a thread was descheduled (its CPU time well below
 * the trial's wall time) is marked "stretched", so a neighbour that took a
 * core makes the trial a non-figure instead of a low one.  Output is one
 * line per fact, so a parser needs no guessing:
 *
 *   bwprobe 2                         format version
 *   threads N / cpus LIST / bytes B   what ran (B = bytes of one array, all threads)
 *   vector NAME BITS                  the read kernel's vector loads (the fastest width)
 *   llc BYTES                         the largest cache's size (0: the device does not say)
 *   KERNEL TRIAL BYTES NS CLEAN       one trial; CLEAN 0 = a thread was descheduled
 *   placed T CPU                      where thread T ran (sched_getcpu, -1 unknown)
 *   others CORES                      CPU other processes used during the trials
 *   steal CORES                       CPU the hypervisor took (-1: unknown for both)
 *   checksum X                        keeps the compiler from deleting the loads
 *
 * Usage: bwprobe [-t THREADS] [-c CPU,CPU,...] [-m MIB] [-r TRIALS]
 * Exit 2 on a bad argument, 1 when memory or threads cannot be had.
 */
#define _GNU_SOURCE
#include <errno.h>
#if defined(__SSE4_1__)
#include <immintrin.h>
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_TRIALS 1000
#define MIN_TRIAL_NS 50000000ull
/* Streams per thread: each reads its own part of the slice. */
#define STREAMS 4
/* A thread that ran for less than this share of the trial was descheduled. */
#define CLEAN_SHARE 0.9

/* The widest vector the target allows sets the step every read width divides. */
#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif
#if defined(__SSE2__)
#define NAME128 "sse2"
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
#define NAME128 "neon"
#else
#define NAME128 "generic"
#endif
#define VLEN (VBYTES / 8)
/* Doubles one stream reads per step: eight of the widest vectors. */
#define STEP (8 * VLEN)

/* One read kernel per vector width: STREAMS parts read side by side into
 * eight independent vector accumulators. */
#define DEFINE_READ(FN, BYTES)                                                        \
    typedef double FN##_vec __attribute__((vector_size(BYTES), aligned(BYTES)));      \
    static double FN(const double *restrict a, size_t n) {                            \
        enum { W = (BYTES) / 8 };                                                     \
        FN##_vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                              \
        FN##_vec s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};                              \
        size_t part = n / STREAMS / STEP * STEP;                                      \
        for (size_t i = 0; i < part; i += 8 * W) {                                    \
            for (int s = 0; s < STREAMS; s++) {                                       \
                const FN##_vec *p = (const FN##_vec *)(a + (size_t)s * part + i);     \
                s0 += p[0];                                                           \
                s1 += p[1];                                                           \
                s2 += p[2];                                                           \
                s3 += p[3];                                                           \
                s4 += p[4];                                                           \
                s5 += p[5];                                                           \
                s6 += p[6];                                                           \
                s7 += p[7];                                                           \
            }                                                                         \
        }                                                                             \
        FN##_vec t = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));               \
        double sum = 0;                                                               \
        for (int k = 0; k < W; k++) sum += t[k];                                      \
        for (size_t i = part * STREAMS; i < n; i++) sum += a[i];                      \
        return sum;                                                                   \
    }

DEFINE_READ(read128, 16)
#if VBYTES >= 32
DEFINE_READ(read256, 32)
#endif
#if VBYTES >= 64
DEFINE_READ(read512, 64)
#endif

/* Non-temporal loads, x86 only: the same streams and accumulators with
 * MOVNTDQA (the sum adds the doubles' bits as integers: it only keeps the
 * loads). */
#define DEFINE_READ_NT(FN, BYTES, VEC, LOAD, ADD, ZERO)                               \
    static double FN(const double *restrict a, size_t n) {                            \
        enum { W = (BYTES) / 8 };                                                     \
        VEC s0 = ZERO(), s1 = ZERO(), s2 = ZERO(), s3 = ZERO();                       \
        VEC s4 = ZERO(), s5 = ZERO(), s6 = ZERO(), s7 = ZERO();                       \
        size_t part = n / STREAMS / STEP * STEP;                                      \
        for (size_t i = 0; i < part; i += 8 * W) {                                    \
            for (int s = 0; s < STREAMS; s++) {                                       \
                VEC *p = (VEC *)(a + (size_t)s * part + i);                           \
                s0 = ADD(s0, LOAD(p + 0));                                            \
                s1 = ADD(s1, LOAD(p + 1));                                            \
                s2 = ADD(s2, LOAD(p + 2));                                            \
                s3 = ADD(s3, LOAD(p + 3));                                            \
                s4 = ADD(s4, LOAD(p + 4));                                            \
                s5 = ADD(s5, LOAD(p + 5));                                            \
                s6 = ADD(s6, LOAD(p + 6));                                            \
                s7 = ADD(s7, LOAD(p + 7));                                            \
            }                                                                         \
        }                                                                             \
        VEC t = ADD(ADD(ADD(s0, s1), ADD(s2, s3)), ADD(ADD(s4, s5), ADD(s6, s7)));    \
        long long lanes[W];                                                           \
        memcpy(lanes, &t, sizeof lanes);                                              \
        double sum = 0;                                                               \
        for (int k = 0; k < W; k++) sum += (double)lanes[k];                          \
        for (size_t i = part * STREAMS; i < n; i++) sum += a[i];                      \
        return sum;                                                                   \
    }

#if defined(__SSE4_1__)
DEFINE_READ_NT(read128nt, 16, __m128i, _mm_stream_load_si128, _mm_add_epi64, _mm_setzero_si128)
#endif
#if defined(__AVX2__) && VBYTES >= 32
DEFINE_READ_NT(read256nt, 32, __m256i, _mm256_stream_load_si256, _mm256_add_epi64,
               _mm256_setzero_si256)
#endif

typedef double (*read_fn)(const double *restrict, size_t);
static const struct {
    const char *name;
    int bits;
    read_fn fn;
} WIDTHS[] = {
    {NAME128, 128, read128},
#if VBYTES >= 32
    {"avx2", 256, read256},
#endif
#if VBYTES >= 64
    {"avx512", 512, read512},
#endif
#if defined(__SSE4_1__)
    {"sse4.1-nt", 128, read128nt},
#endif
#if defined(__AVX2__) && VBYTES >= 32
    {"avx2-nt", 256, read256nt},
#endif
};
#define N_WIDTHS ((int)(sizeof WIDTHS / sizeof WIDTHS[0]))
/* The width the read trials use: the fastest one, chosen before them. */
static int read_width = N_WIDTHS - 1;

enum { K_READ, K_COPY, K_TRIAD, N_KERNELS };
static const char *KERNEL_NAMES[N_KERNELS] = {"read", "copy", "triad"};
static const int KERNEL_ARRAYS[N_KERNELS] = {1, 2, 3};

typedef struct {
    int index;
    int cpu;  /* -1: let the scheduler choose */
    size_t n; /* doubles per array in this thread's slice */
    double *a, *b, *c;
    double sum; /* read kernel result, kept so the loads stay */
    int placed;
    int failed;
    int passes;                  /* passes over the slice in one trial */
    uint64_t start, end, cpu_ns; /* this thread's own clock readings of the current trial */
} worker_t;

static pthread_barrier_t start_barrier, end_barrier;
static int n_threads = 1, n_trials = 10;
static volatile int current_kernel = -1; /* -2: stop */
static worker_t workers[MAX_THREADS];

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void kernel_copy(double *restrict b, const double *restrict a, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = a[i];
}

static void kernel_triad(double *restrict c, const double *restrict a, const double *restrict b,
                         double s, size_t n) {
    for (size_t i = 0; i < n; i++) c[i] = a[i] + s * b[i];
}

static void run_kernel(worker_t *w, int k) {
    if (k == K_READ) w->sum += WIDTHS[read_width].fn(w->a, w->n);
    else if (k == K_COPY) kernel_copy(w->b, w->a, w->n);
    else kernel_triad(w->c, w->a, w->b, 3.0, w->n);
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
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        w->start = now_ns();
        for (int p = 0; p < w->passes; p++) run_kernel(w, k);
        w->end = now_ns();
        w->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
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

/* The largest cache the kernel describes for CPU 0 (the last level), bytes; 0 unknown. */
static long long last_level_cache(void) {
    long long best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char path[96], text[64];
        int level = 0;
        long long size = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fscanf(f, "%d", &level) != 1) level = 0;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (!f) continue;
        if (fgets(text, sizeof text, f)) {
            char unit = 0;
            if (sscanf(text, "%lld%c", &size, &unit) >= 1) {
                if (unit == 'K') size <<= 10;
                else if (unit == 'M') size <<= 20;
                else if (unit == 'G') size <<= 30;
            }
        }
        fclose(f);
        if (level > best_level || (level == best_level && size > best)) {
            best_level = level;
            best = size;
        }
    }
    return best;
}

/* Busy and steal time of all CPUs from /proc/stat, seconds; -1 when unreadable. */
static int cpu_times(double *busy, double *steal) {
    unsigned long long v[10] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 8) return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    /* user nice system idle iowait irq softirq steal */
    *busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
    *steal = (double)v[7] / hz;
    return 0;
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void one_trial(int k, uint64_t *t0, uint64_t *t1, int *clean) {
    current_kernel = k;
    pthread_barrier_wait(&start_barrier);
    pthread_barrier_wait(&end_barrier);
    *t0 = workers[0].start;
    *t1 = workers[0].end;
    for (int t = 1; t < n_threads; t++) {
        if (workers[t].start < *t0) *t0 = workers[t].start;
        if (workers[t].end > *t1) *t1 = workers[t].end;
    }
    *clean = 1;
    for (int t = 0; t < n_threads; t++)
        if ((double)workers[t].cpu_ns < CLEAN_SHARE * (double)(*t1 - *t0)) *clean = 0;
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
    size_t per_thread = total / (size_t)n_threads / sizeof(double) / (STREAMS * STEP) * (STREAMS * STEP);
    if (per_thread < STREAMS * STEP) return usage("-m is too small for that many threads");

    for (int t = 0; t < n_threads; t++) {
        worker_t *w = &workers[t];
        w->index = t;
        w->cpu = n_cpus ? cpus[t % n_cpus] : -1;
        w->n = per_thread;
        w->passes = 1;
        /* Page alignment: whole cache lines and whole vectors, as the runtimes' weights are. */
        if (posix_memalign((void **)&w->a, 4096, per_thread * sizeof(double)) ||
            posix_memalign((void **)&w->b, 4096, per_thread * sizeof(double)) ||
            posix_memalign((void **)&w->c, 4096, per_thread * sizeof(double))) {
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
    printf("bwprobe 2\nthreads %d\ncpus %s\nbytes %zu\nllc %lld\n", n_threads, cpu_text, bytes,
           last_level_cache());
    fflush(stdout); /* a reader through a pipe knows at once that the arrays are there */
    /* One untimed pass of every kernel (page faults and first touch stay out of the
     * trials); its time sets the passes of a trial. */
    int passes[N_KERNELS];
    for (int k = 0; k < N_KERNELS; k++) {
        uint64_t t0, t1;
        int clean;
        one_trial(k, &t0, &t1, &clean);
        uint64_t once = t1 > t0 ? t1 - t0 : 1;
        passes[k] = (int)((MIN_TRIAL_NS + once - 1) / once);
        if (passes[k] < 1) passes[k] = 1;
        if (passes[k] > 1000) passes[k] = 1000;
    }
    /* Every read width, twice in turn, each as long as a trial: the fastest reads the trials. */
    uint64_t best_ns[N_WIDTHS];
    for (int v = 0; v < N_WIDTHS; v++) best_ns[v] = UINT64_MAX;
    for (int round = 0; round < 2; round++) {
        for (int v = 0; v < N_WIDTHS; v++) {
            uint64_t t0, t1;
            int clean;
            read_width = v;
            for (int t = 0; t < n_threads; t++) workers[t].passes = passes[K_READ];
            one_trial(K_READ, &t0, &t1, &clean);
            if (t1 - t0 < best_ns[v]) best_ns[v] = t1 - t0;
        }
    }
    read_width = 0;
    for (int v = 1; v < N_WIDTHS; v++)
        if (best_ns[v] < best_ns[read_width]) read_width = v;
    printf("vector %s %d\n", WIDTHS[read_width].name, WIDTHS[read_width].bits);
    double busy0 = 0, steal0 = 0, busy1 = 0, steal1 = 0;
    int have_stat = cpu_times(&busy0, &steal0) == 0;
    double self0 = self_cpu();
    uint64_t wall0 = now_ns();
    for (int trial = 0; trial < n_trials; trial++) {
        for (int k = 0; k < N_KERNELS; k++) {
            for (int t = 0; t < n_threads; t++) workers[t].passes = passes[k];
            uint64_t t0, t1;
            int clean;
            one_trial(k, &t0, &t1, &clean);
            printf("%s %d %zu %llu %d\n", KERNEL_NAMES[k], trial,
                   bytes * (size_t)KERNEL_ARRAYS[k] * (size_t)passes[k],
                   (unsigned long long)(t1 - t0), clean);
        }
    }
    double wall = (double)(now_ns() - wall0) / 1e9;
    have_stat = have_stat && cpu_times(&busy1, &steal1) == 0 && wall > 0;
    double others = have_stat ? (busy1 - busy0 - (self_cpu() - self0)) / wall : -1;
    printf("others %.3f\nsteal %.3f\n", have_stat && others < 0 ? 0.0 : others,
           have_stat ? (steal1 - steal0) / wall : -1);
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
