//! pinhole's seccomp profile format: TOML rules with a reason each, lowered to the OCI
//! `linux.seccomp` object that [`crate::seccomp::compile`] takes.
//!
//! The built-in profiles are such files, embedded at build time: `sandbox/profiles/default.toml`
//! and `sandbox/profiles/strict.toml` ([`builtin`]). OCI JSON cannot carry them: oci-spec's
//! `LinuxSyscall` has no comment field, so a reason would be lost, and its numbers have no names.
//!
//! # Format
//!
//! Unknown keys are errors.
//!
//! ```toml
//! # Optional: start from a built-in profile ("default" or "strict"). Its default action, errno
//! # and architectures apply unless given here; its rules are kept, less what `remove`,
//! # `remove_high_risk` and this file's own rules take out.
//! base = "default"
//! # Required without `base`: "allow", "log", "errno", "kill_process", "kill_thread" ("kill"),
//! # "trap".
//! default_action = "errno"
//! default_errno = "EPERM"          # symbolic (table in this file) or a number; errno only
//! architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]  # OCI names;
//!                                  # ["SCMP_ARCH_NATIVE"]: the native ABI only
//! # With `base`: take every name of sandbox/profiles/high-risk.toml out of the allowing rules.
//! remove_high_risk = false
//!
//! [[remove]]                       # with `base`: names taken out of the base's allowing rules
//! names = ["mq_open"]
//! reason = "one line"
//!
//! [[rule]]                         # tried in file order; the first whose args all hold decides
//! names = ["socket", "socketpair"] # every name must be a syscall on some architecture
//! action = "allow"
//! errno = "ENOSYS"                 # only with action = "errno" (default EPERM)
//! reason = "one line: why the rule exists"     # required
//! args = [                         # ANDed; see crate::seccomp for the comparison semantics
//!   { index = 0, op = "ne", value = "AF_VSOCK", why = "vsock reaches the host" },
//! ]
//! ```
//!
//! `op` is one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `masked_eq` (`(arg & value) ==
//! value_two`, `value_two` defaulting to 0). A `value` or `value_two` is a number or a string
//! of `|`-separated terms, each a constant of [`CONSTANTS`] or a number (`"0x20000"`).
//!
//! A rule of a file with `base` replaces every rule of the base that names the same syscall.
//! Errors name the file, the line and column, the TOML key (`rule[3].names[1]`) and the problem.

use std::path::Path;
use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator,
    LinuxSyscall,
};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

pub use super::error::{ProfileError, ProfileProblem};

/// The `default` profile's source, embedded at build time.
pub const DEFAULT_TOML: &str = include_str!("../../profiles/default.toml");
/// The `strict` profile's source, embedded at build time.
pub const STRICT_TOML: &str = include_str!("../../profiles/strict.toml");

/// The built-in profiles: (name, file as shown in errors, source).
pub const BUILTIN: &[(&str, &str, &str)] = &[
    ("default", "sandbox/profiles/default.toml", DEFAULT_TOML),
    ("strict", "sandbox/profiles/strict.toml", STRICT_TOML),
];

/// The one table of symbolic argument values.
pub const CONSTANTS: &[(&str, u64)] = &[
    // Address families (include/linux/socket.h).
    ("AF_UNSPEC", 0),
    ("AF_UNIX", 1),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("AF_NETLINK", 16),
    ("AF_PACKET", 17),
    ("AF_ALG", 38),
    ("AF_VSOCK", 40),
    // Namespace flags of clone(2) (include/uapi/linux/sched.h).
    ("CLONE_NEWTIME", 0x0000_0080),
    ("CLONE_NEWNS", 0x0002_0000),
    ("CLONE_NEWCGROUP", 0x0200_0000),
    ("CLONE_NEWUTS", 0x0400_0000),
    ("CLONE_NEWIPC", 0x0800_0000),
    ("CLONE_NEWUSER", 0x1000_0000),
    ("CLONE_NEWPID", 0x2000_0000),
    ("CLONE_NEWNET", 0x4000_0000),
    // personality(2) personas (include/uapi/linux/personality.h).
    ("PER_LINUX", 0),
    ("PER_LINUX32", 0x0008),
    ("UNAME26", 0x0002_0000),
    // personality(0xffffffff) returns the current persona without changing it.
    ("PER_QUERY", 0xffff_ffff),
    // i386 socketcall(2) subcalls (include/uapi/linux/net.h).
    ("SYS_SOCKET", 1),
    ("SYS_BIND", 2),
    ("SYS_CONNECT", 3),
    ("SYS_SOCKETPAIR", 8),
];

