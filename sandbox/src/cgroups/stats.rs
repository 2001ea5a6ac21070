//! Resource usage of a container cgroup as a plain struct (for the shim's `stats`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::fs::{read, read_u64};
use super::v1::V1;
use super::v2::V2;

/// v1 reports "no limit" as a page-rounded `i64::MAX`; anything above this is unlimited.
const V1_UNLIMITED: u64 = 1 << 62;

/// Nanoseconds per second.
const NS_PER_SEC: u64 = 1_000_000_000;

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
    /// Whether the counters come from a cgroup v2 (unified) hierarchy. This decides the key
    /// names in [`Stats::cpu_stat`], [`Stats::memory_stat`] and [`Stats::memory_events`].
    pub unified: bool,
    /// CPU time spent in user mode, in nanoseconds.
    pub cpu_user_ns: Option<u64>,
    /// CPU time spent in kernel mode, in nanoseconds.
    pub cpu_system_ns: Option<u64>,
    /// Total CPU time per CPU, in nanoseconds (v1 `cpuacct.usage_percpu`; empty on v2).
    pub cpu_per_cpu_ns: Vec<u64>,
    /// Elapsed CFS enforcement periods.
    pub cpu_periods: Option<u64>,
    /// Periods in which the cgroup was throttled.
    pub cpu_throttled_periods: Option<u64>,
    /// Total time the cgroup was throttled, in nanoseconds.
    pub cpu_throttled_ns: Option<u64>,
    /// All of `cpu.stat` (v1: `nr_periods`, `throttled_time`, ...; v2: `usage_usec`, ...).
    pub cpu_stat: BTreeMap<String, u64>,
    /// All of `memory.stat` (v1: `cache`, `rss`, `total_inactive_file`, ...; v2: `anon`,
    /// `file`, `inactive_file`, ...). Empty without the memory controller.
    pub memory_stat: BTreeMap<String, u64>,
    /// v2: `memory.events` (`low`, `high`, `max`, `oom`, `oom_kill`, ...); v1:
    /// `memory.oom_control` (`oom_kill_disable`, `under_oom`, `oom_kill`).
    pub memory_events: BTreeMap<String, u64>,
    /// Swap. v1: `memory.memsw.*`, i.e. memory + swap as the v1 kernel counts it; v2:
    /// `memory.swap.{current,peak,max}` (swap only, no failcnt).
    pub swap: MemoryCounters,
    /// Kernel memory (v1 `memory.kmem.*`; empty on v2).
    pub kernel: MemoryCounters,
    /// Kernel TCP buffer memory (v1 `memory.kmem.tcp.*`; empty on v2).
    pub kernel_tcp: MemoryCounters,
}

/// The usage/peak/limit/failcnt quadruple of a v1 memory counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryCounters {
    /// Current usage in bytes.
    pub usage: Option<u64>,
    /// Peak usage in bytes.
    pub max_usage: Option<u64>,
    /// Limit in bytes (`None` also when unlimited).
    pub limit: Option<u64>,
    /// How often the limit was hit.
    pub failcnt: Option<u64>,
}

/// Read `dir/file` as a number if `dir` and the file exist.
fn num(dir: Option<&Path>, file: &str) -> Result<Option<u64>, CgroupError> {
    match dir {
        Some(d) if d.join(file).exists() => read_u64(d, file),
        _ => Ok(None),
    }
}

/// Read the flat keyed file `dir/file` (`key value` per line) if it exists. Lines that are not
/// a key and one unsigned number are skipped, so new kernel formats do not break stats.
fn map(dir: Option<&Path>, file: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut out = BTreeMap::new();
    let Some(d) = dir.filter(|d| d.join(file).exists()) else {
        return Ok(out);
    };
    for line in read(d, file)?.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) {
            if let Ok(v) = v.parse() {
                out.insert(k.to_string(), v);
            }
        }
    }
    Ok(out)
}

/// Read a whitespace separated list of numbers (`cpuacct.usage_percpu`) if the file exists.
fn list(dir: Option<&Path>, file: &str) -> Result<Vec<u64>, CgroupError> {
    let Some(d) = dir.filter(|d| d.join(file).exists()) else {
        return Ok(Vec::new());
    };
    let s = read(d, file)?;
    s.split_whitespace()
        .map(|v| {
            v.parse().map_err(|_| CgroupError::Parse {
                path: d.join(file),
                content: s.clone(),
            })
        })
        .collect()
}

/// A v1 limit, `None` when unlimited.
fn v1_limit(v: Option<u64>) -> Option<u64> {
    v.filter(|v| *v < V1_UNLIMITED)
}

/// The v1 counter `memory.<prefix>{usage_in_bytes,max_usage_in_bytes,limit_in_bytes,failcnt}`.
fn v1_counters(mem: Option<&Path>, prefix: &str) -> Result<MemoryCounters, CgroupError> {
    Ok(MemoryCounters {
        usage: num(mem, &format!("memory.{prefix}usage_in_bytes"))?,
        max_usage: num(mem, &format!("memory.{prefix}max_usage_in_bytes"))?,
        limit: v1_limit(num(mem, &format!("memory.{prefix}limit_in_bytes"))?),
        failcnt: num(mem, &format!("memory.{prefix}failcnt"))?,
    })
}

