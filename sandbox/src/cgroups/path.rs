//! Parsing of `linux.cgroupsPath` (cgroupfs driver semantics).

use std::path::{Component, Path, PathBuf};

use super::error::CgroupError;

/// Parent of container cgroups when `linux.cgroupsPath` is not set.
pub const DEFAULT_PARENT: &str = "/pinhole";

/// Turn `linux.cgroupsPath` into a normalized path relative to every hierarchy root, starting
/// with `/` (e.g. `/pinhole/abc`).
///
/// Absolute and relative paths are both taken relative to the hierarchy root; an unset or empty
/// path becomes `/pinhole/<id>`. The systemd `slice:prefix:name` syntax, `..` components and the
/// root cgroup itself are rejected.
pub fn parse(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf, CgroupError> {
    let raw = cgroups_path
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if raw.is_empty() {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." || id.contains('\0') {
            return Err(CgroupError::InvalidPath {
                path: format!("{DEFAULT_PARENT}/{id}"),
                reason: format!("container id {id:?} is not a valid cgroup name"),
            });
        }
        return Ok(Path::new(DEFAULT_PARENT).join(id));
    }
    if !raw.starts_with('/') && raw.split(':').count() == 3 {
        return Err(CgroupError::SystemdDriver { path: raw });
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(&raw).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupError::InvalidPath {
                    path: raw,
                    reason: "\"..\" components are not allowed".into(),
                })
            }
        }
    }
    if out == Path::new("/") {
        return Err(CgroupError::InvalidPath {
            path: raw,
            reason: "the root cgroup cannot be used as a container cgroup".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_normalizes() {
        assert_eq!(parse(None, "abc").unwrap(), Path::new("/pinhole/abc"));
        assert_eq!(
            parse(Some(Path::new("")), "abc").unwrap(),
            Path::new("/pinhole/abc")
        );
        assert_eq!(
            parse(Some(Path::new("/a//b/./c")), "x").unwrap(),
            Path::new("/a/b/c")
        );
        assert_eq!(
            parse(Some(Path::new("a/b")), "x").unwrap(),
            Path::new("/a/b")
        );
    }

    #[test]
    fn rejects_bad_paths() {
        let e = parse(Some(Path::new("system.slice:pinhole:abc")), "abc").unwrap_err();
        assert!(matches!(e, CgroupError::SystemdDriver { .. }));
        assert!(e.to_string().contains("linux.cgroupsPath"));
        assert!(e
            .to_string()
            .contains("systemd cgroup driver not supported"));
        assert!(parse(Some(Path::new("/a/../../etc")), "x").is_err());
        assert!(parse(Some(Path::new("/")), "x").is_err());
        assert!(parse(None, "a/b").is_err());
        assert!(parse(None, "..").is_err());
    }
}
