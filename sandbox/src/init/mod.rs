//! The container init: a fresh exec of the pinhole binary that builds the container.
//!
//! The host-side process (`create`, `exec`, the shim) never forks to do container setup
//! itself: it execs a sealed copy of the pinhole binary with the `init` role and sends it
//! an [`InitConfig`] on a socketpair. That process is single-threaded, so it may enter
//! namespaces, fork into a new PID namespace and set up the rootfs freely.
//!
//! Stages:
//! 1. (container only) bind the start gate in the state directory, with host credentials;
//! 2. join/create namespaces, let the host write id maps and place us in the cgroup,
//!    fork into the PID namespace ([`namespaces::enter`]);
//! 3. (container only) sysctl (through a procfs fd of our own), rootfs, hostname,
//!    masked/readonly paths;
//! 4. rlimits, oom score, cwd, executable lookup, fds made close-on-exec;
//! 5. (container only) report ready, block on the gate until `start`;
//! 6. bounding set, user, capability sets, no_new_privs, seccomp — then execve.

pub mod config;
pub mod gate;
pub mod namespaces;
pub mod process;
pub mod sysctl;

use std::os::fd::RawFd;

use oci_spec::runtime::LinuxNamespaceType;

pub use config::{InitConfig, InitKind, NsEntry, SeccompPlan};

use crate::caps::CapSets;
use crate::seccomp::Filter;
use crate::sync::{Channel, FromInit};

/// Environment variable carrying the sync fd number to an init process.
pub const SYNC_FD_ENV: &str = "_PINHOLE_SYNC_FD";

/// An init failure: one line, reported to whoever waits for us.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InitError(pub String);

impl InitError {
    /// An error with a message.
    pub fn msg(m: impl Into<String>) -> InitError {
        InitError(m.into())
    }
}

/// Entry point of the `init` role. Never returns.
pub fn main() -> ! {
    // Not dumpable while we hold host resources: processes already in the container's
    // namespaces must not ptrace us or open our /proc files (runc CVE-2016-9962). execve
    // resets this for the workload.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let fd: RawFd = match std::env::var(SYNC_FD_ENV).ok().and_then(|v| v.parse().ok()) {
        Some(fd) => fd,
        None => {
            eprintln!("pinhole: init: {SYNC_FD_ENV} not set; this role is internal");
            std::process::exit(2);
        }
    };
    // SAFETY: the host side passed this fd to us and nothing else in this process uses it.
    let mut sync = unsafe { Channel::from_raw_fd(fd) };
    let cfg: InitConfig = match sync.recv() {
        Ok(Some(cfg)) => cfg,
        Ok(None) => std::process::exit(1),
        Err(e) => {
            let _ = sync.send(&FromInit::Error {
                message: format!("init: read config: {e}"),
            });
            std::process::exit(1);
        }
    };
    let err = run(&cfg, &mut sync);
    let _ = sync.send(&FromInit::Error {
        message: err.to_string(),
    });
    std::process::exit(1);
}

