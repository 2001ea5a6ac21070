//! Wait: blocking (the `Task` trait's form) and deferred (what the shim's server calls, so a
//! waiting process holds no thread).

use containerd_shim::api::*;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::ttrpc;

use super::{errors, exits, Service};

/// Answers Wait requests without blocking the caller (see `crate::serve::task_methods`).
pub struct Waiter {
    containers: exits::Containers,
}

impl Service {
    /// A [`Waiter`] on this service's containers.
    pub fn waiter(&self) -> Waiter {
        Waiter {
            containers: self.containers.clone(),
        }
    }

    pub(super) fn do_wait(&self, req: WaitRequest) -> ttrpc::Result<WaitResponse> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        let (code, at) = p.wait();
        Ok(response(code, at))
    }
}

impl Waiter {
    /// Decodes a WaitRequest from `payload` and calls `done` with the answer once the process
    /// has exited (at once for an error or a process that already exited).
    pub fn wait(
        &self,
        payload: &[u8],
        done: impl FnOnce(ttrpc::Result<WaitResponse>) + Send + 'static,
    ) {
        let req = match WaitRequest::parse_from_bytes(payload) {
            Ok(r) => r,
            Err(e) => return done(Err(errors::invalid_argument(format!("WaitRequest: {e}")))),
        };
        let process =
            super::lookup(&self.containers, &req.id).and_then(|c| c.process(&req.exec_id));
        match process {
            Ok(p) => p.on_exit(Box::new(move |code, at| done(Ok(response(code, at))))),
            Err(e) => done(Err(e)),
        }
    }
}

fn response(code: u32, at: Timestamp) -> WaitResponse {
    let mut resp = WaitResponse::new();
    resp.exit_status = code;
    resp.exited_at = MessageField::some(at);
    resp
}
