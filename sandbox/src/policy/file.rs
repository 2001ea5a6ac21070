//! The TOML schema of a policy file and its conversion into a [`Policy`].
//!
//! Every key except `name` is optional; the defaults are documented in the module docs of
//! [`crate::policy`].

use std::path::Path;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};
use serde::Deserialize;

use super::{DeviceId, PolicyError, Privileged, DEFAULT_USER_BASE, USERNS_SIZE};
use crate::seccomp::SeccompError;

/// A policy file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    name: String,
    #[serde(default)]
    hooks: Hooks,
    #[serde(default)]
    seccomp: SeccompSection,
    #[serde(default)]
    capabilities: CapsSection,
    #[serde(default)]
    process: ProcessSection,
    #[serde(default)]
    rootfs: RootfsSection,
    #[serde(default)]
    namespaces: NamespacesSection,
    #[serde(default)]
    devices: DevicesSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    host: HostSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSection {
    #[serde(default = "refuse")]
    pid: super::Share,
    #[serde(default = "refuse")]
    ipc: super::Share,
    #[serde(default = "allow")]
    network: super::Share,
    #[serde(default)]
    bind_prefixes: Vec<String>,
    #[serde(default = "allow")]
    shared_mounts: super::Share,
}

impl Default for HostSection {
    fn default() -> Self {
        HostSection {
            pid: refuse(),
            ipc: refuse(),
            network: allow(),
            bind_prefixes: Vec::new(),
            shared_mounts: allow(),
        }
    }
}

fn refuse() -> super::Share {
    super::Share::Refuse
}

fn allow() -> super::Share {
    super::Share::Allow
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    #[serde(default = "default_pids")]
    pids: i64,
    #[serde(default)]
    memory: i64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            pids: default_pids(),
            memory: 0,
        }
    }
}

fn default_pids() -> i64 {
    super::limits::DEFAULT_PIDS
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicesSection {
    #[serde(default)]
    allow: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeccompSection {
    #[serde(default = "default_profile")]
    profile: String,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    native_only: bool,
    #[serde(default)]
    recording: bool,
    #[serde(default)]
    record_dir: Option<String>,
    #[serde(default)]
    audit: Audit,
}

/// `hooks`: whether the spec's OCI hooks run or fail the create.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Hooks {
    #[default]
    Run,
    Refuse,
}

/// `seccomp.audit`: whether every container's ceiling denials are named.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Audit {
    #[default]
    Off,
    Denials,
}

impl Default for SeccompSection {
    fn default() -> Self {
        SeccompSection {
            profile: default_profile(),
            deny: Vec::new(),
            native_only: false,
            recording: false,
            record_dir: None,
            audit: Audit::Off,
        }
    }
}

