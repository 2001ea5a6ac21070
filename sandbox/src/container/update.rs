//! `update`: change a container's cgroup resources, bounded by its policy as its create was.

use oci_spec::runtime::LinuxResources;

use super::state::{State, Status};
use super::{Error, Root};
use crate::cgroups::Cgroup;

/// Applies `resources` to container `id`: validated, then clamped by the policy recorded at
/// create (limits at most the ceilings, no device beyond the allowed ones).
pub fn update(root: &Root, id: &str, mut resources: LinuxResources) -> Result<(), Error> {
    let state = State::load(root, id)?;
    if state.status == Status::Stopped {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status: state.status.to_string(),
            what: "a stopped container cannot be updated",
        });
    }
    bounded(root, id, &mut resources)?;
    Cgroup::new(Some(&state.cgroup_path), id)?.apply(&resources)?;
    Ok(())
}

/// Validates `resources` for container `id` and clamps them by its recorded policy.
pub fn bounded(root: &Root, id: &str, resources: &mut LinuxResources) -> Result<(), Error> {
    crate::cgroups::validate(resources)?;
    if let Some(recorded) = super::recorded_policy(root, id)? {
        recorded.clamp_update(resources);
    }
    Ok(())
}
