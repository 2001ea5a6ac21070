//! cgroup manager for container cgroups on cgroup v1, hybrid and v2 (unified) hosts.
//!
//! A [`Cgroup`] is a container cgroup at a path relative to every hierarchy root (from
//! `linux.cgroupsPath`, cgroupfs-driver semantics, default `/pinhole/<id>`). On v1 and hybrid
//! hosts it spans one directory per v1 controller (the empty unified hierarchy of a hybrid host
//! is not used); on v2 it is one directory of the unified hierarchy.
//!
//! Typical lifecycle: [`validate`] the spec's resources, [`Cgroup::new`], [`Cgroup::create`],
//! [`Cgroup::apply`], [`Cgroup::add_pid`] for the container init, and at delete time
//! [`Cgroup::kill_all`] + [`Cgroup::remove`]. The shim uses [`Cgroup::freeze`]/[`Cgroup::thaw`],
//! [`Cgroup::apply`] for updates, [`Cgroup::stats`] and [`Cgroup::oom_watch`].
//!
//! Device rules: [`Cgroup::apply`] installs the configured `linux.resources.devices` rules on
//! top of "deny all", followed by [`default_allowed`] (runc's default device allowlist). The
//! caller must add allow rules for the devices it creates from `linux.devices`. On v2 the rules
//! are enforced by an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` program. When `devices` is `None`
//! (e.g. an update touching only memory), device rules are left as they are.

mod bpf;
mod devices;
mod error;
mod fs;
mod mode;
mod oom;
mod path;
mod resources;
mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

pub use devices::default_allowed;
pub use error::{CgroupError, OsError};
pub use mode::{mode, Mode, CGROUP_ROOT};
pub use oom::OomWatch;
pub use path::DEFAULT_PARENT;
pub use resources::validate;
pub use stats::{MemoryCounters, Stats};

use v1::V1;
use v2::V2;

#[derive(Clone, Debug)]
enum Backend {
    V1(V1),
    V2(V2),
}

/// A container cgroup.
#[derive(Clone, Debug)]
pub struct Cgroup {
    path: PathBuf,
    backend: Backend,
}

impl Cgroup {
    /// The container cgroup for `linux.cgroupsPath` (`None`/empty => `/pinhole/<id>`) on this
    /// host. Absolute and relative paths are both taken relative to the hierarchy roots; the
    /// systemd `slice:prefix:name` syntax is rejected. Nothing is created yet.
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup, CgroupError> {
        let path = path::parse(cgroups_path, id)?;
        let backend = match mode() {
            Mode::V2 => Backend::V2(V2::new(Path::new(CGROUP_ROOT), &path)),
            Mode::V1 | Mode::Hybrid => Backend::V1(V1::new(&path)),
        };
        Ok(Cgroup { path, backend })
    }

    /// The cgroup `path` in a cgroup2 hierarchy mounted at `root` (used by tests on hybrid
    /// hosts, where `/sys/fs/cgroup/unified` is a cgroup2 mount).
    #[cfg(test)]
    pub(crate) fn new_v2_at(root: &Path, path: &Path) -> Cgroup {
        Cgroup {
            path: path.to_path_buf(),
            backend: Backend::V2(V2::new(root, path)),
        }
    }

    /// The normalized cgroup path, e.g. `/pinhole/abc`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container's directories on the host, by controller name (v1), or a single entry with
    /// an empty name (v2). Only mounted controllers are listed.
    pub fn dirs(&self) -> Vec<(String, PathBuf)> {
        match &self.backend {
            Backend::V1(v) => mode::V1_CONTROLLERS
                .iter()
                .filter_map(|c| v.dir(c).map(|d| (c.to_string(), d)))
                .collect(),
            Backend::V2(v) => vec![(String::new(), v.dir().to_path_buf())],
        }
    }