/// Symbolic errno values accepted in `default_errno` and `errno`.
pub const ERRNOS: &[(&str, u32)] = &[
    ("EPERM", libc::EPERM as u32),
    ("ENOENT", libc::ENOENT as u32),
    ("EIO", libc::EIO as u32),
    ("EBADF", libc::EBADF as u32),
    ("EAGAIN", libc::EAGAIN as u32),
    ("ENOMEM", libc::ENOMEM as u32),
    ("EACCES", libc::EACCES as u32),
    ("EFAULT", libc::EFAULT as u32),
    ("EINVAL", libc::EINVAL as u32),
    ("ENOSYS", libc::ENOSYS as u32),
    ("EOPNOTSUPP", libc::EOPNOTSUPP as u32),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT as u32),
];

/// Largest errno the kernel returns (`MAX_ERRNO`).
const MAX_ERRNO: u32 = 4095;
/// Number of syscall arguments.
const MAX_ARGS: usize = 6;

/// A profile file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    base: Option<Spanned<String>>,
    default_action: Option<Action>,
    default_errno: Option<Spanned<Errno>>,
    architectures: Option<Vec<Arch>>,
    #[serde(default)]
    remove_high_risk: bool,
    #[serde(default)]
    remove: Vec<Remove>,
    #[serde(default)]
    rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Remove {
    names: Vec<Spanned<String>>,
    reason: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    names: Spanned<Vec<Spanned<String>>>,
    action: Action,
    errno: Option<Spanned<Errno>>,
    reason: Spanned<String>,
    #[serde(default)]
    args: Vec<Spanned<Arg>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Arg {
    index: Spanned<usize>,
    op: Op,
    value: Spanned<Value>,
    value_two: Option<Spanned<Value>>,
    why: Spanned<String>,
}

/// A rule's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Allow,
    Log,
    Errno,
    KillProcess,
    KillThread,
    Kill,
    Trap,
}

impl Action {
    fn oci(self) -> LinuxSeccompAction {
        match self {
            Action::Allow => LinuxSeccompAction::ScmpActAllow,
            Action::Log => LinuxSeccompAction::ScmpActLog,
            Action::Errno => LinuxSeccompAction::ScmpActErrno,
            Action::KillProcess => LinuxSeccompAction::ScmpActKillProcess,
            Action::KillThread | Action::Kill => LinuxSeccompAction::ScmpActKillThread,
            Action::Trap => LinuxSeccompAction::ScmpActTrap,
        }
    }
}

/// An argument operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    MaskedEq,
}

impl Op {
    fn oci(self) -> LinuxSeccompOperator {
        match self {
            Op::Eq => LinuxSeccompOperator::ScmpCmpEq,
            Op::Ne => LinuxSeccompOperator::ScmpCmpNe,
            Op::Lt => LinuxSeccompOperator::ScmpCmpLt,
            Op::Le => LinuxSeccompOperator::ScmpCmpLe,
            Op::Gt => LinuxSeccompOperator::ScmpCmpGt,
            Op::Ge => LinuxSeccompOperator::ScmpCmpGe,
            Op::MaskedEq => LinuxSeccompOperator::ScmpCmpMaskedEq,
        }
    }
}

/// A number, or text to resolve (symbolic or numeric).
#[derive(Debug, Clone, PartialEq, Eq)]
enum NumOrText {
    Num(u64),
    Text(String),
}

/// An argument value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Value(NumOrText);
/// An errno as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Errno(NumOrText);

