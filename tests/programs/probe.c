/* probe: the escape battery's attack program (issue 7), run inside containers by tests/battery.rs.
 *
 *   probe NAME...   runs each attempt in a forked child and prints one line per attempt:
 *                   "NAME ok"              the call (or every step of a compound attempt) succeeded
 *                   "NAME errno=EPERM"     the first failing step's errno, by its symbolic name
 *                   "NAME signal=SIGSYS"   the child died by a signal (seccomp KILL_PROCESS: SIGSYS)
 *                   "NAME contained"       the steps were allowed but reached nothing outside the
 *                                          container (masked file empty, chroot escape stuck in
 *                                          the container's root, set-id bit ignored, ...)
 *                   "NAME exit=N"          the child exited oddly (a bug in the attempt)
 *   probe all       every attempt, in table order
 *   probe list      every attempt's name and what it does
 *   probe whoami    (helper for the set-id attempts) prints "euid=N capeff=HEX"
 *
 * Raw syscall(2) everywhere, so no libc wrapper substitutes or refuses a call. The i386 entries
 * use `int $0x80` from this 64-bit process (pointer arguments in a MAP_32BIT page), as
 * abiprobe.c does; x32 entries set X32_SYSCALL_BIT. Nothing here is meant to be run on a host:
 * an attempt that succeeds does what it says (on a container's own namespaces, files and
 * devices; clock_settime sets the time it just read). x86_64 only. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/rtnetlink.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "int80.h"

#define X32_SYSCALL_BIT 0x40000000L
/* i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl). */
#define I386_MOUNT 21
#define I386_GETPID 20
#define I386_PTRACE 26
#define I386_KEXEC_LOAD 283
#define I386_KEYCTL 288
#define I386_UNSHARE 310
#define I386_BPF 357
#define I386_ABOVE_TABLE 2000
/* Numbers no table has (x86_64's ends below 470). */
#define NR_ABOVE_TABLE 1000L
#define NR_BELOW_X32 0x3fffffffL
/* Values the attempts use. */
#define CONTAINED 1 /* a compound attempt's "allowed, reached nothing" */
#define TEST_UID 1000
#define DEV_MEM_MAJOR 1
#define DEV_MEM_MINOR 1
#define DEV_SDA_MAJOR 8
#define DEV_SDA_MINOR 0

static unsigned int *low; /* a page below 4 GiB for i386 pointer arguments */


/* A libc-style result (-1 + errno) as a raw one (-errno). */
static long raw(long r) { return r < 0 ? -errno : 0; }
static long sys(long nr, long a, long b, long c, long d, long e) {
    return raw(syscall(nr, a, b, c, d, e));
}
#define S0(nr) sys(nr, 0, 0, 0, 0, 0)
#define S1(nr, a) sys(nr, (long)(a), 0, 0, 0, 0)
#define S2(nr, a, b) sys(nr, (long)(a), (long)(b), 0, 0, 0)
#define S3(nr, a, b, c) sys(nr, (long)(a), (long)(b), (long)(c), 0, 0)
#define S4(nr, a, b, c, d) sys(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0)
#define S5(nr, a, b, c, d, e) sys(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))

