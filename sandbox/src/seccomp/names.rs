//! Syscall name → number tables for the architectures a filter can cover.
//!
//! Tables come from the `syscalls` crate. x32 has no table of its own there: x32 numbers are the
//! x86_64 numbers with [`X32_SYSCALL_BIT`] set, except for the x32-specific compat entries
//! (512..=547 in `arch/x86/entry/syscalls/syscall_64.tbl`) listed in [`X32_SPECIFIC`].

use std::collections::HashMap;
use std::sync::OnceLock;

use oci_spec::runtime::Arch;

/// Bit set in `seccomp_data.nr` for x32 syscalls (which share `AUDIT_ARCH_X86_64`).
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`.
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`.
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// x32 syscalls whose number differs from `x86_64_nr | X32_SYSCALL_BIT`.
const X32_SPECIFIC: &[(&str, u32)] = &[
    ("rt_sigaction", 512),
    ("rt_sigreturn", 513),
    ("ioctl", 514),
    ("readv", 515),
    ("writev", 516),
    ("recvfrom", 517),
    ("sendmsg", 518),
    ("recvmsg", 519),
    ("execve", 520),
    ("ptrace", 521),
    ("rt_sigpending", 522),
    ("rt_sigtimedwait", 523),
    ("rt_sigqueueinfo", 524),
    ("sigaltstack", 525),
    ("timer_create", 526),
    ("mq_notify", 527),
    ("kexec_load", 528),
    ("waitid", 529),
    ("set_robust_list", 530),
    ("get_robust_list", 531),
    ("vmsplice", 532),
    ("move_pages", 533),
    ("preadv", 534),
    ("pwritev", 535),
    ("rt_tgsigqueueinfo", 536),
    ("recvmmsg", 537),
    ("sendmmsg", 538),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
    ("setsockopt", 541),
    ("getsockopt", 542),
    ("io_setup", 543),
    ("io_submit", 544),
    ("execveat", 545),
    ("preadv2", 546),
    ("pwritev2", 547),
];

/// An architecture pinhole emits a filter section for.
///
/// Only architectures the host kernel can report in `seccomp_data.arch` exist here; other
/// `linux.seccomp.architectures` entries would be unreachable code and are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TargetArch {
    /// x86_64 (native on x86_64 hosts).
    #[cfg(target_arch = "x86_64")]
    X86_64,
    /// x32: `AUDIT_ARCH_X86_64` with [`X32_SYSCALL_BIT`] set in the syscall number.
    #[cfg(target_arch = "x86_64")]
    X32,
    /// i386 compat syscalls (`int 0x80`, 32-bit processes).
    #[cfg(target_arch = "x86_64")]
    X86,
    /// aarch64 (native on aarch64 hosts).
    #[cfg(target_arch = "aarch64")]
    Aarch64,
}

impl TargetArch {
    /// The architecture of the running kernel, always covered by a filter.
    #[cfg(target_arch = "x86_64")]
    pub(crate) const NATIVE: TargetArch = TargetArch::X86_64;
    /// The architecture of the running kernel, always covered by a filter.
    #[cfg(target_arch = "aarch64")]
    pub(crate) const NATIVE: TargetArch = TargetArch::Aarch64;

    /// Every architecture a filter can cover on this host.
    #[cfg(target_arch = "x86_64")]
    pub(crate) const ALL: &'static [TargetArch] =
        &[TargetArch::X86_64, TargetArch::X32, TargetArch::X86];
    /// Every architecture a filter can cover on this host.
    #[cfg(target_arch = "aarch64")]
    pub(crate) const ALL: &'static [TargetArch] = &[TargetArch::Aarch64];

    /// Whether the native arch section also dispatches x32 syscalls (sorted right after it).
    pub(crate) const NATIVE_HAS_X32: bool = cfg!(target_arch = "x86_64");

