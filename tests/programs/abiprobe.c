/* abiprobe: tries the syscalls that slipped past pinhole's seccomp ceilings (issue 7 item 3) and
 * prints one line per case: "<case> ok", "<case> errno <n>" or "<case> signal <n>" (the case
 * runs in a forked child, so a SECCOMP_RET_KILL_PROCESS shows up as signal 31, SIGSYS).
 * "abiprobe" runs every case, "abiprobe CASE..." only those; "abiprobe raw ABI NR..." issues
 * syscall NR with zero arguments through ABI (x86_64, i386, x32) and prints "raw ABI NR <result>"
 * for each (tests/profiles.rs). x86_64 only: the i386 ABI is
 * entered with `int $0x80` from this 64-bit process (pointer arguments below 4 GiB, in a
 * MAP_32BIT page), x32 with X32_SYSCALL_BIT set in the syscall number. No socket is ever
 * connected: creating one is what the filter must refuse. Driven by tests/seccomp_abi.rs. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "int80.h"

#define AF_VSOCK_ 40L
/* AF_VSOCK with bit 32 set: the kernel's `int family` drops it. */
#define AF_VSOCK_HI 0x100000028L
#define X32_SYSCALL_BIT 0x40000000L
/* i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl). */
#define I386_GETPID 20
#define I386_SOCKETCALL 102
#define I386_SOCKET 359
/* socketcall subcalls (linux/net.h). */
#define SYS_SOCKET_ 1
#define SYS_GETSOCKNAME_ 6
#define SYS_SOCKETPAIR_ 8
#define NR_IO_URING_SETUP 425
#define NR_CLONE3 435
#define AF_ALG_ 38L
/* AF_ALG with bit 32 set. */
#define AF_ALG_HI 0x100000026L

/* A page below 4 GiB for i386 pointer arguments. */
static unsigned int *low;


/* A native syscall's libc-style result as a raw one. */
static long raw(long r) { return r < 0 ? -errno : r; }

static long socket_hi_vsock(void) { return raw(syscall(SYS_socket, AF_VSOCK_HI, SOCK_STREAM, 0)); }
static long socket_vsock(void) { return raw(syscall(SYS_socket, AF_VSOCK_, SOCK_STREAM, 0)); }
static long socket_inet(void) { return raw(syscall(SYS_socket, (long)AF_INET, SOCK_STREAM, 0)); }
static long socketpair_hi_vsock(void) {
    int sv[2];
    return raw(syscall(SYS_socketpair, AF_VSOCK_HI, SOCK_STREAM, 0, sv));
}
static long socketpair_unix(void) {
    int sv[2];
    return raw(syscall(SYS_socketpair, (long)AF_UNIX, SOCK_STREAM, 0, sv));
}
static long i386_getpid(void) { return int80(I386_GETPID, 0, 0, 0); }
static long i386_socketcall_vsock(void) {
    low[0] = AF_VSOCK_, low[1] = SOCK_STREAM, low[2] = 0;
    return int80(I386_SOCKETCALL, SYS_SOCKET_, (long)low, 0);
}
static long i386_socketcall_socketpair(void) {
    low[0] = AF_UNIX, low[1] = SOCK_STREAM, low[2] = 0, low[3] = (unsigned int)(long)(low + 8);
    return int80(I386_SOCKETCALL, SYS_SOCKETPAIR_, (long)low, 0);
}
static long i386_socketcall_getsockname(void) {
    low[0] = (unsigned int)-1, low[1] = 0, low[2] = 0;
    return int80(I386_SOCKETCALL, SYS_GETSOCKNAME_, (long)low, 0);
}
static long i386_socket_vsock(void) { return int80(I386_SOCKET, AF_VSOCK_, SOCK_STREAM, 0); }
static long i386_socket_inet(void) { return int80(I386_SOCKET, AF_INET, SOCK_STREAM, 0); }
static long x32_getpid(void) { return raw(syscall(X32_SYSCALL_BIT | SYS_getpid)); }
static long socket_alg(void) { return raw(syscall(SYS_socket, AF_ALG_, SOCK_SEQPACKET, 0)); }
static long socket_hi_alg(void) { return raw(syscall(SYS_socket, AF_ALG_HI, SOCK_SEQPACKET, 0)); }
static long socketpair_alg(void) {
    int sv[2];
    return raw(syscall(SYS_socketpair, AF_ALG_, SOCK_SEQPACKET, 0, sv));
}
static long clone3_plain(void) {
    static unsigned long args[11]; /* struct clone_args, zeroed: a plain fork if allowed */
    long r = raw(syscall(NR_CLONE3, args, sizeof args));
    if (r == 0)
        _exit(0); /* the child of a clone3 that got through */
    return r;
}
static long io_uring_setup(void) {
    static char params[256]; /* struct io_uring_params, zeroed */
    return raw(syscall(NR_IO_URING_SETUP, 1L, params));
}

