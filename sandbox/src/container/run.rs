//! `run`: create, start, wait, delete — the container's exit status is ours.

use std::path::Path;

use super::{create, delete, CreateOptions, Error, Report, Root};

/// Runs container `id` to completion; returns its exit status (code or 128 + signal).
///
/// A recorded or audited container is supervised by this process; denials are reported on
/// stderr.
pub fn run(root: &Root, id: &str, bundle: &Path, opts: CreateOptions) -> Result<i32, Error> {
    run_supervised(root, id, bundle, opts).map(|(status, _)| status)
}

/// [`run`], also returning the supervisor's report (recording, denials) when there is one.
pub fn run_supervised(
    root: &Root,
    id: &str,
    bundle: &Path,
    opts: CreateOptions,
) -> Result<(i32, Option<Report>), Error> {
    super::become_subreaper()?;
    let created = create(root, id, bundle, opts)?;
    super::print_warnings(&created.warnings);
    run_created(root, id, created.state)
}

/// The rest of [`run_supervised`] for a container the caller created (having become a
/// subreaper first): start, wait, delete.
pub fn run_created(
    root: &Root,
    id: &str,
    state: super::State,
) -> Result<(i32, Option<Report>), Error> {
    let set = match super::block_signals() {
        Ok(set) => set,
        Err(e) => {
            let _ = delete(root, id, true);
            return Err(e);
        }
    };
    let owned = id.to_string();
    let on_denial = Box::new(move |d: &crate::record::Denial| {
        // One write, so that the line does not interleave with the workload's stderr.
        let line = format!(
            "pinhole: container {owned:?}: seccomp denied {} ({}, errno {})\n",
            d.name,
            d.arch,
            crate::record::errno_name(d.errno)
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    });
    let supervisor = match super::start_supervised(root, id, on_denial, None) {
        Ok((_, s)) => s,
        Err(e) => {
            let _ = delete(root, id, true);
            return Err(e);
        }
    };
    let status = super::wait_forwarding(state.pid, &set);
    // The supervisor ends when the last filtered task is reaped; its outputs are written
    // before the state directory goes.
    let report = supervisor.map(|s| s.finish());
    let deleted = delete(root, id, true);
    let status = status?;
    deleted?;
    let report = report.transpose().map_err(Error::Other)?;
    Ok((status, report))
}
