//! The shim binary's lifecycle (start / delete / serve), apart from the task service.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim::api::DeleteResponse;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, ExitSignal, Flags, StartOpts};
use log::{info, warn};

use crate::group;
use crate::service::Service;

/// The runtime id containerd knows us by.
pub const RUNTIME_ID: &str = "io.containerd.pinhole.v2";

/// The shim: one per group (pod).
pub struct PinholeShim {
    flags: Flags,
    exit: Arc<ExitSignal>,
}

impl containerd_shim::Shim for PinholeShim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        PinholeShim {
            flags: Flags {
                debug: args.debug,
                namespace: args.namespace.clone(),
                id: args.id.clone(),
                socket: args.socket.clone(),
                bundle: args.bundle.clone(),
                address: args.address.clone(),
                publish_binary: args.publish_binary.clone(),
                action: args.action.clone(),
                version: args.version,
                info: args.info,
            },
            exit: Arc::new(ExitSignal::default()),
        }
    }

    /// The address of the group's shim, starting it if it does not run yet (the reply is
    /// [`crate::start`]'s).
    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let bundle = std::env::current_dir().map_err(io_err("current dir"))?;
        let group = group::key(&bundle, &opts.id);
        let address = containerd_shim::socket_address(&opts.address, &opts.namespace, &group);
        let address = if socket_alive(&address) {
            address
        } else {
            // the daemon publishes events there (given by the environment or, from containerd
            // 2.3 on, by the bootstrap parameters)
            let ttrpc = opts.ttrpc_address.clone();
            containerd_shim::spawn(
                opts,
                &group,
                vec![(crate::serve::TTRPC_ADDRESS, ttrpc.as_str())],
            )?
            .1
        };
        // the `address` file holds the bare address whatever the reply (containerd reads it on
        // restart, the crate on shutdown)
        write_address(Path::new("address"), &address)?;
        Ok(address)
    }

    /// Cleans up after a shim that died: kills what is left of the container, unmounts its
    /// rootfs, removes its cgroup and state. Idempotent.
    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = match self.flags.bundle.as_str() {
            "" => std::env::current_dir().map_err(io_err("current dir"))?,
            b => PathBuf::from(b),
        };
        let root = group::pinhole_dir(&bundle, &self.flags.namespace);
        crate::service::cleanup_container(&root, &self.flags.id, &bundle);
        // The group's working directory, once no shim serves the group any more.
        let group = group::key(&bundle, &self.flags.id);
        let dir = group::shim_dir(&bundle, &self.flags.namespace, &group);
        let served = std::fs::read_to_string(dir.join("address"))
            .map(|a| socket_alive(a.trim()))
            .unwrap_or(false);
        if !served {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let mut resp = DeleteResponse::new();
        resp.exit_status = 128 + libc::SIGKILL as u32;
        resp.exited_at =
            protobuf::MessageField::some(protobuf::well_known_types::timestamp::Timestamp::now());
        Ok(resp)
    }

    fn wait(&mut self) {
        self.exit.wait();
        // Remove our socket now: containerd runs `delete` as soon as we disconnect, and that
        // may remove the working directory whose `address` file the crate reads to find the
        // socket. New connections are refused from here on; served requests finish.
        let path = self
            .flags
            .socket
            .strip_prefix("unix://")
            .unwrap_or(&self.flags.socket);
        let _ = std::fs::remove_file(path);
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        let bundle = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let group = group::key(&bundle, &self.flags.id);
        let dir = group::shim_dir(&bundle, &self.flags.namespace, &group);
        if let Err(e) = settle_in(&dir, &self.flags.socket) {
            warn!("stay in {}: {e}", bundle.display());
        } else {
            info!("shim for group {group} working in {}", dir.display());
        }
        let service = Service::new(
            &self.flags.namespace,
            group::pinhole_dir(&bundle, &self.flags.namespace),
            publisher,
            self.exit.clone(),
        );
        crate::lifetime::handle_sigterm(service.stopper(), self.exit.clone());
        service
    }
}

/// Moves the shim into its group's stable directory (the first bundle goes away with its
/// container) and writes the `address` file there: the crate removes the socket named in
/// `./address` on exit, so no stale socket is left for the next shim of the group.
/// The directories (`<containerd state>/pinhole/<ns>/.shims/<group>`) are owner-only, like
/// all of pinhole's state: the names are container ids.
fn settle_in(dir: &Path, socket: &str) -> std::io::Result<()> {
    pinhole_sandbox::private::create_dir_all(dir)?;
    pinhole_sandbox::private::replace(&dir.join("address"), socket.as_bytes())?;
    std::env::set_current_dir(dir)
}

/// Writes an `address` file (owner-only; the crate's `write_address` leaves it 0644).
fn write_address(path: &Path, address: &str) -> containerd_shim::Result<()> {
    pinhole_sandbox::private::replace(path, address.as_bytes()).map_err(|err| {
        containerd_shim::Error::IoError {
            context: format!("write {}", path.display()),
            err,
        }
    })
}

/// Whether a shim already serves `address` (`unix://PATH`).
fn socket_alive(address: &str) -> bool {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

fn io_err(context: &'static str) -> impl Fn(std::io::Error) -> containerd_shim::Error {
    move |err| containerd_shim::Error::IoError {
        context: context.to_string(),
        err,
    }
}
