//! `pause` and `resume`.

use anyhow::Result;
use pinhole_sandbox::container::{self, Root};

/// `pause ID`: freezes every process of the container.
pub fn pause(root: &Root, id: &str) -> Result<u8> {
    container::pause(root, id)?;
    Ok(0)
}

/// `resume ID`: thaws them.
pub fn resume(root: &Root, id: &str) -> Result<u8> {
    container::resume(root, id)?;
    Ok(0)
}
