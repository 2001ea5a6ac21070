//! The state root: where containers' state directories live.

use std::fs;
use std::path::{Path, PathBuf};

use super::Error;

/// Default state root.
pub const DEFAULT_ROOT: &str = "/run/pinhole";

/// A state root directory (created 0700 on first use).
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// Opens (and creates if needed) a state root.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Root, Error> {
        let dir = dir.into();
        crate::private::create_dir_all(&dir).map_err(Error::io("create state root", &dir))?;
        let dir = fs::canonicalize(&dir).map_err(Error::io("resolve state root", &dir))?;
        Ok(Root { dir })
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A container's state directory (which may not exist).
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Where compiled seccomp filters are cached by content hash.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.dir.join(".seccomp-cache")
    }

    /// Ids of every container with a state directory.
    pub fn list(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && validate_id(n).is_ok())
            .collect();
        ids.sort();
        ids
    }
}

/// Checks a container id: 1-128 characters of `[A-Za-z0-9_.-]`, not starting with `.`.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let bad = |reason| Error::InvalidId {
        id: id.to_string(),
        reason,
    };
    if id.is_empty() || id.len() > 128 {
        return Err(bad("must be 1 to 128 characters"));
    }
    if id.starts_with('.') {
        return Err(bad("must not start with '.'"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(bad("only letters, digits, '_', '-' and '.' are allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x").is_ok());
        for bad in ["", "..", ".x", "a/b", "a b", &"x".repeat(129)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
