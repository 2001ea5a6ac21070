//! Host-side checks of the spec's `root`, `mounts`, `linux.devices`, `linux.rootfsPropagation`,
//! `linux.maskedPaths` and `linux.readonlyPaths`, done before anything is created.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};

use super::error::RootfsError;
use super::options::{MountOptions, Propagation};

/// Filesystem types that may be mounted (besides bind mounts).
pub const SUPPORTED_TYPES: &[&str] = &[
    "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2",
];

/// Files below `/proc` that a bind mount may cover (what lxcfs-style setups use; same list as
/// runc). Anything else below `/proc` is refused: mounting over `/proc/self/attr/...`,
/// `/proc/sys/...` and friends is how CVE-2019-16884 and CVE-2023-27561 defeated LSMs.
pub const PROC_BIND_ALLOWLIST: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// What a spec mount is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount (`bind`/`rbind` option, or type `bind`).
    Bind,
    /// A filesystem of the given type (one of [`SUPPORTED_TYPES`] except the cgroup ones).
    Fs(String),
    /// A cgroup filesystem view (`cgroup` or `cgroup2`).
    Cgroup,
}

/// Classifies a mount; `None` for an unsupported type.
pub fn mount_kind(m: &Mount, opts: &MountOptions) -> Option<MountKind> {
    let typ = m.typ().as_deref().unwrap_or("");
    if opts.bind || typ == "bind" {
        return Some(MountKind::Bind);
    }
    match typ {
        "cgroup" | "cgroup2" => Some(MountKind::Cgroup),
        t if SUPPORTED_TYPES.contains(&t) => Some(MountKind::Fs(t.to_owned())),
        _ => None,
    }
}

/// The one destination a kernel filesystem that exposes host state may be mounted on: `proc`
/// on `/proc`, `sysfs` on `/sys`, `cgroup`/`cgroup2` on `/sys/fs/cgroup` (`None` for every
/// other kind). pinhole masks and write-protects these filesystems by path, so a second
/// instance elsewhere (`/proc2`) or one reached through a symlink would be an unmasked one.
pub fn canonical_destination(kind: &MountKind) -> Option<&'static Path> {
    match kind {
        MountKind::Fs(t) if t == "proc" => Some(Path::new("/proc")),
        MountKind::Fs(t) if t == "sysfs" => Some(Path::new("/sys")),
        MountKind::Cgroup => Some(Path::new("/sys/fs/cgroup")),
        _ => None,
    }
}

