//! Resource usage of a container cgroup as a plain struct (for the shim's `stats`).

use std::path::Path;

use super::error::CgroupError;
use super::fs::{read_keyed, read_u64};
use super::v1::V1;
use super::v2::V2;

/// v1 reports "no limit" as a page-rounded `i64::MAX`; anything above this is unlimited.
const V1_UNLIMITED: u64 = 1 << 62;

/// Usage counters of a container cgroup. `None` means the value is not available (controller
/// missing or not enabled, or the limit is unlimited).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Current memory usage in bytes.
    pub memory_usage: Option<u64>,
    /// Peak memory usage in bytes.
    pub memory_max_usage: Option<u64>,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// How often the memory limit was hit.
    pub memory_failcnt: Option<u64>,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kills: Option<u64>,
    /// Total CPU time consumed, in nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Number of tasks.
    pub pids_current: Option<u64>,
    /// Task limit.
    pub pids_limit: Option<u64>,
}

/// Read `dir/file` as a number if `dir` and the file exist.
fn num(dir: Option<&Path>, file: &str) -> Result<Option<u64>, CgroupError> {
    match dir {
        Some(d) if d.join(file).exists() => read_u64(d, file),
        _ => Ok(None),
    }
}

/// Read `key` of the keyed file `dir/file` if it exists.
fn keyed(dir: Option<&Path>, file: &str, key: &str) -> Result<Option<u64>, CgroupError> {
    match dir {
        Some(d) if d.join(file).exists() => read_keyed(d, file, key),
        _ => Ok(None),
    }
}

/// Usage counters of a v1 cgroup.
pub(crate) fn v1_stats(cg: &V1) -> Result<Stats, CgroupError> {
    let mem = cg.dir("memory");
    let mem = mem.as_deref();
    let pids = cg.dir("pids");
    let pids = pids.as_deref();
    Ok(Stats {
        memory_usage: num(mem, "memory.usage_in_bytes")?,
        memory_max_usage: num(mem, "memory.max_usage_in_bytes")?,
        memory_limit: num(mem, "memory.limit_in_bytes")?.filter(|v| *v < V1_UNLIMITED),
        memory_failcnt: num(mem, "memory.failcnt")?,
        oom_kills: keyed(mem, "memory.oom_control", "oom_kill")?,
        cpu_usage_ns: num(cg.dir("cpuacct").as_deref(), "cpuacct.usage")?,
        pids_current: num(pids, "pids.current")?,
        pids_limit: num(pids, "pids.max")?,
    })
}

/// Usage counters of a v2 cgroup.
pub(crate) fn v2_stats(cg: &V2) -> Result<Stats, CgroupError> {
    let d = Some(cg.dir());
    Ok(Stats {
        memory_usage: num(d, "memory.current")?,
        memory_max_usage: num(d, "memory.peak")?,
        memory_limit: num(d, "memory.max")?,
        memory_failcnt: keyed(d, "memory.events", "max")?,
        oom_kills: keyed(d, "memory.events", "oom_kill")?,
        cpu_usage_ns: keyed(d, "cpu.stat", "usage_usec")?.map(|us| us * 1000),
        pids_current: num(d, "pids.current")?,
        pids_limit: num(d, "pids.max")?,
    })
}
