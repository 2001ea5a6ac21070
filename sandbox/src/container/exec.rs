//! `exec`: start another process inside a running container, under the same sandbox.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::create::{SECCOMP_FILE, SPEC_FILE};
use super::spawn::{self, Progress, Stdio};
use super::state::{State, Status};
use super::{Error, Root};
use crate::cgroups::Cgroup;
use crate::init::{InitConfig, InitKind, NsEntry, SeccompPlan};
use crate::policy::Recorded;

/// Options of [`exec`].
#[derive(Debug, Default)]
pub struct ExecOptions {
    /// The process standard streams.
    pub stdio: Stdio,
    /// The caller passes a terminal (pty slave) as stdio, so `process.terminal` is allowed.
    pub console: bool,
    /// The handler ceiling the container was created under (clamps the exec's process).
    pub policy: Option<crate::policy::Policy>,
}

/// A started exec process.
#[derive(Debug)]
pub struct Execed {
    /// Its host pid.
    pub pid: i32,
    /// The pty master of its terminal, when `process.terminal` is set.
    pub console: Option<std::os::fd::OwnedFd>,
    /// What the container's policy changed that the caller should say (capabilities dropped
    /// above the ceiling), one line each.
    pub warnings: Vec<String>,
}

/// File name of what the container's policy recorded (JSON [`Recorded`]) in a state directory.
pub(crate) const POLICY_FILE: &str = "policy.json";

/// Records what a container's policy bounds later (execs, updates) in its state directory
/// (mode 0600), so every exec and update is bounded by it whoever starts it.
pub(crate) fn save_recorded_policy(
    state_dir: &std::path::Path,
    ceiling: &Recorded,
) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = state_dir.join(POLICY_FILE);
    let text = serde_json::to_vec(ceiling).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(&text))
        .map_err(Error::io("write", &path))
}

/// What the policy recorded at create, if the container was created under one.
pub fn recorded_policy(root: &Root, id: &str) -> Result<Option<Recorded>, Error> {
    let path = root.state_dir(id).join(POLICY_FILE);
    match std::fs::read(&path) {
        Ok(text) => serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| Error::Other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path)(e)),
    }
}

/// The container's spec as saved at create time.
pub fn saved_spec(root: &Root, id: &str) -> Result<Spec, Error> {
    let path = root.state_dir(id).join(SPEC_FILE);
    let text = std::fs::read(&path).map_err(Error::io("read", &path))?;
    Ok(crate::spec::parse(&path, &text)?)
}

/// Starts `process` in running container `id`: it joins every namespace and the cgroup of
/// the container and gets the container's seccomp filters (its policy's ceiling included);
/// user, capabilities and no_new_privs come from `process`, clamped by the process ceiling
/// recorded when the container was created (and by `opts.policy`, if given). Returns the new process's host pid once it has
/// exec'ed. The caller should be a subreaper to wait for it (it is our grandchild when the
/// container has a PID namespace).
pub fn exec(
    root: &Root,
    id: &str,
    mut process: Process,
    opts: ExecOptions,
) -> Result<Execed, Error> {
    let mut warnings = Vec::new();
    if let Some(recorded) = recorded_policy(root, id)? {
        warnings.extend(
            recorded
                .process
                .report_dropped("exec: process.capabilities", &process),
        );
        recorded.process.apply(&mut process)?;
    }
    if let Some(policy) = &opts.policy {
        policy.apply_process(&mut process)?;
    }
    crate::spec::check_process(&process)?;
    if process.terminal() == Some(true) && !opts.console {
        return Err(Error::Other(
            "process.terminal: true needs a console, which this caller does not provide".into(),
        ));
    }
    crate::caps::CapSets::from_spec(process.capabilities().as_ref())?;
    let state = State::load(root, id)?;
    if state.status != Status::Running {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status: state.status.to_string(),
            what: "exec needs a running container",
        });
    }
    let spec = saved_spec(root, id)?;
    let namespaces: Vec<NsEntry> = super::create::namespaces_of(&spec)
        .into_iter()
        .map(|n| NsEntry {
            path: Some(PathBuf::from(format!(
                "/proc/{}/ns/{}",
                state.pid,
                crate::init::namespaces::proc_name(n.typ)
            ))),
            typ: n.typ,
        })
        .collect();
    let seccomp_path = root.state_dir(id).join(SECCOMP_FILE);
    let seccomp: Vec<SeccompPlan> = match std::fs::read(&seccomp_path) {
        Ok(text) => serde_json::from_slice(&text)
            .map_err(|e| Error::Other(format!("{}: {e}", seccomp_path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("read", &seccomp_path)(e)),
    };
    let cgroup = Cgroup::new(Some(&state.cgroup_path), id)?;
    let cfg = InitConfig {
        kind: InitKind::Exec,
        id: id.to_string(),
        spec: spec.clone(),
        process,
        bundle: state.bundle.clone(),
        rootfs: state.rootfs.clone(),
        state_dir: root.state_dir(id),
        namespaces,
        uid_mappings: Vec::new(),
        gid_mappings: Vec::new(),
        seccomp,
        cgroup_dirs: Vec::new(),
        protected_binds: Vec::new(),
        idmap_binds: false,
    };
    debug_assert!(cfg.has_ns(LinuxNamespaceType::Mount));
    let mut spawned = spawn::spawn_init(&cfg, opts.stdio)?;
    let mut progress = Progress::default();
    let result = spawn::handshake(&mut spawned, false, &mut progress, |step| {
        let spawn::Step::Setup { pid, .. } = step else {
            return Err(Error::Init("exec init: unexpected hooks step".into()));
        };
        cgroup.add_pid(pid).map_err(Error::from)
    });
    if progress.pid.is_some() && progress.pid != Some(spawned.child.id() as i32) {
        let _ = spawned.child.wait();
    }
    if let Err(e) = result {
        let _ = spawned.child.kill();
        let _ = spawned.child.wait();
        if let Some(pid) = progress.pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        return Err(e);
    }
    let pid = progress
        .pid
        .ok_or_else(|| Error::Init("exec process exited without reporting its pid".into()))?;
    Ok(Execed {
        pid,
        console: progress.console,
        warnings,
    })
}
