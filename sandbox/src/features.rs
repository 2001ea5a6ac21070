//! The OCI runtime features document (runtime-spec `features.md`): what `pinhole features`
//! prints and what the shim's `-info` hands containerd (which reads e.g. whether the handler
//! can do user namespaces).
//!
//! Built from the runtime's own tables: the namespaces of `init::namespaces`, the mount
//! options `rootfs::options` parses, the capabilities pinhole knows, the seccomp actions,
//! flags and archs the compiler accepts ([`crate::seccomp::features`]), the hook kinds of
//! [`crate::hooks::KNOWN`]. What pinhole does not do is reported off: no AppArmor, SELinux
//! or Intel RDT, no systemd cgroup driver.

use oci_spec::runtime::LinuxNamespaceType;

use crate::init::namespaces::clone_flag;
use crate::rootfs::options::KNOWN_OPTIONS;

/// The oldest and newest runtime-spec versions a bundle may declare.
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// See [`OCI_VERSION_MIN`].
pub const OCI_VERSION_MAX: &str = "1.2.1";

/// Every namespace type of the runtime-spec.
const NAMESPACES: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Time,
];

/// The features document.
pub fn features() -> serde_json::Value {
    // serde's names (`mount`, `network`), not Display's (`mnt`, `net`)
    let namespaces: Vec<serde_json::Value> = NAMESPACES
        .iter()
        .filter(|t| !clone_flag(**t).is_empty())
        .filter_map(|t| serde_json::to_value(t).ok())
        .collect();
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    serde_json::json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": crate::hooks::KNOWN.map(|k| k.name()),
        "mountOptions": KNOWN_OPTIONS,
        "linux": {
            "namespaces": namespaces,
            "capabilities": caps,
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false,
            },
            "seccomp": crate::seccomp::features::features(),
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } },
        },
        "annotations": {
            "io.pinhole.version": env!("CARGO_PKG_VERSION"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_the_runtime_spec_features_type() {
        let f: oci_spec::runtime::Features = serde_json::from_value(features()).unwrap();
        let linux = f.linux().as_ref().unwrap();
        let ns = linux.namespaces().as_ref().unwrap();
        assert!(ns.contains(&LinuxNamespaceType::User), "{ns:?}");
        assert_eq!(ns.len(), 8);
        let caps = linux.capabilities().as_ref().unwrap();
        assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"), "{caps:?}");
        let hooks = f.hooks().as_ref().unwrap();
        assert_eq!(hooks.len(), 6, "{hooks:?}");
        assert!(hooks.iter().any(|h| h == "createContainer"), "{hooks:?}");
        let opts = f.mount_options().as_ref().unwrap();
        assert!(opts.iter().any(|o| o == "rbind"), "{opts:?}");
    }
}