struct NumOrTextVisitor(&'static str);

impl Visitor<'_> for NumOrTextVisitor {
    type Value = NumOrText;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrText, E> {
        u64::try_from(v)
            .map(NumOrText::Num)
            .map_err(|_| E::custom(format!("{v}: must not be negative")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrText, E> {
        Ok(NumOrText::Num(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrText, E> {
        Ok(NumOrText::Text(v.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumOrTextVisitor(
            "a number or a string of constants (\"AF_VSOCK\", \"CLONE_NEWNS|CLONE_NEWUSER\")",
        ))
        .map(Value)
    }
}

impl<'de> Deserialize<'de> for Errno {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumOrTextVisitor("an errno name (\"EPERM\") or number"))
            .map(Errno)
    }
}

/// Parses a number as written in a string: decimal or `0x` hex, `_` separators allowed.
fn parse_number(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => s.parse().ok(),
        None => None,
    }
}

/// Resolves a value: a number, or `|`-separated constants and numbers OR-ed together.
pub fn resolve_value(text: &str) -> Result<u64, ProfileProblem> {
    let mut v = 0u64;
    for term in text.split('|') {
        let term = term.trim();
        let n = parse_number(term)
            .or_else(|| CONSTANTS.iter().find(|(n, _)| *n == term).map(|(_, v)| *v))
            .ok_or_else(|| ProfileProblem::UnknownConstant(term.to_owned()))?;
        v |= n;
    }
    Ok(v)
}

/// Resolves an errno name or number.
fn resolve_errno(e: &Errno) -> Result<u32, ProfileProblem> {
    let n = match &e.0 {
        NumOrText::Num(n) => *n,
        NumOrText::Text(t) => match ERRNOS.iter().find(|(n, _)| n == t) {
            Some((_, v)) => u64::from(*v),
            None => parse_number(t).ok_or_else(|| ProfileProblem::UnknownErrno(t.clone()))?,
        },
    };
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_ERRNO)
        .ok_or_else(|| ProfileProblem::Invalid(format!("errno {n} is above {MAX_ERRNO}")))
}

/// Position of a byte offset in `text`: 1-based line and column.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Builds errors for one file.
struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        span: std::ops::Range<usize>,
        key: String,
        problem: ProfileProblem,
    ) -> ProfileError {
        let (line, column) = position(self.text, span.start);
        ProfileError {
            file: self.origin.to_owned(),
            line,
            column,
            key,
            problem,
        }
    }
}

/// Parses profile text and lowers it to `linux.seccomp`; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<LinuxSeccomp, ProfileError> {
    parse_depth(text, origin, 0)
}

/// Reads and parses the profile file at `path`.
pub fn load(path: &Path) -> Result<LinuxSeccomp, ProfileError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
        file: origin.clone(),
        line: 0,
        column: 0,
        key: "(file)".into(),
        problem: ProfileProblem::Invalid(format!("read: {e}")),
    })?;
    parse(&text, &origin)
}

/// A built-in profile by name, lowered (parsed once).
pub fn builtin(name: &str) -> Option<LinuxSeccomp> {
    static CACHE: OnceLock<Vec<LinuxSeccomp>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        BUILTIN
            .iter()
            .map(|(_, file, text)| {
                parse(text, file).unwrap_or_else(|e| panic!("built-in seccomp profile: {e}"))
            })
            .collect()
    });
    BUILTIN
        .iter()
        .position(|(n, _, _)| *n == name)
        .map(|i| all[i].clone())
}

fn parse_depth(text: &str, origin: &str, depth: usize) -> Result<LinuxSeccomp, ProfileError> {
    let cx = Ctx { text, origin };
    let syntax = |key: Option<String>, e: &toml::de::Error| {
        cx.err(
            e.span().unwrap_or(0..0),
            key.unwrap_or_else(|| "(document)".into()),
            ProfileProblem::Syntax(e.message().trim_end().to_owned()),
        )
    };
    let de = toml::Deserializer::parse(text).map_err(|e| syntax(None, &e))?;
    let file: File = serde_path_to_error::deserialize(de).map_err(|e| {
        // toml::Spanned is a struct to serde: drop its private field names from the path.
        let path = e
            .path()
            .to_string()
            .split('.')
            .filter(|s| !s.starts_with("$__serde_spanned"))
            .collect::<Vec<_>>()
            .join(".");
        let key = match path {
            p if p == "." || p.is_empty() => None,
            p => Some(p),
        };
        syntax(key, e.inner())
    })?;
    lower(&cx, file, depth)
}

/// Checks one line of reason text.
fn check_reason(cx: &Ctx, r: &Spanned<String>, key: String) -> Result<(), ProfileError> {
    let t = r.get_ref();
    if t.trim().is_empty() || t.contains('\n') {
        return Err(cx.err(
            r.span(),
            key,
            ProfileProblem::Invalid("must be one non-empty line".into()),
        ));
    }
    Ok(())
}

/// Checks that `name` is a syscall on some architecture.
fn check_name(cx: &Ctx, n: &Spanned<String>, key: String) -> Result<(), ProfileError> {
    if !super::names::is_foreign(n.get_ref()) {
        return Err(cx.err(
            n.span(),
            key,
            ProfileProblem::UnknownSyscall(n.get_ref().clone()),
        ));
    }
    Ok(())
}

