//! `update [--resources FILE|-] [--memory N] [--pids-limit N] [--cpu-*] ID`: change a
//! container's cgroup resources, bounded by its policy as its create was.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxResources;
use pinhole_sandbox::container::{self, Root};

/// What `update` changes.
#[derive(clap::Args)]
pub struct UpdateArgs {
    /// An OCI `linux.resources` JSON file (`-`: stdin); the flags below override it.
    #[arg(long, short)]
    resources: Option<PathBuf>,
    /// Memory limit in bytes.
    #[arg(long)]
    memory: Option<i64>,
    /// Task limit.
    #[arg(long)]
    pids_limit: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period.
    #[arg(long)]
    cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long)]
    cpu_period: Option<u64>,
    /// Container id.
    id: String,
}

/// Applies the update.
pub fn update(root: &Root, args: UpdateArgs) -> Result<u8> {
    let mut r: LinuxResources = match &args.resources {
        None => LinuxResources::default(),
        Some(path) => {
            let mut text = Vec::new();
            if path.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut text)
                    .context("--resources -: read stdin")?;
            } else {
                text = std::fs::read(path)
                    .with_context(|| format!("--resources {}", path.display()))?;
            }
            pinhole_sandbox::spec::from_json(&text)
                .map_err(|e| anyhow::anyhow!("--resources {}: {e}", path.display()))?
        }
    };
    if let Some(m) = args.memory {
        let mut mem = r.memory().unwrap_or_default();
        mem.set_limit(Some(m));
        r.set_memory(Some(mem));
    }
    if let Some(p) = args.pids_limit {
        let mut pids = r.pids().unwrap_or_default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if args.cpu_shares.is_some() || args.cpu_quota.is_some() || args.cpu_period.is_some() {
        let mut cpu = r.cpu().clone().unwrap_or_default();
        if let Some(v) = args.cpu_shares {
            cpu.set_shares(Some(v));
        }
        if let Some(v) = args.cpu_quota {
            cpu.set_quota(Some(v));
        }
        if let Some(v) = args.cpu_period {
            cpu.set_period(Some(v));
        }
        r.set_cpu(Some(cpu));
    }
    container::update(root, &args.id, r)?;
    Ok(0)
}
