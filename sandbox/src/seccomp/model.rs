//! Reference model of what a profile means, and the differential check of the compiler
//! against it.
//!
//! [`verdict`] is written from the semantics in the module docs of [`crate::seccomp`], not
//! from the compiler: it walks the profile's rules in order for one `seccomp_data` and shares
//! only the name and width tables (`names.rs`, `argwidth.rs`) and the `SECCOMP_RET_*` numbers
//! with it. [`check`] compiles a profile, runs the program in the test interpreter on probes
//! derived from the profile and compares each verdict with the model's.
//!
//! Used by the unit tests (`tests.rs`, over a fixed corpus and seeded generated profiles) and,
//! behind the `fuzzing` feature, by `fuzz/fuzz_targets/seccomp_compile.rs`. Not an API.

use std::fmt;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};
use serde_json::{json, Value};

use super::argwidth::{arg_masks, NARROW};
use super::compile::{RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG, RET_TRAP};
use super::interp::{run, Data};
use super::names::{TargetArch, X32_SYSCALL_BIT};

/// An audit arch no filter covers (`AUDIT_ARCH_ARM`).
const FOREIGN_AUDIT_ARCH: u32 = 0x4000_0028;

/// The `SECCOMP_RET_*` value the profile gives one syscall, per the documented semantics.
///
/// - The audit arch and number select the ABI: under `AUDIT_ARCH_X86_64` a number with
///   `X32_SYSCALL_BIT` is x32, except nr -1 (`u32::MAX`), which is x86_64's. An ABI the
///   profile does not cover (native plus the listed ones) and an unknown audit arch get
///   `KILL_PROCESS`.
/// - The first rule naming the syscall on that ABI whose conditions all hold decides;
///   otherwise the default action.
/// - A condition compares unsigned, on the bits the kernel reads of that argument (i386: the
///   low 32; `argwidth.rs` for `int`/`umode_t` arguments): argument, `value` and `valueTwo`
///   are all cut to them. `SCMP_CMP_MASKED_EQ` is `(arg & value) == valueTwo`.
/// - ERRNO without `errnoRet` is EPERM; KILL is KILL_THREAD.
///
/// Only meaningful for a profile that compiles (actions, errnos, argument indices valid).
pub fn verdict(p: &LinuxSeccomp, audit_arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let Some(arch) = abi(audit_arch, nr) else {
        return RET_KILL_PROCESS;
    };
    if !TargetArch::covered(p.architectures().as_deref()).contains(&arch) {
        return RET_KILL_PROCESS;
    }
    for rule in p.syscalls().iter().flatten() {
        let Some(name) = rule.names().iter().find(|n| arch.lookup(n) == Some(nr)) else {
            continue;
        };
        if conditions_hold(rule, arg_masks(name, arch), &args) {
            return action(rule.action(), rule.errno_ret());
        }
    }
    action(p.default_action(), p.default_errno_ret())
}

/// The ABI a `seccomp_data` (arch, nr) belongs to, `None` for an audit arch of no ABI here.
fn abi(audit_arch: u32, nr: u32) -> Option<TargetArch> {
    let mut abis = TargetArch::ALL
        .iter()
        .copied()
        .filter(|a| a.audit_arch() == audit_arch);
    let first = abis.next()?;
    Some(match abis.next() {
        // x86_64 and x32 share AUDIT_ARCH_X86_64.
        Some(x32) if nr >= X32_SYSCALL_BIT && nr != u32::MAX => x32,
        _ => first,
    })
}

/// Whether every condition of `rule` holds, comparing on `widths`.
fn conditions_hold(rule: &LinuxSyscall, widths: [u64; 6], args: &[u64; 6]) -> bool {
    use LinuxSeccompOperator as Op;
    rule.args().iter().flatten().all(|c| {
        let w = widths[c.index()];
        let (arg, v, v2) = (
            args[c.index()] & w,
            c.value() & w,
            c.value_two().unwrap_or(0) & w,
        );
        match c.op() {
            Op::ScmpCmpEq => arg == v,
            Op::ScmpCmpNe => arg != v,
            Op::ScmpCmpLt => arg < v,
            Op::ScmpCmpLe => arg <= v,
            Op::ScmpCmpGt => arg > v,
            Op::ScmpCmpGe => arg >= v,
            Op::ScmpCmpMaskedEq => arg & v == v2,
        }
    })
}

/// The `SECCOMP_RET_*` value of an action.
fn action(a: LinuxSeccompAction, errno: Option<u32>) -> u32 {
    use LinuxSeccompAction as A;
    match a {
        A::ScmpActAllow => RET_ALLOW,
        A::ScmpActLog => RET_LOG,
        A::ScmpActKill | A::ScmpActKillThread => RET_KILL_THREAD,
        A::ScmpActKillProcess => RET_KILL_PROCESS,
        A::ScmpActTrap => RET_TRAP,
        A::ScmpActErrno => RET_ERRNO | errno.unwrap_or(libc::EPERM as u32),
        A::ScmpActNotify | A::ScmpActTrace => panic!("model: {a} does not compile"),
    }
}

