//! OCI `linux.seccomp` → classic-BPF compiler, cache and installer.
//!
//! Profiles are data, compiled once into a [`Filter`] by pinhole's own compiler (seccompiler's
//! `SeccompFilter` allows a single match action per filter; OCI profiles mix actions).
//!
//! # Program layout
//!
//! ```text
//!   ld  arch
//!   jeq AUDIT_ARCH_X86_64 → X86_64      ; one jeq per covered audit arch
//!   jeq AUDIT_ARCH_I386   → X86
//!   ret KILL_PROCESS                    ; bad arch (libseccomp's default)
//! X86_64:
//!   ld  nr
//!   jge 0x40000000 → X32                ; X32_SYSCALL_BIT set
//!   <tree over x86_64 numbers>
//! X32:                                ; only when SCMP_ARCH_X32 is listed, else:
//!   <tree over x32 numbers>             ;   jeq 0xffffffff → ret default (nr -1 is not x32)
//!                                       ;   ret KILL_PROCESS
//! X86:
//!   ld  nr
//!   <tree over i386 numbers>
//! ```
//!
//! A tree dispatches on **ranges**: the section's whole number space (x86_64: `0..2^30`,
//! x32: `2^30..=u32::MAX`, others: all of `u32`) is cut into maximal runs of consecutive
//! numbers with the same argument-independent outcome — listed syscalls with the same
//! unconditional action and unlisted numbers (default action) merge — while syscalls with
//! argument rules stay single-number runs. An allowlist thus becomes a few dozen runs per
//! arch. The tree is a binary search over the runs' first numbers (`jge lo`); a run with an
//! unconditional action is not code but a jump to a `ret` shared by its subtree:
//!
//! ```text
//!   jge 16 → N1                         ; runs 0..=3 | 4..=15 | 16 | 17..=40 | 41..
//!   jge 4  → RET_ERRNO1 : RET_ALLOW     ; 0..=3 allowed, 4..=15 default
//! N1:
//!   jge 17 → N2
//!   <rule 1 conditions of nr 16, each jumping to the next rule on failure> ret action1
//!   <rule 2 ...> ret action2
//!   ret fallback
//! N2:
//!   jge 41 → RET_ERRNO1 : RET_ALLOW
//! RET_ALLOW: ret ALLOW                  ; returns shared by the subtree, which is kept small
//! RET_ERRNO1: ret ERRNO(1)              ;   enough for these jumps to stay short
//! ```
//!
//! So each run costs one instruction however many numbers it spans, and a lookup takes
//! O(log runs) steps. Unconditional runs do not depend on arguments, so the kernel's
//! constant-action cache applies to them.
//!
//! Conditional jumps whose target is more than 255 instructions ahead get a `BPF_JA`
//! trampoline (see `asm.rs`). Programs over 4096 instructions are rejected with
//! [`SeccompError::TooLarge`].
//!
//! # Semantics
//!
//! - Architectures: the native one is always covered; listed `SCMP_ARCH_X86`, `SCMP_ARCH_X32`
//!   (x86_64 hosts) are added. Architectures the host kernel can never report (ARM on x86_64,
//!   …) are ignored: their code would be unreachable.
//! - Names: a name is known if any covered arch has it; on arches lacking it, it is skipped.
//!   A name that only exists on arches the filter does not cover (this host's uncovered ABIs,
//!   or any other Linux architecture: arm (with its private calls), aarch64, loongarch64, mips,
//!   mips64, powerpc, powerpc64, riscv32, riscv64, s390x, sparc, sparc64) is skipped too, as
//!   libseccomp skips it, so engines' default profiles load unchanged. Unknown names are an
//!   error unless listed in `optional` (or `optional` holds `"*"`).
//! - Rules for the same syscall are tried in profile order and the first whose conditions all
//!   hold (AND) decides. An unconditional rule ends the chain, so when one syscall has several
//!   conflicting unconditional actions the first one wins.
//! - Conditions compare 64-bit arguments as unsigned (hi, lo) halves like libseccomp;
//!   `SCMP_CMP_MASKED_EQ` is `(arg & value) == valueTwo`. On i386 only the low 32 bits exist
//!   and only they are compared (values are truncated, as libseccomp does).
//! - Arguments the kernel declares narrower than 64 bits (`int`, `unsigned int`, `pid_t`,
//!   `umode_t`, … in the syscall's prototype; table in `argwidth.rs`) are compared on the bits
//!   the kernel reads, on every arch: the kernel casts the register to the declared type, so
//!   `socket(0x1_0000_0028, …)` is `socket(AF_VSOCK, …)` and a full 64-bit compare would let
//!   it pass an `a0 != 40` rule. Argument, `value` and `valueTwo` are all cut to the width
//!   (the i386 rule above, applied per argument), and the operators act on the cut values:
//!   EQ/NE/MASKED_EQ then say exactly what the kernel sees; GT/GE/LT/LE compare the cut
//!   values unsigned (so a negative `int` is a large number, as in libseccomp's 32-bit
//!   compares), and a value with bits above the width is cut, not an error (e.g.
//!   `EQ 0xffffffffffffffff` on an `int` matches -1, the way a sign-extended profile means it).
//! - Actions: ALLOW, LOG, ERRNO (`errnoRet`, default EPERM, at most 4095), KILL/KILL_THREAD,
//!   KILL_PROCESS, TRAP. NOTIFY and TRACE are rejected.

mod argwidth;
mod asm;
mod cache;
mod compile;
mod error;
pub mod features;
mod filter;
mod install;
mod interp;
mod names;
pub mod notify;
pub mod profile;
pub mod risk;
pub mod surface;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod model;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

use oci_spec::runtime::LinuxSeccomp;

pub use asm::MAX_INSTRUCTIONS;
pub use cache::{cache_key, compile_cached, COMPILER_VERSION};
pub use error::{ProfileError, ProfileProblem, SeccompError};
pub use filter::Filter;
pub use install::{filter_flags, install, install_listener};

/// Compiles an OCI seccomp profile into a BPF filter.
///
/// `optional` lists syscall names that may be unknown on every covered architecture (`"*"`
/// makes every unknown name optional). Also validates `linux.seccomp.flags`.
pub fn compile(seccomp: &LinuxSeccomp, optional: &[String]) -> Result<Filter, SeccompError> {
    compile::compile(seccomp, optional)
}

/// Checks that a profile compiles (names, actions, arguments, flags, size).
pub fn validate(seccomp: &LinuxSeccomp, optional: &[String]) -> Result<(), SeccompError> {
    compile(seccomp, optional).map(drop)
}
