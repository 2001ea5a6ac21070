//! `pause` and `resume`: freeze and thaw every process of a running container (its cgroup's
//! freezer).

use super::state::{State, Status};
use super::{Error, Root};
use crate::cgroups::Cgroup;

/// Freezes running container `id`.
pub fn pause(root: &Root, id: &str) -> Result<(), Error> {
    let state = State::load(root, id)?;
    if state.status != Status::Running {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status: state.status.to_string(),
            what: "only a running container can be paused",
        });
    }
    Cgroup::new(Some(&state.cgroup_path), id)?.freeze()?;
    Ok(())
}

/// Thaws paused container `id`.
pub fn resume(root: &Root, id: &str) -> Result<(), Error> {
    let state = State::load(root, id)?;
    if state.status != Status::Paused {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status: state.status.to_string(),
            what: "only a paused container can be resumed",
        });
    }
    Cgroup::new(Some(&state.cgroup_path), id)?.thaw()?;
    Ok(())
}
