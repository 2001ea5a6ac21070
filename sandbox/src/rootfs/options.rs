//! Translation of fstab-style mount options (`"ro"`, `"rbind"`, `"mode=755"`, ...) into mount
//! attributes for the new mount API.

use super::sys::{
    MountAttr, MOUNT_ATTR_ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME,
};

/// Every option [`MountOptions::parse`] and [`Propagation::parse`] recognise (anything else is
/// filesystem data), for the features document.
pub const KNOWN_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "ro",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Mount propagation type requested by an option or `linux.rootfsPropagation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Propagation {
    /// One of `MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED`, `MS_UNBINDABLE`.
    pub kind: libc::c_ulong,
    /// Whether it applies to all submounts too (`r...` variants).
    pub recursive: bool,
}

impl Propagation {
    /// Parses `private`, `rprivate`, `slave`, `rslave`, `shared`, `rshared`, `unbindable`,
    /// `runbindable`.
    pub fn parse(s: &str) -> Option<Self> {
        let (recursive, base) = match s.strip_prefix('r') {
            Some(b @ ("private" | "slave" | "shared" | "unbindable")) => (true, b),
            _ => (false, s),
        };
        let kind = match base {
            "private" => libc::MS_PRIVATE,
            "slave" => libc::MS_SLAVE,
            "shared" => libc::MS_SHARED,
            "unbindable" => libc::MS_UNBINDABLE,
            _ => return None,
        };
        Some(Propagation { kind, recursive })
    }
}

/// The options of one spec mount, sorted by what they affect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind` was given (submounts are bound too).
    pub recursive: bool,
    /// `remount` was given: change the attributes of the existing mount at the destination.
    pub remount: bool,
    /// Mount attributes to set (`MOUNT_ATTR_*`).
    pub attr_set: u64,
    /// Mount attributes to clear (`MOUNT_ATTR_*`).
    pub attr_clr: u64,
    /// Superblock flags for `fsconfig(FSCONFIG_SET_FLAG)`: `sync`, `async`, `mand`, `nomand`.
    pub sb_flags: Vec<&'static str>,
    /// Requested propagation, if any.
    pub propagation: Option<Propagation>,
    /// `tmpcopyup`: a tmpfs starts with the contents of the directory it covers.
    pub copy_up: bool,
    /// Everything else, passed to the filesystem (`mode=755`, `newinstance`, ...).
    pub data: Vec<String>,
}

impl MountOptions {
    /// Sorts `options`; unknown options end up in [`MountOptions::data`].
    pub fn parse<S: AsRef<str>>(options: &[S]) -> Self {
        let mut o = MountOptions::default();
        for opt in options {
            let opt = opt.as_ref();
            let (set, clr) = match opt {
                "ro" => (MOUNT_ATTR_RDONLY, 0),
                "rw" => (0, MOUNT_ATTR_RDONLY),
                "nosuid" => (MOUNT_ATTR_NOSUID, 0),
                "suid" => (0, MOUNT_ATTR_NOSUID),
                "nodev" => (MOUNT_ATTR_NODEV, 0),
                "dev" => (0, MOUNT_ATTR_NODEV),
                "noexec" => (MOUNT_ATTR_NOEXEC, 0),
                "exec" => (0, MOUNT_ATTR_NOEXEC),
                "nodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
                "diratime" => (0, MOUNT_ATTR_NODIRATIME),
                "atime" | "relatime" => (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME),
                "noatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME),
                "strictatime" | "norelatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
                "bind" => {
                    o.bind = true;
                    continue;
                }
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                    continue;
                }
                "remount" => {
                    o.remount = true;
                    continue;
                }
                "tmpcopyup" => {
                    o.copy_up = true;
                    continue;
                }
                "sync" | "async" | "mand" | "nomand" => {
                    let flag = match opt {
                        "sync" => "sync",
                        "async" => "async",
                        "mand" => "mand",
                        _ => "nomand",
                    };
                    o.sb_flags.push(flag);
                    continue;
                }
                other => {
                    if let Some(p) = Propagation::parse(other) {
                        o.propagation = Some(p);
                    } else {
                        o.data.push(other.to_owned());
                    }
                    continue;
                }
            };
            // Later options win over earlier ones, like mount(8).
            if clr == MOUNT_ATTR_ATIME {
                // An access-time mode replaces the whole atime field.
                o.attr_set = (o.attr_set & !MOUNT_ATTR_ATIME) | set;
                o.attr_clr |= MOUNT_ATTR_ATIME;
            } else {
                o.attr_set = (o.attr_set & !clr) | set;
                o.attr_clr = (o.attr_clr & !set) | clr;
            }
        }
        o
    }

    /// The attribute change as a `struct mount_attr` (no propagation).
    pub fn attr(&self) -> MountAttr {
        MountAttr {
            attr_set: self.attr_set,
            attr_clr: self.attr_clr,
            ..MountAttr::default()
        }
    }

    /// The attributes to pass to `fsmount` for a fresh filesystem mount.
    pub fn fsmount_flags(&self) -> u64 {
        self.attr_set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_options() {
        let o = MountOptions::parse(&[
            "rbind", "ro", "nosuid", "rprivate", "mode=755", "noatime", "sync",
        ]);
        assert!(o.bind && o.recursive && !o.remount);
        assert_eq!(
            o.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.attr_clr, MOUNT_ATTR_ATIME);
        assert_eq!(
            o.propagation,
            Some(Propagation {
                kind: libc::MS_PRIVATE,
                recursive: true
            })
        );
        assert_eq!(o.data, vec!["mode=755".to_owned()]);
        assert_eq!(o.sb_flags, vec!["sync"]);
    }

    #[test]
    fn later_options_win() {
        let o = MountOptions::parse(&["ro", "rw", "exec", "noexec", "noatime", "relatime"]);
        assert_eq!(o.attr_set, MOUNT_ATTR_NOEXEC | MOUNT_ATTR_RELATIME);
        assert_eq!(o.attr_clr, MOUNT_ATTR_RDONLY | MOUNT_ATTR_ATIME);
        assert_eq!(
            Propagation::parse("rslave").map(|p| p.kind),
            Some(libc::MS_SLAVE)
        );
        assert_eq!(Propagation::parse("rfoo"), None);
    }

    #[test]
    fn every_known_option_is_recognised() {
        for opt in KNOWN_OPTIONS {
            let o = MountOptions::parse(&[*opt]);
            assert!(o.data.is_empty(), "{opt} is passed on as filesystem data");
        }
        assert_eq!(MountOptions::parse(&["mode=755"]).data, ["mode=755"]);
    }
}
