//! Performing the spec's `mounts` inside the rootfs.
//!
//! Every mount is built detached (`open_tree(OPEN_TREE_CLONE)` for binds, `fsopen` +
//! `fsconfig` + `fsmount` for filesystems), gets its attributes (`ro`, `nosuid`, ...) with
//! `mount_setattr` while still detached (so there is no read-write window), and is then
//! attached with `move_mount` onto the `O_PATH` fd of the destination resolved by
//! [`super::resolve`]. No path is looked up twice, so swapping a symlink in after resolution
//! (CVE-2021-30465) cannot redirect a mount, and nothing relies on `/proc/self/fd`.
//!
//! A bind tree also gets its propagation while detached ([`super::propagation`]); trees that
//! keep a link to their source's host peer group (`rslave`, `rshared`) are cloned before `/`
//! is made private ([`open_group_sources`]).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{fstat, SFlag};
use oci_spec::runtime::Mount;

use super::error::RootfsError;
use super::options::{MountOptions, Propagation};
use super::propagation::{self, BindPropagation};
use super::resolve::{resolve, Create, Resolved};
use super::sys::{self, cstring, MountAttr};
use super::validate::{
    bind_source, canonical_destination, check_canonical_destination, check_proc_destination, clean,
    mount_kind, MountKind, PROC_BIND_ALLOWLIST,
};

/// What the spec mounts need besides the mount itself.
pub struct MountContext<'a> {
    /// `O_PATH` fd of the rootfs mount.
    pub root: BorrowedFd<'a>,
    /// The bundle directory (relative bind sources are relative to it).
    pub bundle: &'a Path,
    /// The container's cgroup directories on the host, `(controller, dir)`.
    pub cgroup_dirs: &'a [(String, PathBuf)],
    /// Whether the container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Bind sources opened (and given their attributes) by the host-side stage, by mount
    /// index: see [`open_bind_sources`].
    pub pre: &'a std::cell::RefCell<PreOpened>,
    /// Host paths no bind source may expose.
    pub guard: &'a BindGuard,
    /// `linux.rootfsPropagation` (what a bind without a propagation option gets).
    pub root_propagation: Propagation,
}

/// `(st_dev, st_ino)` of a file.
type FileId = (u64, u64);

fn file_id(st: &nix::sys::stat::FileStat) -> FileId {
    (st.st_dev, st.st_ino)
}

/// Host paths (a policy's protected paths: `/proc`, runtime sockets and state, ...) that no
/// bind source may lie within, be, or contain — checked on the very fd that is then cloned,
/// by device and inode, so a symlink swapped into a host path between the policy's check and
/// the mount cannot redirect it.
#[derive(Debug, Default)]
pub struct BindGuard {
    /// The protected files themselves.
    protected: std::collections::HashSet<FileId>,
    /// The protected files and every directory above them.
    containing: std::collections::HashSet<FileId>,
}

impl BindGuard {
    /// A guard over `paths` (host paths; those that do not exist protect nothing).
    pub fn new(paths: &[PathBuf]) -> BindGuard {
        let mut g = BindGuard::default();
        for p in paths {
            let Ok(st) = nix::sys::stat::stat(p.as_path()) else {
                continue;
            };
            g.protected.insert(file_id(&st));
            let real = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            for a in real.ancestors() {
                if let Ok(st) = nix::sys::stat::stat(a) {
                    g.containing.insert(file_id(&st));
                }
            }
        }
        g
    }