/// One `seccomp_data` the compiled program and the model disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `seccomp_data.arch`.
    pub arch: u32,
    /// `seccomp_data.nr`.
    pub nr: u32,
    /// `seccomp_data.args`.
    pub args: [u64; 6],
    /// The program's verdict.
    pub got: u32,
    /// The model's verdict.
    pub want: u32,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arch {:#x} nr {:#x} args {:#x?}: program returns {:#x}, the profile means {:#x}",
            self.arch, self.nr, self.args, self.got, self.want
        )
    }
}

/// Compiles `p`; when it compiles, checks the program against [`verdict`] on probes derived
/// from the profile and `seed` (every covered ABI's numbers of every name, edge numbers,
/// arguments around each condition's values). Returns whether it compiled, or the first
/// disagreement. Panics where the program is one the kernel would refuse to run.
pub fn check(p: &LinuxSeccomp, optional: &[String], seed: u64) -> Result<bool, Mismatch> {
    let Ok(filter) = super::compile(p, optional) else {
        return Ok(false);
    };
    let bytes = filter.to_bytes();
    match super::Filter::from_bytes(&bytes) {
        Ok(back) => assert_eq!(back, filter, "serialized filter reads back different"),
        Err(e) => panic!("serialized filter does not read back: {e}"),
    }
    for (arch, nr, args) in probes(p, seed) {
        let (got, _) = run(
            filter.program(),
            &Data {
                nr,
                arch,
                ip: 0,
                args,
            },
        );
        let want = verdict(p, arch, nr, args);
        if got != want {
            return Err(Mismatch {
                arch,
                nr,
                args,
                got,
                want,
            });
        }
    }
    Ok(true)
}

/// Deterministic xorshift64 (`state` must not be 0).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Edge syscall numbers of every ABI (as `seccomp_data.nr`).
const EDGE_NRS: [u32; 9] = [
    0,
    1000,
    X32_SYSCALL_BIT - 1,
    X32_SYSCALL_BIT,
    X32_SYSCALL_BIT | 514,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    u32::MAX,
];

/// The `seccomp_data` probes [`check`] runs: for each audit arch (plus a foreign one), each
/// number a name of the profile has there and [`EDGE_NRS`], with argument vectors built from
/// the conditions' values and their neighbours (±1, bit 16/31/32 flipped, high half set).
fn probes(p: &LinuxSeccomp, seed: u64) -> Vec<(u32, u32, [u64; 6])> {
    let mut state = seed | 1;
    let mut values = vec![0, u64::MAX, 0xffff_ffff, 0x1_0000_0000];
    for c in p
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|r| r.args().iter().flatten())
    {
        for v in [c.value(), c.value_two().unwrap_or(0)] {
            values.extend([
                v,
                v.wrapping_add(1),
                v.wrapping_sub(1),
                v ^ (1 << 16),
                v ^ (1 << 31),
                v ^ (1 << 32),
                v | 0xffff_ffff_0000_0000,
                v & 0xffff_ffff,
            ]);
        }
    }
    values.sort_unstable();
    values.dedup();
    let mut audits: Vec<u32> = TargetArch::ALL.iter().map(|a| a.audit_arch()).collect();
    audits.dedup();
    audits.push(FOREIGN_AUDIT_ARCH);
    let mut out = Vec::new();
    // About 4000 argument vectors per audit arch, at least 2 per number.
    let named = p
        .syscalls()
        .iter()
        .flatten()
        .map(|r| r.names().len())
        .sum::<usize>();
    let per_nr = (4000 / (named + EDGE_NRS.len() + 4)).clamp(2, 12);
    for audit in audits {
        let mut nrs: Vec<u32> = EDGE_NRS.to_vec();
        for arch in TargetArch::ALL.iter().filter(|a| a.audit_arch() == audit) {
            for rule in p.syscalls().iter().flatten() {
                nrs.extend(rule.names().iter().filter_map(|n| arch.lookup(n)));
            }
        }
        nrs.extend((0..4).map(|_| (next(&mut state) % 600) as u32));
        nrs.sort_unstable();
        nrs.dedup();
        for nr in nrs {
            out.push((audit, nr, [0; 6]));
            for _ in 0..per_nr {
                let mut args = [0u64; 6];
                for a in &mut args {
                    let r = next(&mut state);
                    *a = if r.is_multiple_of(4) {
                        next(&mut state)
                    } else {
                        values[(r >> 8) as usize % values.len()]
                    };
                }
                out.push((audit, nr, args));
            }
        }
    }
    out
}

/// Every OCI argument operator.
pub(crate) const OPS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];

