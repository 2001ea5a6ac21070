//! What a recorded workload used: the summary the supervisor writes when a recording ends.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Version of the `usage.json` format.
pub const USAGE_VERSION: u32 = 1;

/// The `CLONE_NEW*` bits of clone's flags word (a0), as recorded in
/// [`Usage::clone_namespace_flags`] and refused in a recorded profile when none was used.
pub(crate) const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWTIME
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// File name of a container's usage summary in its state directory.
pub const USAGE_FILE: &str = "usage.json";

/// One syscall a recorded workload made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsedSyscall {
    /// Architecture as OCI names it (`SCMP_ARCH_X86_64`, `SCMP_ARCH_X86`, `SCMP_ARCH_X32`).
    pub arch: String,
    /// Syscall name in that architecture's table (`"nr_N"` for a number no table knows).
    pub name: String,
    /// Number as seen in `seccomp_data.nr` (x32 numbers include the x32 bit).
    pub nr: u32,
    /// How many times it was entered.
    pub count: u64,
}

/// Everything a recording saw, merged over the containers and replicas recorded under one
/// name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Format version ([`USAGE_VERSION`]).
    pub version: u32,
    /// The recording's name (`pinhole.dev/record` value, or the container id).
    pub name: String,
    /// Used syscalls, sorted by (arch, nr).
    pub syscalls: Vec<UsedSyscall>,
    /// Address families passed to `socket`/`socketpair` (a0), sorted.
    pub socket_families: Vec<u64>,
    /// Namespace flags ([`CLONE_NS_FLAGS`] bits) seen in `clone` flags (a0), OR-ed.
    pub clone_namespace_flags: u64,
    /// Containers whose recordings were merged into this one.
    pub containers: Vec<String>,
}

impl Usage {
    /// An empty usage named `name`.
    pub fn new(name: &str) -> Usage {
        Usage {
            version: USAGE_VERSION,
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Reads a `usage.json`.
    pub fn load(path: &Path) -> Result<Usage, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let u: Usage =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&text))
                .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))?;
        if u.version != USAGE_VERSION {
            return Err(format!(
                "{}: version {} (this pinhole reads {USAGE_VERSION})",
                path.display(),
                u.version
            ));
        }
        Ok(u)
    }

    /// Adds `other` (union of syscalls with counts summed, families, flags, containers).
    pub fn merge(&mut self, other: &Usage) {
        let mut by_key: BTreeMap<(String, u32), UsedSyscall> = self
            .syscalls
            .drain(..)
            .map(|s| ((s.arch.clone(), s.nr), s))
            .collect();
        for s in &other.syscalls {
            by_key
                .entry((s.arch.clone(), s.nr))
                .and_modify(|e| e.count += s.count)
                .or_insert_with(|| s.clone());
        }
        self.syscalls = by_key.into_values().collect();
        self.socket_families.extend(&other.socket_families);
        self.socket_families.sort_unstable();
        self.socket_families.dedup();
        self.clone_namespace_flags |= other.clone_namespace_flags;
        self.containers.extend(other.containers.iter().cloned());
        self.containers.sort();
        self.containers.dedup();
    }

    /// Distinct syscall names used on `arch` (OCI arch name).
    pub fn names_on(&self, arch: &str) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .syscalls
            .iter()
            .filter(|s| s.arch == arch)
            .map(|s| s.name.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
