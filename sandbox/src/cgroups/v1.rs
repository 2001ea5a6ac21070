//! cgroup v1 backend (also used in hybrid mode): one directory per controller hierarchy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};

use super::devices::{default_allowed, parse_rules};
use super::error::CgroupError;
use super::fs::{chain, mkdir, read, read_procs, remove_tree, wait_for, write};
use super::mode::{v1_mounts, V1_CONTROLLERS};
use super::resources::limit_value;

/// How long freeze/thaw may take to settle.
pub(crate) const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// A container cgroup in the v1 hierarchies.
#[derive(Clone, Debug)]
pub(crate) struct V1 {
    /// (controller, mount point) for every mounted controller pinhole manages.
    mounts: Vec<(&'static str, PathBuf)>,
    /// Path relative to each hierarchy root.
    rel: PathBuf,
}

impl V1 {
    /// The cgroup `rel` in the host's v1 hierarchies.
    pub(crate) fn new(rel: &Path) -> V1 {
        let m = v1_mounts();
        let mounts = V1_CONTROLLERS
            .iter()
            .filter_map(|c| m.get(*c).map(|p| (*c, p.clone())))
            .collect();
        V1 {
            mounts,
            rel: rel.to_path_buf(),
        }
    }

    /// The container directory of `controller`, if that controller is mounted.
    pub(crate) fn dir(&self, controller: &str) -> Option<PathBuf> {
        self.mounts
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, m)| m.join(self.rel.strip_prefix("/").unwrap_or(&self.rel)))
    }

    /// The container directory of `controller`, or an error naming the `field` that needs it.
    fn need(&self, controller: &str, field: &str) -> Result<PathBuf, CgroupError> {
        self.dir(controller)
            .ok_or_else(|| CgroupError::Unsupported {
                field: field.to_string(),
                what: format!("the v1 {controller} controller"),
            })
    }

    /// Distinct container directories (co-mounted controllers share one).
    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for (c, _) in &self.mounts {
            let d = self.dir(c).expect("mounted controller");
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// Create the directories (idempotent).
    pub(crate) fn create(&self) -> Result<(), CgroupError> {
        for (ctrl, mount) in &self.mounts {
            let mut parent = mount.clone();
            for dir in chain(mount, &self.rel) {
                mkdir(&dir)?;
                if *ctrl == "cpuset" {
                    for file in ["cpuset.cpus", "cpuset.mems"] {
                        if read(&dir, file)?.is_empty() {
                            write(&dir, file, &read(&parent, file)?)?;
                        }
                    }
                }
                parent = dir;
            }
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
                let dir = self.need("pids", "pids.limit")?;
                let v = if p.limit() > 0 {
                    p.limit().to_string()
                } else {
                    "max".into()
                };
                write(&dir, "pids.max", &v)?;
            }
        }
        if let Some(devs) = r.devices() {
            let dir = self.need("devices", "devices")?;
            let mut rules = parse_rules(devs)?;
            rules.extend(parse_rules(&default_allowed())?);
            write(&dir, "devices.deny", "a")?;
            for rule in rules {
                let file = if rule.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write(&dir, file, &rule.v1_line())?;
            }
        }
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(CgroupError::Unsupported {
                field: "unified".into(),
                what: "a cgroup v2 hierarchy with controllers (this host uses cgroup v1)".into(),
            });
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<(), CgroupError> {
        let set = |v: Option<i64>| v.filter(|v| *v != 0);
        let (limit, mut swap) = (set(m.limit()), set(m.swap()));
        let reservation = set(m.reservation());
        let needed = limit.is_some()
            || swap.is_some()
            || reservation.is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some();
        if !needed {
            return Ok(());
        }
        let dir = self.need("memory", "memory")?;
        const LIMIT: &str = "memory.limit_in_bytes";
        const MEMSW: &str = "memory.memsw.limit_in_bytes";
        if let Some(s) = swap {
            if !dir.join(MEMSW).exists() {
                if s == -1 || Some(s) == limit {
                    swap = None; // nothing to enforce without swap accounting
                } else {
                    return Err(CgroupError::Unsupported {
                        field: "memory.swap".into(),
                        what: format!("swap accounting ({})", dir.join(MEMSW).display()),
                    });
                }
            }
        }
        match (limit, swap) {
            (Some(l), Some(s)) => {
                // The kernel keeps memsw >= limit: raise memsw first, lower limit first.
                let cur: u64 = read(&dir, MEMSW)?.parse().unwrap_or(u64::MAX);
                if s == -1 || s as u64 > cur {
                    write(&dir, MEMSW, &limit_value(s, false))?;
                    write(&dir, LIMIT, &limit_value(l, false))?;
                } else {
                    write(&dir, LIMIT, &limit_value(l, false))?;
                    write(&dir, MEMSW, &limit_value(s, false))?;
                }
            }
            (Some(l), None) => write(&dir, LIMIT, &limit_value(l, false))?,
            (None, Some(s)) => write(&dir, MEMSW, &limit_value(s, false))?,
            (None, None) => {}
        }
        if let Some(res) = reservation {
            write(&dir, "memory.soft_limit_in_bytes", &limit_value(res, false))?;
        }
        if let Some(s) = m.swappiness() {
            write(&dir, "memory.swappiness", &s.to_string())?;
        }
        if let Some(d) = m.disable_oom_killer() {
            write(&dir, "memory.oom_control", if d { "1" } else { "0" })?;
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<(), CgroupError> {
        let nz = |v: Option<u64>| v.filter(|v| *v != 0);
        if let Some(s) = nz(c.shares()) {
            write(
                &self.need("cpu", "cpu.shares")?,
                "cpu.shares",
                &s.to_string(),
            )?;
        }
        let quota = c.quota().filter(|q| *q != 0);
        if let Some(p) = nz(c.period()) {
            let dir = self.need("cpu", "cpu.period")?;
            if let Err(e) = write(&dir, "cpu.cfs_period_us", &p.to_string()) {
                // A period below the current quota's constraints: set the quota first.
                let Some(q) = quota else { return Err(e) };
                write(&dir, "cpu.cfs_quota_us", &q.to_string())?;
                write(&dir, "cpu.cfs_period_us", &p.to_string())?;
            }
        }
        if let Some(q) = quota {
            write(
                &self.need("cpu", "cpu.quota")?,
                "cpu.cfs_quota_us",
                &q.to_string(),
            )?;
        }
        if let Some(b) = c.burst() {
            write(
                &self.need("cpu", "cpu.burst")?,
                "cpu.cfs_burst_us",
                &b.to_string(),
            )?;
        }
        if let Some(i) = c.idle() {
            write(&self.need("cpu", "cpu.idle")?, "cpu.idle", &i.to_string())?;
        }
        if let Some(p) = nz(c.realtime_period()) {
            write(
                &self.need("cpu", "cpu.realtimePeriod")?,
                "cpu.rt_period_us",
                &p.to_string(),
            )?;
        }
        if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
            write(
                &self.need("cpu", "cpu.realtimeRuntime")?,
                "cpu.rt_runtime_us",
                &r.to_string(),
            )?;
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(&self.need("cpuset", "cpu.cpus")?, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(&self.need("cpuset", "cpu.mems")?, "cpuset.mems", mems)?;
        }
        Ok(())
    }

    /// Move `pid` into the cgroup.
    pub(crate) fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.dirs() {
            write(&dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Processes of the container, read from the first managed hierarchy that has it.
    pub(crate) fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        for ctrl in ["pids", "freezer", "memory", "cpu", "devices"] {
            if let Some(dir) = self.dir(ctrl) {
                return read_procs(&dir);
            }
        }
        match self.dirs().first() {
            Some(dir) => read_procs(dir),
            None => Ok(Vec::new()),
        }
    }

    /// Whether the freezer controller is available.
    pub(crate) fn can_freeze(&self) -> bool {
        self.dir("freezer").is_some()
    }

    /// Freeze or thaw and wait for the state to settle.
    pub(crate) fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let dir = self.need("freezer", "freezer")?;
        let state = if frozen { "FROZEN" } else { "THAWED" };
        write(&dir, "freezer.state", state)?;
        // FREEZING may stall on tasks in uninterruptible sleep: keep asking until it settles.
        wait_for(
            &dir,
            "freezer.state",
            state,
            FREEZE_TIMEOUT,
            |s| s == state,
            || write(&dir, "freezer.state", state),
        )
    }

    /// Remove the cgroup directories (missing is fine).
    pub(crate) fn remove(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for dir in self.dirs() {
            if let Err(e) = remove_tree(&dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Whether the cgroup directory exists.
    pub(crate) fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.is_dir())
    }
}
