//! Per-process setup: hostname, rlimits, oom score, cwd, user, and the final execve.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process, Spec};

use super::InitError;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Sets the hostname and domainname (new UTS namespace only).
pub fn set_hostname(spec: &Spec) -> Result<(), InitError> {
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h)
            .map_err(|e| InitError::msg(format!("set hostname {h:?}: {e}")))?;
    }
    if let Some(d) = spec.domainname() {
        // SAFETY: pointer and length describe a valid byte buffer.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(InitError::msg(format!(
                "set domainname {d:?}: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Applies `process.rlimits`.
pub fn apply_rlimits(process: &Process) -> Result<(), InitError> {
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if r.soft() > r.hard() {
            return Err(InitError::msg(format!(
                "process.rlimits[{i}]: soft limit {} above hard limit {}",
                r.soft(),
                r.hard()
            )));
        }
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: lim is a valid rlimit struct.
        if unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) } != 0 {
            return Err(InitError::msg(format!(
                "process.rlimits[{i}] ({:?}): {}",
                r.typ(),
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// Writes `process.oomScoreAdj` (inherited by the container process through fork and
/// execve). Called first thing in the init, while `/proc` is still the runtime's own, so no
/// path the container controls is written. Fails soft when the host forbids the value
/// (lowering needs CAP_SYS_RESOURCE, which some hosts, like this project's CI, do not grant).
pub fn apply_oom_score_adj(process: &Process) {
    if let Some(adj) = process.oom_score_adj() {
        let _ = std::fs::write("/proc/self/oom_score_adj", adj.to_string());
    }
}

/// Changes into `process.cwd` (creating nothing) and checks the result is inside the root.
pub fn enter_cwd(process: &Process) -> Result<(), InitError> {
    let cwd = process.cwd();
    nix::unistd::chdir(cwd)
        .map_err(|e| InitError::msg(format!("process.cwd {}: {e}", cwd.display())))?;
    // getcwd reports "(unreachable)" for a cwd outside the current root (CVE-2024-21626).
    let now = nix::unistd::getcwd()
        .map_err(|e| InitError::msg(format!("process.cwd {}: getcwd: {e}", cwd.display())))?;
    if !now.is_absolute() || now.starts_with("(unreachable)") {
        return Err(InitError::msg(format!(
            "process.cwd {}: resolves outside the container root",
            cwd.display()
        )));
    }
    Ok(())
}

/// A prepared execve: everything allocated up front.
#[derive(Debug)]
pub struct Exec {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    umask: u32,
}

fn cstring(field: &str, s: &[u8]) -> Result<CString, InitError> {
    CString::new(s).map_err(|_| InitError::msg(format!("{field}: contains a NUL byte")))
}

impl Exec {
    /// Resolves the executable (PATH lookup in the container) and builds argv/envp.
    pub fn prepare(process: &Process) -> Result<Exec, InitError> {
        let args = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        let arg0 = args
            .first()
            .ok_or_else(|| InitError::msg("process.args: empty"))?;
        let path = if arg0.contains('/') {
            let p = PathBuf::from(arg0);
            check_executable(&p)
                .map_err(|e| InitError::msg(format!("process.args[0] {arg0:?}: {e}")))?;
            p
        } else {
            let search = env
                .iter()
                .find_map(|e| e.strip_prefix("PATH="))
                .unwrap_or(DEFAULT_PATH);
            search
                .split(':')
                .filter(|d| !d.is_empty())
                .map(|d| Path::new(d).join(arg0))
                .find(|p| check_executable(p).is_ok())
                .ok_or_else(|| {
                    InitError::msg(format!(
                        "process.args[0] {arg0:?}: exec: {arg0:?}: executable file not found in $PATH (PATH={search})"
                    ))
                })?
        };
        Ok(Exec {
            path: cstring("process.args[0]", path.as_os_str().as_bytes())?,
            args: args
                .iter()
                .map(|a| cstring("process.args", a.as_bytes()))
                .collect::<Result<_, _>>()?,
            env: env
                .iter()
                .map(|e| cstring("process.env", e.as_bytes()))
                .collect::<Result<_, _>>()?,
            umask: process.user().umask().unwrap_or(0o022),
        })
    }

    /// Resets signal state and the umask, then execve. Returns only on failure.
    /// Resets what the workload inherits from pinhole: SIGPIPE's disposition, the signal
    /// mask, the umask. Done before the filters go in, so that a tight profile (a recorded
    /// one) need not allow these calls and cannot make them fail silently.
    pub fn reset_inherited(&self) {
        // Rust ignores SIGPIPE; an ignored signal stays ignored across execve.
        // SAFETY: setting a default disposition installs no handler code.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(self.umask as libc::mode_t) };
    }

    /// Execs the workload (after [`Exec::reset_inherited`]); returns only on failure.
    pub fn exec(&self) -> InitError {
        match nix::unistd::execve(&self.path, &self.args, &self.env) {
            Err(e) => InitError::msg(format!("execve {:?}: {e}", self.path)),
            Ok(never) => match never {},
        }
    }
}

fn check_executable(p: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("not executable".into());
    }
    Ok(())
}

/// Switches to the process's user and groups, keeping the permitted capabilities (the
/// caller sets the final capability sets next).
pub fn switch_user(process: &Process) -> Result<(), InitError> {
    let user = process.user();
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&groups).map_err(|e| {
        InitError::msg(format!(
            "process.user.additionalGids {groups:?}: setgroups: {e}"
        ))
    })?;
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(InitError::msg(format!(
            "prctl(PR_SET_KEEPCAPS): {}",
            std::io::Error::last_os_error()
        )));
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid)
        .map_err(|e| InitError::msg(format!("process.user.gid {gid}: setresgid: {e}")))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid)
        .map_err(|e| InitError::msg(format!("process.user.uid {uid}: setresuid: {e}")))?;
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(())
}

