//! `linux.sysctl`: which keys a container may set, and writing them without trusting any path
//! the container controls.
//!
//! Only keys that a namespace the container owns isolates are accepted (runc's list): the IPC
//! namespace's `kernel.{msg,sem,shm}*` and `fs.mqueue.*`, the network namespace's `net.*`, the
//! UTS namespace's `kernel.{hostname,domainname}`. Everything else is host-global and refused.
//! The namespace may be the container's own or one it joins by path (the pod's: containerd 2.x
//! puts `net.ipv4.ip_unprivileged_port_start` and `net.ipv4.ping_group_range` into every
//! container of a pod, which joins the pod's network namespace), as with runc — but never the
//! host's: right before writing, the init compares the namespace it is in with the one it
//! started in (the runtime's, the host's), by device and inode, so no path swapped in after the
//! checks can make it write a host sysctl.
//!
//! The values are written through a procfs the init opens itself before the container's
//! rootfs exists (the host's `/proc`, checked to be procfs): `/proc/sys` entries resolve
//! against the *opener's* namespaces, so the host's procfs shows the container's values, and no
//! symlink or mount in the container's rootfs or volumes can redirect the write. Each file is
//! opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV |
//! RESOLVE_NO_MAGICLINKS)` below that fd.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use oci_spec::runtime::Spec;

use super::InitError;
use crate::rootfs::sys;

/// Exact IPC-namespaced keys (runc's table).
const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// UTS-namespaced keys.
const UTS_KEYS: &[&str] = &["kernel.hostname", "kernel.domainname"];

/// The namespace (as named under /proc/PID/ns) that isolates sysctl `key` (dotted form), or
/// `None` for a host-global key.
pub fn namespace_of(key: &str) -> Option<&'static str> {
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some("ipc")
    } else if key.starts_with("net.") {
        Some("net")
    } else if UTS_KEYS.contains(&key) {
        Some("uts")
    } else {
        None
    }
}

/// The path below `/proc/sys` of a key: `a.b.c` → `a/b/c`; a key written with slashes
/// (`net/ipv4/conf/eth0.100/forwarding`, runc's form for names containing dots) is taken as
/// is. `None` for a malformed key (empty components, `.`/`..`, NUL).
fn key_path(key: &str) -> Option<String> {
    let path = if key.contains('/') {
        key.to_owned()
    } else {
        key.replace('.', "/")
    };
    let ok = path
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    ok.then_some(path)
}

/// The dotted form of a key written either way (`net/ipv4/x` → `net.ipv4.x`), for the
/// namespace lookup.
fn dotted(key: &str) -> String {
    key.replace('/', ".")
}

/// Checks every `linux.sysctl` key: well-formed, namespaced, and its namespace is one the
/// container has (`has_ns("net")`: created or joined by path; [`apply`] makes sure a joined one
/// is not the host's). Setting a host-global sysctl from a container must be impossible.
pub fn validate(spec: &Spec, has_ns: impl Fn(&str) -> bool) -> Result<(), String> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for key in sysctl.keys() {
        let field = format!("linux.sysctl[{key:?}]");
        if key_path(key).is_none() {
            return Err(format!("{field}: invalid key"));
        }
        let Some(ns) = namespace_of(&dotted(key)) else {
            return Err(format!("{field}: not a namespaced sysctl"));
        };
        if !has_ns(ns) {
            return Err(format!(
                "{field}: needs a {ns} namespace of the container's (created or joined by path); the container would set the host's"
            ));
        }
    }
    Ok(())
}

/// Opens the procfs the sysctls are written through: the current `/proc` (the host's: called
/// before the container's rootfs is set up), refused unless it is a procfs root.
fn open_procfs() -> Result<OwnedFd, InitError> {
    let fd = sys::openat(
        crate::rootfs::mounts::cwd_fd(),
        c"/proc",
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
    .map_err(|e| InitError::msg(format!("linux.sysctl: open /proc: {e}")))?;
    match crate::rootfs::mounts::kernel_fs_of(fd.as_fd()) {
        Ok(Some("proc")) => Ok(fd),
        Ok(_) => Err(InitError::msg(
            "linux.sysctl: /proc of the runtime is not a procfs",
        )),
        Err(e) => Err(InitError::msg(format!("linux.sysctl: fstatfs /proc: {e}"))),
    }
}

/// Identities (device, inode) of the namespaces sysctls live in, as the init found them before
/// entering the container's: the host's (the runtime's own).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostNamespaces {
    ipc: Option<(u64, u64)>,
    net: Option<(u64, u64)>,
    uts: Option<(u64, u64)>,
}

