//! Device nodes and the standard symlinks in the container's `/dev`.
//!
//! Done when `/dev` is not a bind mount (like runc): the default devices (`null`, `zero`,
//! `full`, `random`, `urandom`, `tty`) plus `linux.devices` are created with `mknodat` relative
//! to an fd of their resolved parent directory. In a user namespace `mknod` fails with `EPERM`;
//! then an empty file is created and the host's device node is bind-mounted onto it (after
//! checking the host node really is that device).

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstat, makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::error::RootfsError;
use super::mounts::{clone_host_tree, MountContext};
use super::resolve::{resolve, Create};
use super::sys;
use super::validate::clean;

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Path inside the container.
    pub path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub kind: SFlag,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner, if set.
    pub uid: Option<u32>,
    /// Group, if set.
    pub gid: Option<u32>,
    /// Where it came from, for messages (`linux.devices[2]` or `default device`).
    pub field: String,
}

/// The devices every container gets.
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| DeviceNode {
        path: Path::new("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: None,
        gid: None,
        field: "default device".to_owned(),
    })
    .collect()
}

/// The default devices, overridden by and followed by `linux.devices`.
pub fn wanted_devices(spec: &Spec) -> Vec<DeviceNode> {
    let spec_devs: Vec<DeviceNode> = spec
        .linux()
        .iter()
        .flat_map(|l| l.devices().iter().flatten())
        .enumerate()
        .map(|(i, d)| DeviceNode {
            path: clean(d.path()),
            kind: match d.typ() {
                LinuxDeviceType::B => SFlag::S_IFBLK,
                LinuxDeviceType::P => SFlag::S_IFIFO,
                _ => SFlag::S_IFCHR,
            },
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid(),
            gid: d.gid(),
            field: format!("linux.devices[{i}]"),
        })
        .collect();
    let mut all: Vec<DeviceNode> = default_devices()
        .into_iter()
        .filter(|d| !spec_devs.iter().any(|s| s.path == d.path))
        .collect();
    all.extend(spec_devs);
    all
}

/// Creates one device node.
fn create_device(ctx: &MountContext<'_>, dev: &DeviceNode) -> Result<(), RootfsError> {
    let what = format!("{} {:?}", dev.field, dev.path);
    let (Some(parent), Some(name)) = (dev.path.parent(), dev.path.file_name()) else {
        return Err(RootfsError::invalid(
            format!("{}.path", dev.field),
            dev.path.display().to_string(),
            "must name a file",
        ));
    };
    let dir = resolve(ctx.root, parent, Create::Dir).map_err(|e| RootfsError::resolve(&what, e))?;
    let rdev = makedev(dev.major, dev.minor);
    match mknodat(
        Some(dir.fd.as_raw_fd()),
        name,
        dev.kind,
        Mode::from_bits_truncate(dev.mode),
        rdev,
    ) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) if dev.kind != SFlag::S_IFIFO => {
            return bind_host_device(ctx, dev, &what)
        }
        Err(e @ (Errno::EACCES | Errno::EROFS)) => {
            return Err(RootfsError::invalid(
                "mounts",
                "/dev",
                format!(
                    "no tmpfs is mounted on /dev and the image's own is not writable here ({what}: mknod: {e}); mount a tmpfs on /dev"
                ),
            ))
        }
        Err(e) => return Err(RootfsError::sys(what, "mknod", e)),
    }
    if dev.uid.is_some() || dev.gid.is_some() {
        fchownat(
            Some(dir.fd.as_raw_fd()),
            name,
            dev.uid.map(Uid::from_raw),
            dev.gid.map(Gid::from_raw),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| RootfsError::sys(&what, "chown", e))?;
    }
    Ok(())
}

/// `mknod` is not allowed (user namespace): bind the host's node onto an empty file.
fn bind_host_device(
    ctx: &MountContext<'_>,
    dev: &DeviceNode,
    what: &str,
) -> Result<(), RootfsError> {
    let tree = clone_host_tree(&dev.path, false)
        .map_err(|e| RootfsError::sys(format!("{what}: host node"), "open_tree", e))?;
    let st = fstat(tree.as_raw_fd()).map_err(|e| RootfsError::sys(what, "fstat host node", e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind != dev.kind || st.st_rdev != makedev(dev.major, dev.minor) {
        return Err(RootfsError::invalid(
            format!("{}.path", dev.field),
            dev.path.display().to_string(),
            "mknod is not permitted and the host node at that path is a different device",
        ));
    }
    let target =
        resolve(ctx.root, &dev.path, Create::File).map_err(|e| RootfsError::resolve(what, e))?;
    sys::move_mount(tree.as_fd(), target.fd.as_fd())
        .map_err(|e| RootfsError::sys(what, "move_mount", e))
}

/// The standard `/dev` symlinks.
const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Creates a symlink in `dir`, keeping an existing entry.
fn symlink_in(dir: BorrowedFd<'_>, name: &str, target: &str) -> Result<(), RootfsError> {
    match symlinkat(target, Some(dir.as_raw_fd()), name) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(RootfsError::sys(
            format!("/dev/{name} -> {target:?}"),
            "symlink",
            e,
        )),
    }
}

/// Creates all devices and `/dev` symlinks; `/dev/ptmx` always becomes `pts/ptmx` (the
/// container's own devpts instance).
pub fn setup_dev(ctx: &MountContext<'_>, spec: &Spec) -> Result<(), RootfsError> {
    let old = nix::sys::stat::umask(Mode::empty());
    let res = (|| {
        // /dev/ptmx always becomes the pts/ptmx symlink below, also when the spec lists the
        // host's ptmx (privileged containers get every host device).
        for d in wanted_devices(spec)
            .into_iter()
            .filter(|d| d.path != Path::new("/dev/ptmx"))
        {
            create_device(ctx, &d)?;
        }
        let dev = resolve(ctx.root, Path::new("/dev"), Create::Dir)
            .map_err(|e| RootfsError::resolve("/dev", e))?;
        for (name, target) in DEV_SYMLINKS {
            symlink_in(dev.fd.as_fd(), name, target)?;
        }
        match unlinkat(
            Some(dev.fd.as_raw_fd()),
            OsStr::new("ptmx"),
            UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(RootfsError::sys("/dev/ptmx", "unlink", e)),
        }
        symlink_in(dev.fd.as_fd(), "ptmx", "pts/ptmx")
    })();
    nix::sys::stat::umask(old);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxDeviceBuilder, SpecBuilder};

    #[test]
    fn spec_devices_override_defaults() {
        let d = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o600u32)
            .build()
            .unwrap();
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .build()
            .unwrap();
        let spec = SpecBuilder::default()
            .linux(
                LinuxBuilder::default()
                    .devices(vec![d, fuse])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let all = wanted_devices(&spec);
        assert_eq!(all.len(), 7);
        let null: Vec<_> = all
            .iter()
            .filter(|d| d.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(null.len(), 1);
        assert_eq!(null[0].mode, 0o600);
        assert_eq!(all.last().unwrap().field, "linux.devices[1]");
    }
}