static const struct {
    const char *name;
    long (*run)(void);
} cases[] = {
    {"socket_hi_vsock", socket_hi_vsock},
    {"socket_vsock", socket_vsock},
    {"socket_inet", socket_inet},
    {"socketpair_hi_vsock", socketpair_hi_vsock},
    {"socketpair_unix", socketpair_unix},
    {"i386_getpid", i386_getpid},
    {"i386_socketcall_vsock", i386_socketcall_vsock},
    {"i386_socketcall_socketpair", i386_socketcall_socketpair},
    {"i386_socketcall_getsockname", i386_socketcall_getsockname},
    {"i386_socket_vsock", i386_socket_vsock},
    {"i386_socket_inet", i386_socket_inet},
    {"x32_getpid", x32_getpid},
    {"io_uring_setup", io_uring_setup},
    {"socket_alg", socket_alg},
    {"socket_hi_alg", socket_hi_alg},
    {"socketpair_alg", socketpair_alg},
    {"clone3_plain", clone3_plain},
};

#define NCASES (sizeof cases / sizeof cases[0])

/* One raw syscall with zero arguments through an ABI, in a child; prints its result. */
static int run_raw(const char *abi, long nr) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("abiprobe: fork");
        return 1;
    }
    if (pid == 0) {
        long r;
        if (!strcmp(abi, "i386"))
            r = int80(nr, 0, 0, 0);
        else if (!strcmp(abi, "x32"))
            r = raw(syscall(X32_SYSCALL_BIT | nr, 0L, 0L, 0L, 0L, 0L, 0L));
        else
            r = raw(syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L));
        if (r < 0)
            printf("raw %s %ld errno %ld\n", abi, nr, -r);
        else
            printf("raw %s %ld ok\n", abi, nr);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("abiprobe: waitpid");
        return 1;
    }
    if (WIFSIGNALED(status))
        printf("raw %s %ld signal %d\n", abi, nr, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        printf("raw %s %ld exit %d\n", abi, nr, WEXITSTATUS(status));
    return 0;
}

static int run_case(unsigned i) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("abiprobe: fork");
        return 1;
    }
    if (pid == 0) {
        long r = cases[i].run();
        if (r < 0)
            printf("%s errno %ld\n", cases[i].name, -r);
        else
            printf("%s ok\n", cases[i].name);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("abiprobe: waitpid");
        return 1;
    }
    if (WIFSIGNALED(status))
        printf("%s signal %d\n", cases[i].name, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        printf("%s exit %d\n", cases[i].name, WEXITSTATUS(status));
    return 0;
}

int main(int argc, char **argv) {
    low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        perror("abiprobe: mmap MAP_32BIT");
        return 1;
    }
    int rc = 0;
    if (argc >= 3 && !strcmp(argv[1], "raw")) {
        for (int a = 3; a < argc; a++)
            rc |= run_raw(argv[2], strtol(argv[a], NULL, 0));
        return rc;
    }
    for (unsigned i = 0; i < NCASES; i++) {
        int wanted = argc == 1;
        for (int a = 1; a < argc; a++)
            wanted |= !strcmp(argv[a], cases[i].name);
        if (wanted)
            rc |= run_case(i);
    }
    for (int a = 1; a < argc; a++) {
        int known = 0;
        for (unsigned i = 0; i < NCASES; i++)
            known |= !strcmp(argv[a], cases[i].name);
        if (!known) {
            fprintf(stderr, "abiprobe: unknown case %s\n", argv[a]);
            rc = 2;
        }
    }
    return rc;
}
