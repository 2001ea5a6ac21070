//! cgroup v2 backend: one directory in the unified hierarchy.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use super::bpf;
use super::devices::{default_allowed, parse_rules};
use super::error::CgroupError;
use super::fs::{chain, mkdir, read, read_keyed, read_procs, remove_tree, wait_for, write};
use super::resources::{limit_value, shares_to_weight};
use super::v1::FREEZE_TIMEOUT;

/// Controllers enabled in the ancestors' `cgroup.subtree_control` when available.
const CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids", "io", "hugetlb"];

/// A container cgroup in a cgroup2 hierarchy.
#[derive(Clone, Debug)]
pub(crate) struct V2 {
    /// Mount point of the hierarchy.
    root: PathBuf,
    /// Path relative to `root`.
    rel: PathBuf,
    /// `root` + `rel`.
    dir: PathBuf,
}

fn unsupported(field: &str, what: String) -> CgroupError {
    CgroupError::Unsupported {
        field: field.to_string(),
        what,
    }
}

impl V2 {
    /// The cgroup `rel` in the hierarchy mounted at `root`.
    pub(crate) fn new(root: &Path, rel: &Path) -> V2 {
        let dir = root.join(rel.strip_prefix("/").unwrap_or(rel));
        V2 {
            root: root.to_path_buf(),
            rel: rel.to_path_buf(),
            dir,
        }
    }

    /// The container directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A control file that must exist to enforce `field`.
    fn need(&self, file: &str, field: &str) -> Result<&Path, CgroupError> {
        if self.dir.join(file).exists() {
            Ok(&self.dir)
        } else {
            Err(unsupported(
                field,
                format!("{} (controller not enabled)", self.dir.join(file).display()),
            ))
        }
    }

    /// Create the directories (idempotent).
    pub(crate) fn create(&self) -> Result<(), CgroupError> {
        let mut parent = self.root.clone();
        for dir in chain(&self.root, &self.rel) {
            let available = read(&parent, "cgroup.controllers")?;
            let enabled = read(&parent, "cgroup.subtree_control")?;
            for c in CONTROLLERS {
                let has = |list: &str| list.split_whitespace().any(|x| x == *c);
                if has(&available) && !has(&enabled) {
                    write(&parent, "cgroup.subtree_control", &format!("+{c}"))?;
                }
            }
            mkdir(&dir)?;
            parent = dir;
        }
        Ok(())
    }

