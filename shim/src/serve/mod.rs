//! The shim daemon, in place of `containerd_shim::run`'s serve path: same flags, logger,
//! publisher, reaper and socket handling, but the ttrpc server is ours ([`server`]), with
//! bounded threads and connections. `delete` stays the crate's.
//!
//! Methods are registered by path (`/containerd.task.v2.Task/<Method>`): task API v3 is served
//! beside v2 by registering the same handlers under `/containerd.task.v3.Task/`. `start` is
//! ours too ([`crate::start`]: the bootstrap protocol and the versioned reply).

pub mod server;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use containerd_shim::monitor::monitor_notify_by_pid;
use containerd_shim::protos::shim::shim_ttrpc::create_task;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, Flags, Shim};
use log::{error, info, warn};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGPIPE, SIGTERM};
use signal_hook::iterator::Signals;

use crate::service::Service;
use crate::shim::{PinholeShim, RUNTIME_ID};
use server::{Method, Methods, Server};

/// containerd's environment variable naming its ttrpc socket (for events).
pub(crate) const TTRPC_ADDRESS: &str = "TTRPC_ADDRESS";
/// The task API v2 service name, as ttrpc dispatches on it.
pub const TASK_V2: &str = "containerd.task.v2.Task";
/// The task API v3 service name (containerd 2.x; same methods and messages as v2).
pub const TASK_V3: &str = "containerd.task.v3.Task";
/// How long the shim waits for running requests to be answered when it exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long a shim with no task and no connection lives on (see [`exit_when_idle`]).
const IDLE_EXIT: Duration = Duration::from_secs(10);

/// Runs the shim binary with the process's arguments; exits the process on error.
pub fn run() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let flags = match containerd_shim::parse(&args[1..]) {
        Ok(f) => f,
        // bad arguments: the crate's handling (and message)
        Err(_) => return containerd_shim::run::<PinholeShim>(RUNTIME_ID, None),
    };
    let done = if flags.version {
        crate::info::print_version()
    } else if flags.info {
        crate::info::print_info()
    } else if flags.action == "start" {
        crate::start::run(flags)
    } else if flags.action.is_empty() {
        serve(flags)
    } else {
        // delete: the crate's handling
        return containerd_shim::run::<PinholeShim>(RUNTIME_ID, None);
    };
    if let Err(e) = done {
        eprintln!("{RUNTIME_ID}: {e}");
        std::process::exit(1);
    }
}

