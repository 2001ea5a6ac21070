//! The attack surface of compiled filters, computed by evaluating the BPF.
//!
//! For every architecture this host can filter (x86_64, x32, i386 on x86_64 hosts) and every
//! syscall number in that architecture's table (`names.rs`), the filters are run on a
//! `seccomp_data` with that arch and number. Several filters are stacked as the kernel stacks
//! them: all run and the most restrictive verdict wins ([`most_restrictive`]), so the surface
//! of a stack is the intersection of the surfaces.
//!
//! A syscall is **allowed** when the verdict is `ALLOW` or `LOG` for some arguments, and
//! **conditional** when it is allowed for some arguments and not for others. Arguments are
//! searched, not guessed: the evaluation starts from all-zero, all-ones and a few
//! pseudo-random argument vectors, and every comparison the program makes on an argument word
//! (recorded by [`interp::run_traced`]) yields a new vector that takes the other branch. For
//! the programs pinhole's compiler emits (each condition compares one argument word, possibly
//! masked, against a constant) this reaches every rule's outcome; the search is bounded by
//! [`MAX_VECTORS`] per syscall.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use oci_spec::runtime::{Arch, LinuxSeccomp};
use seccompiler::sock_filter;

use super::asm::{JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, JMP_JSET_K};
use super::compile::{RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG, RET_TRAP};
use super::filter::Filter;
use super::interp::{self, Branch, Data};
use super::names::TargetArch;
use super::risk::is_high_risk;

/// Upper bound on argument vectors tried per (arch, syscall).
pub const MAX_VECTORS: usize = 256;
/// Pseudo-random argument vectors tried besides all-zero and all-ones.
const RANDOM_VECTORS: usize = 4;
/// Seed of the pseudo-random vectors (fixed: the surface is deterministic).
const SEED: u64 = 0x5eed_0f5a_f4ce;

/// `SECCOMP_RET_ACTION_FULL`: the action bits of a return value.
const RET_ACTION_FULL: u32 = 0xffff_0000;
/// `SECCOMP_RET_DATA`: the data bits (errno, trace message).
const RET_DATA: u32 = 0x0000_ffff;
/// `SECCOMP_RET_USER_NOTIF`.
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_TRACE`.
const RET_TRACE: u32 = 0x7ff0_0000;

/// The verdict the kernel keeps of two filters' results: the lower action, compared as a
/// signed number (`ACTION_ONLY` in `kernel/seccomp.c`), so KILL_PROCESS > KILL_THREAD > TRAP
/// > ERRNO > USER_NOTIF > TRACE > LOG > ALLOW. On equal actions the first one is kept.
pub fn most_restrictive(a: u32, b: u32) -> u32 {
    let rank = |r: u32| (r & RET_ACTION_FULL) as i32;
    if rank(b) < rank(a) {
        b
    } else {
        a
    }
}

/// Whether a verdict lets the syscall run (`ALLOW` or `LOG`).
pub fn is_allow(ret: u32) -> bool {
    matches!(ret & RET_ACTION_FULL, RET_ALLOW | RET_LOG)
}

/// An OCI-style name for a verdict: `SCMP_ACT_ERRNO(1)`, `SCMP_ACT_KILL_PROCESS`, ...
pub fn action_name(ret: u32) -> String {
    let data = ret & RET_DATA;
    match ret & RET_ACTION_FULL {
        RET_KILL_PROCESS => "SCMP_ACT_KILL_PROCESS".into(),
        RET_KILL_THREAD => "SCMP_ACT_KILL_THREAD".into(),
        RET_TRAP => "SCMP_ACT_TRAP".into(),
        RET_ERRNO => format!("SCMP_ACT_ERRNO({data})"),
        RET_USER_NOTIF => "SCMP_ACT_NOTIFY".into(),
        RET_TRACE => format!("SCMP_ACT_TRACE({data})"),
        RET_LOG => "SCMP_ACT_LOG".into(),
        RET_ALLOW => "SCMP_ACT_ALLOW".into(),
        _ => format!("unknown action {ret:#010x}"),
    }
}

/// [`action_name`], with the errno's text for an `SCMP_ACT_ERRNO` (`SCMP_ACT_ERRNO(1):
/// Operation not permitted`).
pub fn describe_verdict(ret: u32) -> String {
    match ret & RET_ACTION_FULL {
        RET_ERRNO => {
            let errno = nix::errno::Errno::from_raw((ret & RET_DATA) as i32);
            format!("{}: {}", action_name(ret), errno.desc())
        }
        _ => action_name(ret),
    }
}

