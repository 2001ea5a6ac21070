//! `kill`: send a signal to a container's init, or to every process in it.

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::state::{State, Status};
use super::{Error, Root};
use crate::cgroups::Cgroup;

/// Sends `sig` to the container's init, or with `all` to every process in its cgroup.
pub fn kill(root: &Root, id: &str, sig: Signal, all: bool) -> Result<(), Error> {
    let state = State::load(root, id)?;
    if all {
        let cg = Cgroup::new(Some(&state.cgroup_path), id)?;
        return cg.kill_all(sig).map_err(Error::from);
    }
    if state.status == Status::Stopped {
        return Err(Error::WrongStatus {
            id: id.to_string(),
            status: state.status.to_string(),
            what: "cannot signal a stopped container",
        });
    }
    signal::kill(Pid::from_raw(state.pid), sig).map_err(|e| {
        Error::Other(format!(
            "kill {} (init of {id:?}) with {sig}: {e}",
            state.pid
        ))
    })
}

/// Parses a signal given as a name (`TERM`, `SIGTERM`, case-insensitive) or a number.
pub fn parse_signal(s: &str) -> Result<Signal, Error> {
    let bad = || Error::Other(format!("invalid signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
