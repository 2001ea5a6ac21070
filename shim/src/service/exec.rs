//! Exec: register a process to be started in a running task.

use std::sync::Arc;

use containerd_shim::api::{Empty, ExecProcessRequest, Status};
use containerd_shim::protos::events::task::TaskExecAdded;
use containerd_shim::protos::topics::TASK_EXEC_ADDED_EVENT_TOPIC;
use containerd_shim::protos::ttrpc;

use super::process::{IoPaths, Process};
use super::{errors, Service};

/// The fields of an exec's OCI process the shim checks when containerd registers it (the
/// setup helper parses the whole process when it starts): a typed parse of all of
/// `oci_spec::runtime::Process` would put oci-spec's deserializers, and the regex engine its
/// `execCPUAffinity` check uses, into every long-lived shim.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // parsed for their shape
struct ExecCheck {
    #[serde(default)]
    args: Option<Vec<String>>,
    cwd: String,
    user: oci_spec::runtime::User,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    terminal: Option<bool>,
}

impl Service {
    pub(super) fn do_exec(&self, req: ExecProcessRequest) -> ttrpc::Result<Empty> {
        let c = self.container(&req.id)?;
        if req.exec_id.is_empty() {
            return Err(errors::invalid_argument(format!(
                "exec in task {:?}: empty exec id",
                req.id
            )));
        }
        if c.init.status() != Status::RUNNING {
            return Err(errors::failed_precondition(format!(
                "exec {:?}: task {:?} is {:?}, not running",
                req.exec_id,
                req.id,
                c.init.status()
            )));
        }
        let any = req.spec.as_ref().ok_or_else(|| {
            errors::invalid_argument(format!("exec {:?}: missing process spec", req.exec_id))
        })?;
        // Its shape checked here so a bad spec fails Exec, not Start; the setup helper parses
        // all of it at Start.
        let process: ExecCheck = pinhole_sandbox::spec::from_json(&any.value).map_err(|e| {
            errors::invalid_argument(format!("exec {:?}: process spec: {e}", req.exec_id))
        })?;
        pinhole_sandbox::spec::check_user(&process.user).map_err(|e| {
            errors::invalid_argument(format!("exec {:?}: process spec: {e}", req.exec_id))
        })?;
        let paths = IoPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        {
            let mut execs = c.execs.lock().unwrap_or_else(|e| e.into_inner());
            if execs.contains_key(&req.exec_id) {
                return Err(errors::already_exists(format!(
                    "exec {:?} already exists in task {:?}",
                    req.exec_id, req.id
                )));
            }
            execs.insert(
                req.exec_id.clone(),
                Arc::new(Process::new(&req.exec_id, paths, Some(any.value.clone()))),
            );
        }
        let mut ev = TaskExecAdded::new();
        ev.container_id = req.id.clone();
        ev.exec_id = req.exec_id.clone();
        self.events.send(TASK_EXEC_ADDED_EVENT_TOPIC, ev);
        Ok(Empty::new())
    }
}
