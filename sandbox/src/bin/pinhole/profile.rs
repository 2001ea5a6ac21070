//! `pinhole profile`: show, diff, check, compile and merge seccomp profiles.
//!
//! Every PROFILE argument is resolved by [`load_profile_arg`] (shared with `pinhole surface`):
//! a built-in profile name, a handler policy (`.toml`), an OCI `linux.seccomp` JSON file, or a
//! container id under `--root`. What a profile allows is always computed by evaluating its
//! compiled BPF (`pinhole_sandbox::seccomp::surface`), never by reading its lists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};
use pinhole_sandbox::container::{self, Root};
use pinhole_sandbox::init::SeccompPlan;
use pinhole_sandbox::record::{Usage, USAGE_FILE};
use pinhole_sandbox::seccomp::surface::{self, Surface};
use pinhole_sandbox::seccomp::{self, Filter};
use serde_json::{json, Value};

/// File of a container's compiled filters in its state directory (`container/create.rs`).
const SECCOMP_FILE: &str = "seccomp.json";

/// `pinhole profile` subcommands.
#[derive(Subcommand)]
pub(crate) enum ProfileCmd {
    /// One line per allowed syscall (name, number, arch, count, risk) and the default action.
    Show {
        /// Built-in profile name, policy (.toml), OCI linux.seccomp JSON file or container id.
        profile: String,
        /// usage.json whose counts to show (default: the container's own, if recorded).
        #[arg(long)]
        usage: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Per arch, the syscalls A allows and B does not, and vice versa (exit 0 either way).
    Diff {
        /// First profile.
        a: String,
        /// Second profile.
        b: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Names missing on a listed arch (info), names no arch has (error), and that it compiles.
    Check {
        /// Profile to check.
        profile: String,
    },
    /// Compile and print the program's size; write raw BPF with -o, disassemble with --dump.
    Compile {
        /// Profile to compile.
        profile: String,
        /// Write the raw BPF program (struct sock_filter array) here.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Print the program disassembled.
        #[arg(long)]
        dump: bool,
    },
    /// Run a bundle to completion under its ceiling and record the syscalls it uses into a
    /// profile (seccomp user notification; this process is the supervisor).
    Record(crate::record::RecordArgs),
    /// Union of OCI profiles (allow rules unioned by name; one default action required).
    Merge {
        /// Profiles to merge.
        #[arg(required = true)]
        profiles: Vec<String>,
        /// Where to write the merged OCI linux.seccomp JSON.
        #[arg(long, short, required = true)]
        output: PathBuf,
    },
}

/// A resolved PROFILE argument.
pub(crate) struct Loaded {
    /// What it is, for output: `built-in profile default`, `policy FILE`, `container ID`, ...
    pub label: String,
    /// The file or name that errors mention.
    pub origin: String,
    /// The profile as data (one, or none when the source holds only compiled filters or no
    /// filter at all).
    pub profile: Option<LinuxSeccomp>,
    /// The filter stack the kernel runs (empty: no seccomp filter, everything allowed).
    pub filters: Vec<Filter>,
    /// What a recording of it used (`usage.json` in a container's state directory).
    pub usage: Option<Usage>,
}

impl Loaded {
    /// Evaluates the filter stack.
    pub fn surface(&self) -> Surface {
        let refs: Vec<&Filter> = self.filters.iter().collect();
        Surface::of(&refs)
    }

    /// The profile as data, or an error naming the argument.
    fn profile(&self) -> Result<&LinuxSeccomp> {
        self.profile.as_ref().ok_or_else(|| self.no_profile())
    }

    /// Why there is no profile as data.
    fn no_profile(&self) -> anyhow::Error {
        if self.filters.is_empty() {
            anyhow!("{}: no seccomp profile (unconfined)", self.origin)
        } else {
            anyhow!(
                "{}: {} holds compiled filters only, not a profile",
                self.origin,
                self.label
            )
        }
    }
}

/// A PROFILE argument resolved but not compiled yet.
pub(crate) enum Resolved {
    /// A profile as data: `label` for output, `origin` (file or name) for errors.
    Profile {
        label: String,
        origin: String,
        profile: LinuxSeccomp,
    },
    /// A source that is already a filter stack (a container, an unconfined policy).
    Stack(Loaded),
}

impl Resolved {
    /// Compiles a profile into a one-filter stack.
    fn compile(self) -> Result<Loaded> {
        match self {
            Resolved::Profile {
                label,
                origin,
                profile,
            } => {
                let filter =
                    seccomp::compile(&profile, &[]).with_context(|| format!("compile {origin}"))?;
                Ok(Loaded {
                    label,
                    origin,
                    profile: Some(profile),
                    filters: vec![filter],
                    usage: None,
                })
            }
            Resolved::Stack(l) => Ok(l),
        }
    }
}

/// Resolves and compiles a PROFILE argument (see [`resolve_profile_arg`]).
pub(crate) fn load_profile_arg(arg: &str, root: &Path) -> Result<Loaded> {
    resolve_profile_arg(arg, root)?.compile()
}

/// Resolves a PROFILE argument, in this order:
/// 1. a built-in profile name (`default`, `strict`);
/// 2. a path ending in `.toml`: a handler policy, whose seccomp ceiling is the profile;
/// 3. an existing path (or any argument with a `/` or ending in `.json`): an OCI
///    `linux.seccomp` JSON file;
/// 4. a container id in `root`: its installed filter stack (`seccomp.json`: the spec's
///    profile and the policy ceiling, compiled) and its `usage.json` when it was recorded.
pub(crate) fn resolve_profile_arg(arg: &str, root: &Path) -> Result<Resolved> {
    if let Some(profile) = pinhole_sandbox::policy::builtin_profile(arg) {
        return Ok(Resolved::Profile {
            label: format!("built-in profile {arg}"),
            origin: arg.to_string(),
            profile,
        });
    }
    let path = Path::new(arg);
    if arg.ends_with(".toml") {
        // A handler policy has a `name`; a pinhole profile (sandbox/profiles/*.toml) does not.
        let text = std::fs::read_to_string(path).with_context(|| format!("read {arg}"))?;
        let is_policy = text
            .parse::<toml::Table>()
            .map_or(true, |t| t.contains_key("name"));
        if is_policy {
            return load_policy(path);
        }
        let shown = path.display().to_string();
        return Ok(Resolved::Profile {
            label: format!("pinhole profile {shown}"),
            origin: shown,
            profile: pinhole_sandbox::seccomp::profile::load(path)?,
        });
    }
    if path.exists() || arg.contains('/') || arg.ends_with(".json") {
        let shown = path.display().to_string();
        return Ok(Resolved::Profile {
            label: format!("OCI profile {shown}"),
            origin: shown,
            profile: read_oci_file(path)?,
        });
    }
    load_container(arg, root).map(Resolved::Stack)
}

/// A handler policy's seccomp ceiling.
fn load_policy(path: &Path) -> Result<Resolved> {
    let shown = path.display().to_string();
    let policy = pinhole_sandbox::policy::Policy::load(path)
        .with_context(|| format!("load handler policy {shown}"))?;
    let label = format!("policy {} ({shown}) seccomp ceiling", policy.name());
    match policy.seccomp_ceiling() {
        Some(p) => Ok(Resolved::Profile {
            label,
            origin: shown,
            profile: p.clone(),
        }),
        None => Ok(Resolved::Stack(Loaded {
            label: format!("policy {} ({shown}): no ceiling filter", policy.name()),
            origin: shown,
            profile: None,
            filters: Vec::new(),
            usage: None,
        })),
    }
}

/// Reads an OCI `linux.seccomp` JSON file.
fn read_oci_file(path: &Path) -> Result<LinuxSeccomp> {
    let shown = path.display();
    let text = std::fs::read(path).with_context(|| format!("read {shown}"))?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        anyhow!(
            "{shown}: not an OCI linux.seccomp object: {}: {}",
            e.path(),
            e.inner()
        )
    })
}

