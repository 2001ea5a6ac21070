//! How many bits of each syscall argument the kernel reads.
//!
//! `seccomp_data.args` holds the full 64-bit registers, but the kernel's syscall wrappers cast
//! each register to the type in the syscall's prototype (`__SC_CAST` in
//! `include/linux/syscalls.h`): `socket(0x1_0000_0028, …)` creates an `AF_VSOCK` (40) socket
//! because `family` is an `int`. A condition on such an argument must look only at the bits the
//! kernel keeps, or setting a high bit slips past an `a0 != 40` allow rule or an `a0 == 40` deny
//! rule. [`NARROW`] lists the arguments narrower than 64 bits; every other argument is compared
//! in full (on x86_64 and x32; i386 arguments are 32-bit throughout).
//!
//! The table covers every (syscall, argument) that pinhole's profiles or Docker's default put a
//! condition on, and the arguments profiles commonly filter (socket families and options, ioctl
//! and fcntl commands, prctl options, signals, file modes). Arguments checked and found to be
//! 64-bit, hence absent here: `clone` flags (`unsigned long clone_flags`, x86_64's
//! `CONFIG_CLONE_BACKWARDS` prototype), `unshare` flags (`unsigned long`), `mmap` prot/flags
//! (x86_64's `SYSCALL_DEFINE6(mmap, unsigned long, …)` takes every argument as `unsigned long`),
//! `mprotect` prot (`unsigned long`), `ptrace` request (`long`).

use super::names::TargetArch;
use Width::{W16, W32};

/// The bits of an argument the kernel reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    /// `int`, `unsigned int`, `u32`, `pid_t`, `uid_t`, …: the low 32 bits.
    W32,
    /// `umode_t` (`unsigned short`): the low 16 bits.
    W16,
}

impl Width {
    /// The mask of the bits the kernel reads.
    pub(crate) fn mask(self) -> u64 {
        match self {
            Width::W32 => 0xffff_ffff,
            Width::W16 => 0xffff,
        }
    }
}

/// The narrow arguments of one syscall.
#[derive(Debug)]
pub(crate) struct Narrow {
    /// Syscall name, as in profiles.
    pub name: &'static str,
    /// (argument index, width) of each narrow argument.
    pub args: &'static [(usize, Width)],
    /// The kernel prototype the widths come from (the reason for the entry). Only the test
    /// `narrow_table_matches_its_prototypes` reads it, checking `args` against it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub prototype: &'static str,
}

