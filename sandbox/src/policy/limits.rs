//! `[limits]`: resource ceilings a policy puts on every container, applied when the spec asks
//! for no limit or a higher one (a spec without limits once forked 1500 processes), and again
//! on every update.

use oci_spec::runtime::{LinuxPids, LinuxResources};
use serde::{Deserialize, Serialize};

/// Default `[limits] pids`: processes (and threads) per container.
pub const DEFAULT_PIDS: i64 = 4096;

/// Resource ceilings (`None`: no ceiling).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most pids (`pids.max`) a container may have.
    pub pids: Option<i64>,
    /// Most memory (bytes, `memory.limit`) a container may have.
    pub memory: Option<i64>,
}

/// `requested` (OCI conventions: `None`, `0` and negative values mean unlimited) capped at
/// `ceiling`.
fn capped(requested: Option<i64>, ceiling: i64) -> i64 {
    match requested {
        Some(v) if v > 0 && v <= ceiling => v,
        _ => ceiling,
    }
}

impl Limits {
    /// Caps `r` at the ceilings. With `fill_missing` (create) an absent limit becomes the
    /// ceiling; without (an update) only limits present in `r` are capped, so an update that
    /// does not touch pids leaves them as they are.
    pub fn clamp(&self, r: &mut LinuxResources, fill_missing: bool) {
        // cgroup v2 files set directly (`linux.resources.unified`) would override the capped
        // values: the ceilinged ones are dropped, the typed fields carry them.
        if let Some(unified) = r.unified().clone() {
            let ceilinged = |k: &str| {
                (self.pids.is_some() && k == "pids.max")
                    || (self.memory.is_some()
                        && matches!(k, "memory.max" | "memory.swap.max" | "memory.high"))
            };
            let kept: std::collections::HashMap<String, String> =
                unified.into_iter().filter(|(k, _)| !ceilinged(k)).collect();
            r.set_unified(Some(kept));
        }
        if let Some(max) = self.pids {
            match r.pids() {
                Some(p) => {
                    let limit = capped(Some(p.limit()), max);
                    r.set_pids(Some(LinuxPids::default().set_limit(limit).to_owned()));
                }
                None if fill_missing => {
                    r.set_pids(Some(LinuxPids::default().set_limit(max).to_owned()));
                }
                None => {}
            }
        }
        if let Some(max) = self.memory {
            let present = r.memory().as_ref().is_some_and(|m| m.limit().is_some());
            if present || fill_missing {
                let mut m = r.memory().unwrap_or_default();
                let limit = capped(m.limit(), max);
                m.set_limit(Some(limit));
                // memory+swap: at least the memory limit, at most the ceiling
                m.set_swap(Some(capped(m.swap(), max).max(limit)));
                r.set_memory(Some(m));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn caps_missing_unlimited_and_higher_limits() {
        let l = Limits {
            pids: Some(100),
            memory: Some(1 << 30),
        };
        for (given, want) in [
            (serde_json::json!({}), 100),
            (serde_json::json!({"pids": {"limit": 0}}), 100),
            (serde_json::json!({"pids": {"limit": -1}}), 100),
            (serde_json::json!({"pids": {"limit": 5000}}), 100),
            (serde_json::json!({"pids": {"limit": 7}}), 7),
        ] {
            let mut r = res(given.clone());
            l.clamp(&mut r, true);
            assert_eq!(r.pids().unwrap().limit(), want, "{given}");
            assert_eq!(
                r.memory().as_ref().unwrap().limit(),
                Some(1 << 30),
                "{given}"
            );
        }
        let mut r = res(serde_json::json!({"memory": {"limit": 4096, "swap": -1}}));
        l.clamp(&mut r, true);
        let m = r.memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(4096), Some(1 << 30)));
        // an update touching only cpu leaves pids and memory alone
        let mut r = res(serde_json::json!({"cpu": {"shares": 100}}));
        l.clamp(&mut r, false);
        assert!(r.pids().is_none() && r.memory().is_none());
        let mut r = res(serde_json::json!({"pids": {"limit": -1}}));
        l.clamp(&mut r, false);
        assert_eq!(r.pids().unwrap().limit(), 100);
        // cgroup v2 keys cannot override the ceilings
        let mut r = res(
            serde_json::json!({"unified": {"pids.max": "max", "memory.max": "max",
                                                       "cpu.weight": "50"}}),
        );
        l.clamp(&mut r, false);
        let u = r.unified().clone().unwrap();
        assert_eq!(u.len(), 1, "{u:?}");
        assert_eq!(u["cpu.weight"], "50");
    }
}
