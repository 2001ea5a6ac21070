//! Loading and checking an OCI bundle's `config.json`.
//!
//! Everything that can be checked without touching the system is checked here, before a
//! state directory, cgroup or process exists, so bad input leaves nothing behind.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

/// Annotation listing syscall names that may be unknown to pinhole (comma separated, or `*`).
pub const ANNOTATION_SECCOMP_OPTIONAL: &str = "run.pinhole.seccomp.optional";

/// Errors from reading or checking a bundle's configuration.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The bundle directory or its config.json cannot be read.
    #[error("read {path}: {source}")]
    Read {
        /// File that could not be read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// config.json is not a valid OCI runtime spec; `field` is the JSON path of the problem.
    #[error("{path}: {field}: {message}")]
    Parse {
        /// config.json path.
        path: PathBuf,
        /// JSON path of the offending field (e.g. `process.capabilities.bounding[2]`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A field is missing or has a value pinhole cannot run.
    #[error("config.json: {field}: {message}")]
    Invalid {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl SpecError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A bundle: its absolute directory and its parsed, checked spec.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    /// The parsed runtime spec.
    pub spec: Spec,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads `<dir>/config.json`, parses it and checks the fields pinhole needs.
    pub fn load(dir: &Path) -> Result<Bundle, SpecError> {
        let dir = fs::canonicalize(dir).map_err(|source| SpecError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("config.json");
        let text = fs::read(&path).map_err(|source| SpecError::Read {
            path: path.clone(),
            source,
        })?;
        Bundle::from_config(dir, &path, &text)
    }

    /// [`Bundle::load`] on config.json text already read from `path`, in the bundle at `dir`
    /// (absolute and canonical). Reads only metadata (the rootfs, namespace paths); the
    /// `spec_plan` fuzz target drives it without a file per input.
    pub fn from_config(dir: PathBuf, path: &Path, text: &[u8]) -> Result<Bundle, SpecError> {
        let spec = parse(path, text)?;
        let rootfs = check(&dir, &spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parses a runtime spec, naming the JSON path of the first problem.
pub fn parse(path: &Path, text: &[u8]) -> Result<Spec, SpecError> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| SpecError::Parse {
        path: path.to_path_buf(),
        field: match e.path().to_string() {
            p if p == "." => "(document)".to_string(),
            p => p,
        },
        message: e.inner().to_string(),
    })
}

/// Parses JSON `text` as a `T`; an error reads `PATH: PROBLEM` with the JSON path of the first
/// problem (`args: invalid type: integer ...`), for the caller to prefix with what it read.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// Checks what the spec must hold to be run; returns the absolute rootfs path.
fn check(dir: &Path, spec: &Spec) -> Result<PathBuf, SpecError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("root", "missing"))?;
    let rootfs = dir.join(root.path());
    let meta = fs::metadata(&rootfs)
        .map_err(|e| SpecError::invalid("root.path", format!("{}: {e}", rootfs.display())))?;
    if !meta.is_dir() {
        return Err(SpecError::invalid(
            "root.path",
            format!("{}: not a directory", rootfs.display()),
        ));
    }
    let rootfs = fs::canonicalize(&rootfs)
        .map_err(|e| SpecError::invalid("root.path", format!("{}: {e}", rootfs.display())))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("process", "missing"))?;
    check_process(process)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("linux", "missing"))?;
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let mut seen = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if seen.contains(&ns.typ()) {
            return Err(SpecError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("namespace {} listed twice", ns.typ()),
            ));
        }
        seen.push(ns.typ());
        if ns.typ() == LinuxNamespaceType::Mount && ns.path().is_some() {
            // The init makes `/` private, mounts and pivots in its mount namespace: done in
            // a joined one (the host's, another container's) that would rebuild someone
            // else's mount table.
            return Err(SpecError::invalid(
                format!("linux.namespaces[{i}].path"),
                "joining an existing mount namespace is not supported; a container gets its own",
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(SpecError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{}: must be absolute", p.display()),
                ));
            }
            if let Err(e) = fs::metadata(p) {
                return Err(SpecError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{}: {e}", p.display()),
                ));
            }
        }
    }
    if !seen.contains(&LinuxNamespaceType::Mount) {
        return Err(SpecError::invalid(
            "linux.namespaces",
            "a mount namespace is required (pinhole never shares the host's mount table)",
        ));
    }
    for (field, maps) in [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ] {
        check_id_mappings(field, maps.as_deref().unwrap_or_default())?;
    }
    let has_userns = seen.contains(&LinuxNamespaceType::User);
    if !has_userns && (linux.uid_mappings().is_some() || linux.gid_mappings().is_some()) {
        let mapped = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if mapped {
            return Err(SpecError::invalid(
                "linux.uidMappings",
                "mappings given without a user namespace",
            ));
        }
    }
    Ok(rootfs)
}

/// The largest uid or gid a process may run as (runc's limit). The kernel takes ids as
/// 32-bit values in which -1 (4294967295) means "leave unchanged": `setresuid(-1, -1, -1)`
/// keeps uid 0, so such an id would run the workload as root.
pub const MAX_ID: u32 = i32::MAX as u32;

