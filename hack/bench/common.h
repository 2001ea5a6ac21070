/* From the lab's bench/common.h (shared/lab/bench, used for the 2026-11-25 baselines in shared/lab/NOTES.md);
 * report_seccomp() added. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}
/* CPU time of the calling thread: unaffected by preemption from other tenants on this shared box.
 * (Not meaningful under gVisor/ptrace, where the work happens in the Sentry, not the app thread.) */
static inline double cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}
static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
/* prints: INFO seccomp=<mode> filters=<count> from /proc/self/status (-1 when unreadable), so a
 * run shows which filters were in effect. (Added for hack/bench-syscall.sh.) */
static inline void report_seccomp(void) {
    char line[256];
    int mode = -1, filters = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "Seccomp: %d", &mode) == 1) continue;
            sscanf(line, "Seccomp_filters: %d", &filters);
        }
        fclose(f);
    }
    printf("INFO seccomp=%d filters=%d\n", mode, filters);
    fflush(stdout);
}
/* prints: RESULT <name> median=<ns/op> min=<> max=<> n=<> reps=<> [per-rep...] */
static void report(const char *name, double *r, int reps, long n) {
    double s[256];
    for (int i = 0; i < reps; i++) s[i] = r[i];
    qsort(s, reps, sizeof(double), cmp_dbl);
    double med = (reps % 2) ? s[reps / 2] : 0.5 * (s[reps / 2 - 1] + s[reps / 2]);
    printf("RESULT %s median_ns=%.1f min_ns=%.1f max_ns=%.1f n=%ld reps=%d all=", name, med, s[0], s[reps - 1], n, reps);
    for (int i = 0; i < reps; i++) printf("%s%.1f", i ? "," : "", r[i]);
    printf("\n");
    fflush(stdout);
}
#endif
