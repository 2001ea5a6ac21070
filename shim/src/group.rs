//! Grouping: which shim process serves a container.
//!
//! Every container of a Kubernetes pod carries the annotation `io.kubernetes.cri.sandbox-id`
//! (the pause container's id); outside Kubernetes a container can name a group with the
//! annotation `io.containerd.pinhole.v2.group` (`ctr run --annotation ...`). Containers of
//! one group share one shim process, as Kata's per-pod shim does; others get their own.

use std::path::{Path, PathBuf};

/// CRI annotation naming the pod sandbox of a container.
pub const SANDBOX_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";
/// pinhole's own grouping annotation.
pub const GROUP_ANNOTATION: &str = "io.containerd.pinhole.v2.group";

/// The group key of the container whose bundle is `bundle`: sandbox id, group annotation, or
/// the container id itself. A bundle whose config.json cannot be read groups by id (the
/// create that follows reports the real error).
pub fn key(bundle: &Path, id: &str) -> String {
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return id.to_string();
    };
    let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return id.to_string();
    };
    let annotations = &spec["annotations"];
    for key in [SANDBOX_ANNOTATION, GROUP_ANNOTATION] {
        if let Some(v) = annotations[key].as_str().filter(|v| !v.is_empty()) {
            return v.to_string();
        }
    }
    id.to_string()
}

/// containerd's state directory, from a bundle path
/// (`<state>/io.containerd.runtime.v2.task/<namespace>/<id>`).
pub fn containerd_state(bundle: &Path) -> Option<PathBuf> {
    let task_dir = bundle.parent()?.parent()?;
    if task_dir.file_name()? != "io.containerd.runtime.v2.task" {
        return None;
    }
    task_dir.parent().map(Path::to_path_buf)
}

/// pinhole's directory under containerd's state dir for a namespace: container state
/// (`<dir>/<id>`) and one working directory per shim (`<dir>/.shims/<group>`).
pub fn pinhole_dir(bundle: &Path, namespace: &str) -> PathBuf {
    match containerd_state(bundle) {
        Some(state) => state.join("pinhole").join(namespace),
        None => PathBuf::from("/run/pinhole-shim").join(namespace),
    }
}

/// The stable working directory of a group's shim: it outlives every bundle.
pub fn shim_dir(bundle: &Path, namespace: &str, group: &str) -> PathBuf {
    pinhole_dir(bundle, namespace).join(".shims").join(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_prefers_sandbox_then_group_then_id() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(key(d.path(), "c1"), "c1");
        std::fs::write(
            d.path().join("config.json"),
            r#"{"annotations":{"io.containerd.pinhole.v2.group":"g"}}"#,
        )
        .unwrap();
        assert_eq!(key(d.path(), "c1"), "g");
        std::fs::write(
            d.path().join("config.json"),
            r#"{"annotations":{"io.containerd.pinhole.v2.group":"g","io.kubernetes.cri.sandbox-id":"sb"}}"#,
        )
        .unwrap();
        assert_eq!(key(d.path(), "c1"), "sb");
    }

    #[test]
    fn state_dir_from_bundle() {
        let b = Path::new("/s/io.containerd.runtime.v2.task/ns/id");
        assert_eq!(containerd_state(b), Some(PathBuf::from("/s")));
        assert_eq!(pinhole_dir(b, "ns"), PathBuf::from("/s/pinhole/ns"));
        assert_eq!(containerd_state(Path::new("/x/y/z")), None);
    }
}
