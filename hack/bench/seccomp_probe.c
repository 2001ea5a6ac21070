/* From the lab's bench/seccomp_probe.c (shared/lab/bench, used for the 2026-11-25 baselines in shared/lab/NOTES.md), unchanged;
 * hack/bench-syscall.sh runs its `notif` mode as the raw user-notification reference. */
/* seccomp_probe: checks seccomp features on this kernel and measures their costs.
 *   seccomp_probe avail           - SECCOMP_GET_ACTION_AVAIL for every action
 *   seccomp_probe notif [N]       - SECCOMP_FILTER_FLAG_NEW_LISTENER + USER_NOTIF round trip
 *                                   (supervisor emulates getppid -> returns 4242; also FLAG_CONTINUE
 *                                    and SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP variants)
 *   seccomp_probe log [K]         - SECCOMP_RET_LOG on getppid K times, prints child pid (grep dmesg)
 *   seccomp_probe logerrno        - RET_ERRNO filter installed with SECCOMP_FILTER_FLAG_LOG (denials logged?)
 *   seccomp_probe cost [N]        - getppid ns under: no filter / cacheable allow / arg-dependent
 *                                   (cache-defeating) short filter / 300-compare linear filter
 */
#include "common.h"
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <poll.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <linux/audit.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static long sys_seccomp(unsigned op, unsigned flags, void *a) { return syscall(SYS_seccomp, op, flags, a); }
static inline long raw_getppid(void) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_getppid) : "rcx", "r11", "memory");
    return ret;
}
#define OFF_NR offsetof(struct seccomp_data, nr)
#define OFF_ARCH offsetof(struct seccomp_data, arch)
#define OFF_ARG0 offsetof(struct seccomp_data, args[0])

/* kind 0: nr==getppid -> action, else allow.
 * kind 1: const allow.  kind 2: load args[0] then allow (defeats the action cache).
 * kind 3: load args[0], then 300 JEQ on nr (no match) then allow. */
static long install(int kind, unsigned action, unsigned flags) {
    struct sock_filter f[400];
    int i = 0;
    f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH);
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    if (kind == 0) {
        f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_NR);
        f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1);
        f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action);
    } else if (kind == 2 || kind == 3) {
        f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_ARG0);
        f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_NR);
        if (kind == 3)
            for (int k = 0; k < 300; k++)
                f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1000 + k, 0, 0);
    }
    f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog p = {.len = (unsigned short)i, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -1;
    return sys_seccomp(SECCOMP_SET_MODE_FILTER, flags, &p);
}

static double time_getppid(long n, int reps, const char *name) {
    double r[64], rc[64];
    char cname[128];
    volatile long sink = 0;
    for (long i = 0; i < n / 10 + 1; i++) sink += raw_getppid();
    for (int k = 0; k < reps; k++) {
        double c0 = cpu_ns(), t0 = now_ns();
        for (long i = 0; i < n; i++) sink += raw_getppid();
        r[k] = (now_ns() - t0) / n;
        rc[k] = (cpu_ns() - c0) / n;
    }
    report(name, r, reps, n);
    snprintf(cname, sizeof cname, "%s_cpu", name);
    report(cname, rc, reps, n);
    return 0;
}

