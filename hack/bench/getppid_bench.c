/* From the lab's bench/getppid_bench.c (shared/lab/bench, used for the 2026-11-25 baselines in shared/lab/NOTES.md); report_seccomp() call added. */
/* getppid_bench: N raw getppid() syscalls per repetition, prints ns/syscall.
 * usage: getppid_bench [N=1000000] [REPS=9]
 * Uses an inline `syscall` instruction so no libc wrapper/caching is involved. */
#include "common.h"
#include <sys/syscall.h>

static inline long raw_getppid(void) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_getppid) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    if (reps < 1 || reps > 256) reps = 9;
    double r[256], rc[256];
    report_seccomp();
    volatile long sink = 0;
    for (long i = 0; i < n / 10 + 1; i++) sink += raw_getppid(); /* warm-up */
    if (raw_getppid() < 0) { fprintf(stderr, "getppid failed: %ld\n", raw_getppid()); return 1; }
    for (int k = 0; k < reps; k++) {
        double c0 = cpu_ns(), t0 = now_ns();
        for (long i = 0; i < n; i++) sink += raw_getppid();
        double t1 = now_ns(), c1 = cpu_ns();
        r[k] = (t1 - t0) / (double)n;
        rc[k] = (c1 - c0) / (double)n;
    }
    report("getppid", r, reps, n);
    report("getppid_cpu", rc, reps, n);
    return 0;
}