/// Checks that a kernel filesystem goes on its [`canonical_destination`] (the spec's, and again
/// on the resolved one: a rootfs whose `/proc` is a symlink resolves elsewhere and is refused,
/// as runc does).
pub fn check_canonical_destination(
    what: &str,
    dest: &Path,
    kind: &MountKind,
) -> Result<(), RootfsError> {
    match canonical_destination(kind) {
        Some(canon) if dest != canon => {
            let typ = match kind {
                MountKind::Fs(t) => t.as_str(),
                _ => "cgroup",
            };
            Err(RootfsError::invalid(
                what,
                dest.display().to_string(),
                format!(
                    "a {typ} filesystem may only be mounted on {} (an ordinary directory, not a symlink)",
                    canon.display()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Checks the `/proc` rules on a destination (the spec's, and again on the resolved one):
/// only a `proc` filesystem may go on `/proc` itself, and below `/proc` only bind mounts onto
/// [`PROC_BIND_ALLOWLIST`] entries.
pub fn check_proc_destination(
    what: &str,
    dest: &Path,
    kind: &MountKind,
) -> Result<(), RootfsError> {
    let is_proc = matches!(kind, MountKind::Fs(t) if t == "proc");
    if dest == Path::new("/proc") {
        if !is_proc {
            return Err(RootfsError::invalid(
                what,
                dest.display().to_string(),
                "only a mount of type proc may be placed on /proc",
            ));
        }
    } else if dest.starts_with("/proc") {
        let allowed =
            *kind == MountKind::Bind && PROC_BIND_ALLOWLIST.iter().any(|p| Path::new(p) == dest);
        if !allowed {
            return Err(RootfsError::invalid(
                what,
                dest.display().to_string(),
                format!(
                    "is inside /proc; only bind mounts onto {} are allowed there",
                    PROC_BIND_ALLOWLIST.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Mount flags a `remount` entry may set but never clear: clearing `ro` on `/sys` (or
/// recursively on `/`) would undo the read-only sysfs and cgroupfs every policy forces.
const REMOUNT_LOCKED: u64 = super::sys::MOUNT_ATTR_RDONLY
    | super::sys::MOUNT_ATTR_NOSUID
    | super::sys::MOUNT_ATTR_NODEV
    | super::sys::MOUNT_ATTR_NOEXEC;

/// A `remount` entry may only add restrictions (`ro`, `nosuid`, `nodev`, `noexec`, atime).
pub fn check_remount(i: usize, opts: &MountOptions) -> Result<(), RootfsError> {
    if opts.remount && opts.attr_clr & REMOUNT_LOCKED != 0 {
        return Err(RootfsError::invalid(
            format!("mounts[{i}].options"),
            "remount",
            "a remount may only add restrictions (ro, nosuid, nodev, noexec), not lift them",
        ));
    }
    Ok(())
}

/// Checks that `p` is absolute and has no `..` component.
fn check_abs_path(field: &str, p: &Path) -> Result<(), RootfsError> {
    let shown = p.display().to_string();
    if !p.is_absolute() {
        return Err(RootfsError::invalid(field, shown, "must be absolute"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(RootfsError::invalid(
            field,
            shown,
            "must not contain \"..\"",
        ));
    }
    Ok(())
}

/// The lexically cleaned form of an absolute path without `..` (drops `.` and repeated `/`).
pub fn clean(p: &Path) -> PathBuf {
    p.components().collect()
}

/// The host path of the rootfs: `root.path`, relative to `bundle` unless absolute.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, RootfsError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RootfsError::invalid("root", "", "missing; a rootfs is required"))?;
    Ok(bundle.join(root.path()))
}

/// The host path of a bind mount source: relative sources are relative to the bundle.
pub fn bind_source(m: &Mount, bundle: &Path) -> Option<PathBuf> {
    m.source().as_ref().map(|s| bundle.join(s))
}

/// Checks done in the host process before anything is created. See the module docs; errors
/// name the offending field, e.g. `mounts[3].destination "proc": must be absolute`.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<(), RootfsError> {
    let rootfs = rootfs_path(spec, bundle)?;
    let shown = rootfs.display().to_string();
    match std::fs::metadata(&rootfs) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(RootfsError::invalid(
                "root.path",
                shown,
                "is not a directory",
            ))
        }
        Err(e) => {
            return Err(RootfsError::invalid(
                "root.path",
                shown,
                format!("cannot be used: {e}"),
            ))
        }
    }

    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        validate_mount(i, m, bundle)?;
    }

    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(p) = linux.rootfs_propagation() {
        if Propagation::parse(p).is_none() {
            return Err(RootfsError::invalid(
                "linux.rootfsPropagation",
                p.clone(),
                "must be one of private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable",
            ));
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        check_abs_path(&format!("linux.devices[{i}].path"), d.path())?;
        if clean(d.path()) == Path::new("/") {
            return Err(RootfsError::invalid(
                format!("linux.devices[{i}].path"),
                "/",
                "must name a file",
            ));
        }
        if d.typ() == LinuxDeviceType::A {
            return Err(RootfsError::invalid(
                format!("linux.devices[{i}].type"),
                "a",
                "must be one of c, b, u, p",
            ));
        }
        if d.typ() != LinuxDeviceType::P && !(0..=0xfff).contains(&d.major()) {
            return Err(RootfsError::invalid(
                format!("linux.devices[{i}].major"),
                d.major().to_string(),
                "out of range",
            ));
        }
        if d.typ() != LinuxDeviceType::P && !(0..=0xf_ffff).contains(&d.minor()) {
            return Err(RootfsError::invalid(
                format!("linux.devices[{i}].minor"),
                d.minor().to_string(),
                "out of range",
            ));
        }
    }
    for (i, p) in linux.masked_paths().iter().flatten().enumerate() {
        check_abs_path(&format!("linux.maskedPaths[{i}]"), Path::new(p))?;
    }
    for (i, p) in linux.readonly_paths().iter().flatten().enumerate() {
        check_abs_path(&format!("linux.readonlyPaths[{i}]"), Path::new(p))?;
    }
    Ok(())
}

/// Checks one entry of `mounts`.
fn validate_mount(i: usize, m: &Mount, bundle: &Path) -> Result<(), RootfsError> {
    let field = format!("mounts[{i}].destination");
    check_abs_path(&field, m.destination())?;
    let dest = clean(m.destination());
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let Some(kind) = mount_kind(m, &opts) else {
        let typ = m.typ().clone().unwrap_or_default();
        return Err(RootfsError::invalid(
            format!("mounts[{i}].type"),
            typ,
            format!(
                "unsupported; use bind/rbind or one of {}",
                SUPPORTED_TYPES.join(", ")
            ),
        ));
    };
    if dest == Path::new("/") && !opts.remount {
        return Err(RootfsError::invalid(
            field,
            "/",
            "must not be the rootfs itself",
        ));
    }
    check_proc_destination(&field, &dest, &kind)?;
    check_canonical_destination(&field, &dest, &kind)?;
    check_remount(i, &opts)?;
    super::idmap::validate(i, m, kind == MountKind::Bind && !opts.remount)?;
    if kind == MountKind::Bind && !opts.remount {
        let Some(src) = bind_source(m, bundle) else {
            return Err(RootfsError::invalid(
                format!("mounts[{i}].source"),
                "",
                "a bind mount needs a source",
            ));
        };
        if let Err(e) = std::fs::metadata(&src) {
            return Err(RootfsError::invalid(
                format!("mounts[{i}].source"),
                src.display().to_string(),
                format!("cannot be used: {e}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBuilder, LinuxDeviceBuilder, MountBuilder, RootBuilder, SpecBuilder,
    };

    fn spec_with(mounts: Vec<Mount>) -> Spec {
        SpecBuilder::default()
            .root(RootBuilder::default().path("/").build().unwrap())
            .mounts(mounts)
            .build()
            .unwrap()
    }

    fn mnt(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Mount {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(src)
            .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap()
    }

    fn err(spec: &Spec) -> String {
        validate(spec, Path::new("/")).unwrap_err().to_string()
    }

    #[test]
    fn accepts_the_usual_mounts() {
        let spec = spec_with(vec![
            mnt("/proc", "proc", "proc", &[]),
            mnt(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mnt(
                "/dev/pts",
                "devpts",
                "devpts",
                &["nosuid", "noexec", "newinstance", "ptmxmode=0666"],
            ),
            mnt(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
            mnt("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"]),
            mnt(
                "/etc/hosts",
                "none",
                "/etc/hosts",
                &["rbind", "rprivate", "ro"],
            ),
            mnt("/proc/cpuinfo", "bind", "/proc/cpuinfo", &["bind"]),
        ]);
        validate(&spec, Path::new("/")).unwrap();
    }

    #[test]
    fn rejects_bad_mounts() {
        let e = err(&spec_with(vec![
            mnt("/proc", "proc", "proc", &[]),
            mnt("proc", "proc", "proc", &[]),
        ]));
        assert_eq!(e, "mounts[1].destination \"proc\": must be absolute");
        let e = err(&spec_with(vec![mnt("/x", "ext4", "/dev/sda", &[])]));
        assert!(e.starts_with("mounts[0].type \"ext4\": unsupported"), "{e}");
        let e = err(&spec_with(vec![mnt("/proc", "tmpfs", "tmpfs", &[])]));
        assert!(e.contains("only a mount of type proc"), "{e}");
        let e = err(&spec_with(vec![mnt(
            "/proc/self/attr",
            "bind",
            "/tmp",
            &["bind"],
        )]));
        assert!(
            e.starts_with("mounts[0].destination \"/proc/self/attr\": is inside /proc"),
            "{e}"
        );
        for (dest, typ) in [
            ("/proc2", "proc"),
            ("/host-sys", "sysfs"),
            ("/cg", "cgroup"),
        ] {
            let e = err(&spec_with(vec![mnt(dest, typ, typ, &[])]));
            assert!(
                e.starts_with(&format!(
                    "mounts[0].destination {dest:?}: a {typ} filesystem may only be mounted on /"
                )),
                "{e}"
            );
        }
        let e = err(&spec_with(vec![mnt("/a/../b", "tmpfs", "tmpfs", &[])]));
        assert!(e.contains("must not contain"), "{e}");
        let e = err(&spec_with(vec![mnt(
            "/x",
            "bind",
            "/nonexistent-pinhole",
            &["rbind"],
        )]));
        assert!(
            e.starts_with("mounts[0].source \"/nonexistent-pinhole\": cannot be used"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_devices_and_root() {
        let mut spec = spec_with(vec![]);
        let dev = LinuxDeviceBuilder::default()
            .path("dev/x")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .build()
            .unwrap();
        spec.set_linux(Some(
            LinuxBuilder::default().devices(vec![dev]).build().unwrap(),
        ));
        assert_eq!(
            err(&spec),
            "linux.devices[0].path \"dev/x\": must be absolute"
        );
        spec.set_root(Some(
            RootBuilder::default()
                .path("/nonexistent-pinhole-root")
                .build()
                .unwrap(),
        ));
        assert!(err(&spec).starts_with("root.path \"/nonexistent-pinhole-root\": cannot be used"));
    }
}