/// Whether an action lets the syscall run.
fn allows(action: LinuxSeccompAction) -> bool {
    matches!(
        action,
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
    )
}

/// Removes `names` from the rules `pick` selects, dropping rules left without names.
fn remove_from(
    rules: Vec<LinuxSyscall>,
    names: &[String],
    pick: fn(&LinuxSyscall) -> bool,
) -> Vec<LinuxSyscall> {
    rules
        .into_iter()
        .filter_map(|mut r| {
            if !pick(&r) {
                return Some(r);
            }
            let keep: Vec<String> = r
                .names()
                .iter()
                .filter(|n| !names.contains(n))
                .cloned()
                .collect();
            if keep.is_empty() {
                return None;
            }
            r.set_names(keep);
            Some(r)
        })
        .collect()
}

fn lower(cx: &Ctx, file: File, depth: usize) -> Result<LinuxSeccomp, ProfileError> {
    let base = match &file.base {
        None => None,
        Some(b) => {
            let Some((_, bfile, btext)) = BUILTIN.iter().find(|(n, _, _)| n == b.get_ref()) else {
                let known: Vec<&str> = BUILTIN.iter().map(|(n, _, _)| *n).collect();
                return Err(cx.err(
                    b.span(),
                    "base".into(),
                    ProfileProblem::Invalid(format!(
                        "{:?} is not a built-in profile (one of {known:?})",
                        b.get_ref()
                    )),
                ));
            };
            if depth >= BUILTIN.len() {
                return Err(cx.err(
                    b.span(),
                    "base".into(),
                    ProfileProblem::Invalid("built-in profiles refer to each other".into()),
                ));
            }
            Some(parse_depth(btext, bfile, depth + 1)?)
        }
    };
    if base.is_none() {
        if file.remove_high_risk || !file.remove.is_empty() {
            return Err(cx.err(
                0..0,
                if file.remove_high_risk {
                    "remove_high_risk".into()
                } else {
                    "remove".into()
                },
                ProfileProblem::Invalid("removes names from a base: needs `base`".into()),
            ));
        }
        if file.default_action.is_none() {
            return Err(cx.err(
                0..0,
                "default_action".into(),
                ProfileProblem::Invalid("required without `base`".into()),
            ));
        }
    }
    let mut p = base.unwrap_or_default();
    if let Some(a) = file.default_action {
        p.set_default_action(a.oci());
        p.set_default_errno_ret(None);
    }
    if let Some(e) = &file.default_errno {
        if p.default_action() != LinuxSeccompAction::ScmpActErrno {
            return Err(cx.err(
                e.span(),
                "default_errno".into(),
                ProfileProblem::Invalid("only with default_action = \"errno\"".into()),
            ));
        }
        let n = resolve_errno(e.get_ref())
            .map_err(|pr| cx.err(e.span(), "default_errno".into(), pr))?;
        p.set_default_errno_ret(Some(n));
    }
    if let Some(a) = &file.architectures {
        p.set_architectures(Some(a.clone()));
    }

    // Names taken out of the base.
    let mut removed: Vec<String> = Vec::new();
    if file.remove_high_risk {
        removed.extend(super::risk::high_risk().iter().map(|r| r.name.clone()));
    }
    for (i, r) in file.remove.iter().enumerate() {
        check_reason(cx, &r.reason, format!("remove[{i}].reason"))?;
        for (j, n) in r.names.iter().enumerate() {
            check_name(cx, n, format!("remove[{i}].names[{j}]"))?;
            removed.push(n.get_ref().clone());
        }
    }
    let mut rules = p.syscalls().clone().unwrap_or_default();
    rules = remove_from(rules, &removed, |r| allows(r.action()));

    // This file's rules; with a base they replace its rules for the same names.
    let mut own = Vec::with_capacity(file.rule.len());
    let mut named: Vec<String> = Vec::new();
    for (i, r) in file.rule.iter().enumerate() {
        own.push(lower_rule(cx, r, i)?);
        named.extend(r.names.get_ref().iter().map(|n| n.get_ref().clone()));
    }
    rules = remove_from(rules, &named, |_| true);
    rules.extend(own);
    p.set_syscalls(Some(rules));
    Ok(p)
}

