//! `[host]`: what of the host a container may share — the host's PID, IPC and network
//! namespaces, and host paths as bind mount sources.
//!
//! A container sharing the host PID namespace can signal host processes (and, were it root in
//! the same user namespace, ptrace them); one binding `/` writes host files as root; one
//! binding `/run/containerd` drives a shim's ttrpc API from inside. So:
//!
//! * each of `pid`, `ipc` and `network` is `"refuse"` or `"allow"`; a container shares the
//!   host's namespace when the spec has no entry of that type, or joins one by path that is
//!   the runtime's own (compared by device and inode with `/proc/self/ns/*`);
//! * bind sources (resolved on the host, symlinks followed) are never one of the
//!   [`PROTECTED`] paths, anything below them, or anything that contains them (`/`, `/run`),
//!   nor the runtime's own state and sockets; with `bind_prefixes` set they must also lie
//!   below one of those;
//! * `shared_mounts` is `"refuse"` or `"allow"`: a bind mount with `shared`/`rshared`
//!   propagation (Kubernetes `mountPropagation: Bidirectional`) stays a peer of its source's
//!   host peer group, so whatever the container mounts below it appears in the host's mount
//!   namespace: a write into the host's mount table. Refused, naming `mounts[i]`, it never
//!   reaches the runtime; allowed, it happens only as the spec says (see
//!   `rootfs::propagation`; `rslave` and `linux.rootfsPropagation` never write the host).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::Deserialize;

use super::{Policy, PolicyError};

/// Host paths no container may bind, see below, or bind an ancestor of: the kernel's views
/// of the host and its devices, the host's configuration, programs and schedulers (a root
/// container writing them is host root), init's and container runtimes' sockets, state and
/// image stores.
pub const PROTECTED: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/root",
    "/boot",
    "/usr",
    "/var/spool",
    "/run/dbus",
    "/run/systemd",
    "/run/k3s",
    "/run/cri-dockerd.sock",
    "/run/pinhole",
    "/run/containerd/s",
    "/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock.ttrpc",
    "/run/containerd/io.containerd.runtime.v2.task",
    "/run/containerd/io.containerd.runtime.v1.linux",
    "/var/lib/containerd/io.containerd.content.v1.content",
    "/var/lib/containerd/io.containerd.metadata.v1.bolt",
    "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
    "/run/docker.sock",
    "/run/docker",
    "/var/lib/docker/overlay2",
    "/var/lib/docker/image",
    "/var/lib/docker/containerd",
    "/run/crio",
    "/run/podman",
    "/var/lib/kubelet/pki",
];

/// Whether a container may share one of the host's namespaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Share {
    /// Refused, naming the namespace.
    #[default]
    Refuse,
    /// Allowed.
    Allow,
}

/// The checked `[host]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRules {
    /// The host PID namespace.
    pub pid: Share,
    /// The host IPC namespace.
    pub ipc: Share,
    /// The host network namespace.
    pub network: Share,
    /// Bind sources must lie below one of these (empty: anywhere not protected).
    pub bind_prefixes: Vec<PathBuf>,
    /// Bind mounts with `shared`/`rshared` propagation (mounts made in the container appear
    /// on the host).
    pub shared_mounts: Share,
}

impl Default for HostRules {
    /// `pinhole`'s defaults: host PID and IPC refused, host network allowed (host-network
    /// pods are common and the seccomp/capability ceiling still applies to them), shared
    /// mounts as the spec says.
    fn default() -> HostRules {
        HostRules {
            pid: Share::Refuse,
            ipc: Share::Refuse,
            network: Share::Allow,
            bind_prefixes: Vec::new(),
            shared_mounts: Share::Allow,
        }
    }
}