/* ---- mount family ---------------------------------------------------------------------- */
static long mount_tmpfs(void) { return S5(SYS_mount, "none", "/mnt", "tmpfs", 0, 0); }
static long mount_bind_root(void) { return S5(SYS_mount, "/", "/mnt", 0, MS_BIND | MS_REC, 0); }
static long remount_proc_sys_rw(void) {
    return S5(SYS_mount, 0, "/proc/sys", 0, MS_REMOUNT | MS_BIND, 0);
}
static long remount_sys_rw(void) { return S5(SYS_mount, 0, "/sys", 0, MS_REMOUNT, 0); }
static long mount_cgroup_rdma(void) { /* CVE-2022-0492: a fresh v1 hierarchy with release_agent */
    return S5(SYS_mount, "cgroup", "/mnt", "cgroup", 0, "rdma");
}
static long umount_timer_list(void) { return S2(SYS_umount2, "/proc/timer_list", MNT_DETACH); }
static long umount_proc_sys(void) { return S2(SYS_umount2, "/proc/sys", MNT_DETACH); }
static long fsopen_proc(void) { return S2(SYS_fsopen, "proc", 0); }
static long fsopen_tmpfs(void) { return S2(SYS_fsopen, "tmpfs", 0); }
static long fspick_sys(void) { return S3(SYS_fspick, AT_FDCWD, "/sys", 0); }
static long open_tree_proc(void) {
    return S3(SYS_open_tree, AT_FDCWD, "/proc", 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
}
static long move_mount_proc(void) {
    return S5(SYS_move_mount, AT_FDCWD, "/proc", AT_FDCWD, "/mnt", 0);
}
static long mount_setattr_sys(void) {
    uint64_t attr[4] = {0, 1 /* clear MOUNT_ATTR_RDONLY */, 0, 0};
    return S5(SYS_mount_setattr, AT_FDCWD, "/sys", 0, attr, sizeof attr);
}

/* ---- namespaces ------------------------------------------------------------------------ */
static long unshare_ns(long f) { return S1(SYS_unshare, f); }
static long unshare_mnt(void) { return unshare_ns(CLONE_NEWNS); }
static long unshare_uts(void) { return unshare_ns(CLONE_NEWUTS); }
static long unshare_ipc(void) { return unshare_ns(CLONE_NEWIPC); }
static long unshare_net(void) { return unshare_ns(CLONE_NEWNET); }
static long unshare_pid(void) { return unshare_ns(CLONE_NEWPID); }
static long unshare_user(void) { return unshare_ns(CLONE_NEWUSER); }
static long unshare_cgroup(void) { return unshare_ns(CLONE_NEWCGROUP); }
static long unshare_time(void) { return unshare_ns(CLONE_NEWTIME); }

/* The result of a fork-like call: the child exits at once, the parent reaps it. */
static long forked(long r) {
    if (r == 0)
        _exit(0);
    if (r < 0)
        return -errno;
    waitpid((pid_t)r, NULL, 0);
    return 0;
}
/* clone(flags) without a new stack: the child continues like fork's. */
static long clone_ns(long f) { return forked(syscall(SYS_clone, f | SIGCHLD, 0L, 0L, 0L, 0L)); }
static long clone_mnt(void) { return clone_ns(CLONE_NEWNS); }
static long clone_uts(void) { return clone_ns(CLONE_NEWUTS); }
static long clone_ipc(void) { return clone_ns(CLONE_NEWIPC); }
static long clone_net(void) { return clone_ns(CLONE_NEWNET); }
static long clone_pid(void) { return clone_ns(CLONE_NEWPID); }
static long clone_user(void) { return clone_ns(CLONE_NEWUSER); }
static long clone_cgroup(void) { return clone_ns(CLONE_NEWCGROUP); }

static long clone3_ns(uint64_t f) {
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = f;
    a.exit_signal = SIGCHLD;
    return forked(syscall(SYS_clone3, &a, sizeof a));
}
static long clone3_plain(void) { return clone3_ns(0); }
static long clone3_user(void) { return clone3_ns(CLONE_NEWUSER); }
static long clone3_mnt(void) { return clone3_ns(CLONE_NEWNS); }
static long clone3_time(void) { return clone3_ns(CLONE_NEWTIME); }

static long setns_self(const char *ns, long type) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/ns/%s", ns);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    long r = S2(SYS_setns, fd, type);
    close(fd);
    return r;
}
static long setns_mnt(void) { return setns_self("mnt", CLONE_NEWNS); }
static long setns_user(void) { return setns_self("user", CLONE_NEWUSER); }
static long setns_net(void) { return setns_self("net", CLONE_NEWNET); }

/* ---- root switching -------------------------------------------------------------------- */
static long pivot_root_dot(void) { return S2(SYS_pivot_root, ".", "."); }
/* The classic double chroot: chroot into a subdirectory, climb out with "..", chroot(".").
 * "contained" when the climb ends at the container's own root. */
static long chroot_escape(void) {
    struct stat root, after;
    if (stat("/", &root) < 0)
        return -errno;
    mkdir("/dev/shm/jail", 0700);
    if (syscall(SYS_chroot, "/dev/shm/jail") < 0)
        return -errno;
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            return -errno;
    if (syscall(SYS_chroot, ".") < 0)
        return -errno;
    if (stat("/", &after) < 0)
        return -errno;
    return after.st_dev == root.st_dev && after.st_ino == root.st_ino ? CONTAINED : 0;
}