    /// A mount below `dir` (from the runtime's mountinfo) that a recursive bind of `dir`
    /// would carry along and that exposes the host: a kernel filesystem, or a mount whose
    /// root is (or is below) a protected file.
    fn exposed_submount(&self, dir: &Path) -> Option<String> {
        const HOST_VIEWS: &[&str] = &[
            "proc",
            "sysfs",
            "cgroup",
            "cgroup2",
            "debugfs",
            "tracefs",
            "securityfs",
            "bpf",
            "configfs",
            "efivarfs",
            "binfmt_misc",
            "pstore",
            "fusectl",
        ];
        let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(sep) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(point), Some(fstype)) = (fields.get(4), fields.get(sep + 1)) else {
                continue;
            };
            let point = PathBuf::from(crate::mountinfo::unescape(point));
            if point == dir || !point.starts_with(dir) {
                continue;
            }
            if HOST_VIEWS.contains(fstype) {
                return Some(format!("a {fstype} filesystem at {}", point.display()));
            }
            if let Ok(st) = nix::sys::stat::stat(point.as_path()) {
                if self.containing.contains(&file_id(&st)) {
                    return Some(format!("a protected path at {}", point.display()));
                }
            }
        }
        None
    }

    /// Refuses `fd` (an opened bind source, found by name in the directory `parent`) if it
    /// is or contains a protected file, or lies below one (walking `..` from `parent` up to
    /// the root). Any error while walking refuses the source: the guard fails closed.
    fn check(&self, fd: BorrowedFd<'_>, parent: BorrowedFd<'_>) -> Result<(), &'static str> {
        let st = fstat(fd.as_raw_fd()).map_err(|_| "fstat")?;
        if self.containing.contains(&file_id(&st)) {
            return Err("is or contains a path the policy protects");
        }
        let mut cur = parent.try_clone_to_owned().map_err(|_| "dup")?;
        let mut id = file_id(&fstat(cur.as_raw_fd()).map_err(|_| "fstat")?);
        loop {
            if self.protected.contains(&id) {
                return Err("lies below a path the policy protects");
            }
            let up = sys::openat(cur.as_fd(), c"..", libc::O_PATH | libc::O_DIRECTORY, 0)
                .map_err(|_| "open ..")?;
            let up_id = file_id(&fstat(up.as_raw_fd()).map_err(|_| "fstat ..")?);
            if up_id == id {
                return Ok(());
            }
            cur = up;
            id = up_id;
        }
    }
}

/// Opens a bind source (a host path) and clones its mount from that fd. Under a guard the
/// path is resolved once, its directory opened, the last component opened without
/// following a symlink (one swapped in meanwhile is refused), and the fd checked against
/// the guard before it is cloned. `i` is the mount's index, for messages.
fn open_bind_source(
    i: usize,
    src: &Path,
    recursive: bool,
    guard: &BindGuard,
) -> Result<OwnedFd, RootfsError> {
    let what = || format!("mounts[{i}].source {src:?}");
    if guard.protected.is_empty() {
        return clone_host_tree(src, recursive)
            .map_err(|e| RootfsError::sys(what(), "open_tree", e));
    }
    let refuse = |why: &str| {
        RootfsError::invalid(
            format!("mounts[{i}].source"),
            src.display().to_string(),
            why,
        )
    };
    let real = std::fs::canonicalize(src).map_err(|e| {
        RootfsError::sys(
            what(),
            "resolve",
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)),
        )
    })?;
    let (dir, name) = match (real.parent(), real.file_name()) {
        (Some(dir), Some(name)) => (dir.to_path_buf(), cstring(name.as_bytes())),
        _ => return Err(refuse("is or contains a path the policy protects")),
    };
    let name = name.map_err(|e| RootfsError::sys(what(), "open", e))?;
    let parent = sys::openat(
        cwd_fd(),
        &cpath(&dir).map_err(|e| RootfsError::sys(what(), "open", e))?,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
    )
    .map_err(|e| RootfsError::sys(what(), "open parent", e))?;
    let fd = sys::openat(parent.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0)
        .map_err(|e| RootfsError::sys(what(), "open", e))?;
    let st = fstat(fd.as_raw_fd()).map_err(|e| RootfsError::sys(what(), "fstat", e))?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFLNK {
        return Err(refuse("changed into a symlink while being opened"));
    }
    guard.check(fd.as_fd(), parent.as_fd()).map_err(refuse)?;
    if recursive {
        if let Some(sub) = guard.exposed_submount(&real) {
            return Err(refuse(&format!(
                "has {sub} mounted below it, which a recursive bind would expose"
            )));
        }
    }
    clone_fd_tree(fd.as_fd(), recursive).map_err(|e| RootfsError::sys(what(), "open_tree", e))
}

/// Bind mount sources opened before the container's user namespace exists, by mount index:
/// the detached tree, or why an idmapped one could not be made (inside the user namespace it
/// could not be made either, and the reason would be lost).
pub type PreOpened = std::collections::HashMap<usize, Result<OwnedFd, RootfsError>>;

/// The bind mount `mounts[i]`: its options and source, or None for anything else.
fn bind_of(m: &Mount, bundle: &Path) -> Option<(MountOptions, PathBuf)> {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    if opts.remount || mount_kind(m, &opts) != Some(MountKind::Bind) {
        return None;
    }
    Some((opts, bind_source(m, bundle)?))
}

