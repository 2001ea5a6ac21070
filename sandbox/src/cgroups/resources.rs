//! Early validation of `linux.resources` and value conversions shared by v1 and v2.

use oci_spec::runtime::LinuxResources;

use super::devices::parse_rules;
use super::error::CgroupError;

/// Smallest CFS period/quota the kernel accepts (1 ms, in microseconds).
const MIN_CFS_US: i64 = 1000;
/// Largest CFS period the kernel accepts (1 s, in microseconds).
const MAX_CFS_PERIOD_US: u64 = 1_000_000;
/// v1 `cpu.shares` bounds.
const SHARES_RANGE: std::ops::RangeInclusive<u64> = 2..=262_144;

fn invalid(field: &str, value: impl ToString, reason: &str) -> CgroupError {
    CgroupError::InvalidResource {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn unsupported(field: &str, what: &str) -> CgroupError {
    CgroupError::Unsupported {
        field: field.to_string(),
        what: what.to_string(),
    }
}

/// Check `linux.resources` before anything is created, so that bad input fails early with an
/// error naming the field and value.
///
/// Conventions (runc's): `0` means "unset" for memory, cpu shares/quota/period and the pids
/// limit; `-1` means unlimited. Block I/O, hugepage, network and RDMA limits are not supported
/// and are rejected when set, rather than silently dropped.
pub fn validate(r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        for (field, v) in [
            ("memory.limit", m.limit()),
            ("memory.reservation", m.reservation()),
            ("memory.swap", m.swap()),
        ] {
            if let Some(v) = v {
                if v < -1 {
                    return Err(invalid(field, v, "must be -1 (unlimited) or a byte count"));
                }
            }
        }
        if let (Some(limit), Some(swap)) = (m.limit(), m.swap()) {
            if limit > 0 && swap > 0 && swap < limit {
                return Err(invalid(
                    "memory.swap",
                    swap,
                    &format!("memory+swap limit must not be below memory.limit {limit}"),
                ));
            }
            if limit == -1 && swap > 0 {
                return Err(invalid(
                    "memory.swap",
                    swap,
                    "cannot limit memory+swap with an unlimited memory.limit",
                ));
            }
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(invalid("memory.swappiness", s, "must be between 0 and 100"));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            if s != 0 && !SHARES_RANGE.contains(&s) {
                return Err(invalid("cpu.shares", s, "must be between 2 and 262144"));
            }
        }
        if let Some(q) = c.quota() {
            if q != 0 && q != -1 && q < MIN_CFS_US {
                return Err(invalid(
                    "cpu.quota",
                    q,
                    "must be -1 (unlimited) or at least 1000 microseconds",
                ));
            }
        }
        if let Some(p) = c.period() {
            if p != 0 && !(MIN_CFS_US as u64..=MAX_CFS_PERIOD_US).contains(&p) {
                return Err(invalid(
                    "cpu.period",
                    p,
                    "must be between 1000 and 1000000 microseconds",
                ));
            }
        }
        if let Some(i) = c.idle() {
            if i != 0 && i != 1 {
                return Err(invalid("cpu.idle", i, "must be 0 or 1"));
            }
        }
        if let Some(cpus) = c.cpus() {
            check_list("cpu.cpus", cpus)?;
        }
        if let Some(mems) = c.mems() {
            check_list("cpu.mems", mems)?;
        }
    }
    if let Some(devs) = r.devices() {
        parse_rules(devs)?;
    }
    if let Some(b) = r.block_io() {
        let set = b.weight().is_some()
            || b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty());
        if set {
            return Err(unsupported(
                "blockIO",
                "block I/O limits (not implemented by pinhole)",
            ));
        }
    }
    if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(unsupported(
            "hugepageLimits",
            "hugetlb limits (not implemented by pinhole)",
        ));
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(
                "network",
                "net_cls/net_prio (not implemented by pinhole)",
            ));
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(unsupported(
            "rdma",
            "rdma limits (not implemented by pinhole)",
        ));
    }
    if let Some(u) = r.unified() {
        for key in u.keys() {
            let ok = !key.is_empty()
                && !key.contains('/')
                && key.contains('.')
                && !key.starts_with('.')
                && !key.starts_with("cgroup.");
            if !ok {
                return Err(invalid(
                    &format!("unified[{key:?}]"),
                    key,
                    "must name a controller file such as memory.high",
                ));
            }
        }
    }
    Ok(())
}

/// Check a cpuset list such as `0-3,5`.
fn check_list(field: &str, s: &str) -> Result<(), CgroupError> {
    if s.is_empty() {
        return Ok(());
    }
    let bad = || {
        invalid(
            field,
            s,
            "must be a list of numbers and ranges such as 0-3,5",
        )
    };
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = a.trim().parse().map_err(|_| bad())?;
        let b: u32 = b.trim().parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
    }
    Ok(())
}

/// v1 `cpu.shares` to v2 `cpu.weight` (runc's mapping: 2..262144 -> 1..10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// A byte limit as a control-file value: `-1` becomes `max` (v2) or `-1` (v1).
pub(crate) fn limit_value(v: i64, v2: bool) -> String {
    if v < 0 && v2 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};

    #[test]
    fn validate_rejects_bad_values() {
        let r = |m| LinuxResourcesBuilder::default().memory(m).build().unwrap();
        let e = validate(&r(LinuxMemoryBuilder::default()
            .limit(-5i64)
            .build()
            .unwrap()))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("linux.resources.memory.limit \"-5\""),
            "{e}"
        );
        assert!(validate(&r(LinuxMemoryBuilder::default()
            .limit(100i64)
            .swap(50i64)
            .build()
            .unwrap()))
        .is_err());
        assert!(validate(&r(LinuxMemoryBuilder::default()
            .limit(100i64)
            .swap(200i64)
            .build()
            .unwrap()))
        .is_ok());
        let c = |c| LinuxResourcesBuilder::default().cpu(c).build().unwrap();
        assert!(validate(&c(LinuxCpuBuilder::default().quota(10i64).build().unwrap())).is_err());
        assert!(validate(&c(LinuxCpuBuilder::default()
            .quota(50_000i64)
            .build()
            .unwrap()))
        .is_ok());
        assert!(validate(&c(LinuxCpuBuilder::default()
            .period(10u64)
            .build()
            .unwrap()))
        .is_err());
        assert!(validate(&c(LinuxCpuBuilder::default()
            .cpus("0-1,x")
            .build()
            .unwrap()))
        .is_err());
        assert!(validate(&c(LinuxCpuBuilder::default().cpus("3-1").build().unwrap())).is_err());
        assert!(validate(&c(LinuxCpuBuilder::default()
            .cpus("0-1,3")
            .build()
            .unwrap()))
        .is_ok());
        let mut u = std::collections::HashMap::new();
        u.insert("../../etc/passwd".to_string(), "x".to_string());
        assert!(validate(&LinuxResourcesBuilder::default().unified(u).build().unwrap()).is_err());
    }

    #[test]
    fn converts_shares() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