fn default_profile() -> String {
    "default".to_string()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapsSection {
    #[serde(default)]
    ceiling: Vec<String>,
    #[serde(default)]
    above_ceiling: Option<AboveCeiling>,
}

/// `capabilities.above_ceiling`: what a capability beyond the ceiling gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AboveCeiling {
    /// The create (or exec) fails naming it, unless it is in the unprivileged (Docker's
    /// default) set every engine hands out, which is dropped and reported.
    Refuse,
    /// Dropped and reported.
    Clamp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessSection {
    #[serde(default = "yes")]
    no_new_privileges: bool,
}

impl Default for ProcessSection {
    fn default() -> Self {
        ProcessSection {
            no_new_privileges: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootfsSection {
    #[serde(default)]
    readonly: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamespacesSection {
    #[serde(default)]
    user: bool,
    #[serde(default = "default_user_base")]
    user_base: u32,
    #[serde(default)]
    user_ranges: Option<u32>,
    #[serde(default)]
    privileged: Privileged,
    #[serde(default)]
    idmap_binds: bool,
    #[serde(default)]
    unprivileged_ports: bool,
}

impl Default for NamespacesSection {
    fn default() -> Self {
        NamespacesSection {
            user: false,
            user_base: DEFAULT_USER_BASE,
            user_ranges: None,
            privileged: Privileged::default(),
            idmap_binds: false,
            unprivileged_ports: false,
        }
    }
}

fn default_user_base() -> u32 {
    DEFAULT_USER_BASE
}

/// Parses the TOML text, naming line, column and key of the first problem.
pub(super) fn parse(text: &str, origin: &Path) -> Result<File, PolicyError> {
    let de = toml::Deserializer::parse(text).map_err(|e| syntax(text, origin, None, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = match e.path().to_string() {
            p if p == "." => None,
            p => Some(p),
        };
        syntax(text, origin, key, e.inner())
    })
}

fn syntax(text: &str, origin: &Path, key: Option<String>, e: &toml::de::Error) -> PolicyError {
    let offset = e.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    PolicyError::Syntax {
        path: origin.to_path_buf(),
        line,
        column,
        key,
        message: e.message().trim_end().to_string(),
    }
}

/// The checked content of a policy file (what [`super::Policy`] holds).
pub(super) struct Checked {
    pub name: String,
    pub seccomp: Option<LinuxSeccomp>,
    pub ceiling: caps::CapsHashSet,
    pub no_new_privileges: bool,
    pub readonly_rootfs: bool,
    pub idmap_binds: bool,
    pub unprivileged_ports: bool,
    pub user_base: Option<u32>,
    pub user_pool: Option<super::UserPool>,
    pub privileged: Privileged,
    pub refuse_above_ceiling: bool,
    pub refuse_hooks: bool,
    pub devices: Vec<DeviceId>,
    pub limits: super::Limits,
    pub host: super::HostRules,
    pub record_dir: Option<std::path::PathBuf>,
    pub audit: bool,
}

impl File {
    /// Checks every value; relative profile paths are relative to the policy file's directory.
    pub(super) fn check(self, origin: &Path) -> Result<Checked, PolicyError> {
        let invalid = |key: String, message: String| PolicyError::Invalid {
            path: origin.to_path_buf(),
            key,
            message,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name".into(), "must not be empty".into()));
        }
        let mut ceiling = caps::CapsHashSet::new();
        for (i, c) in self.capabilities.ceiling.iter().enumerate() {
            let cap = c.parse::<caps::Capability>().map_err(|_| {
                invalid(
                    format!("capabilities.ceiling[{i}]"),
                    format!("unknown capability {c:?}"),
                )
            })?;
            ceiling.insert(cap);
        }
        let ns = &self.namespaces;
        if ns.user && (ns.user_base == 0 || ns.user_base.checked_add(USERNS_SIZE).is_none()) {
            return Err(invalid(
                "namespaces.user_base".into(),
                format!(
                    "{} must be at least 1 and at most {}",
                    ns.user_base,
                    u32::MAX - USERNS_SIZE
                ),
            ));
        }
        let user_pool = match ns.user_ranges {
            None => None,
            Some(_) if !ns.user => {
                return Err(invalid(
                    "namespaces.user_ranges".into(),
                    "needs namespaces.user = true".into(),
                ))
            }
            Some(n) => Some(super::UserPool::new(ns.user_base, n).ok_or_else(|| {
                invalid(
                    "namespaces.user_ranges".into(),
                    format!(
                        "{n} ranges of {USERNS_SIZE} ids from {} do not fit below 2^32 (or 0 ranges)",
                        ns.user_base
                    ),
                )
            })?),
        };
        let devices = self
            .devices
            .allow
            .iter()
            .enumerate()
            .map(|(i, d)| DeviceId::parse(d).map_err(|m| invalid(format!("devices.allow[{i}]"), m)))
            .collect::<Result<Vec<_>, _>>()?;
        let limit = |key: &str, v: i64| match v {
            0 => Ok(None),
            v if v > 0 => Ok(Some(v)),
            v => Err(invalid(
                format!("limits.{key}"),
                format!("{v}: must be 0 (no ceiling) or positive"),
            )),
        };
        let limits = super::Limits {
            pids: limit("pids", self.limits.pids)?,
            memory: limit("memory", self.limits.memory)?,
        };
        let mut bind_prefixes = Vec::new();
        for (i, p) in self.host.bind_prefixes.iter().enumerate() {
            bind_prefixes
                .push(absolute(p).map_err(|m| invalid(format!("host.bind_prefixes[{i}]"), m))?);
        }
        let host = super::HostRules {
            pid: self.host.pid,
            ipc: self.host.ipc,
            network: self.host.network,
            bind_prefixes,
            shared_mounts: self.host.shared_mounts,
        };
        let seccomp = ceiling_profile(&self.seccomp, origin)?;
        let record_dir = match (self.seccomp.recording, &self.seccomp.record_dir) {
            (false, _) => None,
            (true, None) => {
                return Err(invalid(
                    "seccomp.record_dir".into(),
                    "recording = true needs the directory recorded profiles go to".into(),
                ))
            }
            (true, Some(d)) => {
                Some(absolute(d).map_err(|m| invalid("seccomp.record_dir".into(), m))?)
            }
        };
        Ok(Checked {
            record_dir,
            audit: self.seccomp.audit == Audit::Denials,
            name: self.name,
            seccomp,
            ceiling,
            no_new_privileges: self.process.no_new_privileges,
            readonly_rootfs: self.rootfs.readonly,
            idmap_binds: ns.idmap_binds,
            unprivileged_ports: ns.unprivileged_ports,
            user_base: ns.user.then_some(ns.user_base),
            user_pool,
            privileged: ns.privileged,
            // default: refuse where privileged pods are refused (strict), else clamp
            refuse_above_ceiling: match self.capabilities.above_ceiling {
                Some(a) => a == AboveCeiling::Refuse,
                None => ns.privileged == Privileged::Refuse,
            },
            refuse_hooks: self.hooks == Hooks::Refuse,
            devices,
            limits,
            host,
        })
    }
}

/// Every architecture the compiler knows; it ignores those the host cannot report.
const ALL_ARCHES: &[Arch] = &[
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX86,
    Arch::ScmpArchX32,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchArm,
];

/// `p` as a path if it is absolute and has no `..`; else the message saying so.
fn absolute(p: &str) -> Result<std::path::PathBuf, String> {
    let path = Path::new(p);
    if !path.is_absolute()
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(format!("{p:?}: must be an absolute path without \"..\""));
    }
    Ok(path.to_path_buf())
}

/// Builds the ceiling profile: the named base profile (built-in `default`/`strict`, a file, or
/// allow-all for `unconfined`) minus `deny`, limited to the native ABI
/// when `native_only` is set, checked by the compiler.
fn ceiling_profile(
    section: &SeccompSection,
    origin: &Path,
) -> Result<Option<LinuxSeccomp>, PolicyError> {
    let seccomp_err = |source| PolicyError::Seccomp {
        path: origin.to_path_buf(),
        key: "seccomp.profile".into(),
        source,
    };
    for (i, name) in section.deny.iter().enumerate() {
        check_known(name).map_err(|message| PolicyError::Invalid {
            path: origin.to_path_buf(),
            key: format!("seccomp.deny[{i}]"),
            message,
        })?;
    }
    let base = match section.profile.as_str() {
        "unconfined" if section.deny.is_empty() && !section.native_only => return Ok(None),
        "unconfined" => allow_all(),
        name => match super::builtin_profile(name) {
            Some(p) => p,
            None => load_profile(
                &origin.parent().unwrap_or(Path::new("/")).join(name),
                origin,
            )?,
        },
    };
    let mut profile = remove_names(base, &section.deny);
    if section.native_only {
        // The compiler covers the native arch only and kills a process entering any other
        // ABI (i386 `int 0x80`, x32 syscall numbers): see `crate::seccomp`'s semantics.
        profile.set_architectures(Some(vec![Arch::ScmpArchNative]));
    }
    crate::seccomp::validate(&profile, &[]).map_err(seccomp_err)?;
    Ok(Some(profile))
}

/// A profile that allows everything (the base for `unconfined` with a `deny` list).
fn allow_all() -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(LinuxSeccompAction::ScmpActAllow)
        .set_architectures(Some(ALL_ARCHES.to_vec()))
        .set_syscalls(None);
    p
}

/// Checks that the seccomp compiler knows `name` on some architecture.
fn check_known(name: &str) -> Result<(), String> {
    let mut rule = LinuxSyscall::default();
    rule.set_names(vec![name.to_string()])
        .set_action(LinuxSeccompAction::ScmpActErrno);
    let mut p = allow_all();
    p.set_syscalls(Some(vec![rule]));
    match crate::seccomp::validate(&p, &[]) {
        Ok(()) => Ok(()),
        Err(SeccompError::UnknownSyscall { .. }) => Err(format!("unknown syscall {name:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads a profile file: a pinhole profile when the name ends in `.toml`
/// ([`crate::seccomp::profile`]), else an OCI `linux.seccomp` JSON file. Errors name the policy
/// file and `seccomp.profile` (and, for a pinhole profile, its line, column and key).
fn load_profile(path: &Path, origin: &Path) -> Result<LinuxSeccomp, PolicyError> {
    let invalid = |message: String| PolicyError::Invalid {
        path: origin.to_path_buf(),
        key: "seccomp.profile".into(),
        message,
    };
    if path.extension().is_some_and(|e| e == "toml") {
        return crate::seccomp::profile::load(path).map_err(|e| invalid(e.to_string()));
    }
    let text = std::fs::read(path).map_err(|e| invalid(format!("read {}: {e}", path.display())))?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => "(document)".to_string(),
            p => p,
        };
        invalid(format!("{}: {field}: {}", path.display(), e.inner()))
    })
}

/// Whether an action lets the syscall run.
fn allows(action: LinuxSeccompAction) -> bool {
    matches!(
        action,
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
    )
}

/// Removes `deny` from every allowing rule (dropping rules left without names). When the
/// default action itself allows, adds an explicit `SCMP_ACT_ERRNO` (EPERM) rule for them.
pub(super) fn remove_names(mut profile: LinuxSeccomp, deny: &[String]) -> LinuxSeccomp {
    if deny.is_empty() {
        return profile;
    }
    let mut rules: Vec<LinuxSyscall> = Vec::new();
    if allows(profile.default_action()) {
        let mut rule = LinuxSyscall::default();
        rule.set_names(deny.to_vec())
            .set_action(LinuxSeccompAction::ScmpActErrno)
            .set_errno_ret(Some(libc::EPERM as u32));
        rules.push(rule);
    }
    for mut rule in profile.syscalls().clone().unwrap_or_default() {
        if allows(rule.action()) {
            let names: Vec<String> = rule
                .names()
                .iter()
                .filter(|n| !deny.contains(n))
                .cloned()
                .collect();
            if names.is_empty() {
                continue;
            }
            rule.set_names(names);
        }
        rules.push(rule);
    }
    profile.set_syscalls(Some(rules));
    profile
}
