//! One process of a container (its init or an exec) as the shim tracks it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use containerd_shim::api::Status;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;

use crate::io::ProcessIo;

/// The IO paths containerd gave for a process.
#[derive(Debug, Clone, Default)]
pub struct IoPaths {
    /// stdin FIFO (empty: none).
    pub stdin: String,
    /// stdout FIFO.
    pub stdout: String,
    /// stderr FIFO.
    pub stderr: String,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

/// Called once with (exit status, time) when a process has exited.
pub type ExitCallback = Box<dyn FnOnce(u32, Timestamp) + Send>;

/// Mutable state of a process.
#[derive(Default)]
pub struct ProcState {
    /// Host pid (0 until started).
    pub pid: i32,
    /// containerd status.
    pub status: Option<Status>,
    /// Exit status once stopped.
    pub exit_status: u32,
    /// Exit time once stopped.
    pub exited_at: Option<Timestamp>,
    /// The shim side of the process's IO.
    pub io: Option<Arc<ProcessIo>>,
    /// Called on exit (deferred Wait requests).
    waiters: Vec<ExitCallback>,
}

/// A container process.
pub struct Process {
    /// Exec id ("" for the init).
    pub exec_id: String,
    /// IO paths.
    pub paths: IoPaths,
    /// OCI process of an exec, as JSON (None for the init).
    pub spec: Option<Vec<u8>>,
    state: Mutex<ProcState>,
    exited: Condvar,
}

impl Process {
    /// A process that exists only on paper (created init or added exec).
    pub fn new(exec_id: &str, paths: IoPaths, spec: Option<Vec<u8>>) -> Process {
        Process {
            exec_id: exec_id.to_string(),
            paths,
            spec,
            state: Mutex::new(ProcState {
                status: Some(Status::CREATED),
                ..Default::default()
            }),
            exited: Condvar::new(),
        }
    }

    /// Locks the state.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Host pid (0 before start).
    pub fn pid(&self) -> i32 {
        self.lock().pid
    }

    /// containerd status.
    pub fn status(&self) -> Status {
        self.lock().status.unwrap_or(Status::UNKNOWN)
    }

    /// Records the exit: drains output first so nothing written before exit is lost, then
    /// marks the process stopped and wakes waiters.
    pub fn set_exited(&self, code: i32) -> Timestamp {
        let io = self.lock().io.clone();
        if let Some(io) = io {
            io.drain(Duration::from_secs(2));
        }
        let now = Timestamp::now();
        let mut st = self.lock();
        st.status = Some(Status::STOPPED);
        st.exit_status = code as u32;
        st.exited_at = Some(now.clone());
        st.io = None;
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        self.exited.notify_all();
        for w in waiters {
            w(code as u32, now.clone());
        }
        now
    }

    /// Calls `f` once the process has exited: at once if it has, else on exit.
    pub fn on_exit(&self, f: ExitCallback) {
        let mut st = self.lock();
        if st.status == Some(Status::STOPPED) {
            let (code, at) = (st.exit_status, st.exited_at.clone().unwrap_or_default());
            drop(st);
            f(code, at);
        } else {
            st.waiters.push(f);
        }
    }

    /// Blocks until the process has exited; returns (exit status, time).
    pub fn wait(&self) -> (u32, Timestamp) {
        let mut st = self.lock();
        while st.status != Some(Status::STOPPED) {
            st = self.exited.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        (st.exit_status, st.exited_at.clone().unwrap_or_default())
    }

    /// The process's IO, if it still has one.
    pub fn io(&self) -> Option<Arc<ProcessIo>> {
        self.lock().io.clone()
    }
}