/// Gives a freshly cloned bind tree its propagation (see [`propagation`]), then its idmap:
/// the mount's own mappings, else (`userns`, the policy's `idmap_binds`) the container's user
/// namespace's. Returns the attributes a policy idmap adds: `nosuid` and `nodev` (a setuid
/// file the container's root makes there is host root's on disk); nothing when the
/// filesystem cannot be idmapped (then it is bound as it is).
#[allow(clippy::too_many_arguments)]
fn prepare_tree(
    tree: &OwnedFd,
    i: usize,
    m: &Mount,
    src: &Path,
    opts: &MountOptions,
    prop: BindPropagation,
    host_side: bool,
    userns: Option<BorrowedFd<'_>>,
) -> Result<u64, RootfsError> {
    let what = || format!("mounts[{i}].source {src:?}");
    propagation::apply_detached(tree.as_fd(), opts.recursive, prop, host_side)
        .map_err(|e| RootfsError::sys(what(), "set propagation", e))?;
    let own = m.uid_mappings().is_some() || m.gid_mappings().is_some();
    match userns {
        Some(u) if !own => match super::idmap::set_idmap(tree.as_fd(), opts.recursive, u) {
            Ok(()) => Ok(sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV),
            Err(e) if super::idmap::unsupported(e) => Ok(0),
            Err(e) => Err(RootfsError::sys(
                what(),
                "mount_setattr MOUNT_ATTR_IDMAP",
                e,
            )),
        },
        _ => super::idmap::apply(tree.as_fd(), opts.recursive, i, m, src).map(|()| 0),
    }
}

/// Opens every bind mount source of the spec as a detached tree, with its propagation and
/// `ro`/`nosuid`/... attributes already set, using the caller's (host root) credentials, in
/// the host's mount namespace. Used when the container gets a new user namespace: its root is
/// then an unprivileged host uid that may not traverse the directories holding the sources
/// (containerd's CRI sandbox directory is 0700), nor change attributes of a mount owned by
/// the host. Such a tree is never left a peer of the host's mounts (see [`propagation`]).
/// Sources that cannot be opened are left out; the in-container attempt then reports the
/// error. `idmap`: the container's user namespace, whose mapping binds without mappings of
/// their own get (the policy's `idmap_binds`).
pub fn open_bind_sources(
    spec: &oci_spec::runtime::Spec,
    bundle: &Path,
    guard: &BindGuard,
    idmap: Option<BorrowedFd<'_>>,
) -> PreOpened {
    let root = super::root_propagation(spec);
    let mut out = PreOpened::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some((opts, src)) = bind_of(m, bundle) else {
            continue;
        };
        let Ok(tree) = open_bind_source(i, &src, opts.recursive, guard) else {
            continue;
        };
        let prop = BindPropagation::of(&opts, root);
        let added = match prepare_tree(&tree, i, m, &src, &opts, prop, true, idmap) {
            Ok(added) => added,
            Err(e) => {
                out.insert(i, Err(e));
                continue;
            }
        };
        let mut attr = opts.attr();
        attr.attr_set |= added;
        attr.attr_clr &= !added;
        if attr.attr_set | attr.attr_clr != 0
            && sys::mount_setattr(tree.as_fd(), opts.recursive, &attr).is_err()
        {
            continue;
        }
        out.insert(i, Ok(tree));
    }
    out
}

/// Opens the bind sources whose tree keeps a link to the source's peer group (`rslave`,
/// `rshared`, ... see [`BindPropagation::keeps_group`]) and are not in `pre` yet, in the
/// container's fresh mount namespace *before* `/` is made private: cloned afterwards they
/// would be private for good. Errors are kept in `pre` and reported by [`mount_entry`].
pub fn open_group_sources(
    spec: &oci_spec::runtime::Spec,
    bundle: &Path,
    guard: &BindGuard,
    pre: &mut PreOpened,
) {
    let root = super::root_propagation(spec);
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some((opts, src)) = bind_of(m, bundle) else {
            continue;
        };
        let prop = BindPropagation::of(&opts, root);
        if !prop.keeps_group() || pre.contains_key(&i) {
            continue;
        }
        let opened = open_bind_source(i, &src, opts.recursive, guard).and_then(|tree| {
            prepare_tree(&tree, i, m, &src, &opts, prop, false, None)?;
            let attr = opts.attr();
            if attr.attr_set | attr.attr_clr != 0 {
                sys::mount_setattr(tree.as_fd(), opts.recursive, &attr).map_err(|e| {
                    RootfsError::sys(format!("mounts[{i}].source {src:?}"), "mount_setattr", e)
                })?;
            }
            Ok(tree)
        });
        pre.insert(i, opened);
    }
}