/// One syscall a filter stack allows on one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// Name in the architecture's table.
    pub name: String,
    /// Number as seen in `seccomp_data.nr` (x32 numbers include `X32_SYSCALL_BIT`).
    pub nr: u32,
    /// Allowed for some arguments only.
    pub conditional: bool,
    /// On the high-risk list (`sandbox/profiles/high-risk.toml`).
    pub high_risk: bool,
}

/// The surface on one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchSurface {
    /// Short name: `x86_64`, `x32`, `x86` (i386), `aarch64`.
    pub arch: &'static str,
    /// The OCI name (`SCMP_ARCH_X86_64`, ...), as `usage.json` spells it.
    pub oci_arch: &'static str,
    /// Number of syscalls in the architecture's table (every one was evaluated).
    pub table_size: usize,
    /// Allowed syscalls, sorted by number.
    pub allowed: Vec<Allowed>,
    /// The verdict most of the syscalls outside the surface get (with all-zero arguments);
    /// `SCMP_ACT_ALLOW` when every syscall is allowed.
    pub deny_action: u32,
}

impl ArchSurface {
    /// How many syscalls are allowed (conditional ones included).
    pub fn count(&self) -> usize {
        self.allowed.len()
    }

    /// Allowed names, sorted.
    pub fn names(&self) -> Vec<&str> {
        sorted(self.allowed.iter().map(|a| a.name.as_str()))
    }

    /// Names allowed for some arguments only, sorted.
    pub fn conditional(&self) -> Vec<&str> {
        sorted(
            self.allowed
                .iter()
                .filter(|a| a.conditional)
                .map(|a| a.name.as_str()),
        )
    }

    /// Allowed names on the high-risk list, sorted.
    pub fn risk(&self) -> Vec<&str> {
        sorted(
            self.allowed
                .iter()
                .filter(|a| a.high_risk)
                .map(|a| a.name.as_str()),
        )
    }

    /// Whether syscall number `nr` is allowed (for some arguments).
    pub fn allows_nr(&self, nr: u32) -> bool {
        self.allowed.binary_search_by_key(&nr, |a| a.nr).is_ok()
    }
}

fn sorted<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The surface of a filter stack on every architecture this host can filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// One entry per architecture, in [`TargetArch::ALL`] order (x86_64, x32, x86).
    pub arches: Vec<ArchSurface>,
}

impl Surface {
    /// Evaluates the stack `filters` (an empty stack allows everything).
    pub fn of(filters: &[&Filter]) -> Surface {
        let progs: Vec<&[sock_filter]> = filters.iter().map(|f| f.program()).collect();
        Surface::of_programs(&progs)
    }

    /// Evaluates the stack of programs (each as checked by [`Filter`]: it must end in a
    /// return on every path and use only the instructions pinhole's compiler emits).
    pub(crate) fn of_programs(progs: &[&[sock_filter]]) -> Surface {
        let arches = TargetArch::ALL
            .iter()
            .map(|&arch| arch_surface(arch, progs))
            .collect();
        Surface { arches }
    }

    /// The surface on `arch` (short or OCI name).
    pub fn arch(&self, arch: &str) -> Option<&ArchSurface> {
        self.arches
            .iter()
            .find(|a| a.arch == arch || a.oci_arch == arch)
    }

    /// Allowed names on the high-risk list on any architecture, sorted.
    pub fn risk(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.arches.iter().flat_map(|a| a.risk()).collect();
        set.into_iter().map(str::to_string).collect()
    }
}

/// Short and OCI names of an architecture.
fn arch_names(arch: TargetArch) -> (&'static str, &'static str) {
    match arch {
        #[cfg(target_arch = "x86_64")]
        TargetArch::X86_64 => ("x86_64", "SCMP_ARCH_X86_64"),
        #[cfg(target_arch = "x86_64")]
        TargetArch::X32 => ("x32", "SCMP_ARCH_X32"),
        #[cfg(target_arch = "x86_64")]
        TargetArch::X86 => ("x86", "SCMP_ARCH_X86"),
        #[cfg(target_arch = "aarch64")]
        TargetArch::Aarch64 => ("aarch64", "SCMP_ARCH_AARCH64"),
    }
}

