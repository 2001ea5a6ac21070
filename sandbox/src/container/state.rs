//! `state.json`: what pinhole remembers about a container, and its live status.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Error, Root};

/// File name of the state inside a state directory.
pub const STATE_FILE: &str = "state.json";

/// OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created.
    Creating,
    /// Set up and waiting for `start`.
    Created,
    /// The workload runs.
    Running,
    /// The workload is frozen (`pause`).
    Paused,
    /// The init process is gone.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// A container's state: the OCI state fields plus what pinhole needs later.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// OCI runtime spec version.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Status (recomputed from the live process on every load).
    pub status: Status,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Annotations from the spec.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 (UTC).
    pub created: String,
    /// Start time of the init (clock ticks since boot), to detect pid reuse.
    pub init_start_time: u64,
    /// The container's cgroup path (relative to each hierarchy's root).
    pub cgroup_path: PathBuf,
}

impl State {
    /// Loads a container's state and refreshes its status.
    pub fn load(root: &Root, id: &str) -> Result<State, Error> {
        super::validate_id(id)?;
        let path = root.state_dir(id).join(STATE_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        let mut st: State = serde_json::from_slice(&text)
            .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
        st.status = st.live_status(&root.state_dir(id));
        Ok(st)
    }

    /// Writes `state.json` atomically (owner-only).
    pub fn save(&self, state_dir: &Path) -> Result<(), Error> {
        let path = state_dir.join(STATE_FILE);
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        crate::private::replace(&path, &text).map_err(Error::io("write", &path))
    }

    /// Whether the init process is still the one we started (and not a zombie).
    pub fn init_alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some((state, start)) => start == self.init_start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    fn live_status(&self, state_dir: &Path) -> Status {
        if !self.init_alive() {
            Status::Stopped
        } else if crate::init::gate::socket_path(state_dir).exists() {
            Status::Created
        } else if crate::cgroups::Cgroup::new(Some(&self.cgroup_path), &self.id)
            .and_then(|cg| cg.is_frozen())
            .unwrap_or(false)
        {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The OCI state document (what `pinhole state` prints).
    pub fn oci_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "pid": if self.status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "annotations": self.annotations,
            "rootfs": self.rootfs,
            "created": self.created,
        })
    }
}

/// (state letter, start time) of a process from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 (starttime) is the 20th after the command name.
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Current UTC time in RFC 3339 format.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_parses() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
        assert!(proc_stat(-1).is_none());
    }

    #[test]
    fn time_format() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
