//! Mounting the rootfs containerd hands us (snapshot mounts) onto `<bundle>/rootfs`.

use std::path::{Path, PathBuf};

use containerd_shim::protos::types::mount::Mount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Mount types pinhole mounts itself; anything else is refused with a clear error.
const SUPPORTED: &[&str] = &["overlay", "bind", "rbind", "tmpfs", "none"];

/// Splits mount options into flags and the data string.
fn parse_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "private" | "rprivate" | "slave" | "rslave" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Checks the mounts before anything is mounted.
pub fn validate(mounts: &[Mount]) -> Result<(), String> {
    for (i, m) in mounts.iter().enumerate() {
        if !SUPPORTED.contains(&m.type_.as_str()) {
            return Err(format!(
                "rootfs[{i}].type {:?}: pinhole mounts only {SUPPORTED:?}",
                m.type_
            ));
        }
    }
    if mounts.len() > 1 {
        return Err(format!(
            "rootfs: {} mounts given, pinhole takes one snapshot mount",
            mounts.len()
        ));
    }
    Ok(())
}

/// Mounts the snapshot at `<bundle>/rootfs`; returns the mount point when something was
/// mounted (to unmount on delete).
pub fn mount_rootfs(bundle: &Path, mounts: &[Mount]) -> Result<Option<PathBuf>, String> {
    validate(mounts)?;
    let Some(m) = mounts.first() else {
        return Ok(None);
    };
    let target = bundle.join("rootfs");
    std::fs::create_dir_all(&target).map_err(|e| format!("create {}: {e}", target.display()))?;
    let (mut flags, data) = parse_options(&m.options);
    let fstype = match m.type_.as_str() {
        "bind" | "rbind" => {
            flags |= MsFlags::MS_BIND;
            if m.type_ == "rbind" {
                flags |= MsFlags::MS_REC;
            }
            None
        }
        t => Some(t),
    };
    let data = (!data.is_empty()).then_some(data.as_str());
    mount(Some(m.source.as_str()), &target, fstype, flags, data).map_err(|e| {
        format!(
            "mount {} {:?} on {} (options {:?}): {e}",
            m.type_,
            m.source,
            target.display(),
            m.options
        )
    })?;
    if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
        let _ = mount(
            None::<&str>,
            &target,
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        );
    }
    Ok(Some(target))
}

/// Unmounts a rootfs mounted by [`mount_rootfs`] (and anything stacked on it). Missing or
/// not-mounted targets are fine.
pub fn unmount_rootfs(target: &Path) {
    for _ in 0..16 {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split() {
        let (f, d) = parse_options(&["ro".into(), "lowerdir=/a:/b".into(), "upperdir=/u".into()]);
        assert!(f.contains(MsFlags::MS_RDONLY));
        assert_eq!(d, "lowerdir=/a:/b,upperdir=/u");
    }

    #[test]
    fn unsupported_type_named() {
        let mut m = Mount::new();
        m.type_ = "ext4".into();
        let e = validate(&[m]).unwrap_err();
        assert!(e.contains("rootfs[0].type \"ext4\""), "{e}");
    }
}
