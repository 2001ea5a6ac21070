//! Filters for the supervisor (recording and denial audit) and the evaluation it needs.
//!
//! - [`notify_all`]: returns `SECCOMP_RET_USER_NOTIF` for every syscall. Stacked on the
//!   ceiling it sees exactly what the ceiling lets through (ERRNO takes precedence over
//!   USER_NOTIF), which is what a recording wants.
//! - [`notify_denials`]: the ceiling itself with each `ret ERRNO(e)` turned into
//!   `ret USER_NOTIF`; the supervisor answers with the errno [`evaluate`] finds in the
//!   original program, so the workload sees the same result and the denial gets a name.
//!   If the supervisor goes away the kernel fails those syscalls with ENOSYS: still denied.
//!   A prologue also notifies native `execve`/`execveat`, which the supervisor continues when
//!   the original allows them: the init's listener is close-on-exec, so its `execve` must
//!   wait until the supervisor holds the listener (otherwise the listener dies with the
//!   exec and every denial becomes ENOSYS).

use seccompiler::sock_filter;

use super::asm::{JMP_JEQ_K, LD_W_ABS, RET_K};
use super::compile::{OFF_ARCH, OFF_NR};
use super::filter::Filter;
use super::names::{TargetArch, X32_SYSCALL_BIT};

/// Action class mask of a seccomp return value.
const ACTION_FULL: u32 = 0xffff_0000;
/// Data mask (errno) of a seccomp return value.
const DATA: u32 = 0x0000_ffff;

/// A filter that hands every syscall to the listener.
pub fn notify_all() -> Filter {
    Filter::from_program(vec![sock_filter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_USER_NOTIF,
    }])
}

/// `filter` with every ERRNO return replaced by USER_NOTIF, behind a prologue that notifies
/// native `execve` and `execveat`. `None` when the result would exceed the kernel's limit.
pub fn notify_denials(filter: &Filter) -> Option<Filter> {
    let native = TargetArch::NATIVE;
    let execs = [native.lookup("execve")?, native.lookup("execveat")?];
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    // Jumps are relative to the next instruction; the original program starts at 6 and
    // its own jumps are relative, so it is unchanged behind the prologue.
    let mut program = vec![
        insn(LD_W_ABS, 0, 0, OFF_ARCH),
        insn(JMP_JEQ_K, 0, 4, native.audit_arch()),
        insn(LD_W_ABS, 0, 0, OFF_NR),
        insn(JMP_JEQ_K, 1, 0, execs[0]),
        insn(JMP_JEQ_K, 0, 1, execs[1]),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_USER_NOTIF),
    ];
    if program.len() + filter.instructions() > super::MAX_INSTRUCTIONS {
        return None;
    }
    program.extend(filter.program().iter().map(|i| {
        let k = if i.code == RET_K && i.k & ACTION_FULL == libc::SECCOMP_RET_ERRNO {
            libc::SECCOMP_RET_USER_NOTIF
        } else {
            i.k
        };
        sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k,
        }
    }));
    Some(Filter::from_program(program))
}

/// The outcome of a program for one syscall entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// ALLOW or LOG.
    Allow,
    /// ERRNO with this errno.
    Errno(i32),
    /// KILL_*, TRAP, TRACE or USER_NOTIF.
    Other(u32),
}

/// Runs `filter` on a syscall entry (`arch` is `AUDIT_ARCH_*`, `nr` as in `seccomp_data`).
pub fn evaluate(filter: &Filter, arch: u32, nr: u32, ip: u64, args: [u64; 6]) -> Verdict {
    let data = super::interp::Data { nr, arch, ip, args };
    let (ret, _) = super::interp::run(filter.program(), &data);
    match ret & ACTION_FULL {
        libc::SECCOMP_RET_ALLOW | libc::SECCOMP_RET_LOG => Verdict::Allow,
        libc::SECCOMP_RET_ERRNO => Verdict::Errno((ret & DATA) as i32),
        _ => Verdict::Other(ret),
    }
}