/// `AT_FDCWD` as a borrowed fd.
pub fn cwd_fd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid dirfd value for the lifetime of the process and is never
    // closed; it is only used as the dirfd argument of *at syscalls.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE [| AT_RECURSIVE])`: a detached copy of the
/// mount at a host path.
pub fn clone_host_tree(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let c = cstring(path.as_os_str().as_bytes())?;
    let mut flags = sys::OPEN_TREE_CLONE;
    if recursive {
        flags |= sys::AT_RECURSIVE;
    }
    sys::open_tree(cwd_fd(), &c, flags)
}

/// A detached copy of the mount (tree) an fd refers to.
pub fn clone_fd_tree(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= sys::AT_RECURSIVE;
    }
    sys::open_tree(fd, c"", flags)
}

/// Whether an fd is a directory.
pub fn is_dir(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    let st = fstat(fd.as_raw_fd())?;
    Ok(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR)
}

/// Creates a detached mount of a new filesystem: `fsopen(typ)`, `source`, superblock flags,
/// data options, `FSCONFIG_CMD_CREATE`, `fsmount(attr_flags)`.
pub fn new_fs(
    what: &str,
    typ: &str,
    source: &str,
    opts: &MountOptions,
    attr_flags: u64,
) -> Result<OwnedFd, RootfsError> {
    let sys_err = |op, e| RootfsError::sys(what, op, e);
    let fs = sys::fsopen(&cstring(typ).map_err(|e| sys_err("fsopen", e))?)
        .map_err(|e| sys_err("fsopen", e))?;
    let src = cstring(source).map_err(|e| sys_err("fsconfig source", e))?;
    sys::fsconfig(
        fs.as_fd(),
        sys::FSCONFIG_SET_STRING,
        Some(c"source"),
        Some(&src),
    )
    .map_err(|e| sys_err("fsconfig source", e))?;
    let flags = opts.sb_flags.iter().map(|f| (f.to_string(), None));
    let data = opts.data.iter().map(|d| match d.split_once('=') {
        Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
        None => (d.clone(), None),
    });
    for (key, value) in flags.chain(data) {
        let opt_what = || {
            format!(
                "{what}: option {:?}",
                value.as_ref().map_or(key.clone(), |v| format!("{key}={v}"))
            )
        };
        let k = cstring(key.as_str()).map_err(|e| RootfsError::sys(opt_what(), "fsconfig", e))?;
        let res = match &value {
            Some(v) => {
                let v =
                    cstring(v.as_str()).map_err(|e| RootfsError::sys(opt_what(), "fsconfig", e))?;
                sys::fsconfig(fs.as_fd(), sys::FSCONFIG_SET_STRING, Some(&k), Some(&v))
            }
            None => sys::fsconfig(fs.as_fd(), sys::FSCONFIG_SET_FLAG, Some(&k), None),
        };
        res.map_err(|e| RootfsError::sys(opt_what(), "fsconfig", e))?;
    }
    sys::fsconfig(fs.as_fd(), sys::FSCONFIG_CMD_CREATE, None, None)
        .map_err(|e| sys_err("create filesystem", e))?;
    sys::fsmount(fs.as_fd(), attr_flags).map_err(|e| sys_err("fsmount", e))
}

/// Applies attributes to a (detached) mount, attaches it on `target`, then applies the
/// propagation, if any.
pub fn attach(
    what: &str,
    mnt: &OwnedFd,
    target: BorrowedFd<'_>,
    opts: &MountOptions,
    recursive: bool,
) -> Result<(), RootfsError> {
    let attr = opts.attr();
    if attr.attr_set | attr.attr_clr != 0 {
        sys::mount_setattr(mnt.as_fd(), recursive, &attr)
            .map_err(|e| RootfsError::sys(what, "mount_setattr", e))?;
    }
    sys::move_mount(mnt.as_fd(), target).map_err(|e| RootfsError::sys(what, "move_mount", e))?;
    if let Some(p) = opts.propagation {
        let attr = MountAttr {
            propagation: p.kind,
            ..MountAttr::default()
        };
        sys::mount_setattr(mnt.as_fd(), p.recursive, &attr)
            .map_err(|e| RootfsError::sys(what, "set propagation", e))?;
    }
    Ok(())
}