/* ---- kernel attack surface ------------------------------------------------------------- */
static long bpf_map_create(void) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_ARRAY, a.key_size = 4, a.value_size = 4, a.max_entries = 1;
    return S3(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
}
static long perf_event_open_cpu(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_SOFTWARE, a.size = sizeof a, a.config = PERF_COUNT_SW_CPU_CLOCK;
    return S5(SYS_perf_event_open, &a, -1, 0, -1, 0); /* every process on CPU 0 */
}
static long keyctl_join(void) { return S2(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0); }
static long add_key_user(void) {
    return S5(SYS_add_key, "user", "probe", "x", 1, -3 /* KEY_SPEC_SESSION_KEYRING */);
}
static long request_key_user(void) { return S4(SYS_request_key, "user", "probe", 0, 0); }
static long userfaultfd_(void) { return S1(SYS_userfaultfd, O_CLOEXEC); }
/* "shocker": a file handle for inode 2 of the filesystem of /etc, opened past every mount. */
static long open_by_handle_at_(void) {
    struct {
        unsigned int bytes;
        int type;
        unsigned char f[8];
    } h = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
    int dir = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long r = S3(SYS_open_by_handle_at, dir, &h, O_RDONLY);
    close(dir);
    return r;
}
static long ptrace_traceme(void) { return S4(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0); }
static long process_vm_readv_self(void) {
    char src[8] = "x", dst[8];
    struct iovec l = {dst, sizeof dst}, r = {src, sizeof src};
    return raw(syscall(SYS_process_vm_readv, (long)getpid(), &l, 1L, &r, 1L, 0L));
}
static long kexec_load_(void) { return S4(SYS_kexec_load, 0, 0, 0, 0); }
static long kexec_file_load_(void) { return S5(SYS_kexec_file_load, -1, -1, 0, "", 2 /* NO_INITRAMFS */); }
static long init_module_(void) { return S3(SYS_init_module, "", 0, ""); }
static long finit_module_(void) { return S3(SYS_finit_module, 0, "", 0); }
static long delete_module_(void) { return S2(SYS_delete_module, "probe_none", O_NONBLOCK); }
static long reboot_cad_off(void) {
    return S4(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, 0);
}
static long swapon_(void) { return S2(SYS_swapon, "/dev/null", 0); }
static long swapoff_(void) { return S1(SYS_swapoff, "/dev/null"); }
static long syslog_size(void) { return S3(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0); }
static long acct_(void) { return S1(SYS_acct, 0); }
static long clock_settime_(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return S2(SYS_clock_settime, CLOCK_REALTIME, &t);
}
static long settimeofday_(void) {
    struct timeval t;
    gettimeofday(&t, NULL);
    return S2(SYS_settimeofday, &t, 0);
}
static long iopl_(void) { return S1(SYS_iopl, 3); }
static long ioperm_(void) { return S3(SYS_ioperm, 0x80, 1, 1); }
static long modify_ldt_(void) {
    char buf[16];
    return S3(SYS_modify_ldt, 0, buf, sizeof buf);
}
static long fanotify_init_(void) { return S2(SYS_fanotify_init, 0, O_RDONLY); }
static long quotactl_(void) { return S4(SYS_quotactl, 0x800002 /* Q_GETINFO|USRQUOTA */, "/dev/null", 0, 0); }
static long sethostname_(void) { return S2(SYS_sethostname, "probe", 5); }
static long capset_all(void) {
    struct {
        uint32_t version;
        int pid;
    } h = {0x20080522, 0};
    uint32_t d[6] = {~0u, ~0u, ~0u, ~0u, ~0u, ~0u}; /* effective, permitted, inheritable x2 */
    return S2(SYS_capset, &h, d);
}
static long setrlimit_raise(void) {
    struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
    return S2(SYS_setrlimit, RLIMIT_NOFILE, &r);
}
static long sched_fifo(void) {
    struct sched_param p = {1};
    return S3(SYS_sched_setscheduler, 0, SCHED_FIFO, &p);
}

