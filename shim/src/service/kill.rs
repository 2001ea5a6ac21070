//! Kill: signal a process, or with `all` every process of the task.

use containerd_shim::api::{Empty, KillRequest, Status};
use containerd_shim::protos::ttrpc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{errors, Service};

impl Service {
    pub(super) fn do_kill(&self, req: KillRequest) -> ttrpc::Result<Empty> {
        let (c, p) = self.process(&req.id, &req.exec_id)?;
        let sig = Signal::try_from(req.signal as i32).map_err(|_| {
            errors::invalid_argument(format!(
                "kill task {:?}: invalid signal {}",
                req.id, req.signal
            ))
        })?;
        if req.all && req.exec_id.is_empty() {
            return c
                .cgroup
                .kill_all(sig)
                .map(|_| Empty::new())
                .map_err(|e| errors::internal(format!("kill all of task {:?}: {e}", req.id)));
        }
        let (pid, status) = {
            let st = p.lock();
            (st.pid, st.status)
        };
        if status == Some(Status::STOPPED) || pid <= 0 {
            return Err(errors::not_found(format!(
                "kill task {:?} exec {:?}: process already finished",
                req.id, req.exec_id
            )));
        }
        kill(Pid::from_raw(pid), sig).map_err(|e| {
            if e == nix::errno::Errno::ESRCH {
                errors::not_found(format!(
                    "kill task {:?} exec {:?}: process already finished",
                    req.id, req.exec_id
                ))
            } else {
                errors::internal(format!("kill {pid} ({:?}) with {sig}: {e}", req.id))
            }
        })?;
        Ok(Empty::new())
    }
}
