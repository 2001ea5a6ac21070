//! Translation of an OCI `linux.seccomp` profile into a classic-BPF program.
//!
//! See the module documentation of [`crate::seccomp`] for the program layout and the matching
//! semantics.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};

use super::argwidth::arg_masks;
use super::asm::{Asm, Cmp, Label, Target};
use super::error::SeccompError;
use super::filter::Filter;
use super::install::filter_flags;
use super::names::{TargetArch, X32_SYSCALL_BIT};

/// `SECCOMP_RET_KILL_PROCESS`.
pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_KILL_THREAD`.
pub(crate) const RET_KILL_THREAD: u32 = 0x0000_0000;
/// `SECCOMP_RET_TRAP`.
pub(crate) const RET_TRAP: u32 = 0x0003_0000;
/// `SECCOMP_RET_ERRNO` (errno in the low 16 bits).
pub(crate) const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_LOG`.
pub(crate) const RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`.
pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;

/// Largest errno the kernel returns (`MAX_ERRNO`); larger values would be clamped.
const MAX_ERRNO: u32 = 4095;
/// Number of syscall arguments in `seccomp_data.args`.
const MAX_ARGS: usize = 6;
/// Offset of `seccomp_data.nr`.
pub(super) const OFF_NR: u32 = 0;
/// Offset of `seccomp_data.arch`.
pub(super) const OFF_ARCH: u32 = 4;
/// Offset of `seccomp_data.args[0]`.
const OFF_ARGS: u32 = 16;

/// One argument condition, values already split per the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cond {
    /// Index into `seccomp_data.args`.
    index: u32,
    /// Operator.
    op: LinuxSeccompOperator,
    /// Compared value (for MASKED_EQ: the datum, i.e. OCI `valueTwo`).
    value: u64,
    /// Mask (only MASKED_EQ: OCI `value`).
    mask: u64,
}

/// A profile rule with its action resolved to a `SECCOMP_RET_*` value.
#[derive(Clone, Debug)]
struct Rule {
    /// Return value when all conditions hold.
    action: u32,
    /// Conditions, ANDed; empty means unconditional.
    conds: Vec<Cond>,
}

/// What a syscall number dispatches to in the tree.
#[derive(Clone, Debug)]
enum Entry {
    /// Unconditional action: a `jeq` straight to a shared `ret`.
    Simple(u32),
    /// Ordered rules (indices into the rule list); first match wins, then `fallback`.
    Block {
        rules: Vec<usize>,
        fallback: u32,
        /// Per argument index, the bits the kernel reads ([`arg_masks`]).
        widths: [u64; MAX_ARGS],
    },
}

/// The rules naming one syscall number of one arch.
#[derive(Clone, Debug)]
struct Chain {
    /// Rule indices in profile order.
    rules: Vec<usize>,
    /// Per argument index, the bits the kernel reads.
    widths: [u64; MAX_ARGS],
}

/// Compiles `seccomp` into a filter. See [`crate::seccomp::compile`].
pub(crate) fn compile(seccomp: &LinuxSeccomp, optional: &[String]) -> Result<Filter, SeccompError> {
    filter_flags(seccomp.flags().as_deref().unwrap_or(&[]))?;
    let default = resolve_action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    let arches = TargetArch::covered(seccomp.architectures().as_deref());
    let syscalls: &[LinuxSyscall] = seccomp.syscalls().as_deref().unwrap_or(&[]);
    let all_optional = optional.iter().any(|o| o == "*");

    let mut rules = Vec::with_capacity(syscalls.len());
    // Per arch: syscall number → the rules naming it.
    let mut chains: Vec<BTreeMap<u32, Chain>> = vec![BTreeMap::new(); arches.len()];
    for (index, sc) in syscalls.iter().enumerate() {
        let action = resolve_action(
            sc.action(),
            sc.errno_ret(),
            &format!("linux.seccomp.syscalls[{index}].action"),
            &format!("linux.seccomp.syscalls[{index}].errnoRet"),
        )?;
        let conds = resolve_conds(sc, index)?;
        rules.push(Rule { action, conds });
        for name in sc.names() {
            let mut known = false;
            for (a, arch) in arches.iter().enumerate() {
                if let Some(nr) = arch.lookup(name) {
                    known = true;
                    let chain = chains[a].entry(nr).or_insert_with(|| Chain {
                        rules: Vec::new(),
                        widths: arg_masks(name, *arch),
                    });
                    if chain.rules.last() != Some(&index) {
                        chain.rules.push(index);
                    }
                }
            }
            if !known
                && !all_optional
                && !optional.iter().any(|o| o == name)
                && !super::names::is_foreign(name)
            {
                return Err(SeccompError::UnknownSyscall {
                    name: name.clone(),
                    index,
                });
            }
        }
    }

    let mut asm = Asm::default();
    let sections: Vec<(TargetArch, Vec<(u32, Entry)>)> = arches
        .iter()
        .zip(chains)
        .map(|(arch, chain)| (*arch, entries(&rules, chain, default)))
        .collect();
    emit_program(&mut asm, &sections, &rules, default);
    Ok(Filter::from_program(asm.finish()?))
}

/// Turns an OCI action (plus optional errno) into a `SECCOMP_RET_*` value.
pub(super) fn resolve_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
    errno_field: &str,
) -> Result<u32, SeccompError> {
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => {
            let errno = errno_ret.unwrap_or(libc::EPERM as u32);
            if errno > MAX_ERRNO {
                return Err(SeccompError::ErrnoOutOfRange {
                    field: errno_field.to_owned(),
                    value: errno,
                    max: MAX_ERRNO,
                });
            }
            RET_ERRNO | errno
        }
        LinuxSeccompAction::ScmpActNotify | LinuxSeccompAction::ScmpActTrace => {
            return Err(SeccompError::UnsupportedAction {
                field: field.to_owned(),
                action: action.to_string(),
            })
        }
    })
}

/// Validates and converts the argument conditions of rule `index`.
fn resolve_conds(sc: &LinuxSyscall, index: usize) -> Result<Vec<Cond>, SeccompError> {
    let args = sc.args().as_deref().unwrap_or(&[]);
    args.iter()
        .enumerate()
        .map(|(arg, a)| {
            if a.index() >= MAX_ARGS {
                return Err(SeccompError::ArgIndexOutOfRange {
                    index,
                    arg,
                    arg_index: a.index(),
                });
            }
            let (value, mask) = match a.op() {
                // libseccomp: SCMP_CMP_MASKED_EQ(mask, datum) ⇔ (arg & mask) == datum.
                LinuxSeccompOperator::ScmpCmpMaskedEq => (a.value_two().unwrap_or(0), a.value()),
                _ => (a.value(), u64::MAX),
            };
            Ok(Cond {
                index: a.index() as u32,
                op: a.op(),
                value,
                mask,
            })
        })
        .collect()
}

/// Normalizes the per-syscall chains of one arch into sorted tree entries.
///
/// A chain is cut after its first unconditional rule (nothing after it can match, which also
/// makes the first of several conflicting unconditional rules win), then trailing rules whose
/// action is the default are dropped (falling through gives the same result). Empty chains
/// are left to the default action.
fn entries(rules: &[Rule], chains: BTreeMap<u32, Chain>, default: u32) -> Vec<(u32, Entry)> {
    let mut out = Vec::with_capacity(chains.len());
    for (
        nr,
        Chain {
            rules: mut chain,
            widths,
        },
    ) in chains
    {
        if let Some(cut) = chain.iter().position(|r| rules[*r].conds.is_empty()) {
            chain.truncate(cut + 1);
        }
        while chain.last().is_some_and(|r| rules[*r].action == default) {
            chain.pop();
        }
        let Some(&last) = chain.last() else {
            continue;
        };
        let entry = if chain.len() == 1 && rules[last].conds.is_empty() {
            Entry::Simple(rules[last].action)
        } else if rules[last].conds.is_empty() {
            chain.pop();
            Entry::Block {
                rules: chain,
                fallback: rules[last].action,
                widths,
            }
        } else {
            Entry::Block {
                rules: chain,
                fallback: default,
                widths,
            }
        };
        out.push((nr, entry));
    }
    out
}

/// A maximal run `lo..=hi` of syscall numbers with the same outcome.
#[derive(Clone, Copy, Debug)]
struct Range<'a> {
    /// First number.
    lo: u32,
    /// Last number (inclusive).
    hi: u32,
    /// Outcome: a `Simple` run (unconditional, possibly the default action) or a single
    /// number with rules.
    entry: &'a Entry,
}

impl Range<'_> {
    /// The action of an argument-independent run.
    fn simple(&self) -> Option<u32> {
        match self.entry {
            Entry::Simple(action) => Some(*action),
            Entry::Block { .. } => None,
        }
    }
}

/// Partitions the section domain `lo..=hi` into maximal same-outcome runs: numbers without
/// entries get `default`, adjacent unconditional runs with the same action merge, numbers
/// with rules stay single-number runs. `entries` is sorted and lies inside the domain.
fn ranges<'a>(entries: &'a [(u32, Entry)], default: &'a Entry, lo: u32, hi: u32) -> Vec<Range<'a>> {
    let mut out: Vec<Range<'a>> = Vec::new();
    let mut push = |r: Range<'a>| {
        if let Some(last) = out.last_mut() {
            if let (Some(a), Some(b)) = (last.simple(), r.simple()) {
                if a == b && u64::from(last.hi) + 1 == u64::from(r.lo) {
                    last.hi = r.hi;
                    return;
                }
            }
        }
        out.push(r);
    };
    // Next number not yet covered (u64: the domain may end at u32::MAX).
    let mut next = u64::from(lo);
    for (nr, entry) in entries {
        debug_assert!((lo..=hi).contains(nr) && u64::from(*nr) >= next);
        if u64::from(*nr) > next {
            push(Range {
                lo: next as u32,
                hi: nr - 1,
                entry: default,
            });
        }
        push(Range {
            lo: *nr,
            hi: *nr,
            entry,
        });
        next = u64::from(*nr) + 1;
    }
    if next <= u64::from(hi) {
        push(Range {
            lo: next as u32,
            hi,
            entry: default,
        });
    }
    out
}

/// Emits the whole program: arch dispatch, then one section per distinct `seccomp_data.arch`.
fn emit_program(
    asm: &mut Asm,
    sections: &[(TargetArch, Vec<(u32, Entry)>)],
    rules: &[Rule],
    default: u32,
) {
    // Each distinct audit arch gets one section; x32 shares x86_64's.
    let mut audit: Vec<u32> = sections.iter().map(|(a, _)| a.audit_arch()).collect();
    audit.dedup();
    let labels: Vec<Label> = audit.iter().map(|_| asm.label()).collect();
    asm.ld(OFF_ARCH);
    for (arch, label) in audit.iter().zip(&labels) {
        asm.jmp(Cmp::Eq, *arch, Target::To(*label), Target::Next);
    }
    asm.ret(RET_KILL_PROCESS);

    let default_entry = Entry::Simple(default);
    let tree = |asm: &mut Asm, entries: &[(u32, Entry)], lo, hi| {
        let ranges = ranges(entries, &default_entry, lo, hi);
        emit_tree(asm, &ranges, rules);
    };
    for (audit_arch, label) in audit.iter().zip(labels) {
        asm.bind(label);
        asm.ld(OFF_NR);
        let mut here = sections
            .iter()
            .filter(|(a, _)| a.audit_arch() == *audit_arch);
        let Some((primary, primary_entries)) = here.next() else {
            continue;
        };
        if *primary == TargetArch::NATIVE && TargetArch::NATIVE_HAS_X32 {
            // x32 shares AUDIT_ARCH_X86_64 and sets X32_SYSCALL_BIT in nr.
            let x32 = here.next();
            let x32_label = asm.label();
            asm.jmp(
                Cmp::Ge,
                X32_SYSCALL_BIT,
                Target::To(x32_label),
                Target::Next,
            );
            tree(asm, primary_entries, 0, X32_SYSCALL_BIT - 1);
            asm.bind(x32_label);
            match x32 {
                // nr == -1 (e.g. a tracer skipping a syscall) is not an x32 syscall; it has
                // no entry, so the x32 tree's last run gives it the default action.
                Some((_, x32_entries)) => tree(asm, x32_entries, X32_SYSCALL_BIT, u32::MAX),
                None => {
                    let kill = asm.label();
                    asm.jmp(Cmp::Eq, u32::MAX, Target::Next, Target::To(kill));
                    asm.ret(default);
                    asm.bind(kill);
                    asm.ret(RET_KILL_PROCESS);
                }
            }
        } else {
            tree(asm, primary_entries, 0, u32::MAX);
        }
    }
}

/// Shared `ret` instructions of a subtree, emitted after it.
#[derive(Default)]
struct RetPool {
    labels: Vec<(u32, Label)>,
}

impl RetPool {
    /// The label of the shared `ret action`.
    fn get(&mut self, asm: &mut Asm, action: u32) -> Label {
        if let Some((_, l)) = self.labels.iter().find(|(a, _)| *a == action) {
            return *l;
        }
        let l = asm.label();
        self.labels.push((action, l));
        l
    }

    /// Emits the shared returns.
    fn emit(self, asm: &mut Asm) {
        for (action, label) in self.labels {
            asm.bind(label);
            asm.ret(action);
        }
    }
}

/// Subtrees estimated at most this long get their own pool of shared returns right after
/// them, so that their jumps to it stay short (8-bit offsets, no trampolines).
const POOL_SPAN: usize = 200;

/// Upper estimate of the code size of a subtree over `ranges` (without its return pool).
fn tree_len(ranges: &[Range], rules: &[Rule]) -> usize {
    let blocks: usize = ranges
        .iter()
        .map(|r| match r.entry {
            Entry::Simple(_) => 0,
            Entry::Block { rules: chain, .. } => {
                1 + chain
                    .iter()
                    .map(|i| 1 + 5 * rules[*i].conds.len())
                    .sum::<usize>()
            }
        })
        .sum();
    ranges.len() + blocks
}

/// Emits a binary search over `ranges` (sorted, contiguous); `A` holds the syscall number.
///
/// Large trees are split with `jge` until subtrees fit [`POOL_SPAN`]; each such subtree is
/// followed by the returns its unconditional runs share.
fn emit_tree(asm: &mut Asm, ranges: &[Range], rules: &[Rule]) {
    if ranges.len() == 1 || tree_len(ranges, rules) <= POOL_SPAN {
        let mut pool = RetPool::default();
        emit_node(asm, ranges, rules, &mut pool);
        pool.emit(asm);
        return;
    }
    let mid = ranges.len() / 2;
    let right = asm.label();
    asm.jmp(Cmp::Ge, ranges[mid].lo, Target::To(right), Target::Next);
    emit_tree(asm, &ranges[..mid], rules);
    asm.bind(right);
    emit_tree(asm, &ranges[mid..], rules);
}

/// Emits the dispatch over `ranges` reached by falling through: one `jge` per split, whose
/// targets are the pool's shared return for a single unconditional run.
fn emit_node(asm: &mut Asm, ranges: &[Range], rules: &[Rule], pool: &mut RetPool) {
    if let [range] = ranges {
        match range.entry {
            Entry::Simple(action) => asm.ret(*action),
            Entry::Block {
                rules: chain,
                fallback,
                widths,
            } => emit_block(asm, chain, *fallback, rules, widths),
        }
        return;
    }
    let mid = ranges.len() / 2;
    let (left, right) = ranges.split_at(mid);
    let single = |r: &[Range]| match r {
        [one] => one.simple(),
        _ => None,
    };
    let jf = match single(left) {
        Some(action) => Target::To(pool.get(asm, action)),
        None => Target::Next,
    };
    let mut right_label = None;
    let jt = match single(right) {
        Some(action) => Target::To(pool.get(asm, action)),
        // Right code follows directly when the left side is only a pool jump.
        None if jf != Target::Next => Target::Next,
        None => {
            let l = asm.label();
            right_label = Some(l);
            Target::To(l)
        }
    };
    asm.jmp(Cmp::Ge, right[0].lo, jt, jf);
    if single(left).is_none() {
        emit_node(asm, left, rules, pool);
    }
    if single(right).is_none() {
        if let Some(l) = right_label {
            asm.bind(l);
        }
        emit_node(asm, right, rules, pool);
    }
}

/// Emits the rules of one syscall: each rule's conditions jump to the next rule on failure.
/// `widths` holds, per argument index, the bits the kernel reads.
fn emit_block(
    asm: &mut Asm,
    chain: &[usize],
    fallback: u32,
    rules: &[Rule],
    widths: &[u64; MAX_ARGS],
) {
    for r in chain {
        let rule = &rules[*r];
        let fail = asm.label();
        for cond in &rule.conds {
            emit_cond(asm, cond, fail, widths[cond.index as usize]);
        }
        asm.ret(rule.action);
        asm.bind(fail);
    }
    asm.ret(fallback);
}

/// Emits one argument condition: falls through when it holds, jumps to `fail` otherwise.
///
/// `width` is the mask of the argument bits the kernel reads. 64-bit arguments are compared
/// as unsigned (hi, lo) pairs like libseccomp. Narrower ones (i386 arguments, `int`s and
/// `umode_t`s of [`super::argwidth::NARROW`]) are compared on those bits only: argument, value
/// and mask are all cut to `width`, the hi word is not read (see the module docs).
fn emit_cond(asm: &mut Asm, c: &Cond, fail: Label, width: u64) {
    use LinuxSeccompOperator as Op;
    let lo_off = OFF_ARGS + 8 * c.index;
    let hi_off = lo_off + 4;
    let (value, mask) = (c.value & width, c.mask & width);
    let (vhi, vlo) = ((value >> 32) as u32, value as u32);
    let (mhi, mlo) = ((mask >> 32) as u32, mask as u32);
    let fail = Target::To(fail);
    let next = Target::Next;
    let ok = asm.label();
    let okt = Target::To(ok);
    if width <= u64::from(u32::MAX) {
        asm.ld(lo_off);
        if width != u64::from(u32::MAX) && c.op != Op::ScmpCmpMaskedEq {
            asm.and(width as u32);
        }
        match c.op {
            Op::ScmpCmpEq => asm.jmp(Cmp::Eq, vlo, next, fail),
            Op::ScmpCmpNe => asm.jmp(Cmp::Eq, vlo, fail, next),
            Op::ScmpCmpGt => asm.jmp(Cmp::Gt, vlo, next, fail),
            Op::ScmpCmpGe => asm.jmp(Cmp::Ge, vlo, next, fail),
            Op::ScmpCmpLt => asm.jmp(Cmp::Ge, vlo, fail, next),
            Op::ScmpCmpLe => asm.jmp(Cmp::Gt, vlo, fail, next),
            Op::ScmpCmpMaskedEq => {
                asm.and(mlo);
                asm.jmp(Cmp::Eq, vlo, next, fail);
            }
        }
        asm.bind(ok);
        return;
    }
    asm.ld(hi_off);
    match c.op {
        Op::ScmpCmpEq => {
            asm.jmp(Cmp::Eq, vhi, next, fail);
            asm.ld(lo_off);
            asm.jmp(Cmp::Eq, vlo, next, fail);
        }
        Op::ScmpCmpNe => {
            asm.jmp(Cmp::Eq, vhi, next, okt);
            asm.ld(lo_off);
            asm.jmp(Cmp::Eq, vlo, fail, next);
        }
        Op::ScmpCmpGt | Op::ScmpCmpGe => {
            asm.jmp(Cmp::Gt, vhi, okt, next);
            asm.jmp(Cmp::Eq, vhi, next, fail);
            asm.ld(lo_off);
            let cmp = if c.op == Op::ScmpCmpGt {
                Cmp::Gt
            } else {
                Cmp::Ge
            };
            asm.jmp(cmp, vlo, next, fail);
        }
        Op::ScmpCmpLt | Op::ScmpCmpLe => {
            asm.jmp(Cmp::Gt, vhi, fail, next);
            asm.jmp(Cmp::Eq, vhi, next, okt);
            asm.ld(lo_off);
            // arg < v ⇔ !(lo >= vlo); arg <= v ⇔ !(lo > vlo).
            let cmp = if c.op == Op::ScmpCmpLt {
                Cmp::Ge
            } else {
                Cmp::Gt
            };
            asm.jmp(cmp, vlo, fail, next);
        }
        Op::ScmpCmpMaskedEq => {
            asm.and(mhi);
            asm.jmp(Cmp::Eq, vhi, next, fail);
            asm.ld(lo_off);
            asm.and(mlo);
            asm.jmp(Cmp::Eq, vlo, next, fail);
        }
    }
    asm.bind(ok);
}