/// A container's installed filter stack and recorded usage.
fn load_container(id: &str, root: &Path) -> Result<Loaded> {
    let not_found = || {
        anyhow!(
            "{id}: no built-in profile, file or container of that name (state root {})",
            root.display()
        )
    };
    if container::validate_id(id).is_err() {
        return Err(not_found());
    }
    let root = Root::new(root)?;
    match container::State::load(&root, id) {
        Ok(_) => {}
        Err(container::Error::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(e).with_context(|| format!("container {id}")),
    }
    let dir = root.state_dir(id);
    let file = dir.join(SECCOMP_FILE);
    let filters = match std::fs::read(&file) {
        Ok(text) => {
            let plans: Vec<SeccompPlan> = serde_json::from_slice(&text)
                .with_context(|| format!("parse {}", file.display()))?;
            plans
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    Filter::from_bytes(&p.program)
                        .with_context(|| format!("{}: filter {i}", file.display()))
                })
                .collect::<Result<Vec<_>>>()?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("read {}", file.display())),
    };
    let usage_file = dir.join(USAGE_FILE);
    let usage = if usage_file.exists() {
        Some(Usage::load(&usage_file).map_err(|e| anyhow!("read usage: {e}"))?)
    } else {
        None
    };
    Ok(Loaded {
        label: format!("container {id} ({} filters stacked)", filters.len()),
        origin: file.display().to_string(),
        profile: None,
        filters,
        usage,
    })
}

