//! Read-only verbs: state, pids, stats, connect (wait: wait.rs).

use containerd_shim::api::*;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::ttrpc;

use super::{errors, Service};

impl Service {
    pub(super) fn do_state(&self, req: StateRequest) -> ttrpc::Result<StateResponse> {
        let (c, p) = self.process(&req.id, &req.exec_id)?;
        let st = p.lock();
        let mut resp = StateResponse::new();
        resp.id = req.id.clone();
        resp.exec_id = req.exec_id.clone();
        resp.bundle = c.bundle.to_string_lossy().into_owned();
        resp.pid = st.pid.max(0) as u32;
        resp.status = st.status.unwrap_or(Status::UNKNOWN).into();
        resp.stdin = p.paths.stdin.clone();
        resp.stdout = p.paths.stdout.clone();
        resp.stderr = p.paths.stderr.clone();
        resp.terminal = p.paths.terminal;
        resp.exit_status = st.exit_status;
        resp.exited_at = MessageField::from_option(st.exited_at.clone());
        Ok(resp)
    }

    pub(super) fn do_pids(&self, req: PidsRequest) -> ttrpc::Result<PidsResponse> {
        let c = self.container(&req.id)?;
        let pids = c
            .cgroup
            .pids()
            .map_err(|e| errors::internal(format!("pids of task {:?}: {e}", req.id)))?;
        let mut resp = PidsResponse::new();
        for pid in pids {
            let mut info = containerd_shim::protos::types::task::ProcessInfo::new();
            info.pid = pid as u32;
            resp.processes.push(info);
        }
        Ok(resp)
    }

    pub(super) fn do_stats(&self, req: StatsRequest) -> ttrpc::Result<StatsResponse> {
        let c = self.container(&req.id)?;
        let any = crate::metrics::collect(&c.cgroup)
            .map_err(|e| errors::internal(format!("stats of task {:?}: {e}", req.id)))?;
        let mut resp = StatsResponse::new();
        resp.stats = MessageField::some(any);
        Ok(resp)
    }

    pub(super) fn do_connect(&self, req: ConnectRequest) -> ttrpc::Result<ConnectResponse> {
        let mut resp = ConnectResponse::new();
        resp.shim_pid = std::process::id();
        resp.version = env!("CARGO_PKG_VERSION").to_string();
        if let Ok(c) = self.container(&req.id) {
            resp.task_pid = c.init.pid().max(0) as u32;
        }
        Ok(resp)
    }
}