/// Arguments the kernel truncates, with the prototype that says so.
pub(crate) const NARROW: &[Narrow] = &[
    Narrow {
        name: "socket",
        args: &[(0, W32), (1, W32), (2, W32)],
        prototype: "net/socket.c: SYSCALL_DEFINE3(socket, int, family, int, type, int, protocol)",
    },
    Narrow {
        name: "socketpair",
        args: &[(0, W32), (1, W32), (2, W32)],
        prototype: "net/socket.c: SYSCALL_DEFINE4(socketpair, int, family, int, type, int, \
                    protocol, int __user *, usockvec)",
    },
    Narrow {
        name: "socketcall",
        args: &[(0, W32)],
        prototype: "net/socket.c: SYSCALL_DEFINE2(socketcall, int, call, unsigned long __user *, \
                    args)",
    },
    Narrow {
        name: "setsockopt",
        args: &[(0, W32), (1, W32), (2, W32), (4, W32)],
        prototype: "net/socket.c: SYSCALL_DEFINE5(setsockopt, int, fd, int, level, int, optname, \
                    char __user *, optval, int, optlen)",
    },
    Narrow {
        name: "getsockopt",
        args: &[(0, W32), (1, W32), (2, W32)],
        prototype: "net/socket.c: SYSCALL_DEFINE5(getsockopt, int, fd, int, level, int, optname, \
                    char __user *, optval, int __user *, optlen)",
    },
    Narrow {
        name: "personality",
        args: &[(0, W32)],
        prototype: "kernel/exec_domain.c: SYSCALL_DEFINE1(personality, unsigned int, personality)",
    },
    Narrow {
        name: "ioctl",
        args: &[(0, W32), (1, W32)],
        prototype: "fs/ioctl.c: SYSCALL_DEFINE3(ioctl, unsigned int, fd, unsigned int, cmd, \
                    unsigned long, arg)",
    },
    Narrow {
        name: "fcntl",
        args: &[(0, W32), (1, W32)],
        prototype: "fs/fcntl.c: SYSCALL_DEFINE3(fcntl, unsigned int, fd, unsigned int, cmd, \
                    unsigned long, arg)",
    },
    Narrow {
        name: "prctl",
        args: &[(0, W32)],
        prototype: "kernel/sys.c: SYSCALL_DEFINE5(prctl, int, option, unsigned long, arg2, \
                    unsigned long, arg3, unsigned long, arg4, unsigned long, arg5)",
    },
    Narrow {
        name: "arch_prctl",
        args: &[(0, W32)],
        prototype: "arch/x86/kernel/process.c: SYSCALL_DEFINE2(arch_prctl, int, option, \
                    unsigned long, arg2)",
    },
    Narrow {
        name: "seccomp",
        args: &[(0, W32), (1, W32)],
        prototype: "kernel/seccomp.c: SYSCALL_DEFINE3(seccomp, unsigned int, op, unsigned int, \
                    flags, void __user *, uargs)",
    },
    Narrow {
        name: "setns",
        args: &[(0, W32), (1, W32)],
        prototype: "kernel/nsproxy.c: SYSCALL_DEFINE2(setns, int, fd, int, flags)",
    },
    Narrow {
        name: "kill",
        args: &[(0, W32), (1, W32)],
        prototype: "kernel/signal.c: SYSCALL_DEFINE2(kill, pid_t, pid, int, sig)",
    },
    Narrow {
        name: "tkill",
        args: &[(0, W32), (1, W32)],
        prototype: "kernel/signal.c: SYSCALL_DEFINE2(tkill, pid_t, pid, int, sig)",
    },
    Narrow {
        name: "tgkill",
        args: &[(0, W32), (1, W32), (2, W32)],
        prototype: "kernel/signal.c: SYSCALL_DEFINE3(tgkill, pid_t, tgid, pid_t, pid, int, sig)",
    },
    Narrow {
        name: "futex",
        args: &[(1, W32), (2, W32), (5, W32)],
        prototype: "kernel/futex/syscalls.c: SYSCALL_DEFINE6(futex, u32 __user *, uaddr, int, op, \
                    u32, val, const struct __kernel_timespec __user *, utime, \
                    u32 __user *, uaddr2, u32, val3)",
    },
    Narrow {
        name: "umask",
        args: &[(0, W32)],
        prototype: "kernel/sys.c: SYSCALL_DEFINE1(umask, int, mask)",
    },
    Narrow {
        name: "chmod",
        args: &[(1, W16)],
        prototype:
            "fs/open.c: SYSCALL_DEFINE2(chmod, const char __user *, filename, umode_t, mode)",
    },
    Narrow {
        name: "fchmod",
        args: &[(0, W32), (1, W16)],
        prototype: "fs/open.c: SYSCALL_DEFINE2(fchmod, unsigned int, fd, umode_t, mode)",
    },
    Narrow {
        name: "fchmodat",
        args: &[(0, W32), (2, W16)],
        prototype: "fs/open.c: SYSCALL_DEFINE3(fchmodat, int, dfd, const char __user *, filename, \
                    umode_t, mode)",
    },
    Narrow {
        name: "fchmodat2",
        args: &[(0, W32), (2, W16), (3, W32)],
        prototype:
            "fs/open.c: SYSCALL_DEFINE4(fchmodat2, int, dfd, const char __user *, filename, \
                    umode_t, mode, unsigned int, flags)",
    },
    Narrow {
        name: "open",
        args: &[(1, W32), (2, W16)],
        prototype: "fs/open.c: SYSCALL_DEFINE3(open, const char __user *, filename, int, flags, \
                    umode_t, mode)",
    },
    Narrow {
        name: "openat",
        args: &[(0, W32), (2, W32), (3, W16)],
        prototype: "fs/open.c: SYSCALL_DEFINE4(openat, int, dfd, const char __user *, filename, \
                    int, flags, umode_t, mode)",
    },
    Narrow {
        name: "creat",
        args: &[(1, W16)],
        prototype:
            "fs/open.c: SYSCALL_DEFINE2(creat, const char __user *, pathname, umode_t, mode)",
    },
    Narrow {
        name: "mkdir",
        args: &[(1, W16)],
        prototype: "fs/namei.c: SYSCALL_DEFINE2(mkdir, const char __user *, pathname, umode_t, \
                    mode)",
    },
    Narrow {
        name: "mkdirat",
        args: &[(0, W32), (2, W16)],
        prototype: "fs/namei.c: SYSCALL_DEFINE3(mkdirat, int, dfd, const char __user *, pathname, \
                    umode_t, mode)",
    },
    Narrow {
        name: "mknod",
        args: &[(1, W16), (2, W32)],
        prototype: "fs/namei.c: SYSCALL_DEFINE3(mknod, const char __user *, filename, umode_t, \
                    mode, unsigned, dev)",
    },
    Narrow {
        name: "mknodat",
        args: &[(0, W32), (2, W16), (3, W32)],
        prototype: "fs/namei.c: SYSCALL_DEFINE4(mknodat, int, dfd, const char __user *, filename, \
                    umode_t, mode, unsigned int, dev)",
    },
];

/// Mask of the bits the kernel reads, per argument index, of syscall `name` on `arch`.
///
/// i386 arguments are 32-bit registers; elsewhere an argument is 64-bit unless [`NARROW`]
/// says otherwise.
pub(crate) fn arg_masks(name: &str, arch: TargetArch) -> [u64; 6] {
    let full = if arch.has_32bit_args() {
        0xffff_ffff
    } else {
        u64::MAX
    };
    let mut masks = [full; 6];
    if let Some(n) = NARROW.iter().find(|n| n.name == name) {
        for (index, width) in n.args {
            masks[*index] &= width.mask();
        }
    }
    masks
}