/// Walks a `syscalls` crate table's names (as `names.rs` does).
macro_rules! names_of {
    ($sysno:ty) => {{
        let first = <$sysno>::first().id();
        let last = <$sysno>::last().id();
        (first..=last)
            .filter_map(|id| <$sysno>::new(id as usize))
            .map(|s| s.name().trim_start_matches("r#"))
            .collect::<Vec<&'static str>>()
    }};
}

/// Every syscall of `arch`'s table as (number in `seccomp_data.nr`, name), sorted by number.
pub(crate) fn table(arch: TargetArch) -> Vec<(u32, &'static str)> {
    let names: Vec<&'static str> = match arch {
        #[cfg(target_arch = "x86_64")]
        TargetArch::X86_64 | TargetArch::X32 => names_of!(syscalls::x86_64::Sysno),
        #[cfg(target_arch = "x86_64")]
        TargetArch::X86 => names_of!(syscalls::x86::Sysno),
        #[cfg(target_arch = "aarch64")]
        TargetArch::Aarch64 => names_of!(syscalls::aarch64::Sysno),
    };
    let by_nr: BTreeMap<u32, &'static str> = names
        .into_iter()
        .filter_map(|n| arch.lookup(n).map(|nr| (nr, n)))
        .collect();
    by_nr.into_iter().collect()
}

fn arch_surface(arch: TargetArch, progs: &[&[sock_filter]]) -> ArchSurface {
    let (short, oci) = arch_names(arch);
    let table = table(arch);
    let mut allowed = Vec::new();
    let mut denied: BTreeMap<u32, usize> = BTreeMap::new();
    for &(nr, name) in &table {
        let e = evaluate(arch, nr, progs);
        if e.allowed {
            allowed.push(Allowed {
                name: name.to_string(),
                nr,
                conditional: e.denied,
                high_risk: is_high_risk(name),
            });
        } else {
            *denied.entry(e.first).or_default() += 1;
        }
    }
    // The most frequent verdict; ties go to the lowest return value (deterministic).
    let deny_action = denied
        .iter()
        .max_by_key(|(ret, n)| (**n, std::cmp::Reverse(**ret)))
        .map_or(RET_ALLOW, |(ret, _)| *ret);
    ArchSurface {
        arch: short,
        oci_arch: oci,
        table_size: table.len(),
        allowed,
        deny_action,
    }
}

/// What the argument search found for one (arch, nr).
struct Evaluated {
    /// Allowed for some vector.
    allowed: bool,
    /// Not allowed for some vector.
    denied: bool,
    /// The verdict for all-zero arguments.
    first: u32,
}

/// splitmix64: a small deterministic generator for the pseudo-random vectors.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stacked verdict for `data`, recording argument comparisons into `branches`.
fn verdict(progs: &[&[sock_filter]], data: &Data, branches: &mut Vec<Branch>) -> u32 {
    progs.iter().fold(RET_ALLOW, |acc, p| {
        most_restrictive(acc, interp::run_traced(p, data, branches))
    })
}

fn evaluate(arch: TargetArch, nr: u32, progs: &[&[sock_filter]]) -> Evaluated {
    let mut rng = SEED ^ u64::from(nr);
    let mut queue: Vec<[u64; 6]> = vec![[0; 6], [u64::MAX; 6]];
    queue.extend((0..RANDOM_VECTORS).map(|_| std::array::from_fn(|_| splitmix(&mut rng))));
    queue.reverse(); // all-zero first
    let mut seen: HashSet<[u64; 6]> = queue.iter().copied().collect();
    let mut out = Evaluated {
        allowed: false,
        denied: false,
        first: RET_ALLOW,
    };
    let mut branches = Vec::new();
    let mut tried = 0;
    while let Some(args) = queue.pop() {
        let data = Data {
            nr,
            arch: arch.audit_arch(),
            ip: 0,
            args,
        };
        branches.clear();
        let ret = verdict(progs, &data, &mut branches);
        if tried == 0 {
            out.first = ret;
        }
        tried += 1;
        if is_allow(ret) {
            out.allowed = true;
        } else {
            out.denied = true;
        }
        if (out.allowed && out.denied) || tried >= MAX_VECTORS {
            break;
        }
        for b in &branches {
            if let Some(v) = flip(&args, b) {
                if seen.insert(v) {
                    queue.push(v);
                }
            }
        }
    }
    out
}