/// USER_HZ, the unit of `cpuacct.stat`.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU time in user and kernel mode (ns) from `cpuacct.usage_{user,sys}`, or from the
/// USER_HZ-based `cpuacct.stat` on kernels without them.
fn v1_cpu_modes(acct: Option<&Path>) -> Result<(Option<u64>, Option<u64>), CgroupError> {
    let user = num(acct, "cpuacct.usage_user")?;
    let sys = num(acct, "cpuacct.usage_sys")?;
    if user.is_some() && sys.is_some() {
        return Ok((user, sys));
    }
    let stat = map(acct, "cpuacct.stat")?;
    let hz = clock_ticks();
    let ns = |k: &str| stat.get(k).map(|t| t.saturating_mul(NS_PER_SEC) / hz);
    Ok((ns("user"), ns("system")))
}

/// Usage counters of a v1 cgroup.
pub(crate) fn v1_stats(cg: &V1) -> Result<Stats, CgroupError> {
    v1_read(|c| cg.dir(c))
}

/// Usage counters of a v1 cgroup whose directory of a controller is `dir(controller)`.
fn v1_read(dir: impl Fn(&str) -> Option<PathBuf>) -> Result<Stats, CgroupError> {
    let mem = dir("memory");
    let mem = mem.as_deref();
    let pids = dir("pids");
    let pids = pids.as_deref();
    let acct = dir("cpuacct");
    let acct = acct.as_deref();
    let cpu_stat = map(dir("cpu").as_deref(), "cpu.stat")?;
    let (cpu_user_ns, cpu_system_ns) = v1_cpu_modes(acct)?;
    let memory_events = map(mem, "memory.oom_control")?;
    Ok(Stats {
        memory_usage: num(mem, "memory.usage_in_bytes")?,
        memory_max_usage: num(mem, "memory.max_usage_in_bytes")?,
        memory_limit: v1_limit(num(mem, "memory.limit_in_bytes")?),
        memory_failcnt: num(mem, "memory.failcnt")?,
        oom_kills: memory_events.get("oom_kill").copied(),
        cpu_usage_ns: num(acct, "cpuacct.usage")?,
        pids_current: num(pids, "pids.current")?,
        pids_limit: num(pids, "pids.max")?,
        unified: false,
        cpu_user_ns,
        cpu_system_ns,
        cpu_per_cpu_ns: list(acct, "cpuacct.usage_percpu")?,
        cpu_periods: cpu_stat.get("nr_periods").copied(),
        cpu_throttled_periods: cpu_stat.get("nr_throttled").copied(),
        cpu_throttled_ns: cpu_stat.get("throttled_time").copied(),
        cpu_stat,
        memory_stat: map(mem, "memory.stat")?,
        memory_events,
        swap: v1_counters(mem, "memsw.")?,
        kernel: v1_counters(mem, "kmem.")?,
        kernel_tcp: v1_counters(mem, "kmem.tcp.")?,
    })
}

