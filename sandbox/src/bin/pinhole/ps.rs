//! `ps [--format table|json] ID [PS-ARGS...]`: the container's processes.

use anyhow::{Context, Result};
use pinhole_sandbox::cgroups::Cgroup;
use pinhole_sandbox::container::{Root, State};

/// Output format of `ps`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// ps(1)'s table (`ps -ef`, or PS-ARGS) limited to the container's processes.
    Table,
    /// A JSON array of the host pids (what podman's `top` and Docker read).
    Json,
}

/// Prints the processes of container `id`.
pub fn ps(root: &Root, id: &str, format: Format, ps_args: &[String]) -> Result<u8> {
    let state = State::load(root, id)?;
    let mut pids = Cgroup::new(Some(&state.cgroup_path), id)?.pids()?;
    pids.sort_unstable();
    match format {
        Format::Json => println!("{}", serde_json::to_string(&pids)?),
        Format::Table => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("run ps")?;
            anyhow::ensure!(
                out.status.success(),
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse().ok());
                if pid.is_some_and(|p: i32| pids.binary_search(&p).is_ok()) {
                    println!("{line}");
                }
            }
        }
    }
    Ok(0)
}
