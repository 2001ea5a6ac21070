//! Container setup as a service of the `pinhole` binary, for the containerd shim.
//!
//! The shim stays up for the whole life of a pod, so what it runs stays resident. Building a
//! container (parsing the spec, loading the handler policy, compiling seccomp, the cgroup and
//! user-namespace preparation) runs in a short-lived `pinhole` process instead, like runc's
//! shim calling runc: the helper gets the container's stdio as its own 0/1/2 and a socket as
//! fd 3, builds the container, reports the pid (and the terminal's pty master) back and exits.
//! Its children (the container init) are reparented to the shim, their subreaper. The shim
//! binary then links none of that code.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use crate::container::{self, CreateOptions, ExecOptions, Root, Stdio};
use crate::policy::Policy;
use crate::sync::Channel;
use serde::{Deserialize, Serialize};

/// The `pinhole` binary next to `exe` (how the shim finds its helper: both are installed
/// in one directory).
pub fn sibling_binary(exe: &std::path::Path) -> Result<PathBuf, String> {
    let dir = exe
        .parent()
        .ok_or_else(|| format!("{}: no directory", exe.display()))?;
    let bin = dir.join("pinhole");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: install the pinhole binary next to {}",
            bin.display(),
            exe.display()
        ))
    }
}

/// argv[1] of the helper role.
pub const ROLE: &str = "pinhole-setup-helper";
/// The fd the helper finds its socket on.
const HELPER_FD: i32 = 3;

/// What the shim asks the helper to do.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// `container::create` under the policy at `policy` (None: built-in default).
    Create {
        /// State root.
        root: PathBuf,
        /// Container id.
        id: String,
        /// Bundle directory.
        bundle: PathBuf,
        /// Handler policy file.
        policy: Option<PathBuf>,
        /// Whether the process gets a terminal.
        console: bool,
    },
    /// `container::exec` of an OCI process (JSON) under the same policy.
    Exec {
        /// State root.
        root: PathBuf,
        /// Container id.
        id: String,
        /// The OCI process, as containerd sent it.
        process: Vec<u8>,
        /// Handler policy file.
        policy: Option<PathBuf>,
        /// Whether the process gets a terminal.
        console: bool,
    },
    /// Run hooks of one kind whose failures are warnings (poststart, poststop) for a caller
    /// that cannot wait for children (the shim's reaper takes every exit).
    Hooks {
        /// Their kind.
        kind: crate::hooks::Kind,
        /// The hooks, in order.
        hooks: Vec<oci_spec::runtime::Hook>,
        /// The state JSON on their stdin.
        state: Vec<u8>,
        /// Where they run.
        cwd: Option<PathBuf>,
    },
}

/// Error classes, mapped to ttrpc codes by the shim.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Kind {
    /// No such container.
    NotFound,
    /// Duplicate id.
    Exists,
    /// Wrong state for the request.
    Precondition,
    /// Bad input (spec, policy, seccomp, ...).
    Invalid,
    /// Anything else.
    Internal,
}

/// The helper's answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// The process exists; a pty master follows when `console` is set.
    Done {
        /// Host pid of the container init or exec process.
        pid: i32,
        /// The container's cgroup path (create only).
        cgroup_path: Option<PathBuf>,
        /// Whether a pty master fd follows.
        console: bool,
        /// What the policy changed that the shim should log (see `Created::warnings`).
        #[serde(default)]
        warnings: Vec<String>,
    },
    /// It failed.
    Failed {
        /// Error class.
        kind: Kind,
        /// One line naming what failed.
        message: String,
    },
}

fn kind_of(e: &container::Error) -> Kind {
    use container::Error as E;
    match e {
        E::NotFound(_) => Kind::NotFound,
        E::Exists(_) => Kind::Exists,
        E::WrongStatus { .. } | E::CgroupInUse { .. } => Kind::Precondition,
        E::InvalidId { .. }
        | E::Spec(_)
        | E::Caps(_)
        | E::Seccomp(_)
        | E::Rootfs(_)
        | E::Policy(_)
        | E::Hook(crate::hooks::HookError::Invalid { .. })
        | E::Hook(crate::hooks::HookError::Refused { .. }) => Kind::Invalid,
        _ => Kind::Internal,
    }
}

