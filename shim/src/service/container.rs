//! A container as the shim tracks it: its init, its execs, its cgroup and rootfs mount.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use containerd_shim::protos::ttrpc;
use pinhole_sandbox::cgroups::Cgroup;

use super::errors;
use super::process::Process;

/// One container of the group.
pub struct Container {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// The rootfs mount point the shim mounted (unmounted on delete).
    pub rootfs_mount: Option<PathBuf>,
    /// The init process.
    pub init: Arc<Process>,
    /// Exec processes by exec id.
    pub execs: Mutex<HashMap<String, Arc<Process>>>,
    /// The container's cgroup.
    pub cgroup: Cgroup,
    /// The handler policy file it was created under (clamps its execs too; None: built-in).
    pub policy: Option<PathBuf>,
    /// Owner of its processes' stdio pipes (containerd's `io_uid`/`io_gid`), execs' too.
    pub io_owner: Option<(u32, u32)>,
}

impl Container {
    /// The init (`exec_id` empty) or an exec, or NOT_FOUND.
    pub fn process(&self, exec_id: &str) -> ttrpc::Result<Arc<Process>> {
        if exec_id.is_empty() {
            return Ok(self.init.clone());
        }
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(exec_id)
            .cloned()
            .ok_or_else(|| {
                errors::not_found(format!("exec {exec_id:?} not found in task {:?}", self.id))
            })
    }

    /// Every process with a pid (init first).
    pub fn all_processes(&self) -> Vec<Arc<Process>> {
        let mut v = vec![self.init.clone()];
        v.extend(
            self.execs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned(),
        );
        v
    }
}
