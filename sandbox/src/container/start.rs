//! `start`: release a created container into its workload.

use super::state::{State, Status};
use super::{Error, Root};

/// Starts a created container: its init drops privileges, installs seccomp and execs.
pub fn start(root: &Root, id: &str) -> Result<State, Error> {
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