/// The OCI name (`SCMP_ARCH_*`) of a syscall entry and the syscall's name there; `None` for
/// an ABI this host does not filter. Numbers no table knows are named `nr_N`.
pub fn describe(arch: u32, nr: u32) -> Option<(&'static str, String)> {
    let target = TargetArch::ALL
        .iter()
        .copied()
        .filter(|t| t.audit_arch() == arch)
        .find(|t| {
            // x32 shares AUDIT_ARCH_X86_64 and sets the x32 bit in the number.
            #[cfg(target_arch = "x86_64")]
            {
                (*t == TargetArch::X32) == (nr & X32_SYSCALL_BIT != 0)
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                let _ = (t, X32_SYSCALL_BIT);
                true
            }
        })?;
    let name = target
        .name_of(nr)
        .map_or_else(|| format!("nr_{nr}"), str::to_string);
    Some((target.oci_name(), name))
}

/// The syscall number of `name` on the arch OCI calls `oci_arch`.
pub fn number_of(oci_arch: &str, name: &str) -> Option<u32> {
    TargetArch::ALL
        .iter()
        .find(|t| t.oci_name() == oci_arch)
        .and_then(|t| t.lookup(name))
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;

    #[test]
    fn notify_denials_keeps_the_allow_paths_and_errnos_are_found_again() {
        let ceiling = crate::seccomp::compile(&crate::policy::default_allowlist(), &[]).unwrap();
        let audit = notify_denials(&ceiling).unwrap();
        assert_eq!(audit.instructions(), ceiling.instructions() + 6);
        let mkdir = 83;
        let read = 0;
        let clone3 = 435;
        assert_eq!(
            evaluate(&ceiling, AUDIT_ARCH_X86_64, read, 0, [0; 6]),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(&audit, AUDIT_ARCH_X86_64, read, 0, [0; 6]),
            Verdict::Allow
        );
        let notif = Verdict::Other(libc::SECCOMP_RET_USER_NOTIF);
        for nr in [clone3, 425 /* io_uring_setup */] {
            assert!(matches!(
                evaluate(&ceiling, AUDIT_ARCH_X86_64, nr, 0, [0; 6]),
                Verdict::Errno(_)
            ));
            assert_eq!(evaluate(&audit, AUDIT_ARCH_X86_64, nr, 0, [0; 6]), notif);
        }
        let _ = mkdir;
        // execve/execveat notify (the supervisor continues them), other arches' do not.
        assert_eq!(evaluate(&audit, AUDIT_ARCH_X86_64, 59, 0, [0; 6]), notif);
        assert_eq!(evaluate(&audit, AUDIT_ARCH_X86_64, 322, 0, [0; 6]), notif);
        assert_eq!(
            evaluate(&audit, AUDIT_ARCH_I386, 11, 0, [0; 6]),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(&ceiling, AUDIT_ARCH_X86_64, 59, 0, [0; 6]),
            Verdict::Allow
        );
    }

    #[test]
    fn describe_names_each_abi() {
        assert_eq!(
            describe(AUDIT_ARCH_X86_64, 59),
            Some(("SCMP_ARCH_X86_64", "execve".to_string()))
        );
        assert_eq!(
            describe(AUDIT_ARCH_X86_64, 520 | X32_SYSCALL_BIT),
            Some(("SCMP_ARCH_X32", "execve".to_string()))
        );
        assert_eq!(
            describe(AUDIT_ARCH_I386, 11),
            Some(("SCMP_ARCH_X86", "execve".to_string()))
        );
        assert_eq!(
            describe(AUDIT_ARCH_X86_64, 4000),
            Some(("SCMP_ARCH_X86_64", "nr_4000".to_string()))
        );
        assert_eq!(describe(0xdead, 1), None);
        assert_eq!(number_of("SCMP_ARCH_X86", "socketcall"), Some(102));
    }
}