/* ---- devices, sockets, terminals ------------------------------------------------------- */
static long mknod_open(const char *path, int major, int minor, int blk) {
    if (syscall(SYS_mknod, path, (blk ? S_IFBLK : S_IFCHR) | 0600, makedev(major, minor)) < 0 &&
        errno != EEXIST)
        return -errno;
    long fd = syscall(SYS_open, path, O_RDONLY | O_CLOEXEC);
    int e = errno;
    unlink(path);
    return fd < 0 ? -e : 0;
}
static long mknod_mem_open(void) { return mknod_open("/dev/probe-mem", DEV_MEM_MAJOR, DEV_MEM_MINOR, 0); }
static long mknod_sda_open(void) { return mknod_open("/dev/probe-sda", DEV_SDA_MAJOR, DEV_SDA_MINOR, 1); }
static long socket_packet(void) { return S3(SYS_socket, AF_PACKET, SOCK_RAW, 0x0300 /* ETH_P_ALL, BE */); }
static long socket_raw_icmp(void) { return S3(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP); }
/* RTM_NEWLINK of a dummy interface; the kernel's answer is the ack's errno. */
static long netlink_newlink(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
        char attrs[64];
    } req;
    memset(&req, 0, sizeof req);
    struct rtattr *name = (struct rtattr *)req.attrs;
    name->rta_type = IFLA_IFNAME, name->rta_len = RTA_LENGTH(6);
    memcpy(RTA_DATA(name), "probe", 6);
    struct rtattr *info = (struct rtattr *)(req.attrs + RTA_ALIGN(name->rta_len));
    info->rta_type = IFLA_LINKINFO;
    struct rtattr *kind = (struct rtattr *)RTA_DATA(info);
    kind->rta_type = IFLA_INFO_KIND, kind->rta_len = RTA_LENGTH(6);
    memcpy(RTA_DATA(kind), "dummy", 6);
    info->rta_len = RTA_LENGTH(RTA_ALIGN(kind->rta_len));
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.i) + RTA_ALIGN(name->rta_len) + info->rta_len;
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    if (send(fd, &req, req.h.nlmsg_len, 0) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    char buf[4096];
    long n = recv(fd, buf, sizeof buf, 0);
    close(fd);
    if (n < (long)NLMSG_LENGTH(sizeof(struct nlmsgerr)))
        return -EPROTO;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type != NLMSG_ERROR)
        return -EPROTO;
    return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
}
static long tiocsti_stdin(void) {
    char c = '\n';
    return S3(SYS_ioctl, 0, TIOCSTI, &c);
}
/* TIOCSTI into a pty of the container's own devpts. */
static long tiocsti_own_pty(void) {
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -errno;
    int unlock = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
        return -errno;
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (s < 0)
        return -errno;
    char c = '\n';
    return S3(SYS_ioctl, s, TIOCSTI, &c);
}
static long personality_rie(void) { return S1(SYS_personality, READ_IMPLIES_EXEC); }
static long personality_query(void) { return raw(syscall(SYS_personality, 0xffffffffL) < 0 ? -1 : 0); }

/* ---- ABIs and numbers ------------------------------------------------------------------ */
static long x32_getpid(void) { return S0(X32_SYSCALL_BIT | SYS_getpid); }
static long x32_unshare(void) { return S1(X32_SYSCALL_BIT | SYS_unshare, CLONE_NEWUSER); }
static long i386_getpid(void) {
    long r = int80(I386_GETPID, 0, 0, 0);
    return r < 0 ? r : 0;
}
static long i386_mount(void) {
    memcpy(low, "none\0/mnt\0tmpfs", 16);
    return int80(I386_MOUNT, (long)low, (long)low + 5, (long)low + 10);
}
static long i386_unshare(void) { return int80(I386_UNSHARE, CLONE_NEWUSER, 0, 0); }
static long i386_keyctl(void) { return int80(I386_KEYCTL, 1, 0, 0); }
static long i386_bpf(void) { return int80(I386_BPF, BPF_MAP_CREATE, 0, 0); }
static long i386_ptrace(void) { return int80(I386_PTRACE, 0, 0, 0); }
static long i386_kexec_load(void) { return int80(I386_KEXEC_LOAD, 0, 0, 0); }
static long i386_above_table(void) { return int80(I386_ABOVE_TABLE, 0, 0, 0); }
static long nr_above_table(void) { return S0(NR_ABOVE_TABLE); }
static long nr_below_x32(void) { return S0(NR_BELOW_X32); }
static long nr_minus_one(void) { return S0(-1L); }