    /// Create the cgroup (idempotent): the directory in every mounted v1 controller, with
    /// `cpuset.cpus`/`cpuset.mems` copied from the parent when empty, or the v2 directory with
    /// the available controllers enabled in the ancestors' `cgroup.subtree_control`.
    pub fn create(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(v) => v.create(),
            Backend::V2(v) => v.create(),
        }
    }

    /// Validate and apply `r` (at create time and for updates). Unset values are left alone.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        validate(r)?;
        match &self.backend {
            Backend::V1(v) => v.apply(r),
            Backend::V2(v) => v.apply(r),
        }
    }

    /// Move process `pid` (all its threads) into the cgroup (every v1 controller).
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(v) => v.add_pid(pid),
            Backend::V2(v) => v.add_pid(pid),
        }
    }

    /// The processes in the cgroup (`cgroup.procs`, not recursive).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match &self.backend {
            Backend::V1(v) => v.pids(),
            Backend::V2(v) => v.pids(),
        }
    }

    /// Freeze every process of the cgroup and wait until the freeze has settled.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    /// Thaw the cgroup and wait until it has settled.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(v) => v.set_frozen(frozen),
            Backend::V2(v) => v.set_frozen(frozen),
        }
    }

    /// Whether the cgroup is frozen (paused). `false` without a freezer.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match &self.backend {
            Backend::V1(v) => match v.dir("freezer") {
                Some(d) => Ok(fs::read(&d, "freezer.state")? == "FROZEN"),
                None => Ok(false),
            },
            Backend::V2(v) => Ok(fs::read_keyed(v.dir(), "cgroup.events", "frozen")? == Some(1)),
        }
    }

    fn can_freeze(&self) -> bool {
        match &self.backend {
            Backend::V1(v) => v.can_freeze(),
            Backend::V2(v) => v.dir().join("cgroup.freeze").exists(),
        }
    }

    /// Send `sig` to every process of the cgroup. SIGKILL on v2 uses `cgroup.kill` when
    /// available; otherwise the cgroup is frozen while signalling so that no process can fork
    /// away, then thawed (kept frozen for other signals if it was paused before).
    pub fn kill_all(&self, sig: Signal) -> Result<(), CgroupError> {
        if let Backend::V2(v) = &self.backend {
            if sig == Signal::SIGKILL && v.kill_file()? {
                return Ok(());
            }
        }
        let freeze = self.can_freeze();
        let was_frozen = freeze && self.is_frozen()?;
        if freeze && !was_frozen {
            self.freeze()?;
        }
        let res = self.signal_each(sig);
        if freeze && (!was_frozen || sig == Signal::SIGKILL) {
            let thawed = self.thaw();
            res?;
            thawed
        } else {
            res
        }
    }

    fn signal_each(&self, sig: Signal) -> Result<(), CgroupError> {
        for pid in self.pids()? {
            if pid <= 0 {
                continue; // never signal a process group by accident
            }
            match kill(Pid::from_raw(pid), sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => {
                    return Err(CgroupError::Kill {
                        pid,
                        signal: sig.as_str().to_string(),
                        cgroup: self.path.display().to_string(),
                        err: e.into(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Remove the cgroup (and any sub-cgroups) everywhere, retrying briefly while exiting
    /// processes keep it busy. A missing cgroup is not an error; shared ancestors such as
    /// `/pinhole` are kept.
    pub fn remove(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(v) => v.remove(),
            Backend::V2(v) => v.remove(),
        }
    }

    /// Whether the cgroup directory exists (in any v1 controller).
    pub fn exists(&self) -> bool {
        match &self.backend {
            Backend::V1(v) => v.exists(),
            Backend::V2(v) => v.exists(),
        }
    }

    /// Current usage counters.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match &self.backend {
            Backend::V1(v) => stats::v1_stats(v),
            Backend::V2(v) => stats::v2_stats(v),
        }
    }

    /// Set up OOM notification: an eventfd on v1, the `memory.events` path on v2.
    pub fn oom_watch(&self) -> Result<OomWatch, CgroupError> {
        match &self.backend {
            Backend::V1(v) => {
                let dir = v.dir("memory").ok_or_else(|| CgroupError::Unsupported {
                    field: "memory".into(),
                    what: "the v1 memory controller".into(),
                })?;
                oom::v1_eventfd(&dir)
            }
            Backend::V2(v) => {
                if v.memory_event("oom_kill")?.is_none() {
                    return Err(CgroupError::Unsupported {
                        field: "memory".into(),
                        what: format!(
                            "{} (memory controller not enabled)",
                            v.dir().join("memory.events").display()
                        ),
                    });
                }
                Ok(OomWatch::MemoryEvents(v.dir().join("memory.events")))
            }
        }
    }
}