/// Filesystems that expose host state: nothing may be mounted inside them but pinhole's own
/// masks (a volume over `/proc/sys/net` is how a container-made symlink once redirected a sysctl
/// write into the host's `core_pattern`).
const KERNEL_FS_MAGICS: &[(nix::sys::statfs::FsType, &str)] = &[
    (nix::sys::statfs::PROC_SUPER_MAGIC, "proc"),
    (nix::sys::statfs::SYSFS_MAGIC, "sysfs"),
    (nix::sys::statfs::CGROUP_SUPER_MAGIC, "cgroup"),
    (nix::sys::statfs::CGROUP2_SUPER_MAGIC, "cgroup2"),
];

/// The kernel filesystem (`proc`, `sysfs`, `cgroup`, `cgroup2`) an fd lies on, if any.
pub fn kernel_fs_of(fd: BorrowedFd<'_>) -> Result<Option<&'static str>, Errno> {
    let st = nix::sys::statfs::fstatfs(fd)?;
    Ok(KERNEL_FS_MAGICS
        .iter()
        .find(|(m, _)| *m == st.filesystem_type())
        .map(|(_, name)| *name))
}

/// Resolves a mount destination and re-checks it on the *resolved* path (a symlink
/// `/foo -> /proc` must not get around the checks): not the rootfs itself; the `/proc` rules;
/// kernel filesystems only on their canonical, symlink-free destinations; nothing on top of a
/// kernel filesystem except a cgroup view on sysfs's `/sys/fs/cgroup` and the lxcfs-style
/// file binds of [`PROC_BIND_ALLOWLIST`].
fn resolve_dest(
    root: BorrowedFd<'_>,
    what: &str,
    i: usize,
    dest: &Path,
    create: Create,
    kind: &MountKind,
) -> Result<Resolved, RootfsError> {
    let r = resolve(root, dest, create).map_err(|e| RootfsError::resolve(what, e))?;
    let field = format!("mounts[{i}].destination {dest:?} resolved");
    if r.path == Path::new("/") {
        return Err(RootfsError::invalid(
            field,
            "/",
            "must not be the rootfs itself",
        ));
    }
    check_proc_destination(&field, &r.path, kind)?;
    check_canonical_destination(&field, &r.path, kind)?;
    if canonical_destination(kind).is_some()
        && !is_dir(r.fd.as_fd()).map_err(|e| RootfsError::sys(what, "fstat", e))?
    {
        return Err(RootfsError::invalid(
            field,
            r.path.display().to_string(),
            "must be a directory",
        ));
    }
    if r.path != Path::new("/proc") && r.path.starts_with("/proc") {
        let st = fstat(r.fd.as_raw_fd()).map_err(|e| RootfsError::sys(what, "fstat", e))?;
        if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
            return Err(RootfsError::invalid(
                field,
                r.path.display().to_string(),
                "below /proc only regular files may be bind-mounted over",
            ));
        }
    }
    if let Some(fs) =
        kernel_fs_of(r.fd.as_fd()).map_err(|e| RootfsError::sys(what, "fstatfs", e))?
    {
        let cgroup_on_sysfs = *kind == MountKind::Cgroup && fs == "sysfs";
        let proc_file_bind = *kind == MountKind::Bind
            && fs == "proc"
            && PROC_BIND_ALLOWLIST.iter().any(|p| Path::new(p) == r.path);
        if !cgroup_on_sysfs && !proc_file_bind {
            return Err(RootfsError::invalid(
                field,
                r.path.display().to_string(),
                format!("is inside a {fs} filesystem; nothing may be mounted there"),
            ));
        }
    }
    Ok(r)
}