/* ---- files the container must not write or read ---------------------------------------- */
static long open_w(const char *p) {
    long fd = syscall(SYS_open, p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    close((int)fd);
    return 0;
}
/* A masked file: "contained" when it opens but reads empty. */
static long read_masked(const char *p) {
    char c;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    long n = read(fd, &c, 1);
    int e = errno;
    close(fd);
    return n < 0 ? -e : n == 0 ? CONTAINED : 0;
}
/* A masked directory: "contained" when it lists nothing. */
static long list_masked(const char *p) {
    DIR *d = opendir(p);
    if (!d)
        return -errno;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n ? 0 : CONTAINED;
}
static long core_pattern_w(void) { return open_w("/proc/sys/kernel/core_pattern"); }
static long suid_dumpable_w(void) { return open_w("/proc/sys/fs/suid_dumpable"); }
static long drop_caches_w(void) { return open_w("/proc/sys/vm/drop_caches"); }
static long thp_enabled_w(void) { return open_w("/sys/kernel/mm/transparent_hugepage/enabled"); }
static long power_state_w(void) { return open_w("/sys/power/state"); }
static long cgroup_pids_max_w(void) { return open_w("/sys/fs/cgroup/pids/pids.max"); }
static long cgroup_procs_w(void) { return open_w("/sys/fs/cgroup/pids/cgroup.procs"); }
static long release_agent_w(void) { return open_w("/sys/fs/cgroup/memory/release_agent"); }
static long notify_on_release_w(void) { return open_w("/sys/fs/cgroup/memory/notify_on_release"); }
static long timer_list_read(void) { return read_masked("/proc/timer_list"); }
static long keys_read(void) { return read_masked("/proc/keys"); }
static long firmware_list(void) { return list_masked("/sys/firmware"); }
static long acpi_list(void) { return list_masked("/proc/acpi"); }

/* ---- runc's CVEs ----------------------------------------------------------------------- */
/* CVE-2019-5736: open the runtime's binary for writing through /proc/PID/exe of every
 * process in view (the container's own init included). */
static long cve_2019_5736(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    struct dirent *e;
    long r = -ENOENT;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char p[300];
        snprintf(p, sizeof p, "/proc/%s/exe", e->d_name);
        long fd = syscall(SYS_open, p, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            closedir(d);
            return 0;
        }
        if (r == -ENOENT)
            r = -errno;
    }
    closedir(d);
    return r;
}
/* CVE-2024-21626: a directory fd or a cwd from outside the container's root. "ok" = found one. */
static long cve_2024_21626(void) {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || cwd[0] != '/')
        return 0; /* "(unreachable)": the cwd is outside the root */
    for (int fd = 3; fd < 1024; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            char p[64], t[4096];
            snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
            long n = readlink(p, t, sizeof t - 1);
            if (n > 0 && t[0] == '/') {
                t[n] = 0;
                if (!opendir(t)) /* a directory this root cannot name */
                    return 0;
            }
        }
    }
    return CONTAINED;
}
/* CVE-2016-9962: a runtime process in the container that can be traced (its fds read). */
static long cve_2016_9962(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    struct dirent *e;
    long r = CONTAINED;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid == getpid() || pid == getppid())
            continue;
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/fd", pid);
        DIR *fds = opendir(p);
        if (fds) { /* readable fds of a process we did not start */
            closedir(fds);
            r = 0;
        }
    }
    closedir(d);
    return r;
}

/* ---- set-id binaries under no_new_privs (run the container as a non-root user) --------- */
/* Our effective capabilities (CapEff of /proc/self/status). */
static unsigned long long cap_eff(void) {
    unsigned long long cap = 0;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "CapEff: %llx", &cap);
    if (f)
        fclose(f);
    return cap;
}

/* Executes `path whoami` and returns "ok" when it ran with more than we have (euid 0 or a
 * capability we lack). */
static long exec_gains(const char *path) {
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    pid_t c = fork();
    if (c == 0) {
        dup2(p[1], 1);
        char *argv[] = {(char *)path, "whoami", NULL};
        syscall(SYS_execve, path, argv, environ);
        printf("execve=%d\n", errno);
        fflush(stdout);
        _exit(0);
    }
    close(p[1]);
    char buf[128] = {0};
    long n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(c, NULL, 0);
    int err;
    if (n > 0 && sscanf(buf, "execve=%d", &err) == 1)
        return -err;
    unsigned euid;
    unsigned long long cap;
    if (n <= 0 || sscanf(buf, "euid=%u capeff=%llx", &euid, &cap) != 2)
        return -EPROTO;
    return (euid == 0 && geteuid() != 0) || (cap & ~cap_eff()) ? 0 : CONTAINED;
}
static long profiling_w(void) { return open_w("/sys/kernel/profiling"); }
static long setuid_binary(void) { return exec_gains("/bin/probe-suid"); }
static long file_caps_binary(void) { return exec_gains("/bin/probe-fcap"); }