/// Whether the namespace at `path` is the runtime's own of that type.
pub(super) fn is_ours(path: &Path, proc_name: &str) -> bool {
    let ours = std::fs::metadata(format!("/proc/self/ns/{proc_name}"));
    let theirs = std::fs::metadata(path);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `a` is `b` or below it.
fn within(a: &Path, b: &Path) -> bool {
    a.starts_with(b)
}

impl Policy {
    /// Checks the namespaces container process `pid` ended up in against `[host]`: compared
    /// with the runtime's own by device and inode after setup, so a namespace path that
    /// changed between the spec check and the join (a symlink, a recycled pid) cannot slip the
    /// host's PID, IPC or network namespace in.
    pub fn check_effective_host_namespaces(&self, pid: i32) -> Result<(), PolicyError> {
        let rules = &self.host;
        for (proc_name, key, share) in [
            ("pid", "pid", rules.pid),
            ("ipc", "ipc", rules.ipc),
            ("net", "network", rules.network),
        ] {
            if share == Share::Allow {
                continue;
            }
            let theirs = PathBuf::from(format!("/proc/{pid}/ns/{proc_name}"));
            if is_ours(&theirs, proc_name) {
                return Err(self.spec_error(
                    "linux.namespaces",
                    &format!("the container is in the host's {key} namespace, which the policy refuses ([host] {key})"),
                ));
            }
        }
        Ok(())
    }

    /// The host paths no bind source may be, lie within or contain: [`PROTECTED`] and the
    /// caller's own state and sockets. (Checked here by path for a clear early error, and
    /// again by the init on the opened source: `rootfs::mounts::BindGuard`.)
    pub fn protected_binds(&self, runtime_paths: &[PathBuf]) -> Vec<PathBuf> {
        PROTECTED
            .iter()
            .map(PathBuf::from)
            .chain(runtime_paths.iter().cloned())
            .collect()
    }

    /// Checks what the spec shares with the host against `[host]`: namespaces, and bind
    /// sources (relative ones are relative to `bundle`). `runtime_paths` are the caller's own
    /// state and sockets, protected like [`PROTECTED`].
    pub fn check_host(
        &self,
        spec: &Spec,
        bundle: &Path,
        runtime_paths: &[PathBuf],
    ) -> Result<(), PolicyError> {
        let rules = &self.host;
        let namespaces = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for (typ, proc_name, key, share) in [
            (LinuxNamespaceType::Pid, "pid", "pid", rules.pid),
            (LinuxNamespaceType::Ipc, "ipc", "ipc", rules.ipc),
            (LinuxNamespaceType::Network, "net", "network", rules.network),
        ] {
            if share == Share::Allow {
                continue;
            }
            let entry = namespaces.iter().find(|n| n.typ() == typ);
            let host = match entry {
                None => true,
                Some(n) => n.path().as_ref().is_some_and(|p| is_ours(p, proc_name)),
            };
            if host {
                return Err(self.spec_error(
                    "linux.namespaces",
                    &format!("shares the host's {key} namespace, which the policy refuses ([host] {key})"),
                ));
            }
        }
        let protected: Vec<PathBuf> = self
            .protected_binds(runtime_paths)
            .into_iter()
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .collect();
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            let opts = crate::rootfs::options::MountOptions::parse(
                m.options().as_deref().unwrap_or_default(),
            );
            let bind = crate::rootfs::validate::mount_kind(m, &opts)
                == Some(crate::rootfs::validate::MountKind::Bind);
            if bind
                && rules.shared_mounts == Share::Refuse
                && opts.propagation.is_some_and(|p| p.kind == libc::MS_SHARED)
            {
                return Err(self.spec_error(
                    &format!("mounts[{i}].options"),
                    &format!(
                        "shared propagation of {:?} (Kubernetes mountPropagation: Bidirectional) would put the container's mounts into the host's mount namespace; the policy refuses it ([host] shared_mounts)",
                        m.destination()
                    ),
                ));
            }
            let Some(src) = m.source().as_ref().filter(|_| bind) else {
                continue;
            };
            let src = bundle.join(src);
            let real = std::fs::canonicalize(&src).unwrap_or_else(|_| src.clone());
            let field = format!("mounts[{i}].source");
            if let Some(p) = protected
                .iter()
                .find(|p| within(&real, p) || within(p, &real))
            {
                return Err(self.spec_error(
                    &field,
                    &format!(
                        "{} exposes {} (the host's or a runtime's own); the policy refuses it",
                        real.display(),
                        p.display()
                    ),
                ));
            }
            if !rules.bind_prefixes.is_empty()
                && !rules.bind_prefixes.iter().any(|p| within(&real, p))
            {
                return Err(self.spec_error(
                    &field,
                    &format!(
                        "{} is not below any of [host] bind_prefixes",
                        real.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}
