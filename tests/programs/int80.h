/* int80: an i386 syscall from 64-bit code (shared by abiprobe.c and probe.c). Pointer arguments
 * must lie below 4 GiB (a MAP_32BIT page). Returns the raw result (-errno on failure). */
#ifndef PINHOLE_INT80_H
#define PINHOLE_INT80_H
static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    return (int)ret;
}
#endif