static const struct attempt {
    const char *name;
    long (*run)(void);
    const char *what; /* the syscall and its arguments */
} attempts[] = {
    {"mount_tmpfs", mount_tmpfs, "mount(\"none\", \"/mnt\", \"tmpfs\", 0, NULL)"},
    {"mount_bind_root", mount_bind_root, "mount(\"/\", \"/mnt\", NULL, MS_BIND|MS_REC, NULL)"},
    {"remount_proc_sys_rw", remount_proc_sys_rw, "mount(NULL, \"/proc/sys\", NULL, MS_REMOUNT|MS_BIND, NULL)"},
    {"remount_sys_rw", remount_sys_rw, "mount(NULL, \"/sys\", NULL, MS_REMOUNT, NULL)"},
    {"mount_cgroup_rdma", mount_cgroup_rdma, "mount(\"cgroup\", \"/mnt\", \"cgroup\", 0, \"rdma\") (CVE-2022-0492)"},
    {"umount_timer_list", umount_timer_list, "umount2(\"/proc/timer_list\", MNT_DETACH): unmask"},
    {"umount_proc_sys", umount_proc_sys, "umount2(\"/proc/sys\", MNT_DETACH)"},
    {"fsopen_proc", fsopen_proc, "fsopen(\"proc\", 0)"},
    {"fsopen_tmpfs", fsopen_tmpfs, "fsopen(\"tmpfs\", 0)"},
    {"fspick_sys", fspick_sys, "fspick(AT_FDCWD, \"/sys\", 0)"},
    {"open_tree_proc", open_tree_proc, "open_tree(AT_FDCWD, \"/proc\", OPEN_TREE_CLONE)"},
    {"move_mount_proc", move_mount_proc, "move_mount(AT_FDCWD, \"/proc\", AT_FDCWD, \"/mnt\", 0)"},
    {"mount_setattr_sys", mount_setattr_sys, "mount_setattr(AT_FDCWD, \"/sys\", 0, {clr=RDONLY})"},
    {"unshare_mnt", unshare_mnt, "unshare(CLONE_NEWNS)"},
    {"unshare_uts", unshare_uts, "unshare(CLONE_NEWUTS)"},
    {"unshare_ipc", unshare_ipc, "unshare(CLONE_NEWIPC)"},
    {"unshare_net", unshare_net, "unshare(CLONE_NEWNET)"},
    {"unshare_pid", unshare_pid, "unshare(CLONE_NEWPID)"},
    {"unshare_user", unshare_user, "unshare(CLONE_NEWUSER)"},
    {"unshare_cgroup", unshare_cgroup, "unshare(CLONE_NEWCGROUP)"},
    {"unshare_time", unshare_time, "unshare(CLONE_NEWTIME)"},
    {"clone_mnt", clone_mnt, "clone(CLONE_NEWNS|SIGCHLD)"},
    {"clone_uts", clone_uts, "clone(CLONE_NEWUTS|SIGCHLD)"},
    {"clone_ipc", clone_ipc, "clone(CLONE_NEWIPC|SIGCHLD)"},
    {"clone_net", clone_net, "clone(CLONE_NEWNET|SIGCHLD)"},
    {"clone_pid", clone_pid, "clone(CLONE_NEWPID|SIGCHLD)"},
    {"clone_user", clone_user, "clone(CLONE_NEWUSER|SIGCHLD)"},
    {"clone_cgroup", clone_cgroup, "clone(CLONE_NEWCGROUP|SIGCHLD)"},
    {"clone3_plain", clone3_plain, "clone3({exit_signal=SIGCHLD})"},
    {"clone3_user", clone3_user, "clone3({flags=CLONE_NEWUSER})"},
    {"clone3_mnt", clone3_mnt, "clone3({flags=CLONE_NEWNS})"},
    {"clone3_time", clone3_time, "clone3({flags=CLONE_NEWTIME})"},
    {"setns_mnt", setns_mnt, "setns(open(\"/proc/self/ns/mnt\"), CLONE_NEWNS)"},
    {"setns_user", setns_user, "setns(open(\"/proc/self/ns/user\"), CLONE_NEWUSER)"},
    {"setns_net", setns_net, "setns(open(\"/proc/self/ns/net\"), CLONE_NEWNET)"},
    {"pivot_root", pivot_root_dot, "pivot_root(\".\", \".\")"},
    {"chroot_escape", chroot_escape, "chroot(\"/dev/shm/jail\"), chdir(\"..\") x64, chroot(\".\")"},
    {"bpf", bpf_map_create, "bpf(BPF_MAP_CREATE, {ARRAY 4/4/1})"},
    {"perf_event_open", perf_event_open_cpu, "perf_event_open({SW_CPU_CLOCK}, pid -1, cpu 0)"},
    {"keyctl", keyctl_join, "keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)"},
    {"add_key", add_key_user, "add_key(\"user\", \"probe\", \"x\", 1, KEY_SPEC_SESSION_KEYRING)"},
    {"request_key", request_key_user, "request_key(\"user\", \"probe\", NULL, 0)"},
    {"userfaultfd", userfaultfd_, "userfaultfd(O_CLOEXEC)"},
    {"open_by_handle_at", open_by_handle_at_, "open_by_handle_at(/etc, {ino 2}, O_RDONLY) (shocker)"},
    {"ptrace_traceme", ptrace_traceme, "ptrace(PTRACE_TRACEME)"},
    {"process_vm_readv", process_vm_readv_self, "process_vm_readv(self, 8 bytes)"},
    {"kexec_load", kexec_load_, "kexec_load(0, 0, NULL, 0)"},
    {"kexec_file_load", kexec_file_load_, "kexec_file_load(-1, -1, 0, \"\", NO_INITRAMFS)"},
    {"init_module", init_module_, "init_module(\"\", 0, \"\")"},
    {"finit_module", finit_module_, "finit_module(0, \"\", 0)"},
    {"delete_module", delete_module_, "delete_module(\"probe_none\", O_NONBLOCK)"},
    {"reboot", reboot_cad_off, "reboot(MAGIC1, MAGIC2, CAD_OFF)"},
    {"swapon", swapon_, "swapon(\"/dev/null\", 0)"},
    {"swapoff", swapoff_, "swapoff(\"/dev/null\")"},
    {"syslog", syslog_size, "syslog(SYSLOG_ACTION_SIZE_BUFFER)"},
    {"acct", acct_, "acct(NULL)"},
    {"clock_settime", clock_settime_, "clock_settime(CLOCK_REALTIME, now)"},
    {"settimeofday", settimeofday_, "settimeofday(now, NULL)"},
    {"iopl", iopl_, "iopl(3)"},
    {"ioperm", ioperm_, "ioperm(0x80, 1, 1)"},
    {"modify_ldt", modify_ldt_, "modify_ldt(0, buf, 16)"},
    {"fanotify_init", fanotify_init_, "fanotify_init(0, O_RDONLY)"},
    {"quotactl", quotactl_, "quotactl(Q_GETINFO, \"/dev/null\")"},
    {"sethostname", sethostname_, "sethostname(\"probe\")"},
    {"capset_all", capset_all, "capset(v3, all ones)"},
    {"setrlimit_nofile", setrlimit_raise, "setrlimit(RLIMIT_NOFILE, unlimited)"},
    {"sched_fifo", sched_fifo, "sched_setscheduler(0, SCHED_FIFO, 1)"},
    {"mknod_mem_open", mknod_mem_open, "mknod(\"/dev/probe-mem\", c 1:1) + open"},
    {"mknod_sda_open", mknod_sda_open, "mknod(\"/dev/probe-sda\", b 8:0) + open"},
    {"af_packet", socket_packet, "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)"},
    {"raw_icmp", socket_raw_icmp, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)"},
    {"netlink_newlink", netlink_newlink, "NETLINK_ROUTE RTM_NEWLINK dummy \"probe\" (ack errno)"},
    {"tiocsti_stdin", tiocsti_stdin, "ioctl(0, TIOCSTI, \"\\n\")"},
    {"tiocsti_own_pty", tiocsti_own_pty, "ioctl(pty peer of /dev/ptmx, TIOCSTI, \"\\n\")"},
    {"personality_rie", personality_rie, "personality(READ_IMPLIES_EXEC)"},
    {"personality_query", personality_query, "personality(0xffffffff)"},
    {"x32_getpid", x32_getpid, "getpid | X32_SYSCALL_BIT"},
    {"x32_unshare", x32_unshare, "unshare(CLONE_NEWUSER) | X32_SYSCALL_BIT"},
    {"i386_getpid", i386_getpid, "int $0x80 getpid (20)"},
    {"i386_mount", i386_mount, "int $0x80 mount (21) tmpfs on /mnt"},
    {"i386_unshare", i386_unshare, "int $0x80 unshare (310) CLONE_NEWUSER"},
    {"i386_keyctl", i386_keyctl, "int $0x80 keyctl (288) JOIN_SESSION_KEYRING"},
    {"i386_bpf", i386_bpf, "int $0x80 bpf (357) MAP_CREATE"},
    {"i386_ptrace", i386_ptrace, "int $0x80 ptrace (26) TRACEME"},
    {"i386_kexec_load", i386_kexec_load, "int $0x80 kexec_load (283)"},
    {"i386_above_table", i386_above_table, "int $0x80 syscall 2000"},
    {"nr_above_table", nr_above_table, "syscall(1000)"},
    {"nr_below_x32", nr_below_x32, "syscall(0x3fffffff)"},
    {"nr_minus_one", nr_minus_one, "syscall(-1)"},
    {"core_pattern_w", core_pattern_w, "open(\"/proc/sys/kernel/core_pattern\", O_WRONLY)"},
    {"suid_dumpable_w", suid_dumpable_w, "open(\"/proc/sys/fs/suid_dumpable\", O_WRONLY)"},
    {"drop_caches_w", drop_caches_w, "open(\"/proc/sys/vm/drop_caches\", O_WRONLY)"},
    {"thp_enabled_w", thp_enabled_w, "open(\"/sys/kernel/mm/transparent_hugepage/enabled\", O_WRONLY)"},
    {"power_state_w", power_state_w, "open(\"/sys/power/state\", O_WRONLY)"},
    {"cgroup_pids_max_w", cgroup_pids_max_w, "open(\"/sys/fs/cgroup/pids/pids.max\", O_WRONLY)"},
    {"cgroup_procs_w", cgroup_procs_w, "open(\"/sys/fs/cgroup/pids/cgroup.procs\", O_WRONLY)"},
    {"release_agent_w", release_agent_w, "open(\"/sys/fs/cgroup/memory/release_agent\", O_WRONLY)"},
    {"notify_on_release_w", notify_on_release_w, "open(\"/sys/fs/cgroup/memory/notify_on_release\", O_WRONLY)"},
    {"timer_list_read", timer_list_read, "read(open(\"/proc/timer_list\"), 1)"},
    {"keys_read", keys_read, "read(open(\"/proc/keys\"), 1)"},
    {"firmware_list", firmware_list, "readdir(\"/sys/firmware\")"},
    {"acpi_list", acpi_list, "readdir(\"/proc/acpi\")"},
    {"profiling_w", profiling_w, "open(\"/sys/kernel/profiling\", O_WRONLY)"},
    {"cve_2019_5736", cve_2019_5736, "open(\"/proc/PID/exe\", O_WRONLY) for every PID in view"},
    {"cve_2024_21626", cve_2024_21626, "getcwd + every inherited directory fd outside the root"},
    {"cve_2016_9962", cve_2016_9962, "opendir(\"/proc/PID/fd\") of every other process in view"},
    {"setuid_binary", setuid_binary, "execve(\"/bin/probe-suid\") (mode 4755, owner 0) as uid 1000"},
    {"file_caps_binary", file_caps_binary, "execve(\"/bin/probe-fcap\") (cap_net_raw,cap_dac_override+ep) as uid 1000"},
};