/// The (device, inode) of namespace `name` of the calling thread.
fn own_namespace(name: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/thread-self/ns/{name}"))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl HostNamespaces {
    /// Records the calling thread's namespaces; call before entering the container's.
    pub fn record() -> HostNamespaces {
        HostNamespaces {
            ipc: own_namespace("ipc"),
            net: own_namespace("net"),
            uts: own_namespace("uts"),
        }
    }

    fn of(&self, name: &str) -> Option<(u64, u64)> {
        match name {
            "ipc" => self.ipc,
            "net" => self.net,
            "uts" => self.uts,
            _ => None,
        }
    }
}

/// Writes the spec's sysctls (already [`validate`]d) whose namespace (`net`, `ipc`, `uts`)
/// `pick` accepts through a procfs fd of our own. Must run once the namespace is entered and
/// before the rootfs is built: for a namespace joined by path that the host's user namespace
/// owns, before the container's user namespace is entered (whose root has no privilege
/// there); else after. `host` are the namespaces the init started in: a sysctl whose namespace
/// is still one of them is refused, right before the write.
pub fn apply(
    spec: &Spec,
    host: &HostNamespaces,
    pick: impl Fn(&str) -> bool,
) -> Result<(), InitError> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let keys: Vec<_> = sysctl
        .iter()
        .filter(|(k, _)| namespace_of(&dotted(k)).is_none_or(&pick))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let proc = open_procfs()?;
    for (key, value) in keys {
        let fail = |m: String| InitError::msg(format!("linux.sysctl[{key:?}]: {m}"));
        let Some(ns) = namespace_of(&dotted(key)) else {
            return Err(fail("not a namespaced sysctl".into()));
        };
        let now = own_namespace(ns);
        if now.is_none() || now == host.of(ns) {
            return Err(fail(format!(
                "the container is in the host's {ns} namespace, whose sysctls are the host's"
            )));
        }
        let rel = key_path(key).ok_or_else(|| fail("invalid key".into()))?;
        let path = sys::cstring(format!("sys/{rel}")).map_err(|e| fail(e.to_string()))?;
        let fd = sys::openat2(
            proc.as_fd(),
            &path,
            libc::O_WRONLY | libc::O_NOFOLLOW,
            sys::RESOLVE_BENEATH
                | sys::RESOLVE_NO_SYMLINKS
                | sys::RESOLVE_NO_XDEV
                | sys::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(|e| fail(format!("open /proc/sys/{rel}: {e}")))?;
        std::fs::File::from(fd)
            .write_all(value.as_bytes())
            .map_err(|e| fail(format!("write /proc/sys/{rel}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_namespaces() {
        assert_eq!(namespace_of("kernel.shmmax"), Some("ipc"));
        assert_eq!(namespace_of("fs.mqueue.msg_max"), Some("ipc"));
        assert_eq!(
            namespace_of("net.ipv4.ip_unprivileged_port_start"),
            Some("net")
        );
        assert_eq!(namespace_of("kernel.hostname"), Some("uts"));
        for global in [
            "kernel.core_pattern",
            "kernel.msg_next_idx",
            "vm.drop_caches",
            "fs.file-max",
        ] {
            assert_eq!(namespace_of(global), None, "{global}");
        }
        assert_eq!(
            key_path("net.ipv4.ping_group_range").as_deref(),
            Some("net/ipv4/ping_group_range")
        );
        assert_eq!(
            key_path("net/ipv4/conf/eth0.100/forwarding").as_deref(),
            Some("net/ipv4/conf/eth0.100/forwarding")
        );
        for bad in [
            "",
            "net..ipv4",
            "net/../kernel/core_pattern",
            ".net",
            "net.",
            "net/./x",
        ] {
            assert_eq!(key_path(bad), None, "{bad:?}");
        }
    }
}
