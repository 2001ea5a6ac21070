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
    post_hooks(root, &state, crate::hooks::Kind::Poststart);
    Ok(state)
}

/// Runs the container's `poststart` or `poststop` hooks in the runtime namespace; their
/// failures are warnings (runtime-spec), the lifecycle goes on.
pub(super) fn post_hooks(root: &Root, state: &State, kind: crate::hooks::Kind) {
    match saved_hooks(root, &state.id) {
        Ok(hooks) => run_post_hooks(&hooks, state, kind),
        Err(e) => crate::hooks::warn(&format!("hooks.{}: {e}", kind.name())),
    }
}

/// The hooks part of container `id`'s saved spec ([`crate::hooks::SpecHooks`]).
pub(super) fn saved_hooks(root: &Root, id: &str) -> Result<crate::hooks::SpecHooks, Error> {
    let path = root.state_dir(id).join(super::create::SPEC_FILE);
    let text = std::fs::read(&path).map_err(Error::io("read", &path))?;
    serde_json::from_slice(&text).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
}

/// [`post_hooks`] with the hooks at hand.
pub(super) fn run_post_hooks(
    hooks: &crate::hooks::SpecHooks,
    state: &State,
    kind: crate::hooks::Kind,
) {
    let list = hooks.of(kind);
    if list.is_empty() {
        return;
    }
    let json = hooks.state_json(&state.id, kind, state.pid, &state.bundle);
    crate::hooks::run_warning(kind, list, &json, Some(&state.bundle));
}
