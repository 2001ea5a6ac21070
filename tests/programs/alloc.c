/* alloc MIB: allocate MIB mebibytes one at a time and touch every page, so the memory is really
 * charged to the cgroup. Prints "allocated N MiB" and exits 0 if it survives; under a smaller
 * memory limit the OOM killer ends it with SIGKILL (the runtime reports 137). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: alloc MIB\n");
        return 2;
    }
    char *end;
    long mib = strtol(argv[1], &end, 10);
    if (*end != '\0' || mib < 0) {
        fprintf(stderr, "alloc: bad size %s\n", argv[1]);
        return 2;
    }
    for (long i = 0; i < mib; i++) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("alloc: mmap");
            return 1;
        }
        memset(p, 0x5a, 1 << 20);
    }
    printf("allocated %ld MiB\n", mib);
    return 0;
}