/// The argument vector `args` changed so that branch `b` goes the other way, if one exists.
fn flip(args: &[u64; 6], b: &Branch) -> Option<[u64; 6]> {
    let rel = b.offset.checked_sub(16)?;
    let (index, hi) = ((rel / 8) as usize, rel % 8 != 0);
    let m = b.mask;
    // The new compared value; it must fit in the mask to be reachable.
    let want = match b.code {
        JMP_JEQ_K if b.value == b.k => b.k ^ (m & m.wrapping_neg()),
        JMP_JEQ_K => b.k,
        JMP_JGT_K if b.value > b.k => b.k,
        JMP_JGT_K => b.k.checked_add(1)?,
        JMP_JGE_K if b.value >= b.k => b.k.checked_sub(1)?,
        JMP_JGE_K => b.k,
        JMP_JSET_K if b.value & b.k != 0 => b.value & !b.k,
        JMP_JSET_K => b.value | (b.k & m),
        _ => return None,
    };
    if want & !m != 0 || want == b.value {
        return None;
    }
    let mut out = *args;
    let a = &mut out[index];
    let (shift, word) = if hi {
        (32, (*a >> 32) as u32)
    } else {
        (0, *a as u32)
    };
    let word = (word & !m) | want;
    *a = (*a & !(0xffff_ffffu64 << shift)) | (u64::from(word) << shift);
    Some(out)
}

/// The program as raw classic BPF: the kernel's `struct sock_filter` array (8 bytes per
/// instruction: `code` u16, `jt`, `jf`, `k` u32, little-endian), as `seccomp(2)` takes it.
pub fn raw_bpf(filter: &Filter) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * filter.instructions());
    for i in filter.program() {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}

/// The program disassembled, one instruction a line (`0001: jeq  #0xc000003e  jt 0003 ...`).
pub fn disassemble(filter: &Filter) -> String {
    interp::dump(filter.program())
}

/// What [`check_names`] found in a profile's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameCheck {
    /// Per covered architecture (short name), the names it does not have (skipped there).
    pub missing: Vec<(&'static str, Vec<String>)>,
    /// Listed architectures this host never reports (their rules are unreachable).
    pub foreign_arches: Vec<String>,
    /// Names no architecture has: errors (unless made optional at compile time).
    pub unknown: Vec<String>,
}

