//! Delete: remove an exited exec, or the task with its cgroup, state and rootfs mount.

use containerd_shim::api::{DeleteRequest, DeleteResponse, Status};
use containerd_shim::protos::events::task::TaskDelete;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics::TASK_DELETE_EVENT_TOPIC;
use containerd_shim::protos::ttrpc;

use super::{errors, rootfs, Service};

impl Service {
    pub(super) fn do_delete(&self, req: DeleteRequest) -> ttrpc::Result<DeleteResponse> {
        let (c, p) = self.process(&req.id, &req.exec_id)?;
        let mut resp = DeleteResponse::new();
        if !req.exec_id.is_empty() {
            let st = p.lock();
            if st.status == Some(Status::RUNNING) || st.status == Some(Status::PAUSED) {
                return Err(errors::failed_precondition(format!(
                    "delete exec {:?} of task {:?}: still running",
                    req.exec_id, req.id
                )));
            }
            resp.pid = st.pid as u32;
            resp.exit_status = st.exit_status;
            resp.exited_at = MessageField::from_option(st.exited_at.clone());
            drop(st);
            c.execs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&req.exec_id);
            return Ok(resp);
        }

        if p.status() == Status::RUNNING || p.status() == Status::PAUSED {
            return Err(errors::failed_precondition(format!(
                "delete task {:?}: still running (kill it first)",
                req.id
            )));
        }
        let root = self.root()?;
        // Kills what may be left (a created init, orphans without a PID namespace), removes
        // the cgroup and the state directory.
        match pinhole_sandbox::container::delete(&root, &req.id, true) {
            Ok(()) | Err(pinhole_sandbox::container::Error::NotFound(_)) => {}
            Err(e) => {
                return Err(errors::from_sandbox(
                    &format!("delete task {:?}", req.id),
                    e,
                ))
            }
        }
        if p.status() != Status::STOPPED {
            // A created-but-never-started init was just killed: wait for its exit.
            p.wait();
        }
        if let Some(m) = &c.rootfs_mount {
            rootfs::unmount_rootfs(m);
        }
        self.lock().remove(&req.id);
        let st = p.lock();
        resp.pid = st.pid as u32;
        resp.exit_status = st.exit_status;
        resp.exited_at = MessageField::from_option(st.exited_at.clone());
        let mut ev = TaskDelete::new();
        ev.container_id = req.id.clone();
        ev.pid = resp.pid;
        ev.exit_status = resp.exit_status;
        ev.exited_at = resp.exited_at.clone();
        self.events.send(TASK_DELETE_EVENT_TOPIC, ev);
        Ok(resp)
    }
}
