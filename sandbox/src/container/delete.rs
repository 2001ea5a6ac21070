//! `delete`: remove a stopped container (or, forced, a live one) and everything it used.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::state::{State, Status};
use super::{Error, Root};
use crate::cgroups::Cgroup;

/// Deletes container `id`: its processes (with `force`), cgroup and state directory.
///
/// A created container is killed like runc does; a running one needs `force`.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<(), Error> {
    let state = State::load(root, id)?;
    // Read before the state directory goes; run once the container is gone.
    let hooks = super::start::saved_hooks(root, id).ok();
    let cg = Cgroup::new(Some(&state.cgroup_path), id)?;
    match state.status {
        Status::Running | Status::Paused if !force => {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status: state.status.to_string(),
                what: "stop it first or use --force",
            })
        }
        Status::Stopped => {}
        _ => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(state.pid), Signal::SIGKILL);
        }
    }
    // Whatever is left in the cgroup (a container without a PID namespace can leave
    // orphans behind its init) goes too.
    if cg.exists() {
        cg.kill_all(Signal::SIGKILL)?;
        // a frozen process dies of SIGKILL only once thawed
        if cg.is_frozen().unwrap_or(false) {
            cg.thaw()?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.init_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    cg.remove()?;
    let dir = root.state_dir(id);
    super::userns_pool::release(Path::new(super::userns_pool::DEFAULT_POOL_DIR), &dir);
    std::fs::remove_dir_all(&dir).map_err(Error::io("remove state directory", &dir))?;
    if let Some(hooks) = &hooks {
        super::start::run_post_hooks(hooks, &state, crate::hooks::Kind::Poststop);
    }
    Ok(())
}