    /// Value of `seccomp_data.arch` for this architecture.
    pub(crate) fn audit_arch(self) -> u32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86_64 | TargetArch::X32 => AUDIT_ARCH_X86_64,
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86 => AUDIT_ARCH_I386,
            #[cfg(target_arch = "aarch64")]
            TargetArch::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    /// Whether syscall arguments are 32 bits wide (only the low halves are compared).
    pub(crate) fn has_32bit_args(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86 => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Maps an OCI architecture to the one pinhole covers, `None` when foreign to this host.
    pub(crate) fn from_oci(arch: Arch) -> Option<TargetArch> {
        match arch {
            Arch::ScmpArchNative => Some(Self::NATIVE),
            #[cfg(target_arch = "x86_64")]
            Arch::ScmpArchX86_64 => Some(TargetArch::X86_64),
            #[cfg(target_arch = "x86_64")]
            Arch::ScmpArchX32 => Some(TargetArch::X32),
            #[cfg(target_arch = "x86_64")]
            Arch::ScmpArchX86 => Some(TargetArch::X86),
            #[cfg(target_arch = "aarch64")]
            Arch::ScmpArchAarch64 => Some(TargetArch::Aarch64),
            _ => None,
        }
    }

    /// The covered architectures for a profile: native plus the listed ones this host has,
    /// sorted and deduplicated.
    pub(crate) fn covered(listed: Option<&[Arch]>) -> Vec<TargetArch> {
        let mut out = vec![Self::NATIVE];
        out.extend(
            listed
                .unwrap_or(&[])
                .iter()
                .filter_map(|a| Self::from_oci(*a)),
        );
        out.sort();
        out.dedup();
        out
    }

    /// The OCI name of this architecture (`SCMP_ARCH_*`).
    pub(crate) fn oci_name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86_64 => "SCMP_ARCH_X86_64",
            #[cfg(target_arch = "x86_64")]
            TargetArch::X32 => "SCMP_ARCH_X32",
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86 => "SCMP_ARCH_X86",
            #[cfg(target_arch = "aarch64")]
            TargetArch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    /// The name of syscall `nr` (as in `seccomp_data.nr`) on this architecture.
    pub(crate) fn name_of(self, nr: u32) -> Option<&'static str> {
        match self {
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86_64 => reverse(x86_64_table(), nr),
            #[cfg(target_arch = "x86_64")]
            TargetArch::X32 => {
                let nr = nr & !X32_SYSCALL_BIT;
                X32_SPECIFIC
                    .iter()
                    .find(|(_, n)| *n == nr)
                    .map(|(name, _)| *name)
                    .or_else(|| (nr < 512).then(|| reverse(x86_64_table(), nr)).flatten())
            }
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86 => reverse(x86_table(), nr),
            #[cfg(target_arch = "aarch64")]
            TargetArch::Aarch64 => reverse(aarch64_table(), nr),
        }
    }

    /// The syscall number of `name` on this architecture, as seen in `seccomp_data.nr`.
    pub(crate) fn lookup(self, name: &str) -> Option<u32> {
        match self {
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86_64 => x86_64_table().get(name).copied(),
            #[cfg(target_arch = "x86_64")]
            TargetArch::X32 => {
                if let Some((_, nr)) = X32_SPECIFIC.iter().find(|(n, _)| *n == name) {
                    return Some(nr | X32_SYSCALL_BIT);
                }
                x86_64_table().get(name).map(|nr| nr | X32_SYSCALL_BIT)
            }
            #[cfg(target_arch = "x86_64")]
            TargetArch::X86 => x86_table().get(name).copied(),
            #[cfg(target_arch = "aarch64")]
            TargetArch::Aarch64 => aarch64_table().get(name).copied(),
        }
    }
}

/// The name mapped to `nr` in `table`.
fn reverse(table: &'static HashMap<&'static str, u32>, nr: u32) -> Option<&'static str> {
    table.iter().find(|(_, n)| **n == nr).map(|(name, _)| *name)
}

/// Builds a name → number map by walking a `syscalls` crate table.
///
/// Walks the numeric range with `Sysno::new` rather than `Sysno::iter` (which skips the last
/// entry) and strips the raw-identifier prefix (`r#break` is the `break` syscall).
macro_rules! table {
    ($fn_name:ident, $sysno:ty) => {
        fn $fn_name() -> &'static HashMap<&'static str, u32> {
            static TABLE: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
            TABLE.get_or_init(|| {
                let first = <$sysno>::first().id();
                let last = <$sysno>::last().id();
                (first..=last)
                    .filter_map(|id| <$sysno>::new(id as usize))
                    .map(|s| (s.name().trim_start_matches("r#"), s.id() as u32))
                    .collect()
            })
        }
    };
}