/// The largest number of entries the kernel accepts in one `uid_map`/`gid_map`.
pub const MAX_ID_MAPPINGS: usize = 340;

/// Checks `process.user`: uid, gid and every additional gid within `0..=MAX_ID`.
pub fn check_user(user: &oci_spec::runtime::User) -> Result<(), SpecError> {
    let out_of_range = |field: String, id: u32| {
        SpecError::invalid(field, format!("{id}: out of range (0 to {MAX_ID})"))
    };
    if user.uid() > MAX_ID {
        return Err(out_of_range("process.user.uid".into(), user.uid()));
    }
    if user.gid() > MAX_ID {
        return Err(out_of_range("process.user.gid".into(), user.gid()));
    }
    for (i, g) in user.additional_gids().iter().flatten().enumerate() {
        if *g > MAX_ID {
            return Err(out_of_range(
                format!("process.user.additionalGids[{i}]"),
                *g,
            ));
        }
    }
    Ok(())
}

/// Checks `linux.uidMappings` or `linux.gidMappings` (`field`) as the kernel will: each
/// range non-empty and within the 32-bit id space on both sides, no two ranges overlapping
/// on either side, at most [`MAX_ID_MAPPINGS`] entries.
pub fn check_id_mappings(field: &str, maps: &[LinuxIdMapping]) -> Result<(), SpecError> {
    if maps.len() > MAX_ID_MAPPINGS {
        return Err(SpecError::invalid(
            field,
            format!(
                "{} entries: the kernel takes at most {MAX_ID_MAPPINGS}",
                maps.len()
            ),
        ));
    }
    // Half-open ranges [start, end) in u64, so no sum overflows.
    let range = |m: &LinuxIdMapping, host: bool| {
        let start = u64::from(if host { m.host_id() } else { m.container_id() });
        (start, start + u64::from(m.size()))
    };
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(SpecError::invalid(
                format!("{field}[{i}].size"),
                "0: a mapping must cover at least one id",
            ));
        }
        for (host, name) in [(false, "containerID"), (true, "hostID")] {
            let (start, end) = range(m, host);
            if end > u64::from(u32::MAX) {
                return Err(SpecError::invalid(
                    format!("{field}[{i}]"),
                    format!(
                        "{name} {start} + size {}: beyond the last mappable id {}",
                        m.size(),
                        u32::MAX - 1
                    ),
                ));
            }
            for (j, other) in maps[..i].iter().enumerate() {
                let (o_start, o_end) = range(other, host);
                if start < o_end && o_start < end {
                    return Err(SpecError::invalid(
                        format!("{field}[{i}]"),
                        format!("{name} range {start}..{end} overlaps {field}[{j}] ({o_start}..{o_end})"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks a process section (the container's or an exec's).
pub fn check_process(process: &oci_spec::runtime::Process) -> Result<(), SpecError> {
    check_user(process.user())?;
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() || args[0].is_empty() {
        return Err(SpecError::invalid("process.args", "missing or empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(SpecError::invalid(
            "process.cwd",
            format!("{:?}: must be absolute", process.cwd()),
        ));
    }
    for (i, e) in process
        .env()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !e.contains('=') || e.contains('\0') {
            return Err(SpecError::invalid(
                format!("process.env[{i}]"),
                format!("{e:?}: not KEY=VALUE"),
            ));
        }
    }
    Ok(())
}

/// Syscall names the spec allows to be unknown (annotation [`ANNOTATION_SECCOMP_OPTIONAL`]).
pub fn optional_syscalls(spec: &Spec) -> Vec<String> {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_SECCOMP_OPTIONAL))
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(container_id: u32, host_id: u32, size: u32) -> LinuxIdMapping {
        oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(container_id)
            .host_id(host_id)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn id_mapping_limits() {
        let ok = |m: &[LinuxIdMapping]| check_id_mappings("linux.uidMappings", m);
        // The kernel takes ranges ending at 4294967295 (exclusive), not beyond.
        assert!(ok(&[map(0, u32::MAX - 1, 1)]).is_ok());
        assert!(ok(&[map(u32::MAX - 1, 0, 1)]).is_ok());
        assert!(ok(&[map(0, u32::MAX, 1)]).is_err());
        assert!(ok(&[map(1, u32::MAX - 1, u32::MAX)]).is_err());
        // Adjacent ranges are fine; one shared id on either side is not.
        assert!(ok(&[map(0, 1000, 10), map(10, 1010, 10)]).is_ok());
        assert!(ok(&[map(0, 1000, 10), map(9, 2000, 10)]).is_err());
        assert!(ok(&[map(0, 1000, 10), map(100, 1009, 10)]).is_err());
        let many: Vec<_> = (0..=MAX_ID_MAPPINGS as u32)
            .map(|i| map(i, 1000 + i, 1))
            .collect();
        assert!(ok(&many[..MAX_ID_MAPPINGS]).is_ok());
        assert!(ok(&many).is_err());
    }
}