static int send_fd(int sock, int fd) {
    char c = 'x';
    struct iovec iov = {&c, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}
static int recv_fd(int sock) {
    char c;
    struct iovec iov = {&c, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    if (recvmsg(sock, &m, 0) != 1) return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd;
}

/* mode: 0 = emulate (return val 4242), 1 = SECCOMP_USER_NOTIF_FLAG_CONTINUE, 2 = emulate + SYNC_WAKE_UP */
static int notif_run(long n, int mode) {
    static const char *names[] = {"user_notif_emulate_roundtrip", "user_notif_continue_roundtrip",
                                  "user_notif_emulate_syncwake_roundtrip"};
    int sv[2];
    fflush(stdout);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) { perror("socketpair"); return 1; }
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        long lfd = install(0, SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
        if (lfd < 0) { printf("NEW_LISTENER install failed: %s\n", strerror(errno)); fflush(stdout); _exit(2); }
        send_fd(sv[1], (int)lfd);
        close((int)lfd);
        char c; read(sv[1], &c, 1); /* wait for supervisor ready */
        long v = raw_getppid();
        printf("notif[%s]: first getppid() returned %ld (%s)\n", names[mode], v,
               mode == 1 ? (v == getpid() ? "?" : "real ppid via CONTINUE") : (v == 4242 ? "4242 = emulated by supervisor OK" : "UNEXPECTED"));
        fflush(stdout);
        double r[5];
        for (int k = 0; k < 5; k++) {
            double t0 = now_ns();
            for (long i = 0; i < n; i++) raw_getppid();
            r[k] = (now_ns() - t0) / n;
        }
        report(names[mode], r, 5, n);
        _exit(0);
    }
    close(sv[1]);
    int lfd = recv_fd(sv[0]);
    if (lfd < 0) { int st; waitpid(pid, &st, 0); return 1; }
    struct seccomp_notif_sizes sz;
    if (sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sz)) { perror("GET_NOTIF_SIZES"); return 1; }
    if (mode == 2) {
        if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP))
            printf("SECCOMP_IOCTL_NOTIF_SET_FLAGS(SYNC_WAKE_UP) failed: %s\n", strerror(errno));
        else printf("SECCOMP_IOCTL_NOTIF_SET_FLAGS(SYNC_WAKE_UP): ok\n");
    }
    struct seccomp_notif *req = calloc(1, sz.seccomp_notif > sizeof(*req) ? sz.seccomp_notif : sizeof(*req));
    struct seccomp_notif_resp *resp = calloc(1, sz.seccomp_notif_resp > sizeof(*resp) ? sz.seccomp_notif_resp : sizeof(*resp));
    write(sv[0], "g", 1);
    long handled = 0;
    for (;;) {
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        if (p.revents & POLLHUP) break;
        memset(req, 0, sz.seccomp_notif);
        if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, req)) { if (errno == EINTR) continue; break; }
        memset(resp, 0, sz.seccomp_notif_resp);
        resp->id = req->id;
        if (mode == 1) resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        else resp->val = 4242;
        if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, resp) == 0) handled++;
    }
    int st;
    waitpid(pid, &st, 0);
    printf("notif[%s]: supervisor handled %ld notifications (sizes: notif=%u resp=%u data=%u)\n", names[mode],
           handled, sz.seccomp_notif, sz.seccomp_notif_resp, sz.seccomp_data);
    close(lfd);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "avail";
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (!strcmp(cmd, "avail")) {
        struct { const char *n; unsigned a; } acts[] = {
            {"kill_process", SECCOMP_RET_KILL_PROCESS}, {"kill_thread", SECCOMP_RET_KILL_THREAD},
            {"trap", SECCOMP_RET_TRAP}, {"errno", SECCOMP_RET_ERRNO}, {"user_notif", SECCOMP_RET_USER_NOTIF},
            {"trace", SECCOMP_RET_TRACE}, {"log", SECCOMP_RET_LOG}, {"allow", SECCOMP_RET_ALLOW}};
        for (unsigned i = 0; i < sizeof acts / sizeof acts[0]; i++) {
            unsigned a = acts[i].a;
            long r = sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &a);
            printf("action %-12s %s\n", acts[i].n, r == 0 ? "available" : strerror(errno));
        }
        struct seccomp_notif_sizes sz;
        printf("GET_NOTIF_SIZES: %s\n", sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sz) == 0 ? "ok" : strerror(errno));
        return 0;
    }
    if (!strcmp(cmd, "notif")) {
        if (!n) n = 20000;
        notif_run(n, 0); notif_run(n, 1); notif_run(n, 2);
        return 0;
    }
    if (!strcmp(cmd, "log")) {
        if (!n) n = 3;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (install(0, SECCOMP_RET_LOG, 0)) { perror("install RET_LOG"); _exit(2); }
            long v = 0;
            for (long i = 0; i < n; i++) v = raw_getppid();
            printf("log: child pid=%d called getppid (nr=%d) %ld times under SECCOMP_RET_LOG; returned %ld (real ppid %d)\n",
                   getpid(), SYS_getppid, n, v, getppid());
            fflush(stdout);
            _exit(0);
        }
        int st; waitpid(pid, &st, 0);
        return 0;
    }
    if (!strcmp(cmd, "logerrno")) { /* RET_ERRNO(EPERM) installed with SECCOMP_FILTER_FLAG_LOG */
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (install(0, SECCOMP_RET_ERRNO | 1, SECCOMP_FILTER_FLAG_LOG)) { perror("install ERRNO|FLAG_LOG"); _exit(2); }
            long v = raw_getppid();
            printf("logerrno: child pid=%d getppid under RET_ERRNO+FLAG_LOG returned %ld (expect -1 = -EPERM)\n", getpid(), v);
            fflush(stdout);
            _exit(0);
        }
        int st; waitpid(pid, &st, 0);
        return 0;
    }
    if (!strcmp(cmd, "cost")) {
        if (!n) n = 2000000;
        const char *names[] = {"getppid_nofilter", "getppid_const_allow_filter(cached)",
                               "getppid_arg_dependent_filter(uncached,6insn)",
                               "getppid_arg_dependent_300cmp_filter(uncached,306insn)"};
        for (int kind = -1; kind <= 3; kind++) {
            if (kind == 0) continue;
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                if (kind > 0 && install(kind, 0, 0)) { perror("install"); _exit(2); }
                time_getppid(n, 7, names[kind < 0 ? 0 : kind]);
                _exit(0);
            }
            int st; waitpid(pid, &st, 0);
        }
        return 0;
    }
    fprintf(stderr, "usage: seccomp_probe avail | notif [N] | log [K] | logerrno | cost [N]\n");
    return 2;
}
