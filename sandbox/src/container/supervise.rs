//! `start` for a supervised (recorded or audited) container: the supervisor must hold the
//! init's listener before the init's `execve` can return.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crate::record::{self, Denial, Outcome, ProfileFiles, Supervision, Usage};

use super::state::State;
use super::{Error, Root};

/// Called the first time each syscall is denied (audit).
pub type OnDenial = Box<dyn FnMut(&Denial) + Send>;
/// Called with the supervisor's result when it ends.
pub type OnDone = Box<dyn FnOnce(&Result<Report, String>) + Send>;

/// What a finished supervisor reports.
#[derive(Debug, Default)]
pub struct Report {
    /// Everything the supervisor saw.
    pub outcome: Outcome,
    /// The profile files a named recording wrote (or merged into).
    pub files: Option<ProfileFiles>,
    /// The merged usage of a named recording.
    pub merged: Option<Usage>,
}

/// A running supervisor thread.
#[derive(Debug)]
pub struct Supervisor {
    /// The container.
    pub id: String,
    handle: JoinHandle<Result<Report, String>>,
}

impl Supervisor {
    /// Waits until the last filtered task of the container is gone and the outputs are
    /// written.
    pub fn finish(self) -> Result<Report, String> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(format!("container {:?}: supervisor panicked", self.id)))
    }
}

/// Starts container `id`; when it is supervised, first starts its supervisor thread, which
/// writes `usage.json` (record) or `denials.json` (audit) to the state directory and a named
/// recording's profiles to its output directory when the container's processes are gone.
/// `on_denial` is called the first time each syscall is denied, `on_done` (if any) with the
/// result when the supervisor ends (so that a caller need not wait in [`Supervisor::finish`]).
pub fn start_supervised(
    root: &Root,
    id: &str,
    on_denial: OnDenial,
    on_done: Option<OnDone>,
) -> Result<(State, Option<Supervisor>), Error> {
    let dir = root.state_dir(id);
    let Some(sup) = Supervision::load(&dir).map_err(Error::Other)? else {
        return super::start::release(root, id).map(|s| (s, None));
    };
    let state = State::load(root, id)?;
    // Opened while the init waits at the start gate: the pid cannot be reused under us.
    let pidfd = record::pidfd_open(state.pid)
        .map_err(|e| Error::Other(format!("container {id:?}: pidfd_open: {e}")))?;
    let pid = state.pid;
    let owned_id = id.to_string();
    let handle = std::thread::Builder::new()
        .name(format!("supervise-{}", &id[..id.len().min(6)]))
        .spawn(move || {
            let mut on_denial = on_denial;
            let result = record::supervise(&pidfd, pid, &owned_id, &sup, &dir, &mut *on_denial)
                .and_then(|outcome| write_outputs(&owned_id, &sup, &dir, outcome));
            if let Some(done) = on_done {
                done(&result);
            }
            result
        })
        .map_err(|e| Error::Other(format!("container {id:?}: start supervisor: {e}")))?;
    let supervisor = Supervisor {
        id: id.to_string(),
        handle,
    };
    match super::start::release(root, id) {
        Ok(state) => Ok((state, Some(supervisor))),
        Err(e) => {
            // The init failed before its execve and is gone: the supervisor ends too.
            let _ = supervisor.finish();
            Err(e)
        }
    }
}

fn write_outputs(
    id: &str,
    sup: &Supervision,
    state_dir: &std::path::Path,
    outcome: Outcome,
) -> Result<Report, String> {
    let mut report = Report::default();
    if let Some(usage) = &outcome.usage {
        // The profile directory first: the state directory may already be going away with
        // the container.
        if let Some(out) = &sup.out_dir {
            let (files, merged) = record::write_merged(out, &sup.name, usage)
                .map_err(|e| format!("container {id:?}: write recorded profile: {e}"))?;
            report.files = Some(files);
            report.merged = Some(merged);
        }
        let path: PathBuf = state_dir.join(record::USAGE_FILE);
        let text = serde_json::to_vec_pretty(usage).map_err(|e| e.to_string())?;
        if let Err(e) = crate::private::replace(&path, &text) {
            if sup.out_dir.is_none() {
                return Err(format!("container {id:?}: {}: {e}", path.display()));
            }
        }
    }
    report.outcome = outcome;
    Ok(report)
}
