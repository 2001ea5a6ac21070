//! Create: mount the rootfs, open the IO, build the container under the handler policy.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use containerd_shim::api::{CreateTaskRequest, CreateTaskResponse};
use containerd_shim::protos::events::task::{TaskCreate, TaskIO};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics::TASK_CREATE_EVENT_TOPIC;
use containerd_shim::protos::ttrpc;
use pinhole_sandbox::cgroups::Cgroup;
use pinhole_sandbox::container::{self, Stdio};

use super::container::Container;
use super::process::{IoPaths, Process};
use super::{errors, options, rootfs, Service};
use crate::io::ProcessIo;
use pinhole_sandbox::setup::{self, Reply, Request};

/// Opens a process's IO. Without a terminal: pipes and copiers now, and the child ends as
/// the process's stdio. With a terminal the sandbox creates the pty inside the container
/// (so `tty` names a device that exists there) and hands the master back; the process
/// starts on /dev/null and the shim side is attached with [`ProcessIo::open_console`].
///
/// With `owner` (containerd's `io_uid`/`io_gid` for a process in a user namespace) the child's
/// pipes are given to that host uid/gid, as runc's shim does, so that the process can reopen
/// them (`/dev/stdout`, `/proc/self/fd/1`); nothing but a pipe is ever chowned.
pub(super) fn open_io(
    paths: &IoPaths,
    owner: Option<(u32, u32)>,
) -> std::io::Result<(Option<ProcessIo>, Stdio)> {
    if paths.terminal {
        let null = || {
            std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
        };
        return Ok((
            None,
            Stdio {
                stdin: Some(null()?.into()),
                stdout: Some(null()?.into()),
                stderr: Some(null()?.into()),
            },
        ));
    }
    let (io, child) = ProcessIo::open(&paths.stdin, &paths.stdout, &paths.stderr, false)?;
    if let Some((uid, gid)) = owner {
        for fd in [&child.stdin, &child.stdout, &child.stderr]
            .into_iter()
            .flatten()
        {
            chown_pipe(fd, uid, gid)?;
        }
    }
    Ok((Some(io), child))
}

/// Gives the pipe `fd` to `uid`/`gid`; anything else (/dev/null) is left alone.
fn chown_pipe(fd: &std::os::fd::OwnedFd, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    if nix::sys::stat::SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT)
        != nix::sys::stat::SFlag::S_IFIFO
    {
        return Ok(());
    }
    nix::unistd::fchown(
        fd.as_raw_fd(),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(std::io::Error::from)
}

impl Service {
    pub(super) fn do_create(&self, req: CreateTaskRequest) -> ttrpc::Result<CreateTaskResponse> {
        let id = req.id.clone();
        // Reserve the id for the whole create: a concurrent Create of the same id must not
        // mount over (and then unmount) this one's rootfs.
        {
            let taken = self.lock().contains_key(&id);
            let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            if taken || !creating.insert(id.clone()) {
                return Err(errors::already_exists(format!(
                    "task {id:?} already exists"
                )));
            }
        }
        let result = self.create_reserved(req);
        self.creating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        result
    }

    fn create_reserved(&self, req: CreateTaskRequest) -> ttrpc::Result<CreateTaskResponse> {
        let id = req.id.clone();
        if !req.checkpoint.is_empty() {
            return Err(errors::unimplemented(format!(
                "task {id:?}: restore from checkpoint is not supported by pinhole"
            )));
        }
        let opts = options::parse(req.options.as_ref()).map_err(errors::invalid_argument)?;
        let policy = opts.config_path.map(PathBuf::from);
        let bundle = PathBuf::from(&req.bundle);
        rootfs::validate(&req.rootfs)
            .map_err(|e| errors::invalid_argument(format!("task {id:?}: {e}")))?;
        let root = self.root()?;
        let mounted = rootfs::mount_rootfs(&bundle, &req.rootfs)
            .map_err(|e| errors::internal(format!("task {id:?}: {e}")))?;
        let unmount = |e| {
            if let Some(m) = &mounted {
                rootfs::unmount_rootfs(m);
            }
            e
        };
        let paths = IoPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let (io, child) = open_io(&paths, opts.io_owner)
            .map_err(|e| unmount(errors::internal(format!("task {id:?}: open io: {e}"))))?;
        let request = Request::Create {
            root: root.dir().to_path_buf(),
            id: id.clone(),
            bundle: bundle.clone(),
            policy: policy.clone(),
            console: paths.terminal,
        };
        let (pid, cgroup_path, console) = match setup::run(&self.pinhole()?, &request, child) {
            Ok((
                Reply::Done {
                    pid,
                    cgroup_path: Some(cgroup_path),
                    warnings,
                    ..
                },
                console,
            )) => {
                for w in warnings {
                    log::warn!("task {id:?}: {w}");
                }
                (pid, cgroup_path, console)
            }
            failed => {
                return Err(unmount(errors::from_helper(
                    &format!("create task {id:?}"),
                    failed,
                )))
            }
        };
        // From here on a failure must also remove the container just created.
        let undo = |e| {
            let _ = container::delete(&root, &id, true);
            unmount(e)
        };
        let io = match (io, console) {
            (Some(io), _) => io,
            (None, Some(master)) => ProcessIo::open_console(&paths.stdin, &paths.stdout, master)
                .map_err(|e| {
                    undo(errors::internal(format!(
                        "task {id:?}: attach terminal: {e}"
                    )))
                })?,
            (None, None) => {
                return Err(undo(errors::internal(format!(
                    "task {id:?}: no terminal came back"
                ))))
            }
        };
        let cgroup = Cgroup::new(Some(&cgroup_path), &id)
            .map_err(|e| undo(errors::internal(format!("task {id:?}: cgroup: {e}"))))?;
        let init = Arc::new(Process::new("", paths.clone(), None));
        init.lock().io = Some(Arc::new(io));
        let c = Arc::new(Container {
            id: id.clone(),
            bundle: bundle.clone(),
            rootfs_mount: mounted,
            init: init.clone(),
            execs: Mutex::new(Default::default()),
            cgroup,
            policy,
            io_owner: opts.io_owner,
        });
        self.lock().insert(id.clone(), c.clone());
        self.exits.claim(pid, &c, &init, &self.events);
        super::oom::watch(&c, &self.events);
        // containerd reads this task's log fifo now; the first bundle's goes with its task
        crate::logger::follow(&bundle);
        log::debug!("task {id:?} created, pid {pid}");

        let mut ev = TaskCreate::new();
        ev.container_id = id.clone();
        ev.bundle = req.bundle.clone();
        ev.rootfs = req.rootfs.clone();
        let mut tio = TaskIO::new();
        tio.stdin = paths.stdin;
        tio.stdout = paths.stdout;
        tio.stderr = paths.stderr;
        tio.terminal = paths.terminal;
        ev.io = MessageField::some(tio);
        ev.pid = pid as u32;
        self.events.send(TASK_CREATE_EVENT_TOPIC, ev);

        let mut resp = CreateTaskResponse::new();
        resp.pid = pid as u32;
        Ok(resp)
    }
}