/// Reads bytes as small numbers; zeros once exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.u8()))
    }

    fn pick<'s, T>(&mut self, from: &'s [T]) -> &'s T {
        &from[usize::from(self.u8()) % from.len()]
    }
}

/// Syscall names a generated profile draws from: every x86_64 and i386 name (those with
/// narrow arguments twice as often), x32-only, foreign and unknown names.
fn name_pool() -> Vec<&'static str> {
    let mut pool: Vec<&'static str> = (0..600)
        .filter_map(syscalls::x86_64::Sysno::new)
        .map(|s| s.name())
        .chain(
            (0..600)
                .filter_map(syscalls::x86::Sysno::new)
                .map(|s| s.name()),
        )
        .map(|n| n.trim_start_matches("r#"))
        .collect();
    pool.extend(NARROW.iter().map(|n| n.name));
    pool.extend(["recv", "arm_fadvise64_64", "no_such_syscall"]);
    pool
}

/// A profile (and its `optional` names) decoded from arbitrary bytes, so that libFuzzer's
/// mutations and the unit tests' seeded bytes explore the same space: actions (NOTIFY and
/// TRACE too, which must be refused), errnos around the limit, architecture sets, up to 15
/// rules of up to 4 names with up to 3 conditions (index 6 is out of range), values near the
/// 32-bit and 16-bit edges.
pub fn profile_from_bytes(bytes: &[u8]) -> (LinuxSeccomp, Vec<String>) {
    const ACTIONS: [&str; 10] = [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_NOTIFY",
        "SCMP_ACT_TRACE",
    ];
    const ARCHES: [&str; 6] = [
        "SCMP_ARCH_NATIVE",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
    ];
    const VALUES: [u64; 12] = [
        0,
        1,
        40,
        0xffff,
        0x1_0000,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0028,
        0xffff_ffff_ffff_ffd8,
        u64::MAX,
    ];
    let pool = name_pool();
    let mut b = Bytes(bytes);
    let action = |b: &mut Bytes, key: &str, errno_key: &str, obj: &mut Value| {
        obj[key] = json!(b.pick(&ACTIONS));
        match b.u8() % 4 {
            0 => obj[errno_key] = json!(u32::from(b.u16()) % 4200),
            1 => obj[errno_key] = json!(38),
            _ => {}
        }
    };
    let mut p = json!({});
    action(&mut b, "defaultAction", "defaultErrnoRet", &mut p);
    let arches = b.u8();
    if arches & 0x80 != 0 {
        let listed: Vec<&str> = (0..ARCHES.len())
            .filter(|i| arches & (1 << i) != 0)
            .map(|i| ARCHES[i])
            .collect();
        p["architectures"] = json!(listed);
    }
    let value = |b: &mut Bytes| match b.u8() % 3 {
        0 => b.u64(),
        _ => *b.pick(&VALUES),
    };
    let rules = b.u8() % 16;
    let mut syscalls = Vec::new();
    for _ in 0..rules {
        let mut rule = json!({});
        let names: Vec<&str> = (0..1 + b.u8() % 4)
            .map(|_| pool[usize::from(b.u16()) % pool.len()])
            .collect();
        rule["names"] = json!(names);
        action(&mut b, "action", "errnoRet", &mut rule);
        let conds: Vec<Value> = (0..b.u8() % 4)
            .map(|_| {
                let mut c =
                    json!({"index": b.u8() % 7, "op": b.pick(&OPS), "value": value(&mut b)});
                if b.u8() % 2 == 0 {
                    c["valueTwo"] = json!(value(&mut b));
                }
                c
            })
            .collect();
        if !conds.is_empty() {
            rule["args"] = json!(conds);
        }
        syscalls.push(rule);
    }
    p["syscalls"] = json!(syscalls);
    let optional = match b.u8() % 3 {
        0 => vec!["*".to_owned()],
        1 => vec!["no_such_syscall".to_owned()],
        _ => Vec::new(),
    };
    let p = serde_json::from_value(p).expect("generated profile is valid linux.seccomp JSON");
    (p, optional)
}

/// Runs a compiled filter on one `seccomp_data` (the test interpreter; panics on a program
/// the kernel would refuse).
pub fn run_filter(filter: &super::Filter, audit_arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let data = Data {
        nr,
        arch: audit_arch,
        ip: 0,
        args,
    };
    run(filter.program(), &data).0
}

/// The numbers `name` has under `audit_arch` (x86_64 and x32 share one), as in
/// `seccomp_data.nr`.
pub fn numbers(name: &str, audit_arch: u32) -> Vec<u32> {
    TargetArch::ALL
        .iter()
        .filter(|a| a.audit_arch() == audit_arch)
        .filter_map(|a| a.lookup(name))
        .collect()
}

/// Whether a `SECCOMP_RET_*` value lets the syscall run (ALLOW or LOG).
pub fn allows(ret: u32) -> bool {
    ret == RET_ALLOW || ret == RET_LOG
}
