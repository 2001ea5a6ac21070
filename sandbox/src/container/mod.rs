//! Container lifecycle on the host side: one file per verb (youki style).
//!
//! State lives in `<root>/<id>/`: `state.json`, a copy of the spec (`config.json`), the
//! compiled seccomp programs (`seccomp.json`, reused by exec) and, while the container is
//! created but not started, the start gate socket. The root and every state directory are
//! 0700, every file 0600 ([`crate::private`]).

mod create;
mod delete;
mod error;
mod exec;
mod kill;
mod pause;
mod root;
mod run;
mod spawn;
mod start;
mod state;
mod supervise;
mod update;
pub mod userns_pool;
mod wait;

pub use create::{create, CreateOptions, Created};
pub use delete::delete;
pub use error::Error;
pub use exec::{exec, recorded_policy, saved_spec, ExecOptions, Execed};
pub use kill::{kill, parse_signal};
pub use pause::{pause, resume};
pub use root::{validate_id, Root, DEFAULT_ROOT};
pub use run::{run, run_created, run_supervised};
pub use spawn::Stdio;
pub use start::start;
pub use state::{now_rfc3339, State, Status};
pub use supervise::{start_supervised, OnDenial, OnDone, Report, Supervisor};
pub use update::{bounded as bounded_update, update};
pub use wait::{become_subreaper, block_signals, wait_forwarding};

/// Says `warnings` on stderr, one `pinhole: warning:` line each (the CLI's form).
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("pinhole: warning: {w}\n").as_bytes(),
        );
    }
}
