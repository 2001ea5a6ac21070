//! Installing a compiled filter with `seccomp(SECCOMP_SET_MODE_FILTER)`.

use oci_spec::runtime::LinuxSeccompFilterFlag;

use super::asm::MAX_INSTRUCTIONS;
use super::error::SeccompError;
use super::filter::Filter;

// `seccompiler::sock_filter` is passed to the kernel as `struct sock_filter`.
const _: () = assert!(
    std::mem::size_of::<seccompiler::sock_filter>() == std::mem::size_of::<libc::sock_filter>()
);

/// Converts OCI filter flags to `SECCOMP_FILTER_FLAG_*` bits.
///
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` only makes sense with a notification listener,
/// which pinhole does not support, so it is rejected. Does not allocate.
pub fn filter_flags(flags: &[LinuxSeccompFilterFlag]) -> Result<libc::c_ulong, SeccompError> {
    let mut bits = 0;
    for flag in flags {
        bits |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(SeccompError::UnsupportedFlag(*flag))
            }
        };
    }
    Ok(bits)
}

/// Installs `filter` on the calling thread.
///
/// The caller must have set `no_new_privs` (or hold `CAP_SYS_ADMIN`). Meant to run in the
/// container init right before `execve`: it performs no allocation, neither on success nor
/// on error.
pub fn install(filter: &Filter, flags: &[LinuxSeccompFilterFlag]) -> Result<(), SeccompError> {
    install_bits(filter, filter_flags(flags)?)
}

/// Installs `filter` with a notification listener (`SECCOMP_FILTER_FLAG_NEW_LISTENER`) and
/// leaves the listener open (close-on-exec, as the kernel creates it) for the supervisor to
/// take with `pidfd_getfd`. Same rules as [`install`]; `flags` must not hold TSYNC (the
/// kernel refuses it with a listener unless TSYNC_ESRCH is set).
pub fn install_listener(
    filter: &Filter,
    flags: &[LinuxSeccompFilterFlag],
) -> Result<(), SeccompError> {
    install_bits(
        filter,
        filter_flags(flags)? | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
    )
}

fn install_bits(filter: &Filter, bits: libc::c_ulong) -> Result<(), SeccompError> {
    let listener = bits & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0;
    let program = filter.program();
    if program.is_empty() || program.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::Internal("filter length out of range"));
    }
    let prog = libc::sock_fprog {
        len: program.len() as libc::c_ushort,
        // The kernel only reads through this pointer.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points to `len` valid instructions with the layout of the kernel's
    // `struct sock_filter` (size asserted above, both `#[repr(C)]` with the same fields) that
    // outlive the call; the kernel copies the program and does not keep the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            bits,
            &prog as *const libc::sock_fprog,
        )
    };
    match rc {
        0 => Ok(()),
        // With NEW_LISTENER the return is the listener fd.
        rc if rc > 0 && listener => Ok(()),
        // With TSYNC a positive return is the id of a thread that could not be synchronized.
        rc if rc > 0 => Err(SeccompError::Install(nix::errno::Errno::EBUSY)),
        _ => Err(SeccompError::Install(nix::errno::Errno::last())),
    }
}