#[cfg(target_arch = "x86_64")]
table!(x86_64_table, syscalls::x86_64::Sysno);
#[cfg(target_arch = "x86_64")]
table!(x86_table, syscalls::x86::Sysno);
#[cfg(target_arch = "aarch64")]
table!(aarch64_table, syscalls::aarch64::Sysno);

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(TargetArch::X86_64.lookup("read"), Some(0));
        assert_eq!(TargetArch::X86_64.lookup("uname"), Some(63));
        assert_eq!(TargetArch::X86_64.lookup("file_setattr"), Some(469));
        assert_eq!(TargetArch::X86_64.lookup("socketcall"), None);
        assert_eq!(TargetArch::X86.lookup("socketcall"), Some(102));
        assert_eq!(TargetArch::X86.lookup("break"), Some(17));
        assert_eq!(TargetArch::X86.lookup("read"), Some(3));
        assert_eq!(TargetArch::X32.lookup("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(TargetArch::X32.lookup("ioctl"), Some(514 | X32_SYSCALL_BIT));
        assert_eq!(TargetArch::X86_64.lookup("nope"), None);
    }

    #[test]
    fn covered_arches() {
        assert_eq!(TargetArch::covered(None), vec![TargetArch::X86_64]);
        let listed = [Arch::ScmpArchX86, Arch::ScmpArchX32, Arch::ScmpArchArm];
        assert_eq!(
            TargetArch::covered(Some(&listed)),
            vec![TargetArch::X86_64, TargetArch::X32, TargetArch::X86]
        );
    }
}

/// ARM's private syscalls (`__ARM_NR_BASE + n`, arch/arm/include/uapi/asm/unistd.h), which
/// libseccomp's arm table carries and the `syscalls` crate's does not.
const ARM_PRIVATE: &[&str] = &[
    "breakpoint",
    "cacheflush",
    "usr26",
    "usr32",
    "set_tls",
    "get_tls",
];

/// Whether `name` is a syscall of an architecture the filter does not cover: one of this
/// host's ABIs that the profile does not list (e.g. i386's `fadvise64_64` in a native-only
/// profile), or one of any other Linux architecture (the tables of every architecture the
/// `syscalls` crate has, as libseccomp carries them: arm, aarch64, loongarch64, mips, mips64,
/// powerpc, powerpc64, riscv32, riscv64, s390x, sparc, sparc64, plus arm's private calls).
/// Engines' default profiles (Docker's, containers-common's, containerd's) list such names
/// (`riscv_hwprobe`, `syscall`, `vm86old`, `cacheflush`); they cannot reach the filter, so
/// skipping them changes nothing. Names unknown everywhere stay an error.
pub(crate) fn is_foreign(name: &str) -> bool {
    use std::str::FromStr;
    macro_rules! any_table {
        ($($arch:ident),*) => { false $(|| syscalls::$arch::Sysno::from_str(name).is_ok())* };
    }
    TargetArch::ALL.iter().any(|a| a.lookup(name).is_some())
        || ARM_PRIVATE.contains(&name)
        || any_table!(
            aarch64,
            arm,
            loongarch64,
            mips,
            mips64,
            powerpc,
            powerpc64,
            riscv32,
            riscv64,
            s390x,
            sparc,
            sparc64,
            x86,
            x86_64
        )
}

#[cfg(test)]
mod foreign_tests {
    #[test]
    fn foreign_names() {
        assert!(super::is_foreign("recv"));
        assert!(super::is_foreign("arm_fadvise64_64"));
        assert!(super::is_foreign("fadvise64_64")); // i386 only
        assert!(super::is_foreign("socketcall"));
        // other architectures' names in engines' default profiles
        for name in [
            "riscv_hwprobe",
            "riscv_flush_icache",
            "syscall",
            "vm86old",
            "cacheflush",
        ] {
            assert!(super::is_foreign(name), "{name}");
        }
        assert!(!super::is_foreign("no_such_syscall"));
    }
}
