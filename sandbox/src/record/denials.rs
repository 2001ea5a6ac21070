//! What the denial audit saw: the syscalls the ceiling refused, by name.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// File name of a container's denials in its state directory.
pub const DENIALS_FILE: &str = "denials.json";

/// One denied syscall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    /// OCI arch name.
    pub arch: String,
    /// Syscall name.
    pub name: String,
    /// Number as in `seccomp_data.nr`.
    pub nr: u32,
    /// The errno the workload got.
    pub errno: i32,
    /// How many times.
    pub count: u64,
}

/// The denials of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denials {
    /// Container id.
    pub container: String,
    /// Denied syscalls in first-seen order.
    pub denials: Vec<Denial>,
}

impl Denials {
    /// No denials yet.
    pub fn new(id: &str) -> Denials {
        Denials {
            container: id.to_string(),
            denials: Vec::new(),
        }
    }

    /// Counts one denial; returns it when it is the first of its (arch, nr, errno).
    pub fn add(&mut self, arch: &str, name: &str, nr: u32, errno: i32) -> Option<&Denial> {
        if let Some(i) = self
            .denials
            .iter()
            .position(|d| d.arch == arch && d.nr == nr && d.errno == errno)
        {
            self.denials[i].count += 1;
            return None;
        }
        self.denials.push(Denial {
            arch: arch.to_string(),
            name: name.to_string(),
            nr,
            errno,
            count: 1,
        });
        self.denials.last()
    }

    /// Writes the file (owner-only, replaced atomically).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        crate::private::replace(path, &text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads the file.
    pub fn load(path: &Path) -> Result<Denials, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The errno's symbolic name (`EPERM`), or its number.
pub fn errno_name(errno: i32) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    if e == nix::errno::Errno::UnknownErrno {
        errno.to_string()
    } else {
        format!("{e:?}")
    }
}
