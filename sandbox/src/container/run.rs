//! `run`: create, start, wait, delete — the container's exit status is ours.

use std::path::Path;

use super::{create, delete, start, CreateOptions, Error, Root};

/// Runs container `id` to completion; returns its exit status (code or 128 + signal).
pub fn run(root: &Root, id: &str, bundle: &Path, opts: CreateOptions) -> Result<i32, Error> {
    super::become_subreaper()?;
    let state = create(root, id, bundle, opts)?.state;
    let set = match super::block_signals() {
        Ok(set) => set,
        Err(e) => {
            let _ = delete(root, id, true);
            return Err(e);
        }
    };
    if let Err(e) = start(root, id) {
        let _ = delete(root, id, true);
        return Err(e);
    }
    let status = super::wait_forwarding(state.pid, &set);
    let deleted = delete(root, id, true);
    let status = status?;
    deleted?;
    Ok(status)
}