/// Checks a profile's syscall names against every architecture it covers.
pub fn check_names(profile: &LinuxSeccomp) -> NameCheck {
    let listed = profile.architectures().as_deref();
    let covered = TargetArch::covered(listed);
    let names: BTreeSet<&str> = profile
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|r| r.names().iter().map(String::as_str))
        .collect();
    let missing = covered
        .iter()
        .map(|&a| {
            let miss = names
                .iter()
                .filter(|n| super::names::is_foreign(n) && a.lookup(n).is_none())
                .map(|n| n.to_string())
                .collect();
            (arch_names(a).0, miss)
        })
        .collect();
    let foreign_arches = listed
        .unwrap_or(&[])
        .iter()
        .filter(|a| TargetArch::from_oci(**a).is_none())
        .map(|a: &Arch| a.to_string())
        .collect();
    let unknown = names
        .iter()
        .filter(|n| !super::names::is_foreign(n))
        .map(|n| n.to_string())
        .collect();
    NameCheck {
        missing,
        foreign_arches,
        unknown,
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSyscall};
    use serde_json::json;

    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("test profile")
    }

    fn compile(p: &LinuxSeccomp) -> Filter {
        super::super::compile(p, &[]).expect("test profile compiles")
    }

    /// The independent count: names of allow-like rules mapped to numbers through the tables,
    /// on the arches the profile covers (every other arch is killed).
    fn listed(p: &LinuxSeccomp) -> BTreeMap<&'static str, BTreeSet<u32>> {
        let covered = TargetArch::covered(p.architectures().as_deref());
        TargetArch::ALL
            .iter()
            .map(|&a| {
                let nrs = p
                    .syscalls()
                    .iter()
                    .flatten()
                    .filter(|r| {
                        covered.contains(&a)
                            && matches!(
                                r.action(),
                                LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
                            )
                    })
                    .flat_map(LinuxSyscall::names)
                    .filter_map(|n| a.lookup(n))
                    .collect();
                (arch_names(a).0, nrs)
            })
            .collect()
    }

    fn evaluated(s: &Surface) -> BTreeMap<&'static str, BTreeSet<u32>> {
        s.arches
            .iter()
            .map(|a| (a.arch, a.allowed.iter().map(|x| x.nr).collect()))
            .collect()
    }

    #[test]
    fn builtin_default_matches_its_names() {
        let p = crate::policy::builtin_profile("default").unwrap();
        let s = Surface::of(&[&compile(&p)]);
        assert_eq!(evaluated(&s), listed(&p));
        let x86_64 = s.arch("x86_64").unwrap();
        assert!(x86_64.count() < x86_64.table_size, "{}", x86_64.count());
        // Rules with arguments are found conditional by the search, and only those.
        for name in ["socket", "socketpair", "personality", "clone"] {
            assert!(x86_64.conditional().contains(&name), "{name}");
        }
        assert!(s.arch("x86").unwrap().conditional().contains(&"socketcall"));
        assert_eq!(x86_64.conditional().len(), 4, "{:?}", x86_64.conditional());
        assert_eq!(action_name(x86_64.deny_action), "SCMP_ACT_ERRNO(1)");
        // clone3 has its own ERRNO rule (ENOSYS) and is not part of the surface.
        assert!(!x86_64.names().contains(&"clone3"));
        assert!(!s.risk().is_empty());
        for r in s.risk() {
            assert!(is_high_risk(&r));
        }
    }

    #[test]
    fn strict_has_no_high_risk_and_only_native() {
        let p = crate::policy::builtin_profile("strict").unwrap();
        let s = Surface::of(&[&compile(&p)]);
        assert_eq!(evaluated(&s), listed(&p));
        assert!(s.risk().is_empty(), "{:?}", s.risk());
        assert_eq!(s.arch("x32").unwrap().count(), 0);
        assert_eq!(s.arch("x86").unwrap().count(), 0);
        assert_eq!(
            action_name(s.arch("x86").unwrap().deny_action),
            "SCMP_ACT_KILL_PROCESS"
        );
    }

    #[test]
    fn adhoc_unconditional_profile_matches_its_names() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_KILL_PROCESS",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "exit_group", "socketcall", "ioctl"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}
            ]
        }));
        let s = Surface::of(&[&compile(&p)]);
        assert_eq!(evaluated(&s), listed(&p));
        for a in &s.arches {
            assert!(
                a.conditional().is_empty(),
                "{}: {:?}",
                a.arch,
                a.conditional()
            );
            assert_eq!(action_name(a.deny_action), "SCMP_ACT_KILL_PROCESS");
        }
        // x32 and i386 are counted separately, with their own numbers.
        let x86 = s.arch("x86").unwrap();
        let x32 = s.arch("x32").unwrap();
        assert_eq!(
            x86.names(),
            [
                "exit_group",
                "getpid",
                "ioctl",
                "read",
                "socketcall",
                "write"
            ]
        );
        assert_eq!(
            x32.names(),
            ["exit_group", "getpid", "ioctl", "read", "write"]
        );
        assert!(x32.allows_nr(514 | super::super::names::X32_SYSCALL_BIT)); // x32 ioctl
        assert!(!x32.allows_nr(16 | super::super::names::X32_SYSCALL_BIT)); // x86_64's
        assert_eq!(s.arch("x86_64").unwrap().names(), x32.names());
    }

    #[test]
    fn native_only_profile_has_no_compat_surface() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let s = Surface::of(&[&compile(&p)]);
        assert_eq!(s.arch("x86_64").unwrap().count(), 2);
        assert_eq!(s.arch("x32").unwrap().count(), 0);
        assert_eq!(s.arch("x86").unwrap().count(), 0);
    }

    #[test]
    fn argument_rules_are_conditional() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                // allowed for one 64-bit value only (hi and lo halves both compared)
                {"names": ["mmap"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 2, "value": 0x1234_0000_0007_u64, "op": "SCMP_CMP_EQ"}]},
                // two conditions that must hold together
                {"names": ["fcntl"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 1, "value": 3, "op": "SCMP_CMP_EQ"},
                          {"index": 2, "value": 0x800, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0x800}]},
                // denied for one value, else allowed by the next rule
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["lseek"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 2, "value": 2, "op": "SCMP_CMP_GT"}]},
                // a condition that can never hold: not allowed at all
                {"names": ["dup"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 2}]},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
            ]
        }));
        let s = Surface::of(&[&compile(&p)]);
        let a = s.arch("x86_64").unwrap();
        assert_eq!(a.names(), ["fcntl", "kill", "lseek", "mmap", "read"]);
        assert_eq!(a.conditional(), ["fcntl", "kill", "lseek", "mmap"]);
    }

    #[test]
    fn stacking_intersects() {
        let a = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "write", "getpid", "socketcall"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let b = profile(json!({
            "defaultAction": "SCMP_ACT_KILL_PROCESS",
            "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["write", "getpid", "close", "socketcall"], "action": "SCMP_ACT_LOG"},
                {"names": ["socketcall"], "action": "SCMP_ACT_ERRNO"}
            ]
        }));
        let (fa, fb) = (compile(&a), compile(&b));
        let s = Surface::of(&[&fa, &fb]);
        assert_eq!(s, Surface::of(&[&fb, &fa]));
        let native = s.arch("x86_64").unwrap();
        assert_eq!(native.names(), ["getpid", "write"]);
        assert_eq!(
            s.arch("x86").unwrap().names(),
            ["getpid", "socketcall", "write"]
        );
        // Outside the intersection B's KILL_PROCESS beats A's ERRNO.
        assert_eq!(action_name(native.deny_action), "SCMP_ACT_KILL_PROCESS");
        // Per architecture, the stack's surface is the intersection of the two.
        let (sa, sb) = (Surface::of(&[&fa]), Surface::of(&[&fb]));
        for (x, (y, z)) in s.arches.iter().zip(sa.arches.iter().zip(&sb.arches)) {
            let inter: Vec<&str> = y
                .names()
                .into_iter()
                .filter(|n| z.names().contains(n))
                .collect();
            assert_eq!(x.names(), inter, "{}", x.arch);
        }
        assert_eq!(
            Surface::of(&[]).arch("x86").unwrap().count(),
            table(TargetArch::X86).len()
        );
    }

    #[test]
    fn verdict_order_is_the_kernels() {
        let order = [
            RET_KILL_PROCESS,
            RET_KILL_THREAD,
            RET_TRAP,
            RET_ERRNO | 1,
            RET_USER_NOTIF,
            RET_TRACE,
            RET_LOG,
            RET_ALLOW,
        ];
        for (i, &a) in order.iter().enumerate() {
            for &b in &order[i..] {
                assert_eq!(most_restrictive(a, b), a, "{a:#x} vs {b:#x}");
                assert_eq!(most_restrictive(b, a), a, "{b:#x} vs {a:#x}");
            }
        }
    }

    #[test]
    fn names_check_and_dump() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_ARM"],
            "syscalls": [{"names": ["read", "socketcall", "arm_fadvise64_64", "no_such_call"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let c = check_names(&p);
        assert_eq!(c.unknown, ["no_such_call"]);
        assert_eq!(c.foreign_arches, ["SCMP_ARCH_ARM"]);
        assert_eq!(
            c.missing,
            [
                (
                    "x86_64",
                    vec!["arm_fadvise64_64".to_string(), "socketcall".to_string()]
                ),
                ("x86", vec!["arm_fadvise64_64".to_string()])
            ]
        );
        let f = compile(&crate::policy::builtin_profile("strict").unwrap());
        let text = disassemble(&f);
        assert_eq!(text.lines().count(), f.instructions());
        assert!(text.starts_with("0000: ld   [4]"), "{text}");
        assert_eq!(raw_bpf(&f).len(), 8 * f.instructions());
        assert_eq!(&f.to_bytes()[40..], &raw_bpf(&f)[..]);
    }
}