/// The daemon: serves the task API on `flags.socket` until the shim is told to exit.
fn serve(flags: Flags) -> Result<(), String> {
    if flags.namespace.is_empty() {
        return Err("Shim namespace cannot be empty".into());
    }
    if flags.socket.is_empty() {
        return Err("Shim socket cannot be empty".into());
    }
    let ttrpc_address =
        std::env::var(TTRPC_ADDRESS).map_err(|e| format!("{TTRPC_ADDRESS}: {e}"))?;
    // first, as the crate does: no child may exit before SIGCHLD is caught
    let signals = Signals::new([SIGTERM, SIGINT, SIGPIPE, SIGCHLD])
        .map_err(|e| format!("signal handlers: {e}"))?;
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
        return Err(format!(
            "set subreaper: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut config = Config::default();
    let mut shim = PinholeShim::new(RUNTIME_ID, &flags, &mut config);
    crate::logger::init(flags.debug)?;
    // Our reaper takes every child's exit: hooks run (poststart, poststop) in the setup
    // helper, which waits for them; their failures are warnings in our log.
    if let Some(pinhole) = std::fs::read_link("/proc/self/exe")
        .ok()
        .and_then(|exe| pinhole_sandbox::setup::sibling_binary(&exe).ok())
    {
        pinhole_sandbox::hooks::run_through_helper(pinhole);
    }
    pinhole_sandbox::hooks::set_warning_sink(|m| warn!("{m}"));

    let publisher = RemotePublisher::new(&ttrpc_address).map_err(|e| e.to_string())?;
    let service = Arc::new(shim.create_task_service(publisher));
    let Some(listener) = listen(&flags.socket)? else {
        // another shim serves this socket already
        signal_started();
        return Ok(());
    };
    let server = Server::start(listener, task_methods(service.clone()), Default::default())
        .map_err(|e| format!("start ttrpc server: {e}"))?;
    signal_started();
    info!("Shim successfully started, waiting for exit signal...");
    let (idle_service, connections) = (service.clone(), server.connections());
    std::thread::Builder::new()
        .name("idle".into())
        .stack_size(64 * 1024)
        .spawn(move || exit_when_idle(&idle_service, &connections))
        .map_err(|e| format!("spawn idle thread: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(128 * 1024)
        .spawn(move || reap(signals))
        .map_err(|e| format!("spawn signal thread: {e}"))?;
    shim.wait();
    info!("Shutting down shim instance");
    server.shutdown(SHUTDOWN_GRACE);
    // the last Delete's event is still queued when Shutdown arrives
    service.flush_events(SHUTDOWN_GRACE);
    if let Ok(address) = containerd_shim::util::read_address() {
        remove_socket(&address);
    }
    Ok(())
}

/// Task API v2 and v3 (`containerd.task.v3.Task`, the same messages in another proto package)
/// from the same handlers: ttrpc's generated ones, with Wait answered without holding a
/// thread. containerd picks the version from the reply of `start` ([`crate::reply`]).
pub fn task_methods(service: Arc<Service>) -> Methods {
    let mut methods = Methods::new();
    for name in [TASK_V2, TASK_V3] {
        let prefix = format!("/{name}/");
        for (path, h) in create_task(service.clone()) {
            let method = path.rsplit('/').next().unwrap_or_default();
            methods.insert(format!("{prefix}{method}"), Method::Blocking(h));
        }
        let waiter = service.waiter();
        methods.insert(
            format!("{prefix}Wait"),
            Method::Deferred(Box::new(move |req, responder| {
                waiter.wait(&req.payload, move |r| responder.answer(r))
            })),
        );
    }
    methods
}

/// Exits the shim once it has had no task and no connection for [`IDLE_EXIT`]: nobody can
/// need it any more (containerd holds a connection per task and connects before a Create), and
/// containerd does not always say so (2.x sends no Shutdown for a sandbox's task; after a
/// disconnect it only runs `delete`). A shim is never left behind by a lost Shutdown.
fn exit_when_idle(service: &Service, connections: &server::Connections) {
    let tick = Duration::from_millis(500);
    let mut idle = Duration::ZERO;
    loop {
        std::thread::sleep(tick);
        if service.is_idle() && connections.open() == 0 {
            idle += tick;
        } else {
            idle = Duration::ZERO;
        }
        if idle >= IDLE_EXIT {
            info!("no task and no connection for {IDLE_EXIT:?}: shutting down");
            service.exit();
            return;
        }
    }
}

/// Binds the socket; None if a live shim already serves it (a stale socket is replaced).
fn listen(address: &str) -> Result<Option<UnixListener>, String> {
    let path = socket_path(address);
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    match UnixListener::bind(path) {
        Ok(l) => return Ok(Some(l)),
        Err(e) if e.kind() != std::io::ErrorKind::AddrInUse => {
            return Err(format!("bind {path}: {e}"))
        }
        Err(_) => {}
    }
    for _ in 0..5 {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            containerd_shim::util::write_address(address).map_err(|e| e.to_string())?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    remove_socket(address);
    UnixListener::bind(path)
        .map(Some)
        .map_err(|e| format!("bind {path}: {e}"))
}

fn socket_path(address: &str) -> &str {
    address.strip_prefix("unix://").unwrap_or(address)
}

fn remove_socket(address: &str) {
    let path = Path::new(socket_path(address));
    if path.metadata().is_ok_and(|m| m.file_type().is_socket()) {
        if let Err(e) = std::fs::remove_file(path) {
            warn!("remove socket {}: {e}", path.display());
        }
    }
}

/// Tells `start` (our parent, reading our stdout until it closes) that we serve: stdout
/// becomes stderr.
fn signal_started() {
    // SAFETY: dup2 of the process's own standard descriptors.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        error!("close stdout: {}", std::io::Error::last_os_error());
    }
}

/// The reaper: every child that exits is reported to the crate's exit monitor, which the
/// service subscribes to (never `waitpid` anywhere else).
fn reap(mut signals: Signals) {
    for sig in signals.forever() {
        if sig != SIGCHLD {
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => notify(pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => notify(pid, 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => break,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    warn!("waitpid: {e}");
                    break;
                }
            }
        }
    }
}

fn notify(pid: Pid, code: i32) {
    if let Err(e) = monitor_notify_by_pid(pid.as_raw(), code) {
        error!("exit of {pid}: {e}");
    }
}