/// Performs `mounts[i]`.
pub fn mount_entry(ctx: &MountContext<'_>, i: usize, m: &Mount) -> Result<(), RootfsError> {
    let dest = clean(m.destination());
    let what = format!("mount destination {:?} (mounts[{i}])", m.destination());
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let kind = mount_kind(m, &opts).ok_or_else(|| {
        RootfsError::invalid(
            format!("mounts[{i}].type"),
            m.typ().clone().unwrap_or_default(),
            "unsupported",
        )
    })?;

    if opts.remount {
        super::validate::check_remount(i, &opts)?;
        let r = resolve(ctx.root, &dest, Create::No).map_err(|e| RootfsError::resolve(&what, e))?;
        let attr = opts.attr();
        sys::mount_setattr(r.fd.as_fd(), opts.recursive, &attr)
            .map_err(|e| RootfsError::sys(&what, "remount", e))?;
        return Ok(());
    }

    match &kind {
        MountKind::Bind => {
            let src = bind_source(m, ctx.bundle).ok_or_else(|| {
                RootfsError::invalid(
                    format!("mounts[{i}].source"),
                    "",
                    "a bind mount needs a source",
                )
            })?;
            let pre = ctx.pre.borrow_mut().remove(&i);
            let attrs_done = pre.is_some();
            let tree = match pre {
                Some(opened) => opened?,
                None => {
                    let tree = open_bind_source(i, &src, opts.recursive, ctx.guard)?;
                    let prop = BindPropagation::of(&opts, ctx.root_propagation);
                    prepare_tree(&tree, i, m, &src, &opts, prop, false, None)?;
                    tree
                }
            };
            // The tree got its propagation while detached.
            let mut opts = opts.clone();
            opts.propagation = None;
            let dir =
                is_dir(tree.as_fd()).map_err(|e| RootfsError::sys(&what, "fstat source", e))?;
            let target = resolve_dest(
                ctx.root,
                &what,
                i,
                &dest,
                if dir { Create::Dir } else { Create::File },
                &kind,
            )?;
            if attrs_done {
                opts.attr_set = 0;
                opts.attr_clr = 0;
            }
            attach(&what, &tree, target.fd.as_fd(), &opts, opts.recursive)
        }
        MountKind::Fs(typ) => {
            let target = resolve_dest(ctx.root, &what, i, &dest, Create::Dir, &kind)?;
            let mut flags = opts.fsmount_flags();
            let mut fs_opts = opts.clone();
            if target.path == Path::new("/dev") {
                // Devices are created in it later; `ro` is applied by `finalize`.
                flags &= !sys::MOUNT_ATTR_RDONLY;
                fs_opts.attr_set &= !sys::MOUNT_ATTR_RDONLY;
            }
            let source = m
                .source()
                .as_ref()
                .map_or(typ.clone(), |s| s.display().to_string());
            let mnt = match new_fs(&what, typ, &source, &fs_opts, flags) {
                Ok(mnt) => mnt,
                // A user namespace without its own network namespace may not mount sysfs:
                // bind the host's, like runc.
                Err(RootfsError::Sys {
                    errno: Errno::EPERM,
                    ..
                }) if typ == "sysfs" => {
                    let tree = clone_host_tree(Path::new("/sys"), true)
                        .map_err(|e| RootfsError::sys(&what, "open_tree /sys", e))?;
                    return attach(&what, &tree, target.fd.as_fd(), &fs_opts, true);
                }
                Err(e) => return Err(e),
            };
            if opts.copy_up {
                if typ != "tmpfs" {
                    return Err(RootfsError::invalid(
                        format!("mounts[{i}].options"),
                        "tmpcopyup",
                        format!("only a tmpfs can start with a copy, not {typ}"),
                    ));
                }
                super::copyup::copy_up(target.fd.as_fd(), mnt.as_fd(), &what)?;
            }
            // Attributes were applied by fsmount; only propagation is left.
            let prop_only = MountOptions {
                propagation: fs_opts.propagation,
                ..MountOptions::default()
            };
            attach(&what, &mnt, target.fd.as_fd(), &prop_only, false)
        }
        MountKind::Cgroup => {
            let target = resolve_dest(ctx.root, &what, i, &dest, Create::Dir, &kind)?;
            let v2_type = m.typ().as_deref() == Some("cgroup2");
            super::cgroup_mount::mount_cgroup(ctx, &what, &target, v2_type, &opts)
        }
    }
}

/// A `CString` of a path's bytes, for *at calls.
pub fn cpath(p: &Path) -> Result<CString, Errno> {
    cstring(p.as_os_str().as_bytes())
}
