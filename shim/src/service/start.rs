//! Start: release a created init, or start an added exec.

use std::sync::Arc;

use containerd_shim::api::{StartRequest, StartResponse, Status};
use containerd_shim::protos::events::task::{TaskExecStarted, TaskStart};
use containerd_shim::protos::topics::{TASK_EXEC_STARTED_EVENT_TOPIC, TASK_START_EVENT_TOPIC};
use containerd_shim::protos::ttrpc;
use pinhole_sandbox::container;

use super::create::open_io;
use super::{errors, Service};
use crate::io::ProcessIo;
use pinhole_sandbox::setup::{self, Reply, Request};

impl Service {
    pub(super) fn do_start(&self, req: StartRequest) -> ttrpc::Result<StartResponse> {
        let (c, p) = self.process(&req.id, &req.exec_id)?;
        if p.status() != Status::CREATED {
            return Err(errors::failed_precondition(format!(
                "task {:?} exec {:?}: cannot start a process that is {:?}",
                req.id,
                req.exec_id,
                p.status()
            )));
        }
        let root = self.root()?;
        let mut resp = StartResponse::new();
        if req.exec_id.is_empty() {
            let (on_denial, on_done) = supervisor_log(&req.id, self.events.clone());
            // A recorded or audited task gets its supervisor thread here (detached: it ends
            // when the task's last process is gone and reports through the log).
            container::start_supervised(&root, &req.id, on_denial, Some(on_done))
                .map_err(|e| errors::from_sandbox(&format!("start task {:?}", req.id), e))?;
            {
                let mut st = p.lock();
                if st.status == Some(Status::CREATED) {
                    st.status = Some(Status::RUNNING);
                }
            }
            let pid = p.pid();
            let mut ev = TaskStart::new();
            ev.container_id = req.id.clone();
            ev.pid = pid as u32;
            self.events.send(TASK_START_EVENT_TOPIC, ev);
            resp.pid = pid as u32;
            return Ok(resp);
        }

        if c.init.status() != Status::RUNNING {
            return Err(errors::failed_precondition(format!(
                "task {:?} is {:?}: exec {:?} needs a running task",
                req.id,
                c.init.status(),
                req.exec_id
            )));
        }
        let spec = p
            .spec
            .clone()
            .ok_or_else(|| errors::internal("exec without a process spec"))?;
        let paths = &p.paths;
        let (io, child) = open_io(paths, c.io_owner)
            .map_err(|e| errors::internal(format!("exec {:?}: open io: {e}", req.exec_id)))?;
        p.lock().io = io.map(Arc::new);
        let request = Request::Exec {
            root: root.dir().to_path_buf(),
            id: req.id.clone(),
            process: spec,
            policy: c.policy.clone(),
            console: paths.terminal,
        };
        let pid = match setup::run(&self.pinhole()?, &request, child) {
            Ok((Reply::Done { pid, warnings, .. }, console)) => {
                for w in warnings {
                    log::warn!("task {:?} exec {:?}: {w}", req.id, req.exec_id);
                }
                if let Some(master) = console {
                    let io = ProcessIo::open_console(&paths.stdin, &paths.stdout, master).map_err(
                        |e| {
                            errors::internal(format!(
                                "exec {:?}: attach terminal: {e}",
                                req.exec_id
                            ))
                        },
                    )?;
                    p.lock().io = Some(Arc::new(io));
                }
                pid
            }
            failed => {
                p.lock().io = None;
                // The exec never ran: release its waiters (containerd kills and waits for a
                // process whose start failed before deleting it) with a failure status.
                p.set_exited(128);
                return Err(errors::from_helper(
                    &format!("start exec {:?} in task {:?}", req.exec_id, req.id),
                    failed,
                ));
            }
        };
        {
            let mut st = p.lock();
            if st.status == Some(Status::CREATED) {
                st.status = Some(Status::RUNNING);
            }
        }
        self.exits.claim(pid, &c, &p, &self.events);
        log::debug!(
            "exec {:?} in task {:?} started, pid {pid}",
            req.exec_id,
            req.id
        );
        let mut ev = TaskExecStarted::new();
        ev.container_id = req.id.clone();
        ev.exec_id = req.exec_id.clone();
        ev.pid = pid as u32;
        self.events.send(TASK_EXEC_STARTED_EVENT_TOPIC, ev);
        resp.pid = pid as u32;
        Ok(resp)
    }
}

/// Topic of the event published when a task's supervisor fails (e.g. a recording that
/// cannot be written); the payload is a `google.protobuf.StringValue` naming task and error.
pub const SUPERVISOR_ERROR_TOPIC: &str = "/pinhole/supervisor-error";

/// Log lines for a supervised task: each newly denied syscall, and how the supervisor ended
/// (a recording that cannot be written is an error here and an event; the task exits
/// normally anyway).
fn supervisor_log(
    id: &str,
    events: Arc<super::events::Events>,
) -> (container::OnDenial, container::OnDone) {
    let denied_id = id.to_string();
    let on_denial = Box::new(move |d: &pinhole_sandbox::record::Denial| {
        log::warn!(
            "task {denied_id:?}: seccomp denied {} ({}, nr {}, errno {})",
            d.name,
            d.arch,
            d.nr,
            pinhole_sandbox::record::errno_name(d.errno)
        )
    });
    let done_id = id.to_string();
    let on_done = Box::new(move |r: &Result<container::Report, String>| match r {
        Ok(report) => {
            if let (Some(files), Some(merged)) = (&report.files, &report.merged) {
                log::info!(
                    "task {done_id:?}: recording {:?} written to {} ({} syscalls, {} containers)",
                    merged.name,
                    files.json.display(),
                    merged.syscalls.len(),
                    merged.containers.len()
                );
            }
            if let Some(d) = &report.outcome.denials {
                log::info!(
                    "task {done_id:?}: {} distinct syscalls denied",
                    d.denials.len()
                );
            }
        }
        Err(e) => {
            log::error!("task {done_id:?}: supervisor: {e}");
            let mut ev = protobuf::well_known_types::wrappers::StringValue::new();
            ev.value = format!("task {done_id:?}: supervisor: {e}");
            events.send(SUPERVISOR_ERROR_TOPIC, ev);
        }
    });
    (on_denial, on_done)
}