/// Runs every stage; returns only on failure (before the gate) — later failures are
/// reported on the gate connection and exit directly.
fn run(cfg: &InitConfig, sync: &mut Channel) -> InitError {
    match stages(cfg, sync) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn stages(cfg: &InitConfig, sync: &mut Channel) -> Result<Never, InitError> {
    let gate = match cfg.kind {
        InitKind::Container => Some(
            gate::Gate::listen(&cfg.state_dir)
                .map_err(|e| InitError::msg(format!("start gate: {e}")))?,
        ),
        InitKind::Exec => None,
    };
    process::apply_oom_score_adj(&cfg.process);
    // Identified by device and inode now, in the runtime's own view of the host.
    let guard = crate::rootfs::mounts::BindGuard::new(&cfg.protected_binds);
    let mut prepared = crate::rootfs::Prepared::default();
    if cfg.kind == InitKind::Container && cfg.enters_userns() {
        // Still host root here: afterwards the container's root is an unprivileged host uid
        // that may neither create mount points in the image nor reach the bind sources, nor
        // idmap anything, nor traverse the directories above the rootfs (Docker's 0710 data
        // root).
        crate::rootfs::precreate_mountpoints(&cfg.spec, &cfg.bundle);
        let userns = match cfg.idmap_binds {
            true => namespaces::target_userns(cfg)?,
            false => None,
        };
        let idmap = userns.as_ref().map(std::os::fd::AsFd::as_fd);
        prepared.binds =
            crate::rootfs::mounts::open_bind_sources(&cfg.spec, &cfg.bundle, &guard, idmap);
        if let Some(u) = idmap {
            prepared.rootfs = crate::rootfs::idmapped_rootfs(&cfg.spec, &cfg.bundle, u)
                .map_err(|e| InitError::msg(e.to_string()))?;
        }
        // Joining a mount namespace would reset the working directory to its root.
        if cfg.creates_ns(LinuxNamespaceType::Mount) {
            prepared.rootfs_cwd = Some(
                crate::rootfs::enter_rootfs(&cfg.spec, &cfg.bundle)
                    .map_err(|e| InitError::msg(e.to_string()))?,
            );
        }
    }
    let host_ns = sysctl::HostNamespaces::record();
    // Sysctls of namespaces joined by path that the host's user namespace owns (a pod network
    // namespace containerd made) are written before a user namespace is entered, with the
    // privileges they need; the rest once every namespace is in place.
    let mut early: Vec<&'static str> = Vec::new();
    namespaces::enter(cfg, sync, |joined| {
        if cfg.kind == InitKind::Container {
            sysctl::apply(&cfg.spec, &host_ns, |ns| joined.contains(&ns))?;
            early = joined.to_vec();
        }
        Ok(())
    })?;
    // A session of our own: the workload must not share the caller's controlling terminal.
    let _ = nix::unistd::setsid();
    if cfg.kind == InitKind::Container {
        // Through our own procfs fd, before the rootfs (which the container controls) exists.
        sysctl::apply(&cfg.spec, &host_ns, |ns| !early.contains(&ns))?;
    }

    if cfg.kind == InitKind::Container {
        let mounted =
            crate::rootfs::prepare_with(&cfg.spec, &cfg.bundle, &cfg.cgroup_dirs, prepared, &guard)
                .map_err(|e| InitError::msg(e.to_string()))?;
        create_hooks(cfg, sync)?;
        mounted.pivot().map_err(|e| InitError::msg(e.to_string()))?;
        if cfg.creates_ns(LinuxNamespaceType::Uts) {
            process::set_hostname(&cfg.spec)?;
        }
        crate::rootfs::finalize(&cfg.spec).map_err(|e| InitError::msg(e.to_string()))?;
    }
    if cfg.process.terminal() == Some(true) {
        let master = process::open_console(&cfg.process)?;
        sync.send(&FromInit::Console)
            .and_then(|()| sync.send_fd(std::os::fd::AsFd::as_fd(&master)))
            .map_err(|e| InitError::msg(format!("send terminal to the caller: {e}")))?;
    }
    process::apply_rlimits(&cfg.process)?;
    process::enter_cwd(&cfg.process)?;
    let exec = process::Exec::prepare(&cfg.process)?;
    let caps = CapSets::from_spec(cfg.process.capabilities().as_ref())
        .map_err(|e| InitError::msg(e.to_string()))?;
    let filters = cfg
        .seccomp
        .iter()
        .map(|plan| {
            Filter::from_bytes(&plan.program)
                .map(|f| (f, plan.flags.clone(), plan.listener))
                .map_err(|e| InitError::msg(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    process::cloexec_from_3();

    match gate {
        Some(gate) => {
            sync.send(&FromInit::Ready)
                .map_err(|e| InitError::msg(format!("sync: {e}")))?;
            let conn = gate
                .wait()
                .map_err(|e| InitError::msg(format!("start gate: {e}")))?;
            let err = finish(cfg, &caps, &filters, &exec).to_string();
            // A plain write(2): std's socket writes use sendto (MSG_NOSIGNAL), which the
            // container's own filter, installed by now, need not allow.
            // SAFETY: writes `err`'s bytes from a live buffer to an fd we own.
            let _ = unsafe {
                libc::write(
                    std::os::fd::AsRawFd::as_raw_fd(&conn),
                    err.as_ptr().cast(),
                    err.len(),
                )
            };
            std::process::exit(127);
        }
        None => Err(finish(cfg, &caps, &filters, &exec)),
    }
}

/// The hooks at the end of create, before `pivot_root`: the host side runs prestart and
/// createRuntime while we wait, then we run createContainer here, in the container's
/// namespaces with the runtime's filesystem still in view.
fn create_hooks(cfg: &InitConfig, sync: &mut Channel) -> Result<(), InitError> {
    use crate::hooks::{self, Kind};
    if hooks::any(&cfg.spec, &[Kind::Prestart, Kind::CreateRuntime]) {
        sync.send(&FromInit::Hooks)
            .map_err(|e| InitError::msg(format!("sync: {e}")))?;
        match sync.recv::<crate::sync::ToInit>() {
            Ok(Some(crate::sync::ToInit::HooksDone)) => {}
            Ok(Some(other)) => return Err(InitError::msg(format!("sync: unexpected {other:?}"))),
            // the host side reports its hook's failure itself
            Ok(None) => std::process::exit(1),
            Err(e) => return Err(InitError::msg(format!("sync: {e}"))),
        }
    }
    container_hooks(cfg, Kind::CreateContainer)
}

/// Runs the container's hooks of `kind` in this process (createContainer, startContainer).
fn container_hooks(cfg: &InitConfig, kind: crate::hooks::Kind) -> Result<(), InitError> {
    let hooks = crate::hooks::of(&cfg.spec, kind);
    if hooks.is_empty() {
        return Ok(());
    }
    let pid = nix::unistd::getpid().as_raw();
    let state = crate::hooks::state_json(&cfg.spec, &cfg.id, kind, pid, &cfg.bundle);
    crate::hooks::run_all(kind, hooks, &state, None).map_err(|e| InitError::msg(e.to_string()))
}

/// A filter, its flags, and whether it gets a notification listener.
type FilterPlan = (Filter, Vec<oci_spec::runtime::LinuxSeccompFilterFlag>, bool);

/// Drops privileges, installs seccomp and execs. Returns only on failure.
fn finish(cfg: &InitConfig, caps: &CapSets, filters: &[FilterPlan], exec: &Exec) -> InitError {
    let nnp = cfg.process.no_new_privileges().unwrap_or(false);
    let install = || -> Result<(), InitError> {
        for (filter, flags, listener) in filters {
            let installed = if *listener {
                crate::seccomp::install_listener(filter, flags)
            } else {
                crate::seccomp::install(filter, flags)
            };
            installed.map_err(|e| InitError::msg(format!("seccomp: {e}")))?;
        }
        Ok(())
    };
    let steps = || -> Result<(), InitError> {
        exec.reset_inherited();
        caps.apply_bounding()
            .map_err(|e| InitError::msg(e.to_string()))?;
        if !nnp {
            // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while
            // we still hold it. The filter then also covers the calls below.
            install()?;
        }
        process::switch_user(&cfg.process)?;
        caps.apply_process_sets()
            .map_err(|e| InitError::msg(e.to_string()))?;
        if nnp {
            process::set_no_new_privs()?;
            install()?;
        }
        Ok(())
    };
    let hooks = || match cfg.kind {
        // confined already: the workload's user, capabilities, no_new_privs and filters
        InitKind::Container => container_hooks(cfg, crate::hooks::Kind::StartContainer),
        InitKind::Exec => Ok(()),
    };
    match steps().and_then(|()| hooks()) {
        Ok(()) => exec.exec(),
        Err(e) => e,
    }
}

use process::Exec;