/// Sets no_new_privs.
pub fn set_no_new_privs() -> Result<(), InitError> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(InitError::msg(format!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Marks every fd from 3 up close-on-exec, so no host fd reaches the workload.
pub fn cloexec_from_3() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on open fds.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        )
    };
    if rc != 0 {
        // Old kernels: walk /proc/self/fd.
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = dir
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .filter(|fd| *fd >= 3)
                .collect();
            for fd in fds {
                // SAFETY: F_SETFD on a possibly closed fd is harmless.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
}

/// Creates the process's terminal inside the container: a pty from the container's own
/// `/dev/ptmx` (so `tty` names a path that exists in the container), the slave as stdin,
/// stdout and stderr and as controlling terminal. Returns the master for the caller.
pub fn open_console(process: &Process) -> Result<std::os::fd::OwnedFd, InitError> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let err = |what: &str| {
        InitError::msg(format!(
            "process.terminal: {what}: {}",
            std::io::Error::last_os_error()
        ))
    };
    // The container's /dev is the container's: no magic link (a `/dev/ptmx ->
    // /proc/1/root/...` in a container sharing a PID namespace) and nothing but a pty
    // multiplexer (5:2, or a devpts `ptmx`, also 5:2) is accepted.
    let master = crate::rootfs::sys::openat2(
        crate::rootfs::mounts::cwd_fd(),
        c"/dev/ptmx",
        libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK,
        crate::rootfs::sys::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(|e| InitError::msg(format!("process.terminal: open /dev/ptmx: {e}")))?;
    let st = nix::sys::stat::fstat(master.as_raw_fd())
        .map_err(|e| InitError::msg(format!("process.terminal: fstat /dev/ptmx: {e}")))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != nix::sys::stat::makedev(5, 2) {
        return Err(InitError::msg(
            "process.terminal: /dev/ptmx is not the pty multiplexer (5:2); refusing it",
        ));
    }
    // SAFETY: F_SETFL on our own fd: back to blocking I/O for the terminal.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_RDWR) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int that lives across the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(err("unlock pty"));
    }
    // TIOCGPTPEER opens the slave through the master: no path lookup to race.
    // SAFETY: TIOCGPTPEER takes open flags as its integer argument and returns a new fd.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    };
    if slave < 0 {
        return Err(err("open pty slave"));
    }
    // SAFETY: slave is a fresh fd we own.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some(size) = process.console_size() {
        let ws = libc::winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct that lives across the call.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard fds, which we own.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(err("dup2 pty slave"));
        }
    }
    drop(slave);
    // SAFETY: TIOCSCTTY takes an integer argument; fd 0 is now the slave.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(err("make the pty the controlling terminal"));
    }
    Ok(master)
}
