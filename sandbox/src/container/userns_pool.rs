//! Per-pod host id ranges for user namespaces, handed out from a policy's pool
//! ([`crate::policy::UserPool`], `namespaces.user_ranges`).
//!
//! The ledger is host-wide, because host ids are: one file per range held, in
//! [`DEFAULT_POOL_DIR`] (root-only), named by the range's first host id and holding the state
//! directory of the container that holds it. Every change happens under an exclusive `flock`
//! of the directory's lock file, so concurrent creates (shims of several pods, CLI runs) never
//! get the same range. A range is given back when its container is deleted, or found free when
//! its holder's state directory no longer exists (a crashed create, a purged state root), so
//! the ledger survives shim and containerd restarts without leaking. Ranges of pools with other
//! bases are respected too: a range is free only if no held range overlaps it.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::policy::UserPool;

use super::Error;

/// The ledger directory.
pub const DEFAULT_POOL_DIR: &str = "/run/pinhole/userns";

/// File in a container's state directory naming the range it holds (its first host id).
pub const HELD_FILE: &str = "userns.range";

/// Ids per range.
const SIZE: u32 = crate::policy::USERNS_SIZE;

/// The ledger in `dir`, locked while it lives.
struct Ledger {
    dir: PathBuf,
    _lock: fs::File,
}