/// Usage counters of a v2 cgroup.
pub(crate) fn v2_stats(cg: &V2) -> Result<Stats, CgroupError> {
    let d = Some(cg.dir());
    let cpu_stat = map(d, "cpu.stat")?;
    let memory_events = map(d, "memory.events")?;
    let us = |k: &str| cpu_stat.get(k).map(|us| us.saturating_mul(1000));
    Ok(Stats {
        memory_usage: num(d, "memory.current")?,
        memory_max_usage: num(d, "memory.peak")?,
        memory_limit: num(d, "memory.max")?,
        memory_failcnt: memory_events.get("max").copied(),
        oom_kills: memory_events.get("oom_kill").copied(),
        cpu_usage_ns: us("usage_usec"),
        pids_current: num(d, "pids.current")?,
        pids_limit: num(d, "pids.max")?,
        unified: true,
        cpu_user_ns: us("user_usec"),
        cpu_system_ns: us("system_usec"),
        cpu_per_cpu_ns: Vec::new(),
        cpu_periods: cpu_stat.get("nr_periods").copied(),
        cpu_throttled_periods: cpu_stat.get("nr_throttled").copied(),
        cpu_throttled_ns: us("throttled_usec"),
        cpu_stat,
        memory_stat: map(d, "memory.stat")?,
        memory_events,
        swap: MemoryCounters {
            usage: num(d, "memory.swap.current")?,
            max_usage: num(d, "memory.swap.peak")?,
            limit: num(d, "memory.swap.max")?,
            failcnt: None,
        },
        kernel: MemoryCounters::default(),
        kernel_tcp: MemoryCounters::default(),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use super::*;

    /// A scratch directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p =
                std::env::temp_dir().join(format!("pinhole-stats-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        fn file(&self, name: &str, content: &str) {
            fs::write(self.0.join(name), content).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn v1_files_are_parsed() {
        let t = TempDir::new("v1");
        t.file("memory.usage_in_bytes", "4096\n");
        t.file("memory.max_usage_in_bytes", "8192\n");
        t.file("memory.limit_in_bytes", "33554432\n");
        t.file("memory.failcnt", "3\n");
        t.file("memory.memsw.usage_in_bytes", "5000\n");
        t.file("memory.memsw.limit_in_bytes", "9223372036854771712\n");
        t.file("memory.kmem.usage_in_bytes", "100\n");
        t.file(
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        t.file(
            "memory.stat",
            "cache 10\nrss 20\ntotal_inactive_file 30\nbogus line here\n",
        );
        t.file("cpuacct.usage", "123456\n");
        t.file("cpuacct.usage_percpu", "100 200 0 \n");
        t.file("cpuacct.stat", "user 3\nsystem 4\n");
        t.file(
            "cpu.stat",
            "nr_periods 7\nnr_throttled 2\nthrottled_time 999\n",
        );
        t.file("pids.current", "2\n");
        t.file("pids.max", "max\n");
        let s = v1_read(|c| (c != "freezer").then(|| t.0.clone())).unwrap();
        assert!(!s.unified);
        assert_eq!(s.memory_usage, Some(4096));
        assert_eq!(s.memory_max_usage, Some(8192));
        assert_eq!(s.memory_limit, Some(32 << 20));
        assert_eq!(s.memory_failcnt, Some(3));
        assert_eq!(s.oom_kills, Some(2));
        assert_eq!(s.swap.usage, Some(5000));
        assert_eq!(s.swap.limit, None);
        assert_eq!(s.swap.max_usage, None);
        assert_eq!(s.kernel.usage, Some(100));
        assert_eq!(s.kernel_tcp, MemoryCounters::default());
        assert_eq!(s.memory_stat.len(), 3);
        assert_eq!(s.memory_stat["total_inactive_file"], 30);
        assert_eq!(s.memory_events["under_oom"], 0);
        assert_eq!(s.cpu_usage_ns, Some(123456));
        assert_eq!(s.cpu_per_cpu_ns, vec![100, 200, 0]);
        let hz = clock_ticks();
        assert_eq!(s.cpu_user_ns, Some(3 * NS_PER_SEC / hz));
        assert_eq!(s.cpu_system_ns, Some(4 * NS_PER_SEC / hz));
        assert_eq!(s.cpu_periods, Some(7));
        assert_eq!(s.cpu_throttled_periods, Some(2));
        assert_eq!(s.cpu_throttled_ns, Some(999));
        assert_eq!(s.pids_current, Some(2));
        assert_eq!(s.pids_limit, None);

        // cpuacct.usage_{user,sys} win over cpuacct.stat.
        t.file("cpuacct.usage_user", "11\n");
        t.file("cpuacct.usage_sys", "22\n");
        let s = v1_read(|_| Some(t.0.clone())).unwrap();
        assert_eq!((s.cpu_user_ns, s.cpu_system_ns), (Some(11), Some(22)));
    }

    #[test]
    fn v1_missing_controllers_are_none() {
        let s = v1_read(|_| None).unwrap();
        assert_eq!(s, Stats::default());
    }

    #[test]
    fn v2_files_are_parsed() {
        let t = TempDir::new("v2");
        t.file("memory.current", "4096\n");
        t.file("memory.peak", "8192\n");
        t.file("memory.max", "max\n");
        t.file("memory.swap.current", "0\n");
        t.file("memory.swap.max", "1048576\n");
        t.file(
            "memory.events",
            "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
        );
        t.file("memory.stat", "anon 100\nfile 200\ninactive_file 50\n");
        t.file(
            "cpu.stat",
            "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 2\n",
        );
        t.file("pids.current", "1\n");
        t.file("pids.max", "64\n");
        let s = v2_stats(&V2::new(Path::new(&t.0), Path::new("/"))).unwrap();
        assert!(s.unified);
        assert_eq!(s.memory_usage, Some(4096));
        assert_eq!(s.memory_max_usage, Some(8192));
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.memory_failcnt, Some(5));
        assert_eq!(s.oom_kills, Some(1));
        assert_eq!(s.swap.usage, Some(0));
        assert_eq!(s.swap.limit, Some(1 << 20));
        assert_eq!(s.memory_stat["inactive_file"], 50);
        assert_eq!(s.cpu_usage_ns, Some(10_000));
        assert_eq!(s.cpu_user_ns, Some(6_000));
        assert_eq!(s.cpu_system_ns, Some(4_000));
        assert_eq!(s.cpu_periods, Some(3));
        assert_eq!(s.cpu_throttled_periods, Some(1));
        assert_eq!(s.cpu_throttled_ns, Some(2_000));
        assert_eq!(s.cpu_stat["nr_periods"], 3);
        assert_eq!(s.pids_current, Some(1));
        assert_eq!(s.pids_limit, Some(64));
    }
}