/// Runs `req` in a helper process with `stdio` as its (and so the container process's)
/// standard streams. Returns the reply and the pty master, if any.
pub fn run(
    pinhole: &std::path::Path,
    req: &Request,
    stdio: Stdio,
) -> Result<(Reply, Option<OwnedFd>), String> {
    let (mut ours, theirs) = Channel::pair().map_err(|e| format!("helper socketpair: {e}"))?;
    let theirs_fd = theirs.raw_fd();
    let mut cmd = Command::new(pinhole);
    cmd.arg0("pinhole-setup").arg(ROLE).env_clear();
    let null = || {
        std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
    };
    let or_null = |fd: Option<OwnedFd>| -> Result<OwnedFd, String> {
        match fd {
            Some(fd) => Ok(fd),
            None => null()
                .map(Into::into)
                .map_err(|e| format!("open /dev/null: {e}")),
        }
    };
    cmd.stdin(or_null(stdio.stdin)?)
        .stdout(or_null(stdio.stdout)?)
        .stderr(or_null(stdio.stderr)?);
    crate::sync::pass_fd(&mut cmd, theirs_fd, HELPER_FD);
    // The child is reaped by the shim's reaper; its exit status is not needed (the reply is).
    let _child = cmd
        .spawn()
        .map_err(|e| format!("start setup helper {}: {e}", pinhole.display()))?;
    drop(theirs);
    drop(cmd);
    ours.send(req).map_err(|e| format!("setup helper: {e}"))?;
    let reply: Reply = ours
        .recv()
        .map_err(|e| format!("setup helper: {e}"))?
        .ok_or_else(|| "setup helper exited without an answer".to_string())?;
    let console = match &reply {
        Reply::Done { console: true, .. } => Some(
            ours.recv_fd()
                .map_err(|e| format!("setup helper: receive terminal: {e}"))?,
        ),
        _ => None,
    };
    Ok((reply, console))
}

/// Runs `hooks` in a helper process (see [`Request::Hooks`]); returns their failures, one
/// line each.
pub fn run_hooks(
    pinhole: &std::path::Path,
    kind: crate::hooks::Kind,
    hooks: &[oci_spec::runtime::Hook],
    state: &[u8],
    cwd: Option<&std::path::Path>,
) -> Result<Vec<String>, String> {
    let req = Request::Hooks {
        kind,
        hooks: hooks.to_vec(),
        state: state.to_vec(),
        cwd: cwd.map(Into::into),
    };
    match run(pinhole, &req, Stdio::default())? {
        (Reply::Done { warnings, .. }, _) => Ok(warnings),
        (Reply::Failed { message, .. }, _) => Err(message),
    }
}

/// Entry point of the helper role. Never returns.
pub fn main() -> ! {
    // SAFETY: fd 3 was set up by `run` for us and nothing else uses it.
    let mut chan = unsafe { Channel::from_raw_fd(HELPER_FD) };
    let reply = match chan.recv::<Request>() {
        Ok(Some(req)) => serve(&req),
        Ok(None) => std::process::exit(1),
        Err(e) => Err((Kind::Internal, format!("read request: {e}"))),
    };
    let (reply, console) = match reply {
        Ok((pid, cgroup_path, console, warnings)) => (
            Reply::Done {
                pid,
                cgroup_path,
                console: console.is_some(),
                warnings,
            },
            console,
        ),
        Err((kind, message)) => (Reply::Failed { kind, message }, None),
    };
    let _ = chan.send(&reply);
    if let Some(fd) = &console {
        let _ = chan.send_fd(std::os::fd::AsFd::as_fd(fd));
    }
    std::process::exit(0);
}

type Served = (i32, Option<PathBuf>, Option<OwnedFd>, Vec<String>);

fn serve(req: &Request) -> Result<Served, (Kind, String)> {
    let load = |p: &Option<PathBuf>| match p {
        Some(p) => Policy::load(p).map_err(|e| (Kind::Invalid, format!("policy: {e}"))),
        None => Ok(Policy::builtin_default()),
    };
    let fail = |e: container::Error| (kind_of(&e), e.to_string());
    match req {
        Request::Create {
            root,
            id,
            bundle,
            policy,
            console,
        } => {
            let policy = load(policy)?;
            let root = Root::new(root).map_err(fail)?;
            let opts = CreateOptions {
                console: *console,
                policy: Some(policy),
                ..Default::default()
            };
            let created = container::create(&root, id, bundle, opts).map_err(fail)?;
            Ok((
                created.state.pid,
                Some(created.state.cgroup_path),
                created.console,
                created.warnings,
            ))
        }
        Request::Exec {
            root,
            id,
            process,
            policy,
            console,
        } => {
            let policy = load(policy)?;
            let root = Root::new(root).map_err(fail)?;
            let process: oci_spec::runtime::Process = crate::spec::from_json(process)
                .map_err(|e| (Kind::Invalid, format!("process spec: {e}")))?;
            let opts = ExecOptions {
                stdio: Stdio::default(),
                console: *console,
                policy: Some(policy),
            };
            let execed = container::exec(&root, id, process, opts).map_err(fail)?;
            Ok((execed.pid, None, execed.console, execed.warnings))
        }
        Request::Hooks {
            kind,
            hooks,
            state,
            cwd,
        } => Ok((
            0,
            None,
            None,
            crate::hooks::run_each(*kind, hooks, state, cwd.as_deref()),
        )),
    }
}
