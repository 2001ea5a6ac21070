//! `pinhole profile record`: run a bundle to completion under its ceiling and record the
//! syscalls it uses into a profile.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pinhole_sandbox::container::{self, CreateOptions, Root};
use pinhole_sandbox::record::{self, Ask};

/// Arguments of `pinhole profile record`.
#[derive(clap::Args)]
pub struct RecordArgs {
    /// Bundle directory (config.json + rootfs).
    #[arg(long, short, default_value = ".")]
    pub bundle: PathBuf,
    /// Directory the profile goes to: NAME.json (OCI), NAME.yaml (security-profiles-operator
    /// SeccompProfile), NAME.usage.json; merged with an earlier recording of NAME there.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Recording name (default: the container id).
    #[arg(long)]
    pub name: Option<String>,
    /// Container id.
    pub id: String,
}

/// Runs the recording under the policy the global `--policy` (`policy`), the environment or
/// /etc choose (see [`crate::policy_arg`]); returns the workload's exit status.
pub fn record(root: &Root, args: RecordArgs, policy: Option<&Path>) -> Result<u8> {
    let name = args.name.clone().unwrap_or_else(|| args.id.clone());
    record::check_name(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let opts = CreateOptions {
        policy: crate::policy_arg::resolve(policy)?,
        supervise: Some(Ask::Record {
            name: name.clone(),
            out_dir: Some(args.output.clone()),
        }),
        ..Default::default()
    };
    let (status, report) = container::run_supervised(root, &args.id, &args.bundle, opts)?;
    let report = report.context("the container was not supervised")?;
    let (files, merged) = match (report.files, report.merged) {
        (Some(f), Some(m)) => (f, m),
        _ => anyhow::bail!(
            "container {:?}: the recording ended before the workload's execve",
            args.id
        ),
    };
    let used = report
        .outcome
        .usage
        .map(|u| u.syscalls.len())
        .unwrap_or_default();
    eprintln!(
        "pinhole: recorded {used} syscall(s) of {:?}; profile {:?} now allows {} ({} container(s)): {}, {}, {}",
        args.id,
        name,
        merged.syscalls.len(),
        merged.containers.len(),
        files.json.display(),
        files.yaml.display(),
        files.usage.display()
    );
    Ok(status.clamp(0, 255) as u8)
}
