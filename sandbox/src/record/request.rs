//! What a container asks its supervisor for, from annotations, the policy or the CLI, and the
//! `supervise.json` the supervisor reads from the state directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Annotation asking to record the workload's syscalls under a name.
pub const RECORD_ANNOTATION: &str = "pinhole.dev/record";
/// Annotation asking for the denial audit (value `denials`).
pub const AUDIT_ANNOTATION: &str = "pinhole.dev/audit";

/// File name of the supervision request in a container's state directory.
pub const SUPERVISE_FILE: &str = "supervise.json";

/// What the supervisor does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Record every syscall the ceiling lets through (answered with CONTINUE).
    Record,
    /// Name every syscall the ceiling refuses (answered with the ceiling's errno).
    Audit {
        /// The ceiling as compiled (`Filter::to_bytes`), evaluated for each denial's errno.
        program: Vec<u8>,
    },
}

/// A container's supervision, as saved in its state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supervision {
    /// Record or audit.
    pub mode: Mode,
    /// Recording name (record mode; the container id otherwise).
    pub name: String,
    /// Where the recorded profile goes (record mode; `None`: only `usage.json` in the state
    /// directory, for a caller such as `pinhole profile record` that writes it itself).
    pub out_dir: Option<PathBuf>,
}

impl Supervision {
    /// Reads `supervise.json` of a state directory; `None` when the container has none.
    pub fn load(state_dir: &Path) -> Result<Option<Supervision>, String> {
        let path = state_dir.join(SUPERVISE_FILE);
        match std::fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes `supervise.json` (owner-only).
    pub fn save(&self, state_dir: &Path) -> Result<(), String> {
        let path = state_dir.join(SUPERVISE_FILE);
        let text = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        crate::private::write_new(&path, &text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// What the caller or the spec asks for, before the ceiling is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Record under this name into this directory (`None`: state directory only).
    Record {
        /// Recording name.
        name: String,
        /// Output directory.
        out_dir: Option<PathBuf>,
    },
    /// Audit the ceiling's denials.
    Audit,
}

/// Checks a recording name: it becomes a file name in the output directory.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "recording name {name:?}: use 1-200 letters, digits, '-', '_' or '.', not starting with '.' (it names files in the profile directory)"
        ))
    }
}

/// The supervision the spec's annotations ask for, checked against what the policy allows
/// (`recording`: whether `pinhole.dev/record` is honoured and where profiles go; `audit`:
/// the policy's own audit setting).
pub fn from_annotations(
    annotations: Option<&std::collections::HashMap<String, String>>,
    policy_name: &str,
    recording: Option<&Path>,
    policy_audits: bool,
) -> Result<Option<Ask>, String> {
    let get = |k: &str| annotations.and_then(|a| a.get(k));
    let audit = match get(AUDIT_ANNOTATION).map(String::as_str) {
        None | Some("") | Some("off") => policy_audits,
        Some("denials") => true,
        Some(other) => {
            return Err(format!(
            "annotation {AUDIT_ANNOTATION}: {other:?} is not a mode (use \"denials\" or \"off\")"
        ))
        }
    };
    // containerd copies pod annotations into the pod's sandbox (pause) container too: its
    // syscalls are not the workload's.
    let sandbox = get("io.kubernetes.cri.container-type").is_some_and(|t| t == "sandbox");
    let record = match get(RECORD_ANNOTATION).filter(|_| !sandbox) {
        None => None,
        Some(name) => {
            check_name(name).map_err(|e| format!("annotation {RECORD_ANNOTATION}: {e}"))?;
            let Some(dir) = recording else {
                return Err(format!(
                    "annotation {RECORD_ANNOTATION}: policy {policy_name:?} does not allow recording (set recording = true and record_dir in its [seccomp] section)"
                ));
            };
            Some(Ask::Record {
                name: name.clone(),
                out_dir: Some(dir.to_path_buf()),
            })
        }
    };
    match (record, audit) {
        (Some(_), true) => Err(format!(
            "annotations {RECORD_ANNOTATION} and {AUDIT_ANNOTATION}: a container can be recorded or audited, not both (one seccomp listener per container)"
        )),
        (Some(r), false) => Ok(Some(r)),
        (None, true) => Ok(Some(Ask::Audit)),
        (None, false) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ann(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_that_would_leave_the_directory_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a\0b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["web", "nginx-1.25", "a_b.c"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn recording_needs_the_policy_and_excludes_audit() {
        let dir = Path::new("/var/lib/pinhole/profiles");
        let rec = ann(&[(RECORD_ANNOTATION, "web")]);
        let err = from_annotations(Some(&rec), "pinhole", None, false).unwrap_err();
        assert!(err.contains("does not allow recording"), "{err}");
        assert_eq!(
            from_annotations(Some(&rec), "pinhole", Some(dir), false).unwrap(),
            Some(Ask::Record {
                name: "web".into(),
                out_dir: Some(dir.into())
            })
        );
        let both = ann(&[(RECORD_ANNOTATION, "web"), (AUDIT_ANNOTATION, "denials")]);
        assert!(from_annotations(Some(&both), "p", Some(dir), false)
            .unwrap_err()
            .contains("not both"));
        let bad = ann(&[(RECORD_ANNOTATION, "../../etc")]);
        assert!(from_annotations(Some(&bad), "p", Some(dir), false)
            .unwrap_err()
            .contains(RECORD_ANNOTATION));
        let pause = ann(&[
            (RECORD_ANNOTATION, "web"),
            ("io.kubernetes.cri.container-type", "sandbox"),
        ]);
        assert_eq!(
            from_annotations(Some(&pause), "p", Some(dir), false).unwrap(),
            None
        );
        let audit = ann(&[(AUDIT_ANNOTATION, "denials")]);
        assert_eq!(
            from_annotations(Some(&audit), "p", None, false).unwrap(),
            Some(Ask::Audit)
        );
        assert_eq!(
            from_annotations(None, "p", None, true).unwrap(),
            Some(Ask::Audit)
        );
        assert_eq!(from_annotations(None, "p", None, false).unwrap(), None);
        assert!(
            from_annotations(Some(&ann(&[(AUDIT_ANNOTATION, "all")])), "p", None, false)
                .unwrap_err()
                .contains("not a mode")
        );
    }
}