fn lower_rule(cx: &Ctx, r: &Rule, i: usize) -> Result<LinuxSyscall, ProfileError> {
    let key = |k: &str| format!("rule[{i}].{k}");
    // The first name, so that errors about the rule say which syscall it is about.
    let first = r
        .names
        .get_ref()
        .first()
        .map(|n| format!(" ({})", n.get_ref()))
        .unwrap_or_default();
    check_reason(cx, &r.reason, key("reason"))?;
    if r.names.get_ref().is_empty() {
        return Err(cx.err(
            r.names.span(),
            key("names"),
            ProfileProblem::Invalid("must name at least one syscall".into()),
        ));
    }
    for (j, n) in r.names.get_ref().iter().enumerate() {
        check_name(cx, n, key(&format!("names[{j}]")))?;
    }
    let mut sc = LinuxSyscall::default();
    sc.set_names(
        r.names
            .get_ref()
            .iter()
            .map(|n| n.get_ref().clone())
            .collect(),
    )
    .set_action(r.action.oci());
    if let Some(e) = &r.errno {
        if r.action != Action::Errno {
            return Err(cx.err(
                e.span(),
                key("errno") + &first,
                ProfileProblem::Invalid("only with action = \"errno\"".into()),
            ));
        }
        let n =
            resolve_errno(e.get_ref()).map_err(|p| cx.err(e.span(), key("errno") + &first, p))?;
        sc.set_errno_ret(Some(n));
    }
    let mut args = Vec::with_capacity(r.args.len());
    for (j, a) in r.args.iter().enumerate() {
        let akey = |k: &str| format!("rule[{i}].args[{j}].{k}{first}");
        let a_ref = a.get_ref();
        check_reason(cx, &a_ref.why, akey("why"))?;
        let index = *a_ref.index.get_ref();
        if index >= MAX_ARGS {
            return Err(cx.err(
                a_ref.index.span(),
                akey("index"),
                ProfileProblem::Invalid(format!("{index}: must be below {MAX_ARGS}")),
            ));
        }
        let value = |v: &Spanned<Value>, k: &str| match &v.get_ref().0 {
            NumOrText::Num(n) => Ok(*n),
            NumOrText::Text(t) => resolve_value(t).map_err(|p| cx.err(v.span(), akey(k), p)),
        };
        let v = value(&a_ref.value, "value")?;
        let v2 = match &a_ref.value_two {
            Some(v2) if a_ref.op != Op::MaskedEq => {
                return Err(cx.err(
                    v2.span(),
                    akey("value_two"),
                    ProfileProblem::Invalid("only with op = \"masked_eq\"".into()),
                ))
            }
            Some(v2) => Some(value(v2, "value_two")?),
            None if a_ref.op == Op::MaskedEq => Some(0),
            None => None,
        };
        let mut arg = LinuxSeccompArgBuilder::default()
            .index(index)
            .op(a_ref.op.oci())
            .value(v);
        if let Some(v2) = v2 {
            arg = arg.value_two(v2);
        }
        args.push(arg.build().expect("every field of the argument is set"));
    }
    if !args.is_empty() {
        sc.set_args(Some(args));
    }
    Ok(sc)
}

/// One rule of a profile file as written, for tools that show or check the source
/// (`reason` per rule, `why` per argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// Syscall names.
    pub names: Vec<String>,
    /// The rule's reason.
    pub reason: String,
    /// Each argument condition's `why`.
    pub whys: Vec<String>,
}

/// The rules and removals of a profile file as written (without its base), with reasons.
pub fn rule_sources(text: &str, origin: &str) -> Result<Vec<RuleSource>, ProfileError> {
    let cx = Ctx { text, origin };
    let file: File = toml::from_str(text).map_err(|e| {
        cx.err(
            e.span().unwrap_or(0..0),
            "(document)".into(),
            ProfileProblem::Syntax(e.message().trim_end().to_owned()),
        )
    })?;
    let mut out: Vec<RuleSource> = file
        .remove
        .iter()
        .map(|r| RuleSource {
            names: r.names.iter().map(|n| n.get_ref().clone()).collect(),
            reason: r.reason.get_ref().clone(),
            whys: Vec::new(),
        })
        .collect();
    out.extend(file.rule.iter().map(|r| {
        RuleSource {
            names: r
                .names
                .get_ref()
                .iter()
                .map(|n| n.get_ref().clone())
                .collect(),
            reason: r.reason.get_ref().clone(),
            whys: r
                .args
                .iter()
                .map(|a| a.get_ref().why.get_ref().clone())
                .collect(),
        }
    }));
    Ok(out)
}

#[cfg(all(test, target_arch = "x86_64"))]
#[path = "profile_tests.rs"]
mod tests;