/// Reads `--usage FILE`, else the loaded source's own usage.
pub(crate) fn usage_of(loaded: &Loaded, file: Option<&Path>) -> Result<Option<Usage>> {
    match file {
        Some(f) => Ok(Some(
            Usage::load(f).map_err(|e| anyhow!("read usage: {e}"))?,
        )),
        None => Ok(loaded.usage.clone()),
    }
}

/// Runs a `pinhole profile` subcommand; returns the exit code.
/// Runs a `profile` verb; `policy` is the global `--policy` (read by `record` only).
pub(crate) fn run(cmd: ProfileCmd, root: &Path, policy: Option<&Path>) -> Result<u8> {
    match cmd {
        ProfileCmd::Show {
            profile,
            usage,
            json,
        } => show(&load_profile_arg(&profile, root)?, usage.as_deref(), json),
        ProfileCmd::Diff { a, b, json } => diff(
            &load_profile_arg(&a, root)?,
            &load_profile_arg(&b, root)?,
            json,
        ),
        ProfileCmd::Check { profile } => check(&profile, root),
        ProfileCmd::Compile {
            profile,
            output,
            dump,
        } => compile(&load_profile_arg(&profile, root)?, output.as_deref(), dump),
        ProfileCmd::Merge { profiles, output } => merge(&profiles, &output, root),
        ProfileCmd::Record(args) => {
            crate::record::record(&pinhole_sandbox::container::Root::new(root)?, args, policy)
        }
    }
}

