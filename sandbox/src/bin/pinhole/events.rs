//! `events [--stats] [--interval SECONDS] ID`: the container's resource usage as runc's
//! event JSON, one line each: once with `--stats`, else every interval until it stops.

use std::time::Duration;

use anyhow::Result;
use pinhole_sandbox::cgroups::{Cgroup, Stats};
use pinhole_sandbox::container::{Root, State, Status};
use serde_json::{json, Value};

/// Prints stats events of container `id`.
pub fn events(root: &Root, id: &str, stats: bool, interval: Duration) -> Result<u8> {
    loop {
        let state = State::load(root, id)?;
        if state.status == Status::Stopped {
            return Ok(0);
        }
        let s = Cgroup::new(Some(&state.cgroup_path), id)?.stats()?;
        println!("{}", json!({ "type": "stats", "id": id, "data": data(&s) }));
        if stats {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}

/// runc's `types.Stats` for what pinhole reads from the cgroup.
fn data(s: &Stats) -> Value {
    json!({
        "cpu": {
            "usage": {
                "total": s.cpu_usage_ns,
                "percpu": s.cpu_per_cpu_ns,
                "kernel": s.cpu_system_ns,
                "user": s.cpu_user_ns,
            },
            "throttling": {
                "periods": s.cpu_periods,
                "throttledPeriods": s.cpu_throttled_periods,
                "throttledTime": s.cpu_throttled_ns,
            },
        },
        "memory": {
            "usage": {
                "limit": s.memory_limit,
                "usage": s.memory_usage,
                "max": s.memory_max_usage,
                "failcnt": s.memory_failcnt,
            },
            "raw": s.memory_stat,
        },
        "pids": { "current": s.pids_current, "limit": s.pids_limit },
    })
}
