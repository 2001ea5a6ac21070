//! `start`: release a created container into its workload.

use super::state::{State, Status};
use super::{Error, Root};

/// Starts a created container: its init drops privileges, installs seccomp and execs.
///
/// A recorded or audited container needs its supervisor: start it with
/// [`super::start_supervised`] from a process that outlives it (the shim, `pinhole run`).
pub fn start(root: &Root, id: &str) -> Result<State, Error> {
    if root
        .state_dir(id)
        .join(crate::record::SUPERVISE_FILE)
        .exists()
    {
        return Err(Error::Other(format!(
            "container {id:?} is recorded or audited: its supervisor must start it (the containerd shim, `pinhole run` or `pinhole profile record`), not `pinhole start`"
        )));
    }
    release(root, id)
}

/// Releases the init of a created container (the supervisor, if any, is already running).
pub(super) fn release(root: &Root, id: &str) -> Result<State, Error> {
    let mut state = State::load(root, id)?;
    if state.status != Status::Created {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status: state.status.to_string(),
            what: "only a created container can be started",
        });
    }
    let dir = root.state_dir(id);
    match crate::init::gate::release(&dir) {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return Err(Error::Init(message)),
        Err(e) => {
            return Err(Error::Other(format!(
                "start container {id:?}: release start gate: {e}"
            )))
        }
    }
    state.status = Status::Running;
    Ok(state)
}
