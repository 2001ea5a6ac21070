//! On-disk cache of compiled filters, keyed by a hash of the profile.
//!
//! Entries live at `<cache_dir>/<sha256 hex>.bpf` and are written atomically (temp file +
//! `rename`). A cached program is only as trustworthy as the directory holding it: entries
//! are ignored unless they are regular files owned by the effective uid and not writable by
//! group or others, and are checked (magic, hash, shape) on load. The cache directory itself
//! must not be writable by untrusted users. Any problem reading or writing the cache falls
//! back to compiling; caching is never a reason for a container start to fail.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use super::asm::MAX_INSTRUCTIONS;
use super::error::SeccompError;
use super::filter::Filter;

/// Version of the compiler, mixed into cache keys; bump whenever generated code changes.
pub const COMPILER_VERSION: &str = "pinhole-seccomp-3";

/// Upper bound on the size of a valid cache entry (header + 4096 instructions).
const MAX_ENTRY_LEN: u64 = 40 + 8 * MAX_INSTRUCTIONS as u64;

/// The cache key of a profile: sha256 (hex) over the compiler version, host arch, the profile's
/// serde_json serialization and the optional-syscall list, each length-prefixed.
pub fn cache_key(seccomp: &LinuxSeccomp, optional: &[String]) -> Result<String, SeccompError> {
    let json = serde_json::to_vec(seccomp)?;
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(COMPILER_VERSION.as_bytes());
    field(std::env::consts::ARCH.as_bytes());
    field(&json);
    field(&(optional.len() as u64).to_le_bytes());
    for name in optional {
        field(name.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// Like [`super::compile`], but reuses a previous result stored under `cache_dir`.
pub fn compile_cached(
    cache_dir: &Path,
    seccomp: &LinuxSeccomp,
    optional: &[String],
) -> Result<Filter, SeccompError> {
    let path = cache_dir.join(format!("{}.bpf", cache_key(seccomp, optional)?));
    if let Some(filter) = load(&path) {
        return Ok(filter);
    }
    let filter = super::compile(seccomp, optional)?;
    // Best effort: a failed store only costs a recompile next time.
    let _ = store(cache_dir, &path, &filter);
    Ok(filter)
}

/// Loads and validates a cache entry; `None` on any problem.
fn load(path: &Path) -> Option<Filter> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_file() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
        return None;
    }
    if meta.len() > MAX_ENTRY_LEN {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(MAX_ENTRY_LEN + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    Filter::from_bytes(&bytes).ok()
}

/// Writes `filter` to `path` atomically.
fn store(cache_dir: &Path, path: &Path, filter: &Filter) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(cache_dir)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp: PathBuf = cache_dir.join(format!(
        ".{}.tmp.{}.{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id(),
        nanos
    ));
    let result = (|| {
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        file.write_all(&filter.to_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
