//! Small helpers to read and write cgroup control files with errors naming the file and value.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::error::CgroupError;

/// How long `remove` keeps retrying an `EBUSY` rmdir (processes may still be exiting).
const REMOVE_RETRY: Duration = Duration::from_millis(2000);

/// Write `value` to the control file `dir/file` (a single `write(2)`, as cgroupfs requires).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let res = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|e| CgroupError::Write {
        path,
        value: value.to_string(),
        err: e.into(),
    })
}

/// Read the control file `dir/file`, trimmed.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) => Err(CgroupError::Read {
            path,
            err: e.into(),
        }),
    }
}

/// Read a control file holding one integer; `max` reads as `None`.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    let s = read(dir, file)?;
    if s == "max" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| CgroupError::Parse {
        path: dir.join(file),
        content: s,
    })
}

/// Read a flat keyed file (`key value` per line, e.g. `memory.events`) and return `key`'s value.
pub(crate) fn read_keyed(dir: &Path, file: &str, key: &str) -> Result<Option<u64>, CgroupError> {
    let s = read(dir, file)?;
    for line in s.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            let v = it.next().unwrap_or("");
            return v.parse().map(Some).map_err(|_| CgroupError::Parse {
                path: dir.join(file),
                content: line.to_string(),
            });
        }
    }
    Ok(None)
}

/// Read `cgroup.procs` of `dir`.
pub(crate) fn read_procs(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let s = read(dir, "cgroup.procs")?;
    s.lines()
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::Parse {
                path: dir.join("cgroup.procs"),
                content: l.to_string(),
            })
        })
        .collect()
}

/// Create `dir` (one level); an existing directory is fine.
pub(crate) fn mkdir(dir: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CgroupError::Create {
            path: dir.to_path_buf(),
            err: e.into(),
        }),
    }
}

/// The chain of directories from `root` (exclusive) down to `root/rel` (inclusive).
pub(crate) fn chain(root: &Path, rel: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        if let std::path::Component::Normal(n) = c {
            cur.push(n);
            out.push(cur.clone());
        }
    }
    out
}

/// Remove the cgroup directory `dir` and any sub-cgroups below it (deepest first), retrying
/// `EBUSY` for a short while. A missing directory is not an error.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(CgroupError::Remove {
                path: dir.to_path_buf(),
                err: e.into(),
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    let start = Instant::now();
    loop {
        match fs::remove_dir(dir).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0))) {
            Ok(()) | Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::EBUSY) if start.elapsed() < REMOVE_RETRY => sleep(Duration::from_millis(10)),
            Err(e) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    err: e.into(),
                })
            }
        }
    }
}

/// Poll `dir/file` until `done(content)` holds, calling `retry` between polls; time out after
/// `timeout` with an error naming `state`.
pub(crate) fn wait_for(
    dir: &Path,
    file: &str,
    state: &str,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
    mut retry: impl FnMut() -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(100);
    loop {
        if done(&read(dir, file)?) {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(CgroupError::Timeout {
                path: dir.join(file),
                state: state.to_string(),
            });
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
        retry()?;
    }
}
