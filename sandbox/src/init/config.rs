//! What the host side tells a fresh init process.

use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxIdMapping, LinuxNamespaceType, LinuxSeccompFilterFlag, Process, Spec,
};
use serde::{Deserialize, Serialize};

/// Which kind of process the init becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitKind {
    /// A new container: namespaces, rootfs, then wait for `start`.
    Container,
    /// An extra process joining a running container's namespaces.
    Exec,
}

/// One namespace to create (`path: None`) or join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NsEntry {
    /// Namespace type.
    pub typ: LinuxNamespaceType,
    /// Path of an existing namespace to join.
    pub path: Option<PathBuf>,
}

/// A compiled seccomp filter to install right before execve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeccompPlan {
    /// The BPF program (`seccomp::Filter::to_bytes`).
    pub program: Vec<u8>,
    /// Filter flags from the spec.
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// Installed with `SECCOMP_FILTER_FLAG_NEW_LISTENER`: the supervisor takes the listener
    /// (see `crate::record`). Only the container's init gets such a filter.
    #[serde(default)]
    pub listener: bool,
}

/// Everything an init process needs; sent as the first frame on the sync channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitConfig {
    /// Container or exec.
    pub kind: InitKind,
    /// Container id (for messages).
    pub id: String,
    /// The container's spec (mounts, hostname, sysctl, ...).
    pub spec: Spec,
    /// The process to run (the spec's, or an exec's).
    pub process: Process,
    /// Absolute bundle directory.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// The container's state directory (start gate socket lives there).
    pub state_dir: PathBuf,
    /// Namespaces in the order they are entered.
    pub namespaces: Vec<NsEntry>,
    /// uid mappings (new user namespace only).
    pub uid_mappings: Vec<LinuxIdMapping>,
    /// gid mappings (new user namespace only).
    pub gid_mappings: Vec<LinuxIdMapping>,
    /// Seccomp filters, installed in order (the kernel applies all: most restrictive wins).
    pub seccomp: Vec<SeccompPlan>,
    /// The container's cgroup directories on the host, by controller (for cgroup mounts).
    pub cgroup_dirs: Vec<(String, PathBuf)>,
    /// Host paths no bind source may be, lie within or contain (the policy's).
    #[serde(default)]
    pub protected_binds: Vec<PathBuf>,
    /// The policy's `namespaces.idmap_binds`: a user-namespaced container's host-root rootfs
    /// and its bind mounts are idmapped with its user namespace's mapping.
    #[serde(default)]
    pub idmap_binds: bool,
}

impl InitConfig {
    /// Whether a namespace of this type is part of the plan (created or joined).
    pub fn has_ns(&self, typ: LinuxNamespaceType) -> bool {
        self.namespaces.iter().any(|n| n.typ == typ)
    }

    /// Whether a namespace of this type is newly created.
    pub fn creates_ns(&self, typ: LinuxNamespaceType) -> bool {
        self.namespaces
            .iter()
            .any(|n| n.typ == typ && n.path.is_none())
    }

    /// Whether the init ends up in a user namespace other than the host's, created or joined
    /// by path (containerd 2.x pins a `hostUsers: false` pod's user namespace and passes its
    /// path): from then on it lacks host privileges.
    pub fn enters_userns(&self) -> bool {
        self.namespaces
            .iter()
            .any(|n| n.typ == LinuxNamespaceType::User)
    }
}