impl Ledger {
    fn open(dir: &Path) -> Result<Ledger, Error> {
        crate::private::create_dir_all(dir).map_err(Error::io("create", dir))?;
        let lock_path = dir.join(".lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(Error::io("open", &lock_path))?;
        // SAFETY: flock on a descriptor we own; blocks until the other holder is done.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io("lock", &lock_path)(io::Error::last_os_error()));
        }
        Ok(Ledger {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The first host ids of the ranges live holders hold; entries of vanished holders are
    /// removed.
    fn held(&self) -> Result<Vec<u32>, Error> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(Error::io("read", &self.dir))?;
        for e in entries.flatten() {
            let Some(start) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let holder = PathBuf::from(fs::read_to_string(e.path()).unwrap_or_default());
            if holder.as_os_str().is_empty() || !holder.is_dir() {
                let _ = fs::remove_file(e.path());
                continue;
            }
            out.push(start);
        }
        Ok(out)
    }
}

fn overlaps(a_start: u32, a_size: u32, b_start: u32, b_size: u32) -> bool {
    let (a0, a1) = (u64::from(a_start), u64::from(a_start) + u64::from(a_size));
    let (b0, b1) = (u64::from(b_start), u64::from(b_start) + u64::from(b_size));
    a0 < b1 && b0 < a1
}

/// Gives `holder` (a container state directory, which must exist) the first free range of
/// `pool`; returns its first host id and records it in `holder/`[`HELD_FILE`].
pub fn allocate(dir: &Path, pool: &UserPool, policy: &str, holder: &Path) -> Result<u32, Error> {
    let ledger = Ledger::open(dir)?;
    let held = ledger.held()?;
    let free = (0..pool.ranges())
        .filter_map(|i| pool.start(i))
        .find(|&s| !held.iter().any(|&h| overlaps(s, SIZE, h, SIZE)));
    let Some(start) = free else {
        let (first, last) = pool.bounds();
        return Err(Error::Other(format!(
            "policy {policy:?}: no free user namespace range: all {} ranges of {SIZE} host ids in {first}..={last} (namespaces.user_ranges) are held by other pods",
            pool.ranges()
        )));
    };
    let entry = ledger.dir.join(start.to_string());
    crate::private::replace(&entry, holder.as_os_str().as_encoded_bytes())
        .map_err(Error::io("write", &entry))?;
    let mine = holder.join(HELD_FILE);
    if let Err(e) = crate::private::write_new(&mine, start.to_string().as_bytes()) {
        let _ = fs::remove_file(&entry);
        return Err(Error::io("write", &mine)(e));
    }
    Ok(start)
}

/// Checks mappings a spec brings itself (the kubelet's, `hostUsers: false`) against the pool:
/// each must map something, lie inside the pool and overlap no range another pod holds.
/// `field` names the mapping list in errors.
pub fn check_given(
    dir: &Path,
    pool: &UserPool,
    policy: &str,
    field: &str,
    maps: &[(u32, u32)],
) -> Result<(), Error> {
    let (first, last) = pool.bounds();
    if maps.is_empty() {
        return Err(Error::Other(format!(
            "policy {policy:?}: {field}: maps nothing; a new user namespace needs a mapping"
        )));
    }
    for (i, &(start, size)) in maps.iter().enumerate() {
        if !pool.contains(start, size) {
            return Err(Error::Other(format!(
                "policy {policy:?}: {field}[{i}]: host ids {start}..+{size} are outside the pool {first}..={last} (namespaces.user_ranges)"
            )));
        }
    }
    let ledger = Ledger::open(dir)?;
    for h in ledger.held()? {
        for (i, &(start, size)) in maps.iter().enumerate() {
            if overlaps(start, size, h, SIZE) {
                return Err(Error::Other(format!(
                    "policy {policy:?}: {field}[{i}]: host ids {start}..+{size} overlap the range {h}..+{SIZE} held by another pod"
                )));
            }
        }
    }
    Ok(())
}

/// Gives back the range `holder` holds, if any (idempotent).
pub fn release(dir: &Path, holder: &Path) {
    let Ok(text) = fs::read_to_string(holder.join(HELD_FILE)) else {
        return;
    };
    let Ok(start) = text.trim().parse::<u32>() else {
        return;
    };
    let Ok(ledger) = Ledger::open(dir) else {
        return;
    };
    let entry = ledger.dir.join(start.to_string());
    // the same directory, however the two paths are spelled (the shim and its setup helper
    // reach the state root by different routes)
    let recorded = fs::read_to_string(&entry).map(PathBuf::from);
    if recorded.is_ok_and(|r| same_dir(&r, holder)) {
        let _ = fs::remove_file(&entry);
    }
    let _ = fs::remove_file(holder.join(HELD_FILE));
}

fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(base: u32, ranges: u32) -> UserPool {
        UserPool::new(base, ranges).unwrap()
    }

    #[test]
    fn ranges_are_distinct_exhaust_and_come_back() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("pool");
        let p = pool(200_000, 2);
        let holders: Vec<PathBuf> = (0..3)
            .map(|i| {
                let h = t.path().join(format!("c{i}"));
                fs::create_dir(&h).unwrap();
                h
            })
            .collect();
        let a = allocate(&dir, &p, "t", &holders[0]).unwrap();
        let b = allocate(&dir, &p, "t", &holders[1]).unwrap();
        assert_eq!((a, b), (200_000, 200_000 + SIZE));
        let e = allocate(&dir, &p, "t", &holders[2])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no free user namespace range") && e.contains("200000..="),
            "{e}"
        );
        // spelled another way, as the shim does
        let other_spelling = t.path().join("c1/../c0");
        release(&dir, &other_spelling);
        assert!(!holders[0].join(HELD_FILE).exists());
        assert_eq!(allocate(&dir, &p, "t", &holders[2]).unwrap(), 200_000);
        // a holder that vanished frees its range
        fs::remove_dir_all(&holders[1]).unwrap();
        fs::create_dir(&holders[0]).ok();
        assert_eq!(
            allocate(&dir, &p, "t", &holders[0]).unwrap(),
            200_000 + SIZE
        );
    }

    #[test]
    fn another_pools_ranges_are_respected() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("pool");
        let (h1, h2) = (t.path().join("a"), t.path().join("b"));
        fs::create_dir(&h1).unwrap();
        fs::create_dir(&h2).unwrap();
        // a pool offset by half a range: its first range overlaps both of ours
        let other = allocate(&dir, &pool(100_000 + SIZE / 2, 1), "o", &h1).unwrap();
        assert_eq!(other, 100_000 + SIZE / 2);
        let mine = allocate(&dir, &pool(100_000, 3), "m", &h2).unwrap();
        assert_eq!(mine, 100_000 + 2 * SIZE);
    }

    #[test]
    fn given_mappings_are_checked_against_the_pool_and_the_ledger() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("pool");
        let p = pool(300_000, 4);
        let h = t.path().join("a");
        fs::create_dir(&h).unwrap();
        let held = allocate(&dir, &p, "t", &h).unwrap();
        let f = "linux.uidMappings";
        check_given(&dir, &p, "t", f, &[(300_000 + SIZE, SIZE)]).unwrap();
        let e = check_given(&dir, &p, "t", f, &[(held + 10, 100)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("uidMappings[0]") && e.contains("held by another pod"),
            "{e}"
        );
        let e = check_given(&dir, &p, "t", f, &[(1000, SIZE)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the pool 300000..="), "{e}");
        let e = check_given(&dir, &p, "t", f, &[(300_000 + 4 * SIZE - 1, 2)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the pool"), "{e}");
        let e = check_given(&dir, &p, "t", f, &[]).unwrap_err().to_string();
        assert!(e.contains("maps nothing"), "{e}");
    }
}
