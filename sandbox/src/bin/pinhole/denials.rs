//! `pinhole denials ID`: what the ceiling refused in an audited container.

use anyhow::Result;
use pinhole_sandbox::container::{self, Root};
use pinhole_sandbox::record::{errno_name, Denials, Supervision, DENIALS_FILE};

/// Prints the container's denials (table, or the JSON file with `json`).
pub fn denials(root: &Root, id: &str, json: bool) -> Result<u8> {
    container::State::load(root, id)?;
    let dir = root.state_dir(id);
    let audited = Supervision::load(&dir)
        .map_err(anyhow::Error::msg)?
        .is_some_and(|s| matches!(s.mode, pinhole_sandbox::record::Mode::Audit { .. }));
    if !audited {
        anyhow::bail!(
            "container {id:?} is not audited (annotate it pinhole.dev/audit: denials, or set audit = \"denials\" in its policy's [seccomp] section)"
        );
    }
    let path = dir.join(DENIALS_FILE);
    let d = if path.exists() {
        Denials::load(&path).map_err(anyhow::Error::msg)?
    } else {
        Denials::new(id)
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(0);
    }
    println!(
        "{:<24} {:<18} {:>6} {:<8} {:>8}",
        "SYSCALL", "ARCH", "NR", "ERRNO", "COUNT"
    );
    for x in &d.denials {
        println!(
            "{:<24} {:<18} {:>6} {:<8} {:>8}",
            x.name,
            x.arch,
            x.nr,
            errno_name(x.errno),
            x.count
        );
    }
    Ok(0)
}
