//! Detection of the host's cgroup layout: legacy v1, hybrid, or unified v2.

use crate::mountinfo::unescape;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC};

/// Mount point of the cgroup file systems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers pinhole manages, in the order they are created and joined.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio",
];

/// How cgroups are mounted on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// v1 controllers plus an (empty) cgroup2 hierarchy at `/sys/fs/cgroup/unified`; resources
    /// are managed with the v1 controllers.
    Hybrid,
    /// A single cgroup2 hierarchy at `/sys/fs/cgroup`.
    V2,
}

/// The host's cgroup mode, detected once with statfs(2) on `/sys/fs/cgroup`.
pub fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| {
        let is = |p: &str, magic| {
            statfs(p)
                .map(|s| s.filesystem_type() == magic)
                .unwrap_or(false)
        };
        if is(CGROUP_ROOT, CGROUP2_SUPER_MAGIC) {
            Mode::V2
        } else if is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC) && is(CGROUP_ROOT, TMPFS_MAGIC)
        {
            Mode::Hybrid
        } else {
            Mode::V1
        }
    })
}

/// Mount points of the v1 controllers, from `/proc/self/mountinfo` (controllers co-mounted
/// like `cpu,cpuacct` map to the same directory).
pub fn v1_mounts() -> &'static HashMap<String, PathBuf> {
    static MOUNTS: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    MOUNTS.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        parse_v1_mounts(&info)
    })
}

/// Parse mountinfo text into a controller -> mount point map (first mount wins).
fn parse_v1_mounts(info: &str) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    for line in info.lines() {
        // fields: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split_whitespace();
        if post.next() != Some("cgroup") {
            continue;
        }
        let (Some(_source), Some(superopts)) = (post.next(), post.next()) else {
            continue;
        };
        let Some(mountpoint) = pre.split_whitespace().nth(4) else {
            continue;
        };
        let mountpoint = unescape(mountpoint);
        for opt in superopts.split(',') {
            if V1_CONTROLLERS.contains(&opt) {
                out.entry(opt.to_string())
                    .or_insert_with(|| Path::new(&mountpoint).to_path_buf());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comounted_controllers() {
        let info = "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct\n\
                    31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                    32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                    33 25 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n";
        let m = parse_v1_mounts(info);
        assert_eq!(m["cpu"], Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m["cpuacct"], Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m["memory"], Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m.len(), 3);
        assert_eq!(unescape("a\\040b"), "a b");
    }
}
