//! Entering namespaces: join by path, create the rest, fork into a new PID namespace.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};

use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{fork, getpid, setresgid, setresuid, ForkResult, Gid, Uid};
use oci_spec::runtime::LinuxNamespaceType;

use super::config::{InitConfig, NsEntry};
use super::InitError;
use crate::sync::{Channel, FromInit, ToInit};

/// The clone flag of a namespace type.
pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name of a namespace type under /proc/PID/ns.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Order in which namespaces are joined: user first (it grants the capabilities needed for
/// the others), mount last (it changes how later paths resolve).
fn join_rank(typ: LinuxNamespaceType) -> u8 {
    match typ {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 9,
        _ => 5,
    }
}

/// The user namespace the init is going to end up in, by fd, before it enters it (to idmap
/// the container's mounts with its mapping, which needs host privileges): the one it joins by
/// path, else the owner of a namespace it joins (a pod's, as [`enter`] picks it), else a new
/// one with the container's mappings. None when it enters no user namespace.
pub fn target_userns(cfg: &InitConfig) -> Result<Option<std::os::fd::OwnedFd>, InitError> {
    if !cfg.enters_userns() {
        return Ok(None);
    }
    let joined = open_joins(cfg)?;
    if let Some((_, f)) = joined
        .iter()
        .find(|(ns, _)| ns.typ == LinuxNamespaceType::User)
    {
        return Ok(Some(
            f.try_clone()
                .map_err(|e| InitError::msg(format!("dup user namespace fd: {e}")))?
                .into(),
        ));
    }
    if let Some(owner) = joined.iter().find_map(|(_, f)| foreign_owner(f)) {
        return Ok(Some(owner.into()));
    }
    crate::rootfs::idmap::userns_with(&cfg.uid_mappings, &cfg.gid_mappings)
        .map(Some)
        .map_err(|e| InitError::msg(format!("user namespace for idmapped mounts: {e}")))
}

/// The namespaces `cfg` joins by path, opened, in the order they are joined.
fn open_joins(cfg: &InitConfig) -> Result<Vec<(&NsEntry, File)>, InitError> {
    let mut joins: Vec<(&NsEntry, File)> = Vec::new();
    for ns in &cfg.namespaces {
        if let Some(p) = &ns.path {
            let f = File::open(p).map_err(|e| {
                InitError::msg(format!(
                    "open {} namespace {}: {e}",
                    proc_name(ns.typ),
                    p.display()
                ))
            })?;
            joins.push((ns, f));
        }
    }
    joins.sort_by_key(|(ns, _)| join_rank(ns.typ));
    Ok(joins)
}

/// Joins and creates namespaces; forks into a new or joined PID namespace.
///
/// Returns only in the process that becomes the container process; a forking first stage
/// reports the child's pid on `sync` and exits.
///
/// `before_userns` runs, still with host credentials, when namespaces owned by the host's
/// user namespace have been joined by path and a user namespace is about to be entered, with
/// the names (`net`, `ipc`, ...) of those joined namespaces: root of the container's user
/// namespace holds no privilege in them (a pod network namespace containerd made), so their
/// sysctls must be written now.
pub fn enter(
    cfg: &InitConfig,
    sync: &mut Channel,
    before_userns: impl FnOnce(&[&'static str]) -> Result<(), InitError>,
) -> Result<(), InitError> {
    // Open every path first, while the host's /proc and paths are still what we see.
    let joins = open_joins(cfg)?;
    let mut in_userns = false;
    // A container that would get a new user namespace but joins namespaces owned by another
    // user namespace (a pod's: the sandbox container created it) joins that one instead:
    // all containers of a pod share one user namespace, or the joined namespaces would not
    // be theirs to use (mounting mqueue in a joined IPC namespace, for one).
    let mut owner_userns = None;
    if cfg.creates_ns(LinuxNamespaceType::User) {
        owner_userns = joins.iter().find_map(|(_, f)| foreign_owner(f));
    }
    let join = |ns: &NsEntry, f: &File| {
        setns(f.as_fd(), clone_flag(ns.typ)).map_err(|e| {
            InitError::msg(format!(
                "join {} namespace {}: {e}",
                proc_name(ns.typ),
                ns.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ))
        })
    };
    // The user namespace we end up in: joined by path (exec, or a spec naming one) or the
    // pod's. Namespaces still owned by our own (the host's) user namespace, such as the host
    // UTS or network namespace of a host-network pod, can only be joined before entering it;
    // the others only after.
    let joined_userns = joins
        .iter()
        .find(|(ns, _)| ns.typ == LinuxNamespaceType::User)
        .map(|(_, f)| f);
    let target_userns = joined_userns.or(owner_userns.as_ref());
    let mut later = Vec::new();
    let mut joined_early = Vec::new();
    for (ns, f) in &joins {
        if ns.typ == LinuxNamespaceType::User {
            continue;
        }
        if target_userns.is_some() && foreign_owner(f).is_some() {
            later.push((*ns, f));
            continue;
        }
        join(ns, f)?;
        joined_early.push(proc_name(ns.typ));
    }
    if target_userns.is_some() || cfg.creates_ns(LinuxNamespaceType::User) {
        before_userns(&joined_early)?;
    }
    if let Some(userns) = target_userns {
        setns(userns.as_fd(), CloneFlags::CLONE_NEWUSER)
            .map_err(|e| InitError::msg(format!("join user namespace: {e}")))?;
        in_userns = true;
    }
    for (ns, f) in later {
        join(ns, f)?;
    }
    drop(joins);

    let new_userns = cfg.creates_ns(LinuxNamespaceType::User) && owner_userns.is_none();
    if new_userns {
        if let Some((uid, gid)) = userns_owner(cfg) {
            become_owner(uid, gid)?;
        }
        unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| InitError::msg(format!("create user namespace: {e}")))?;
        in_userns = true;
    }
    // The host side writes id maps and places us in the cgroup before anything forks.
    sync.send(&FromInit::NeedSetup {
        pid: getpid().as_raw(),
        new_userns,
    })
    .map_err(|e| InitError::msg(format!("sync: {e}")))?;
    match sync.recv::<ToInit>() {
        Ok(Some(ToInit::SetupDone)) => {}
        Ok(Some(other)) => return Err(InitError::msg(format!("sync: unexpected {other:?}"))),
        Ok(None) => return Err(InitError::msg("sync: host side went away")),
        Err(e) => return Err(InitError::msg(format!("sync: {e}"))),
    }
    if in_userns {
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(|e| InitError::msg(format!("setresgid(0) in user namespace: {e}")))?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(|e| InitError::msg(format!("setresuid(0) in user namespace: {e}")))?;
    }

    let mut flags = CloneFlags::empty();
    for ns in &cfg.namespaces {
        if ns.path.is_none() && ns.typ != LinuxNamespaceType::User {
            flags |= clone_flag(ns.typ);
        }
    }
    if !flags.is_empty() {
        unshare(flags).map_err(|e| InitError::msg(format!("create namespaces {flags:?}: {e}")))?;
    }

    if cfg.has_ns(LinuxNamespaceType::Pid) {
        fork_into_pid_namespace(sync)?;
    } else {
        sync.send(&FromInit::Pid {
            pid: getpid().as_raw(),
        })
        .map_err(|e| InitError::msg(format!("sync: {e}")))?;
    }
    Ok(())
}

/// The host ids a user namespace we create should be owned by: those its root maps to
/// (`None` when root maps to host root or nothing is mapped).
fn userns_owner(cfg: &InitConfig) -> Option<(u32, u32)> {
    let host = |maps: &[oci_spec::runtime::LinuxIdMapping]| {
        maps.iter()
            .find(|m| m.container_id() == 0 && m.size() > 0)
            .or_else(|| maps.first())
            .map(|m| m.host_id())
    };
    let owner = (host(&cfg.uid_mappings)?, host(&cfg.gid_mappings)?);
    (owner.0 != 0).then_some(owner)
}

/// Switches to host `uid`/`gid` (no supplementary groups) keeping our capabilities, so that
/// the user namespace created next is owned by that unprivileged uid. A namespace owned by
/// host root would give *every* host-root process of the parent namespace — a container
/// sharing the host PID namespace, even with no capabilities at all — every capability in
/// it, and with it ptrace access to the container. The capabilities kept let `unshare`
/// succeed where unprivileged user namespaces are restricted; the new namespace grants its
/// own full set anyway.
fn become_owner(uid: u32, gid: u32) -> Result<(), InitError> {
    let fail = |what: &str, e: String| {
        InitError::msg(format!("user namespace owner {uid}:{gid}: {what}: {e}"))
    };
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(fail(
            "keep capabilities",
            std::io::Error::last_os_error().to_string(),
        ));
    }
    nix::unistd::setgroups(&[]).map_err(|e| fail("setgroups", e.to_string()))?;
    setresgid(Gid::from_raw(gid), Gid::from_raw(gid), Gid::from_raw(gid))
        .map_err(|e| fail("setresgid", e.to_string()))?;
    setresuid(Uid::from_raw(uid), Uid::from_raw(uid), Uid::from_raw(uid))
        .map_err(|e| fail("setresuid", e.to_string()))?;
    let permitted = caps::read(None, caps::CapSet::Permitted)
        .map_err(|e| fail("read capabilities", e.to_string()))?;
    caps::set(None, caps::CapSet::Effective, &permitted)
        .map_err(|e| fail("raise capabilities", e.to_string()))?;
    Ok(())
}

/// Forks the container's PID 1. The parent (the first stage) reports the child's host pid on
/// `sync` and exits; the child returns.
///
/// Both processes share the sync socket, so the child waits on a pipe until the parent has
/// sent `Pid` and exited: the host side always reads `Pid` before anything the child sends
/// (`Console`, `Ready`, `Error`), and never two writers at once.
fn fork_into_pid_namespace(sync: &mut Channel) -> Result<(), InitError> {
    let (wait_r, wait_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| InitError::msg(format!("pipe: {e}")))?;
    // SAFETY: this is a fresh, single-threaded process (a re-exec of pinhole), so the
    // child may run arbitrary code after fork.
    match unsafe { fork() }.map_err(|e| InitError::msg(format!("fork: {e}")))? {
        ForkResult::Parent { child } => {
            // Only async-signal-safe work from here: format into a stack buffer, write(2),
            // _exit(2).
            let mut buf = [0u8; crate::sync::PID_FRAME_MAX];
            let sent = crate::sync::pid_frame(child.as_raw(), &mut buf)
                .is_some_and(|frame| write_all_raw(sync.raw_fd(), frame));
            // The byte tells the child `Pid` is on the socket; our exit (closing the pipe's
            // last write end) tells it we are gone.
            let code = if sent && write_all_raw(wait_w.as_raw_fd(), b"P") {
                0
            } else {
                1
            };
            // SAFETY: _exit ends this intermediate process without running destructors
            // that could touch state shared with the child.
            unsafe { libc::_exit(code) };
        }
        ForkResult::Child => {
            drop(wait_w);
            let mut got = Vec::new();
            let mut buf = [0u8; 8];
            loop {
                match nix::unistd::read(wait_r.as_raw_fd(), &mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(InitError::msg(format!("wait for the first stage: {e}"))),
                }
            }
            if got != b"P" {
                return Err(InitError::msg(
                    "the first stage exited without reporting the container's pid",
                ));
            }
            Ok(())
        }
    }
}

/// write(2) of all of `data` to `fd`, retrying on EINTR; async-signal-safe.
fn write_all_raw(fd: std::os::fd::RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        // SAFETY: data points to data.len() readable bytes; fd is an open fd of ours.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        data = &data[n as usize..];
    }
    true
}

/// The user namespace owning the namespace `ns`, if it is not our own (`NS_GET_USERNS`).
pub fn foreign_owner(ns: &File) -> Option<File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::fs::MetadataExt;
    const NS_GET_USERNS: libc::c_ulong = 0xb701;
    // SAFETY: NS_GET_USERNS takes no argument and returns a new fd (or -1).
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_USERNS) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh fd the kernel just gave us.
    let owner = unsafe { File::from_raw_fd(fd) };
    let ours = std::fs::metadata("/proc/self/ns/user").ok()?;
    let theirs = owner.metadata().ok()?;
    (theirs.ino() != ours.ino() || theirs.dev() != ours.dev()).then_some(owner)
}