fn show(l: &Loaded, usage_file: Option<&Path>, json: bool) -> Result<u8> {
    let usage = usage_of(l, usage_file)?;
    let s = l.surface();
    let count = |oci_arch: &str, nr: u32| {
        usage.as_ref().map(|u| {
            u.syscalls
                .iter()
                .filter(|x| x.arch == oci_arch && x.nr == nr)
                .map(|x| x.count)
                .sum::<u64>()
        })
    };
    if json {
        let rows: Vec<Value> = s
            .arches
            .iter()
            .flat_map(|a| {
                a.allowed.iter().map(move |x| {
                    json!({
                        "name": x.name, "nr": x.nr, "arch": a.arch,
                        "count": count(a.oci_arch, x.nr),
                        "high_risk": x.high_risk, "conditional": x.conditional,
                    })
                })
            })
            .collect();
        let defaults: serde_json::Map<String, Value> = s
            .arches
            .iter()
            .map(|a| {
                (
                    a.arch.to_string(),
                    json!(surface::action_name(a.deny_action)),
                )
            })
            .collect();
        let out = json!({"profile": l.label, "syscalls": rows, "default_action": defaults});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!("# {}", l.label);
    println!(
        "{:<24} {:>10} {:<7} {:>8} {:<9} ARGS",
        "NAME", "NR", "ARCH", "COUNT", "RISK"
    );
    for a in &s.arches {
        for x in &a.allowed {
            println!(
                "{:<24} {:>10} {:<7} {:>8} {:<9} {}",
                x.name,
                x.nr,
                a.arch,
                count(a.oci_arch, x.nr).map_or("-".to_string(), |c| c.to_string()),
                if x.high_risk { "high-risk" } else { "-" },
                if x.conditional { "conditional" } else { "any" },
            );
        }
    }
    for a in &s.arches {
        println!(
            "default action {} {}",
            a.arch,
            surface::action_name(a.deny_action)
        );
    }
    Ok(0)
}

fn diff(a: &Loaded, b: &Loaded, json: bool) -> Result<u8> {
    let (sa, sb) = (a.surface(), b.surface());
    let mut per_arch = serde_json::Map::new();
    for (x, y) in sa.arches.iter().zip(&sb.arches) {
        let (nx, ny): (BTreeSet<&str>, BTreeSet<&str>) = (
            x.names().into_iter().collect(),
            y.names().into_iter().collect(),
        );
        let only_a: Vec<&str> = nx.difference(&ny).copied().collect();
        let only_b: Vec<&str> = ny.difference(&nx).copied().collect();
        if !json {
            println!(
                "{} only in {} ({}): {}",
                x.arch,
                a.origin,
                only_a.len(),
                only_a.join(" ")
            );
            println!(
                "{} only in {} ({}): {}",
                x.arch,
                b.origin,
                only_b.len(),
                only_b.join(" ")
            );
        }
        per_arch.insert(
            x.arch.to_string(),
            json!({"only_a": only_a, "only_b": only_b}),
        );
    }
    if json {
        let out = json!({"a": a.label, "b": b.label, "arches": per_arch});
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(0)
}

fn check(arg: &str, root: &Path) -> Result<u8> {
    // Names are reported before the compiler's first error.
    let (origin, p) = match resolve_profile_arg(arg, root)? {
        Resolved::Profile {
            origin, profile, ..
        } => (origin, profile),
        Resolved::Stack(l) => return Err(l.no_profile()),
    };
    let c = surface::check_names(&p);
    for (arch, names) in &c.missing {
        if !names.is_empty() {
            println!(
                "info: {origin}: {} names not on {arch} (skipped there): {}",
                names.len(),
                names.join(" ")
            );
        }
    }
    for a in &c.foreign_arches {
        println!("info: {origin}: {a} is not an arch this host reports (its rules never run)");
    }
    if !c.unknown.is_empty() {
        bail!(
            "{origin}: {} names no architecture has: {}",
            c.unknown.len(),
            c.unknown.join(" ")
        );
    }
    seccomp::validate(&p, &[]).with_context(|| format!("{origin}: does not compile"))?;
    println!("{origin}: ok");
    Ok(0)
}

fn compile(l: &Loaded, output: Option<&Path>, dump: bool) -> Result<u8> {
    for (i, f) in l.filters.iter().enumerate() {
        println!(
            "{} filter {}/{}: {} instructions, {} bytes",
            l.origin,
            i + 1,
            l.filters.len(),
            f.instructions(),
            surface::raw_bpf(f).len()
        );
        if dump {
            print!("{}", surface::disassemble(f));
        }
    }
    if let Some(out) = output {
        let [f] = l.filters.as_slice() else {
            bail!(
                "{}: {} filters; -o writes exactly one",
                l.origin,
                l.filters.len()
            );
        };
        std::fs::write(out, surface::raw_bpf(f))
            .with_context(|| format!("write {}", out.display()))?;
    }
    Ok(0)
}

/// Whether a rule has no argument conditions.
fn unconditional(r: &LinuxSyscall) -> bool {
    r.args().as_ref().is_none_or(Vec::is_empty)
}

/// The default action with EPERM made explicit for ERRNO (how the compiler reads it).
fn default_of(p: &LinuxSeccomp) -> (LinuxSeccompAction, Option<u32>) {
    match p.default_action() {
        LinuxSeccompAction::ScmpActErrno => (
            LinuxSeccompAction::ScmpActErrno,
            Some(p.default_errno_ret().unwrap_or(libc::EPERM as u32)),
        ),
        a => (a, None),
    }
}

/// Union of profiles: names any input allows unconditionally (ALLOW, else LOG) get one sorted
/// rule each; every other rule is kept once, in input order, without those names (a name
/// allowed unconditionally anywhere is allowed in the union). Architectures and flags are
/// unioned and sorted. Inputs must have the same default action.
///
/// OCI rules are not per architecture: on an arch only some inputs list, the merged profile
/// allows every merged name (a superset of the union there). Argument rules for one name from
/// several inputs are kept in input order, where the first match decides (reported as notes).
fn merge_profiles(inputs: &[(String, LinuxSeccomp)]) -> Result<(LinuxSeccomp, Vec<String>)> {
    let (first_origin, first) = inputs.first().context("merge: no profiles")?;
    let want = default_of(first);
    for (origin, p) in &inputs[1..] {
        if default_of(p) != want {
            bail!(
                "{origin}: default action {:?} differs from {first_origin}'s {:?}: merge needs one default action",
                default_of(p),
                want
            );
        }
    }
    let rules = |p: &LinuxSeccomp| p.syscalls().clone().unwrap_or_default();
    let uncond = |action: LinuxSeccompAction| -> BTreeSet<String> {
        inputs
            .iter()
            .flat_map(|(_, p)| rules(p))
            .filter(|r| r.action() == action && unconditional(r))
            .flat_map(|r| r.names().clone())
            .collect()
    };
    let allow = uncond(LinuxSeccompAction::ScmpActAllow);
    let log: BTreeSet<String> = uncond(LinuxSeccompAction::ScmpActLog)
        .difference(&allow)
        .cloned()
        .collect();
    let mut out_rules: Vec<LinuxSyscall> = Vec::new();
    for (names, action) in [
        (&allow, LinuxSeccompAction::ScmpActAllow),
        (&log, LinuxSeccompAction::ScmpActLog),
    ] {
        if !names.is_empty() {
            let mut r = LinuxSyscall::default();
            r.set_names(names.iter().cloned().collect());
            r.set_action(action);
            out_rules.push(r);
        }
    }
    let mut kept_from: std::collections::BTreeMap<String, BTreeSet<&str>> = Default::default();
    for (origin, p) in inputs {
        for r in rules(p) {
            let is_allow_like = matches!(
                r.action(),
                LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
            );
            if is_allow_like && unconditional(&r) {
                continue;
            }
            let mut names: Vec<String> = r
                .names()
                .iter()
                .filter(|n| !allow.contains(*n) && !log.contains(*n))
                .cloned()
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                continue;
            }
            let mut r = r.clone();
            r.set_names(names.clone());
            if !out_rules.contains(&r) {
                if !unconditional(&r) {
                    for n in &names {
                        kept_from.entry(n.clone()).or_default().insert(origin);
                    }
                }
                out_rules.push(r);
            }
        }
    }
    let notes = kept_from
        .into_iter()
        .filter(|(_, from)| from.len() > 1)
        .map(|(n, from)| {
            let from: Vec<&str> = from.into_iter().collect();
            format!(
                "{n}: argument rules from {} are tried in that order (first match decides)",
                from.join(", ")
            )
        })
        .collect();
    let mut merged = LinuxSeccomp::default();
    merged.set_default_action(first.default_action());
    merged.set_default_errno_ret(first.default_errno_ret());
    let mut arches: Vec<_> = inputs
        .iter()
        .flat_map(|(_, p)| p.architectures().clone().unwrap_or_default())
        .collect();
    arches.sort_by_key(|a| *a as u32);
    arches.dedup();
    if !arches.is_empty() {
        merged.set_architectures(Some(arches));
    }
    let mut flags: Vec<_> = inputs
        .iter()
        .flat_map(|(_, p)| p.flags().clone().unwrap_or_default())
        .collect();
    flags.sort_by_key(|f| f.to_string());
    flags.dedup();
    if !flags.is_empty() {
        merged.set_flags(Some(flags));
    }
    merged.set_syscalls(Some(out_rules));
    Ok((merged, notes))
}

fn merge(args: &[String], output: &Path, root: &Path) -> Result<u8> {
    let mut inputs = Vec::new();
    for a in args {
        let l = load_profile_arg(a, root)?;
        let p = l.profile()?.clone();
        inputs.push((l.origin, p));
    }
    let (merged, notes) = merge_profiles(&inputs)?;
    seccomp::validate(&merged, &[]).context("merged profile does not compile")?;
    for n in notes {
        println!("note: {n}");
    }
    let text = serde_json::to_string_pretty(&merged)? + "\n";
    std::fs::write(output, text).with_context(|| format!("write {}", output.display()))?;
    println!(
        "wrote {}: {} rules from {} profiles",
        output.display(),
        merged.syscalls().as_ref().map_or(0, Vec::len),
        inputs.len()
    );
    Ok(0)
}
