/* From the lab's bench/mixed_bench.c (shared/lab/bench, used for the 2026-11-25 baselines in shared/lab/NOTES.md); report_seccomp() call added. */
/* mixed_bench: per iteration: open(path)+read(4096)+close, stat(path), write(64B) to /dev/null
 * (5 syscalls/iteration). Prints ns per iteration ("mixed_op") and ns per syscall.
 * usage: mixed_bench [N=200000] [REPS=9] [PATH=/data/file.txt] */
#include "common.h"
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    const char *path = argc > 3 ? argv[3] : "/data/file.txt";
    if (reps < 1 || reps > 256) reps = 9;
    static char buf[4096];
    report_seccomp();
    int nullfd = open("/dev/null", O_WRONLY);
    if (nullfd < 0) { perror("open /dev/null"); return 1; }
    double r[256], rs[256], rc[256];
    struct stat st;
    long bad = 0;
    for (long i = 0; i < n / 10 + 1; i++) { /* warm-up + validation */
        int fd = open(path, O_RDONLY);
        if (fd < 0) { perror(path); return 1; }
        if (read(fd, buf, sizeof buf) <= 0) bad++;
        close(fd);
        if (stat(path, &st) != 0) bad++;
        if (write(nullfd, buf, 64) != 64) bad++;
    }
    if (bad) { fprintf(stderr, "validation failures: %ld\n", bad); return 1; }
    for (int k = 0; k < reps; k++) {
        double c0 = cpu_ns(), t0 = now_ns();
        for (long i = 0; i < n; i++) {
            int fd = open(path, O_RDONLY);
            read(fd, buf, sizeof buf);
            close(fd);
            stat(path, &st);
            write(nullfd, buf, 64);
        }
        double t1 = now_ns(), c1 = cpu_ns();
        r[k] = (t1 - t0) / (double)n;
        rc[k] = (c1 - c0) / (double)n;
        rs[k] = r[k] / 5.0;
    }
    report("mixed_op", r, reps, n);
    report("mixed_per_syscall", rs, reps, n);
    report("mixed_op_cpu", rc, reps, n);
    return 0;
}
