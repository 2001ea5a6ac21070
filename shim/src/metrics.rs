//! Container metrics for the shim's `Stats` RPC, in the protobuf form containerd decodes.
//!
//! containerd (`ctr task metrics`, CRI `ContainerStats`) unmarshals the returned `Any` by its
//! type URL, which must be the bare message name (`io.containerd.cgroups.v1.Metrics` or
//! `io.containerd.cgroups.v2.Metrics`, no `type.googleapis.com/` prefix). Values follow
//! containerd's own cgroup libraries: an unlimited v1 memory limit is reported as the kernel's
//! page-rounded `i64::MAX`, an unlimited v2 limit as `u64::MAX`, an unlimited v1 pids limit as 0.
//! CRI computes the working set as `usage - total_inactive_file` (v1) or
//! `usage - inactive_file` (v2) and treats limits above 2^62 as unlimited.

use std::collections::BTreeMap;

use anyhow::Context;
use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::MessageFull;
use pinhole_sandbox::cgroups::{Cgroup, MemoryCounters, Stats};

/// Metrics of a container cgroup as the protobuf Any containerd expects (v1 or v2 by host mode).
/// Fails if the cgroup does not exist (any more).
pub fn collect(cgroup: &Cgroup) -> anyhow::Result<Any> {
    // Stats of a missing cgroup read as "no controllers"; report the real problem instead.
    anyhow::ensure!(
        cgroup.exists(),
        "read stats of cgroup {}: cgroup does not exist",
        cgroup.path().display()
    );
    let stats = cgroup
        .stats()
        .with_context(|| format!("read stats of cgroup {}", cgroup.path().display()))?;
    to_any(&stats)
}

/// Encode `stats` as a v2 `Metrics` if they come from a unified hierarchy, else as v1.
fn to_any(stats: &Stats) -> anyhow::Result<Any> {
    if stats.unified {
        pack(&v2_metrics(stats))
    } else {
        pack(&v1_metrics(stats))
    }
}

/// Wrap `msg` in an `Any` whose type URL is its full protobuf name, as containerd's typeurl
/// registry expects.
fn pack<M: MessageFull>(msg: &M) -> anyhow::Result<Any> {
    let value = msg
        .write_to_bytes()
        .with_context(|| format!("encode {}", M::descriptor().full_name()))?;
    let mut any = Any::new();
    any.type_url = M::descriptor().full_name().to_string();
    any.value = value;
    Ok(any)
}

/// How the v1 kernel reports "no limit" for memory counters: `PAGE_COUNTER_MAX * PAGE_SIZE`.
fn v1_unlimited() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = if page > 0 { page as u64 } else { 4096 };
    i64::MAX as u64 / page * page
}

