//! OCI hooks (runtime-spec config.md "POSIX-platform Hooks"): run at their lifecycle points,
//! or refused by the handler policy (`hooks = "refuse"`), never ignored.
//!
//! | kind | where pinhole runs it | state `status` | a failure |
//! |---|---|---|---|
//! | `prestart` (deprecated), `createRuntime` | the runtime namespace (the `create` caller), after the mounts, before `pivot_root` | `creating` | fails the create |
//! | `createContainer` | the container's init, in its namespaces, before `pivot_root` (the path resolves in the runtime's filesystem) | `creating` | fails the create |
//! | `startContainer` | the container's init after `start`, right before the workload's `execve`, already confined (user, capabilities, no_new_privs, seccomp) | `created` | fails the start |
//! | `poststart` | the `start` caller, after the workload runs | `running` | a warning |
//! | `poststop` | the `delete` caller, after the container is gone | `stopped` | a warning |
//!
//! Each hook gets the OCI state JSON on stdin, only its own `env`, its `args` (`args[0]` is
//! argv[0]) and no other fd; `timeout` seconds are enforced with SIGKILL. What it writes on
//! stdout and stderr is kept (the tail) for the error message.

mod error;
mod run;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::{Hook, Hooks, Spec};

pub use error::{HookError, Reason};
pub use run::run_one;

/// A hook kind, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Deprecated: run with `createRuntime`.
    Prestart,
    /// After the runtime environment exists, before `pivot_root`, in the runtime namespace.
    CreateRuntime,
    /// Same point, in the container's namespaces.
    CreateContainer,
    /// After `start`, before the workload's execve, in the container.
    StartContainer,
    /// After the workload started, in the runtime namespace.
    Poststart,
    /// After the container was deleted, in the runtime namespace.
    Poststop,
}

/// Every kind, by its spec name (what `pinhole features` lists).
pub const KNOWN: [Kind; 6] = [
    Kind::Prestart,
    Kind::CreateRuntime,
    Kind::CreateContainer,
    Kind::StartContainer,
    Kind::Poststart,
    Kind::Poststop,
];

impl Kind {
    /// The name the spec uses (`createRuntime`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The OCI status the state on the hook's stdin says.
    pub fn status(self) -> &'static str {
        match self {
            Kind::Prestart | Kind::CreateRuntime | Kind::CreateContainer => "creating",
            Kind::StartContainer => "created",
            Kind::Poststart => "running",
            Kind::Poststop => "stopped",
        }
    }
}

/// The hooks of `kind` in `spec`.
pub fn of(spec: &Spec, kind: Kind) -> &[Hook] {
    of_hooks(spec.hooks().as_ref(), kind)
}

/// The hooks of `kind` in a spec's `hooks` object.
pub fn of_hooks(hooks: Option<&Hooks>, kind: Kind) -> &[Hook] {
    let Some(h) = hooks else {
        return &[];
    };
    #[allow(deprecated)]
    let list = match kind {
        Kind::Prestart => h.prestart(),
        Kind::CreateRuntime => h.create_runtime(),
        Kind::CreateContainer => h.create_container(),
        Kind::StartContainer => h.start_container(),
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
    };
    list.as_deref().unwrap_or_default()
}

/// Whether `spec` has hooks of any of `kinds`.
pub fn any(spec: &Spec, kinds: &[Kind]) -> bool {
    kinds.iter().any(|k| !of(spec, *k).is_empty())
}

/// Checks every hook: an absolute path, a positive timeout.
pub fn validate(spec: &Spec) -> Result<(), HookError> {
    for kind in KNOWN {
        for (index, hook) in of(spec, kind).iter().enumerate() {
            let invalid = |field, reason: &str| HookError::Invalid {
                kind: kind.name(),
                index,
                field,
                reason: reason.to_string(),
            };
            if !hook.path().is_absolute() {
                return Err(invalid("path", "must be an absolute path"));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid("timeout", "must be greater than zero"));
            }
        }
    }
    Ok(())
}

/// Refuses the first hook of `spec`, naming it (a policy with `hooks = "refuse"`).
pub fn refuse(spec: &Spec, policy: &str) -> Result<(), HookError> {
    for kind in KNOWN {
        if let Some(hook) = of(spec, kind).first() {
            return Err(HookError::Refused {
                kind: kind.name(),
                index: 0,
                path: hook.path().clone(),
                policy: policy.to_string(),
            });
        }
    }
    Ok(())
}

