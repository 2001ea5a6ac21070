//! Owner-only files and directories: everything pinhole (CLI and shim) keeps on disk.
//!
//! A container's state holds its spec (environment secrets included) and its id names it,
//! so state directories are 0700 and files 0600, as containerd's own bundles are. The mode
//! is given at creation (`mkdir`/`open` with `O_CREAT`), so there is no window in which a
//! file is readable by others; the umask can only take bits away from it.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory pinhole creates for its state.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every state file pinhole writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates directory `path` (its parent must exist) with [`DIR_MODE`]; fails if it exists.
pub fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(path)
}

/// Creates `path` and its missing parents, each with [`DIR_MODE`].
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Opens `path` for writing, creating it with `mode`; an existing file is kept (`append`) or
/// refused (`create_new`).
fn open(path: &Path, mode: u32, create_new: bool) -> io::Result<fs::File> {
    let mut o = OpenOptions::new();
    if create_new {
        o.write(true).create_new(true);
    } else {
        o.append(true).create(true);
    }
    o.mode(mode).open(path)
}

/// Writes a new file `path` with [`FILE_MODE`]; fails if anything exists at `path`, so a
/// leftover is never taken for this file.
pub fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    open(path, FILE_MODE, true)?.write_all(data)
}

/// Replaces `path` atomically with a new [`FILE_MODE`] file holding `data` (written to
/// `.<name>.tmp` beside it, then renamed over it).
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    write_new(&tmp, data)?;
    fs::rename(&tmp, path)
}

/// Opens `path` for appending, creating it with [`FILE_MODE`] (and its missing parent
/// directories with [`DIR_MODE`]) if needed.
pub fn open_append(path: &Path) -> io::Result<fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir_all(dir)?;
    }
    open(path, FILE_MODE, false)
}

/// `.<name>.tmp` beside `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn modes_are_owner_only() {
        let t = std::env::temp_dir().join(format!("pinhole-private-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        let d = t.join("a/b");
        create_dir_all(&d).unwrap();
        create_dir(&d.join("c")).unwrap();
        let f = d.join("f");
        write_new(&f, b"x").unwrap();
        assert!(
            write_new(&f, b"y").is_err(),
            "write_new must not reuse a file"
        );
        fs::write(tmp_path(&f), "stale").unwrap();
        replace(&f, b"z").unwrap();
        let log = t.join("logs/x/log");
        open_append(&log).unwrap().write_all(b"1").unwrap();
        for dir in [t.join("a"), d.clone(), d.join("c"), t.join("logs/x")] {
            assert_eq!(mode(&dir), DIR_MODE, "{}", dir.display());
        }
        for file in [&f, &log] {
            assert_eq!(mode(file), FILE_MODE, "{}", file.display());
        }
        assert_eq!(fs::read(&f).unwrap(), b"z");
        assert!(!tmp_path(&f).exists());
        fs::remove_dir_all(&t).unwrap();
    }
}