/// `key` of a `memory.stat`-like map, 0 when absent.
fn get(map: &BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

/// A v1 memory entry; `None` when the counter is not available.
fn v1_entry(c: &MemoryCounters, unlimited: u64) -> Option<v1::MemoryEntry> {
    let usage = c.usage?;
    let mut e = v1::MemoryEntry::new();
    e.usage = usage;
    e.max = c.max_usage.unwrap_or(0);
    e.limit = c.limit.unwrap_or(unlimited);
    e.failcnt = c.failcnt.unwrap_or(0);
    Some(e)
}

/// The v1 `Metrics` message (hugetlb, blkio, rdma, network and cgroup_stats stay empty).
fn v1_metrics(s: &Stats) -> v1::Metrics {
    let mut m = v1::Metrics::new();

    if let Some(current) = s.pids_current {
        let mut p = v1::PidsStat::new();
        p.current = current;
        p.limit = s.pids_limit.unwrap_or(0);
        m.pids = Some(p).into();
    }

    if s.cpu_usage_ns.is_some() || s.cpu_periods.is_some() {
        let mut usage = v1::CPUUsage::new();
        usage.total = s.cpu_usage_ns.unwrap_or(0);
        usage.user = s.cpu_user_ns.unwrap_or(0);
        usage.kernel = s.cpu_system_ns.unwrap_or(0);
        usage.per_cpu = s.cpu_per_cpu_ns.clone();
        let mut throttling = v1::Throttle::new();
        throttling.periods = s.cpu_periods.unwrap_or(0);
        throttling.throttled_periods = s.cpu_throttled_periods.unwrap_or(0);
        throttling.throttled_time = s.cpu_throttled_ns.unwrap_or(0);
        let mut cpu = v1::CPUStat::new();
        cpu.usage = Some(usage).into();
        cpu.throttling = Some(throttling).into();
        m.cpu = Some(cpu).into();
    }

    let unlimited = v1_unlimited();
    let usage = MemoryCounters {
        usage: s.memory_usage,
        max_usage: s.memory_max_usage,
        limit: s.memory_limit,
        failcnt: s.memory_failcnt,
    };
    if let Some(entry) = v1_entry(&usage, unlimited) {
        let st = &s.memory_stat;
        let g = |k: &str| get(st, k);
        let mut mem = v1::MemoryStat::new();
        mem.cache = g("cache");
        mem.rss = g("rss");
        mem.rss_huge = g("rss_huge");
        mem.mapped_file = g("mapped_file");
        mem.dirty = g("dirty");
        mem.writeback = g("writeback");
        mem.pg_pg_in = g("pgpgin");
        mem.pg_pg_out = g("pgpgout");
        mem.pg_fault = g("pgfault");
        mem.pg_maj_fault = g("pgmajfault");
        mem.inactive_anon = g("inactive_anon");
        mem.active_anon = g("active_anon");
        mem.inactive_file = g("inactive_file");
        mem.active_file = g("active_file");
        mem.unevictable = g("unevictable");
        mem.hierarchical_memory_limit = g("hierarchical_memory_limit");
        mem.hierarchical_swap_limit = g("hierarchical_memsw_limit");
        mem.total_cache = g("total_cache");
        mem.total_rss = g("total_rss");
        mem.total_rss_huge = g("total_rss_huge");
        mem.total_mapped_file = g("total_mapped_file");
        mem.total_dirty = g("total_dirty");
        mem.total_writeback = g("total_writeback");
        mem.total_pg_pg_in = g("total_pgpgin");
        mem.total_pg_pg_out = g("total_pgpgout");
        mem.total_pg_fault = g("total_pgfault");
        mem.total_pg_maj_fault = g("total_pgmajfault");
        mem.total_inactive_anon = g("total_inactive_anon");
        mem.total_active_anon = g("total_active_anon");
        mem.total_inactive_file = g("total_inactive_file");
        mem.total_active_file = g("total_active_file");
        mem.total_unevictable = g("total_unevictable");
        mem.usage = Some(entry).into();
        mem.swap = v1_entry(&s.swap, unlimited).into();
        mem.kernel = v1_entry(&s.kernel, unlimited).into();
        mem.kernel_tcp = v1_entry(&s.kernel_tcp, unlimited).into();
        m.memory = Some(mem).into();
    }

    if !s.memory_events.is_empty() {
        let mut oom = v1::MemoryOomControl::new();
        oom.oom_kill_disable = get(&s.memory_events, "oom_kill_disable");
        oom.under_oom = get(&s.memory_events, "under_oom");
        oom.oom_kill = get(&s.memory_events, "oom_kill");
        m.memory_oom_control = Some(oom).into();
    }
    m
}

/// The v2 `Metrics` message (rdma, io, hugetlb, network and PSI stay empty).
fn v2_metrics(s: &Stats) -> v2::Metrics {
    let mut m = v2::Metrics::new();

    if let Some(current) = s.pids_current {
        let mut p = v2::PidsStat::new();
        p.current = current;
        p.limit = s.pids_limit.unwrap_or(u64::MAX);
        m.pids = Some(p).into();
    }

    if !s.cpu_stat.is_empty() {
        let g = |k: &str| get(&s.cpu_stat, k);
        let mut cpu = v2::CPUStat::new();
        cpu.usage_usec = g("usage_usec");
        cpu.user_usec = g("user_usec");
        cpu.system_usec = g("system_usec");
        cpu.nr_periods = g("nr_periods");
        cpu.nr_throttled = g("nr_throttled");
        cpu.throttled_usec = g("throttled_usec");
        cpu.nr_bursts = g("nr_bursts");
        cpu.burst_usec = g("burst_usec");
        m.cpu = Some(cpu).into();
    }

    if let Some(usage) = s.memory_usage {
        let st = &s.memory_stat;
        let g = |k: &str| get(st, k);
        let mut mem = v2::MemoryStat::new();
        mem.anon = g("anon");
        mem.file = g("file");
        mem.kernel_stack = g("kernel_stack");
        mem.slab = g("slab");
        mem.sock = g("sock");
        mem.shmem = g("shmem");
        mem.file_mapped = g("file_mapped");
        mem.file_dirty = g("file_dirty");
        mem.file_writeback = g("file_writeback");
        mem.anon_thp = g("anon_thp");
        mem.inactive_anon = g("inactive_anon");
        mem.active_anon = g("active_anon");
        mem.inactive_file = g("inactive_file");
        mem.active_file = g("active_file");
        mem.unevictable = g("unevictable");
        mem.slab_reclaimable = g("slab_reclaimable");
        mem.slab_unreclaimable = g("slab_unreclaimable");
        mem.pgfault = g("pgfault");
        mem.pgmajfault = g("pgmajfault");
        // Kernels >= 5.9 split the workingset counters into _anon and _file.
        let ws = |k: &str| match st.get(k) {
            Some(v) => *v,
            None => g(&format!("{k}_anon")) + g(&format!("{k}_file")),
        };
        mem.workingset_refault = ws("workingset_refault");
        mem.workingset_activate = ws("workingset_activate");
        mem.workingset_nodereclaim = g("workingset_nodereclaim");
        mem.pgrefill = g("pgrefill");
        mem.pgscan = g("pgscan");
        mem.pgsteal = g("pgsteal");
        mem.pgactivate = g("pgactivate");
        mem.pgdeactivate = g("pgdeactivate");
        mem.pglazyfree = g("pglazyfree");
        mem.pglazyfreed = g("pglazyfreed");
        mem.thp_fault_alloc = g("thp_fault_alloc");
        mem.thp_collapse_alloc = g("thp_collapse_alloc");
        mem.usage = usage;
        mem.usage_limit = s.memory_limit.unwrap_or(u64::MAX);
        mem.max_usage = s.memory_max_usage.unwrap_or(0);
        mem.swap_usage = s.swap.usage.unwrap_or(0);
        mem.swap_limit = s
            .swap
            .limit
            .unwrap_or(if s.swap.usage.is_some() { u64::MAX } else { 0 });
        mem.swap_max_usage = s.swap.max_usage.unwrap_or(0);
        m.memory = Some(mem).into();
    }

    if !s.memory_events.is_empty() {
        let g = |k: &str| get(&s.memory_events, k);
        let mut ev = v2::MemoryEvents::new();
        ev.low = g("low");
        ev.high = g("high");
        ev.max = g("max");
        ev.oom = g("oom");
        ev.oom_kill = g("oom_kill");
        ev.oom_group_kill = g("oom_group_kill");
        m.memory_events = Some(ev).into();
    }
    m
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};

    use containerd_shim_protos::protobuf::Message;
    use nix::sys::signal::Signal;
    use oci_spec::runtime::{LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};

    use super::*;

    const V1_URL: &str = "io.containerd.cgroups.v1.Metrics";
    const V2_URL: &str = "io.containerd.cgroups.v2.Metrics";

    /// Kills the cgroup's processes and removes it when dropped (also on test failure).
    struct Guard(Cgroup, Option<Child>);

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill_all(Signal::SIGKILL);
            if let Some(mut c) = self.1.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = self.0.remove();
        }
    }

    #[test]
    fn collects_metrics_of_a_real_cgroup() {
        const LIMIT: i64 = 64 << 20;
        let path = format!("/pinhole-test-metrics-{}", std::process::id());
        let cg = Cgroup::new(Some(std::path::Path::new(&path)), "unused").unwrap();
        let mut g = Guard(cg, None);
        g.0.create().unwrap();
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(LIMIT).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(32i64).build().unwrap())
            .build()
            .unwrap();
        g.0.apply(&r).unwrap();

        // The shell waits for a line on stdin, so that it is in the cgroup before it burns CPU.
        let script = "read x; i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; echo busy; sleep 2";
        let child = Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let child = g.1.insert(child);
        g.0.add_pid(pid).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "busy");

        let any = collect(&g.0).unwrap();
        match any.type_url.as_str() {
            V1_URL => {
                let m = v1::Metrics::parse_from_bytes(&any.value).unwrap();
                assert!(m.pids.current >= 1, "{m:?}");
                assert_eq!(m.pids.limit, 32);
                assert!(m.cpu.usage.total > 0, "{m:?}");
                assert!(m.cpu.usage.user + m.cpu.usage.kernel > 0, "{m:?}");
                assert_eq!(m.memory.usage.limit, LIMIT as u64);
                assert!(m.memory.usage.usage > 0, "{m:?}");
                assert!(m.memory.usage.max >= m.memory.usage.usage, "{m:?}");
                assert!(m.memory.total_inactive_file <= m.memory.usage.usage);
                assert!(m.memory_oom_control.is_some(), "{m:?}");
            }
            V2_URL => {
                let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
                assert!(m.pids.current >= 1, "{m:?}");
                assert_eq!(m.pids.limit, 32);
                assert!(m.cpu.usage_usec > 0, "{m:?}");
                assert_eq!(m.memory.usage_limit, LIMIT as u64);
                assert!(m.memory.usage > 0, "{m:?}");
                assert!(m.memory_events.is_some(), "{m:?}");
            }
            other => panic!("unexpected type url {other:?}"),
        }
    }

    #[test]
    fn missing_cgroup_is_an_error() {
        let path = format!("/pinhole-test-metrics-{}-missing", std::process::id());
        let cg = Cgroup::new(Some(std::path::Path::new(&path)), "unused").unwrap();
        let err = format!("{:#}", collect(&cg).map(|_| ()).unwrap_err());
        assert!(
            err.starts_with("read stats of cgroup /pinhole-test-metrics-"),
            "{err}"
        );
    }

    fn sample(unified: bool) -> Stats {
        let map = |kv: &[(&str, u64)]| kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Stats {
            unified,
            memory_usage: Some(1000),
            memory_max_usage: Some(2000),
            memory_limit: None,
            memory_failcnt: Some(1),
            pids_current: Some(3),
            pids_limit: None,
            cpu_usage_ns: Some(5000),
            cpu_user_ns: Some(3000),
            cpu_system_ns: Some(2000),
            cpu_per_cpu_ns: vec![4000, 1000],
            cpu_periods: Some(10),
            cpu_throttled_periods: Some(2),
            cpu_throttled_ns: Some(700),
            cpu_stat: map(&[("usage_usec", 5), ("nr_throttled", 2), ("nr_bursts", 1)]),
            memory_stat: map(&[
                ("total_inactive_file", 300),
                ("pgmajfault", 4),
                ("hierarchical_memsw_limit", 9),
                ("inactive_file", 200),
                ("workingset_refault_anon", 5),
                ("workingset_refault_file", 6),
            ]),
            memory_events: map(&[("oom_kill", 2), ("under_oom", 1), ("oom_group_kill", 1)]),
            swap: MemoryCounters {
                usage: Some(1500),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn v1_mapping_and_unlimited_values() {
        let any = to_any(&sample(false)).unwrap();
        assert_eq!(any.type_url, V1_URL);
        let m = v1::Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!((m.pids.current, m.pids.limit), (3, 0));
        let u = &m.cpu.usage;
        assert_eq!((u.total, u.user, u.kernel), (5000, 3000, 2000));
        assert_eq!(u.per_cpu, vec![4000, 1000]);
        let t = &m.cpu.throttling;
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_time),
            (10, 2, 700)
        );
        let mem = &m.memory;
        assert_eq!(
            (mem.usage.usage, mem.usage.max, mem.usage.failcnt),
            (1000, 2000, 1)
        );
        // CRI treats limits above 2^62 as unlimited; 0 would make it compute a bogus
        // "available" value.
        assert!(mem.usage.limit > 1 << 62);
        assert_eq!(mem.total_inactive_file, 300);
        assert_eq!(mem.pg_maj_fault, 4);
        assert_eq!(mem.hierarchical_swap_limit, 9);
        assert_eq!(mem.swap.usage, 1500);
        assert!(mem.swap.limit > 1 << 62);
        assert!(mem.kernel.is_none());
        assert_eq!(m.memory_oom_control.oom_kill, 2);
        assert_eq!(m.memory_oom_control.under_oom, 1);
    }

    #[test]
    fn v2_mapping_and_unlimited_values() {
        let any = to_any(&sample(true)).unwrap();
        assert_eq!(any.type_url, V2_URL);
        let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!((m.pids.current, m.pids.limit), (3, u64::MAX));
        assert_eq!(m.cpu.usage_usec, 5);
        assert_eq!(m.cpu.nr_throttled, 2);
        assert_eq!(m.cpu.nr_bursts, 1);
        let mem = &m.memory;
        assert_eq!(
            (mem.usage, mem.usage_limit, mem.max_usage),
            (1000, u64::MAX, 2000)
        );
        assert_eq!(mem.inactive_file, 200);
        assert_eq!(mem.workingset_refault, 11);
        assert_eq!((mem.swap_usage, mem.swap_limit), (1500, u64::MAX));
        assert_eq!(
            (m.memory_events.oom_kill, m.memory_events.oom_group_kill),
            (2, 1)
        );
    }

    #[test]
    fn missing_controllers_leave_messages_unset() {
        let any = to_any(&Stats::default()).unwrap();
        let m = v1::Metrics::parse_from_bytes(&any.value).unwrap();
        assert!(m.pids.is_none() && m.cpu.is_none() && m.memory.is_none());
        let any = to_any(&Stats {
            unified: true,
            ..Default::default()
        })
        .unwrap();
        let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
        assert!(m.pids.is_none() && m.cpu.is_none() && m.memory.is_none());
        assert!(m.memory_events.is_none());
    }
}