/// The OCI state document a hook reads on stdin.
pub fn state_json(spec: &Spec, id: &str, kind: Kind, pid: i32, bundle: &Path) -> Vec<u8> {
    state_document(
        spec.version(),
        spec.annotations().as_ref(),
        id,
        kind,
        pid,
        bundle,
    )
}

/// The state document of [`state_json`] from its parts.
fn state_document(
    oci_version: &str,
    annotations: Option<&std::collections::HashMap<String, String>>,
    id: &str,
    kind: Kind,
    pid: i32,
    bundle: &Path,
) -> Vec<u8> {
    let doc = serde_json::json!({
        "ociVersion": oci_version,
        "id": id,
        "status": kind.status(),
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations.cloned().unwrap_or_default(),
    });
    doc.to_string().into_bytes()
}

/// What the hooks need of a spec (its version, annotations and hooks), read without the rest:
/// the long-lived shim reads it for every start and delete (poststart, poststop), and the
/// typed parser of the whole spec is code it need not carry (unknown fields are skipped; the
/// spec was validated at create).
#[derive(Debug, Default, serde::Deserialize)]
pub struct SpecHooks {
    /// `ociVersion`.
    #[serde(rename = "ociVersion", default)]
    pub oci_version: String,
    /// `annotations`.
    #[serde(default)]
    pub annotations: Option<std::collections::HashMap<String, String>>,
    /// `hooks`.
    #[serde(default)]
    pub hooks: Option<Hooks>,
}

impl SpecHooks {
    /// The hooks of `kind`.
    pub fn of(&self, kind: Kind) -> &[Hook] {
        of_hooks(self.hooks.as_ref(), kind)
    }

    /// The state document on a hook's stdin (runtime-spec "State").
    pub fn state_json(&self, id: &str, kind: Kind, pid: i32, bundle: &Path) -> Vec<u8> {
        let annotations = self.annotations.as_ref();
        state_document(&self.oci_version, annotations, id, kind, pid, bundle)
    }
}

/// Runs the hooks of `kind` in order in this process; the first failure ends the run and is
/// returned. `cwd`: the directory they run in (the bundle, for hooks in the runtime namespace).
pub fn run_all(
    kind: Kind,
    hooks: &[Hook],
    state: &[u8],
    cwd: Option<&Path>,
) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(kind, index, hook, state, cwd)?;
    }
    Ok(())
}

/// Runs every hook of `kind` (poststart, poststop: their failures do not stop the lifecycle)
/// and says each failure as a warning.
pub fn run_warning(kind: Kind, hooks: &[Hook], state: &[u8], cwd: Option<&Path>) {
    if hooks.is_empty() {
        return;
    }
    let failures = match HELPER.get() {
        Some(pinhole) => crate::setup::run_hooks(pinhole, kind, hooks, state, cwd)
            .unwrap_or_else(|message| vec![format!("hooks.{}: {message}", kind.name())]),
        None => run_each(kind, hooks, state, cwd),
    };
    for f in failures {
        warn(&f);
    }
}

/// Runs every hook of `kind` in this process; returns each failure, one line each.
pub fn run_each(kind: Kind, hooks: &[Hook], state: &[u8], cwd: Option<&Path>) -> Vec<String> {
    hooks
        .iter()
        .enumerate()
        .filter_map(|(index, hook)| run_one(kind, index, hook, state, cwd).err())
        .map(|e| e.to_string())
        .collect()
}

/// The `pinhole` binary that runs hooks for a caller that must not wait for children itself.
static HELPER: OnceLock<PathBuf> = OnceLock::new();
/// Where warnings go (default: `pinhole: warning:` on stderr).
static WARN: OnceLock<fn(&str)> = OnceLock::new();

/// Makes this process run runtime-namespace hooks through the `pinhole` setup helper at
/// `pinhole`: for the containerd shim, whose reaper collects every child's exit status.
pub fn run_through_helper(pinhole: PathBuf) {
    let _ = HELPER.set(pinhole);
}

/// Sends this process's warnings to `sink` instead of stderr (the shim: its log).
pub fn set_warning_sink(sink: fn(&str)) {
    let _ = WARN.set(sink);
}

/// Says a warning where this process says them.
pub fn warn(message: &str) {
    match WARN.get() {
        Some(sink) => sink(message),
        None => crate::container::print_warnings(&[message.to_string()]),
    }
}