    /// Apply the set values of `r`.
    pub(crate) fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(m) = r.memory() {
            self.apply_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c)?;
        }
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                let v = if p.limit() > 0 {
                    p.limit().to_string()
                } else {
                    "max".into()
                };
                write(self.need("pids.max", "pids.limit")?, "pids.max", &v)?;
            }
        }
        if let Some(devs) = r.devices() {
            let mut rules = parse_rules(devs)?;
            rules.extend(parse_rules(&default_allowed())?);
            bpf::apply(&self.dir, &rules)?;
        }
        if let Some(u) = r.unified() {
            let mut keys: Vec<_> = u.keys().collect();
            keys.sort();
            for k in keys {
                write(self.need(k, &format!("unified[{k:?}]"))?, k, &u[k])?;
            }
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<(), CgroupError> {
        let set = |v: Option<i64>| v.filter(|v| *v != 0);
        let (limit, swap, low) = (set(m.limit()), set(m.swap()), set(m.reservation()));
        if let Some(l) = limit {
            write(
                self.need("memory.max", "memory.limit")?,
                "memory.max",
                &limit_value(l, true),
            )?;
        }
        if let Some(s) = swap {
            // OCI swap is memory+swap; cgroup v2 limits swap alone.
            let value = match (s, limit) {
                (-1, _) => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).to_string(),
                _ => {
                    return Err(CgroupError::InvalidResource {
                        field: "memory.swap".into(),
                        value: s.to_string(),
                        reason: "needs memory.limit to be set as well".into(),
                    })
                }
            };
            if self.dir.join("memory.swap.max").exists() {
                write(&self.dir, "memory.swap.max", &value)?;
            } else if value != "0" && value != "max" {
                return Err(unsupported(
                    "memory.swap",
                    format!(
                        "swap accounting ({})",
                        self.dir.join("memory.swap.max").display()
                    ),
                ));
            }
        }
        if let Some(l) = low {
            write(
                self.need("memory.low", "memory.reservation")?,
                "memory.low",
                &limit_value(l, true),
            )?;
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(unsupported(
                "memory.disableOOMKiller",
                "memory.oom_control (cgroup v1 only)".into(),
            ));
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<(), CgroupError> {
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            let w = shares_to_weight(s).to_string();
            write(self.need("cpu.weight", "cpu.shares")?, "cpu.weight", &w)?;
        }
        let quota = c.quota().filter(|q| *q != 0);
        let period = c.period().filter(|p| *p != 0);
        if quota.is_some() || period.is_some() {
            let dir = self.need("cpu.max", "cpu.quota")?;
            let cur = read(dir, "cpu.max")?;
            let mut it = cur.split_whitespace();
            let (cur_q, cur_p) = (it.next().unwrap_or("max"), it.next().unwrap_or("100000"));
            let q = match quota {
                Some(q) if q > 0 => q.to_string(),
                Some(_) => "max".to_string(),
                None => cur_q.to_string(),
            };
            let p = period.map_or(cur_p.to_string(), |p| p.to_string());
            write(dir, "cpu.max", &format!("{q} {p}"))?;
        }
        if let Some(b) = c.burst() {
            write(
                self.need("cpu.max.burst", "cpu.burst")?,
                "cpu.max.burst",
                &b.to_string(),
            )?;
        }
        if let Some(i) = c.idle() {
            write(
                self.need("cpu.idle", "cpu.idle")?,
                "cpu.idle",
                &i.to_string(),
            )?;
        }
        if c.realtime_period().unwrap_or(0) != 0 || c.realtime_runtime().unwrap_or(0) != 0 {
            return Err(unsupported(
                "cpu.realtimeRuntime",
                "realtime cpu scheduling limits (cgroup v1 only)".into(),
            ));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(self.need("cpuset.cpus", "cpu.cpus")?, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(self.need("cpuset.mems", "cpu.mems")?, "cpuset.mems", mems)?;
        }
        Ok(())
    }

    /// Move `pid` into the cgroup.
    pub(crate) fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    pub(crate) fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        read_procs(&self.dir)
    }

    /// Freeze or thaw and wait for the state to settle.
    pub(crate) fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let v = if frozen { "1" } else { "0" };
        write(&self.dir, "cgroup.freeze", v)?;
        let want = format!("frozen {v}");
        wait_for(
            &self.dir,
            "cgroup.events",
            &want,
            FREEZE_TIMEOUT,
            |s| s.lines().any(|l| l.trim() == want),
            || Ok(()),
        )
    }

    /// Kill every process with `cgroup.kill` (Linux 5.14+); `false` if the file is missing.
    pub(crate) fn kill_file(&self) -> Result<bool, CgroupError> {
        if !self.dir.join("cgroup.kill").exists() {
            return Ok(false);
        }
        write(&self.dir, "cgroup.kill", "1")?;
        Ok(true)
    }

    /// `key` of `memory.events` (e.g. `oom_kill`), if the memory controller is enabled.
    pub(crate) fn memory_event(&self, key: &str) -> Result<Option<u64>, CgroupError> {
        if !self.dir.join("memory.events").exists() {
            return Ok(None);
        }
        read_keyed(&self.dir, "memory.events", key)
    }

    /// Remove the cgroup directories (missing is fine).
    pub(crate) fn remove(&self) -> Result<(), CgroupError> {
        remove_tree(&self.dir)
    }

    /// Whether the cgroup directory exists.
    pub(crate) fn exists(&self) -> bool {
        self.dir.is_dir()
    }
}