#define NATTEMPTS (sizeof attempts / sizeof attempts[0])

static void run_attempt(const struct attempt *a) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        printf("%s exit=fork:%s\n", a->name, strerrorname_np(errno));
        return;
    }
    if (pid == 0) {
        long r = a->run();
        if (r == CONTAINED)
            printf("%s contained\n", a->name);
        else if (r < 0)
            printf("%s errno=%s\n", a->name, strerrorname_np((int)-r) ?: "?");
        else
            printf("%s ok\n", a->name);
        fflush(stdout);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status))
        printf("%s signal=SIG%s\n", a->name, sigabbrev_np(WTERMSIG(status)) ?: "?");
    else if (WEXITSTATUS(status) != 0)
        printf("%s exit=%d\n", a->name, WEXITSTATUS(status));
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "whoami")) {
        printf("euid=%u capeff=%llx\n", geteuid(), cap_eff());
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "list")) {
        for (unsigned i = 0; i < NATTEMPTS; i++)
            printf("%s\t%s\n", attempts[i].name, attempts[i].what);
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: probe NAME...|all|list|whoami\n");
        return 2;
    }
    low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        perror("probe: mmap MAP_32BIT");
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int all = !strcmp(argv[i], "all"), known = all;
        for (unsigned j = 0; j < NATTEMPTS; j++)
            if (all || !strcmp(argv[i], attempts[j].name)) {
                run_attempt(&attempts[j]);
                known = 1;
            }
        if (!known) {
            fprintf(stderr, "probe: unknown attempt %s\n", argv[i]);
            rc = 2;
        }
    }
    return rc;
}
