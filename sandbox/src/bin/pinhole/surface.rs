//! `pinhole surface`: how many syscalls a profile, policy or container lets through, per arch,
//! by evaluating its compiled filters; which of them are high-risk; and, for a recorded
//! workload, how many it used.

use std::path::{Path, PathBuf};

use anyhow::Result;
use pinhole_sandbox::record::Usage;
use pinhole_sandbox::seccomp::surface::{ArchSurface, Surface};
use serde_json::{json, Map, Value};

use crate::profile::{load_profile_arg, usage_of};

/// `pinhole surface` arguments.
#[derive(clap::Args)]
pub(crate) struct SurfaceArgs {
    /// Built-in profile name, policy (.toml), OCI linux.seccomp JSON file or container id.
    target: String,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// usage.json of a recording (default: the container's own, if recorded).
    #[arg(long)]
    usage: Option<PathBuf>,
}

/// A published syscall count to compare with.
struct Reference {
    /// JSON key.
    key: &'static str,
    /// What was counted.
    what: &'static str,
    /// Fewest syscalls allowed (x86_64).
    min: usize,
    /// Most syscalls allowed (x86_64; equal to `min` for a single figure).
    max: usize,
    /// Where the figure comes from.
    source: &'static str,
}

/// Reference surfaces (syscalls allowed on x86_64).
const REFERENCES: &[Reference] = &[
    Reference {
        key: "docker_default",
        what: "Docker default profile",
        min: 309,
        max: 309,
        source: "moby/profiles seccomp/default.json, x86_64, default capabilities",
    },
    Reference {
        key: "gvisor_host_filter",
        what: "gVisor host filter (runsc, by options)",
        min: 71,
        max: 95,
        source: "google/gvisor runsc/boot/filter/config",
    },
    Reference {
        key: "firecracker_vmm",
        what: "Firecracker VMM thread",
        min: 50,
        max: 50,
        source: "firecracker-microvm/firecracker resources/seccomp/x86_64-unknown-linux-musl.json",
    },
    Reference {
        key: "nabla",
        what: "Nabla containers (solo5 tender)",
        min: 7,
        max: 7,
        source: "nabla-containers: 'Say hello to Nabla containers'",
    },
];

/// Distinct numbers `usage` saw on `a`, and the names of those `a`'s surface does not allow.
fn used_on<'u>(usage: &'u Usage, a: &ArchSurface) -> (usize, Vec<&'u str>) {
    let mut nrs: Vec<(u32, &str)> = usage
        .syscalls
        .iter()
        .filter(|s| s.arch == a.oci_arch)
        .map(|s| (s.nr, s.name.as_str()))
        .collect();
    nrs.sort_unstable();
    nrs.dedup_by_key(|x| x.0);
    let outside = nrs
        .iter()
        .filter(|(nr, _)| !a.allows_nr(*nr))
        .map(|(_, n)| *n)
        .collect();
    (nrs.len(), outside)
}

/// Runs `pinhole surface`.
pub(crate) fn run(args: SurfaceArgs, root: &Path) -> Result<u8> {
    let loaded = load_profile_arg(&args.target, root)?;
    let usage = usage_of(&loaded, args.usage.as_deref())?;
    let s = loaded.surface();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&loaded.label, &s, usage.as_ref()))?
        );
    } else {
        print_text(&loaded.label, &s, usage.as_ref());
    }
    Ok(0)
}

fn to_json(label: &str, s: &Surface, usage: Option<&Usage>) -> Value {
    let per_arch = |f: &dyn Fn(&ArchSurface) -> Value| -> Value {
        Value::Object(
            s.arches
                .iter()
                .map(|a| (a.arch.to_string(), f(a)))
                .collect(),
        )
    };
    let mut out = Map::new();
    out.insert("source".into(), json!(label));
    out.insert("allowed".into(), per_arch(&|a| json!(a.count())));
    out.insert(
        "conditional".into(),
        per_arch(&|a| json!(a.conditional().len())),
    );
    out.insert("risk".into(), json!(s.risk()));
    out.insert("allowed_names".into(), per_arch(&|a| json!(a.names())));
    out.insert(
        "conditional_names".into(),
        per_arch(&|a| json!(a.conditional())),
    );
    out.insert("risk_by_arch".into(), per_arch(&|a| json!(a.risk())));
    out.insert("table_size".into(), per_arch(&|a| json!(a.table_size)));
    if let Some(u) = usage {
        out.insert("used".into(), per_arch(&|a| json!(used_on(u, a).0)));
        out.insert(
            "used_not_allowed".into(),
            per_arch(&|a| json!(used_on(u, a).1)),
        );
    }
    let refs: Map<String, Value> = REFERENCES
        .iter()
        .map(|r| {
            let v = json!({"what": r.what, "arch": "x86_64", "min": r.min, "max": r.max, "source": r.source});
            (r.key.to_string(), v)
        })
        .collect();
    out.insert("references".into(), Value::Object(refs));
    Value::Object(out)
}

fn print_text(label: &str, s: &Surface, usage: Option<&Usage>) {
    println!("surface of {label} (syscalls the filters allow, by evaluation):");
    for a in &s.arches {
        let cond = a.conditional();
        println!(
            "  {:<7} allowed {:>4} of {} ({} conditional{}{})",
            a.arch,
            a.count(),
            a.table_size,
            cond.len(),
            if cond.is_empty() { "" } else { ": " },
            cond.join(" ")
        );
        let risk = a.risk();
        if !risk.is_empty() {
            println!("          high-risk {}: {}", risk.len(), risk.join(" "));
        }
        if let Some(u) = usage {
            let (used, outside) = used_on(u, a);
            println!("          used {used} of {} allowed", a.count());
            if !outside.is_empty() {
                println!(
                    "          used but not allowed ({}; a broken recording?): {}",
                    outside.len(),
                    outside.join(" ")
                );
            }
        }
    }
    println!("references (syscalls allowed, x86_64):");
    for r in REFERENCES {
        let n = if r.min == r.max {
            r.min.to_string()
        } else {
            format!("~{}-{}", r.min, r.max)
        };
        println!("  {:<40} {:>7}   ({})", r.what, n, r.source);
    }
}
