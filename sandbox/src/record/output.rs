//! A recording turned into profiles: an OCI `linux.seccomp` JSON and a
//! security-profiles-operator `SeccompProfile`, merged with earlier recordings of the same
//! name.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use serde_json::Value;

use super::usage::{Usage, CLONE_NS_FLAGS};

/// Syscalls whose recorded arguments become rules instead of a plain allow.
const BY_FAMILY: &[&str] = &["socket", "socketpair"];

/// The files one recording name owns in an output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileFiles {
    /// OCI `linux.seccomp` JSON (a Localhost profile, or a handler ceiling).
    pub json: PathBuf,
    /// security-profiles-operator `SeccompProfile` YAML.
    pub yaml: PathBuf,
    /// The merged usage (`pinhole surface --usage`, `pinhole profile show --usage`).
    pub usage: PathBuf,
}

impl ProfileFiles {
    /// The files of `name` in `dir`.
    pub fn new(dir: &Path, name: &str) -> ProfileFiles {
        ProfileFiles {
            json: dir.join(format!("{name}.json")),
            yaml: dir.join(format!("{name}.yaml")),
            usage: dir.join(format!("{name}.usage.json")),
        }
    }
}

/// The OCI profile allowing exactly what `usage` used: default ERRNO (EPERM); socket
/// families and the absence of namespace flags on clone as argument rules; `clone3` answered
/// with ENOSYS as under the ceiling, so glibc keeps falling back to clone.
pub fn to_oci(usage: &Usage) -> LinuxSeccomp {
    let mut arches: Vec<Arch> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for s in &usage.syscalls {
        if let Some(a) = oci_arch(&s.arch) {
            if !arches.contains(&a) {
                arches.push(a);
            }
        }
        if !s.name.starts_with("nr_") && !names.contains(&s.name) {
            names.push(s.name.clone());
        }
    }
    names.sort();
    let mut rules = Vec::new();
    let plain: Vec<String> = names
        .iter()
        .filter(|n| !BY_FAMILY.contains(&n.as_str()) && *n != "clone" && *n != "clone3")
        .cloned()
        .collect();
    if !plain.is_empty() {
        rules.push(rule(plain, LinuxSeccompAction::ScmpActAllow, None, vec![]));
    }
    for name in BY_FAMILY.iter().filter(|n| names.iter().any(|m| m == *n)) {
        for fam in &usage.socket_families {
            rules.push(rule(
                vec![name.to_string()],
                LinuxSeccompAction::ScmpActAllow,
                None,
                vec![arg(*fam, 0, LinuxSeccompOperator::ScmpCmpEq)],
            ));
        }
    }
    if names.iter().any(|n| n == "clone") {
        let args = if usage.clone_namespace_flags == 0 {
            vec![arg(
                CLONE_NS_FLAGS,
                0,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
            )]
        } else {
            vec![]
        };
        rules.push(rule(
            vec!["clone".into()],
            LinuxSeccompAction::ScmpActAllow,
            None,
            args,
        ));
    }
    rules.push(rule(
        vec!["clone3".into()],
        LinuxSeccompAction::ScmpActErrno,
        Some(libc::ENOSYS as u32),
        vec![],
    ));
    arches.sort_by_key(|a| format!("{a:?}"));
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(libc::EPERM as u32)
        .architectures(arches)
        .syscalls(rules)
        .build()
        .expect("all fields set")
}

fn rule(
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut b = LinuxSyscallBuilder::default().names(names).action(action);
    if let Some(e) = errno {
        b = b.errno_ret(e);
    }
    if !args.is_empty() {
        b = b.args(args);
    }
    b.build().expect("names and action set")
}

fn arg(value: u64, value_two: u64, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    let b = LinuxSeccompArgBuilder::default()
        .index(0usize)
        .value(value)
        .op(op);
    let b = match op {
        LinuxSeccompOperator::ScmpCmpMaskedEq => b.value_two(value_two),
        _ => b,
    };
    b.build().expect("index, value and op set")
}

fn oci_arch(name: &str) -> Option<Arch> {
    serde_json::from_value(Value::String(name.to_string())).ok()
}

/// The security-profiles-operator `SeccompProfile` for `profile` (YAML).
pub fn to_spo_yaml(name: &str, usage: &Usage, profile: &LinuxSeccomp) -> String {
    // Kubernetes object names are DNS subdomains.
    let object: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .collect();
    let mut spec = serde_json::to_value(profile).expect("a profile serializes");
    if let Value::Object(m) = &mut spec {
        m.retain(|_, v| !v.is_null());
    }
    let doc = serde_json::json!({
        "apiVersion": "security-profiles-operator.x-k8s.io/v1beta1",
        "kind": "SeccompProfile",
        "metadata": {
            "name": object,
            "annotations": {
                "pinhole.dev/recorded-from": usage.containers.join(","),
            },
        },
        "spec": spec,
    });
    let mut out = String::from("# recorded by pinhole\n");
    yaml(&doc, 0, &mut out);
    out
}

/// Block-style YAML for JSON values (strings JSON-quoted, which YAML reads as is).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::Object(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml(v, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml(v, indent, out);
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(v))),
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        let mut inner = String::new();
                        yaml(item, indent + 2, &mut inner);
                        // "- " replaces the first line's indentation.
                        out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", scalar(item))),
                }
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", scalar(v))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

/// Merges `usage` into the recording `name` in `dir` (creating it owner-only when missing)
/// and rewrites its profiles; concurrent containers recording the same name are serialized
/// by a lock file. Returns the files and the merged usage.
pub fn write_merged(
    dir: &Path,
    name: &str,
    usage: &Usage,
) -> Result<(ProfileFiles, Usage), String> {
    super::request::check_name(name)?;
    crate::private::create_dir_all(dir)
        .map_err(|e| format!("profile directory {}: {e}", dir.display()))?;
    let lock_path = dir.join(format!(".{name}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    // SAFETY: flock on a file we own; released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "{}: lock: {}",
            lock_path.display(),
            std::io::Error::last_os_error()
        ));
    }
    let files = ProfileFiles::new(dir, name);
    let mut merged = match files.usage.exists() {
        true => Usage::load(&files.usage)?,
        false => Usage::new(name),
    };
    merged.merge(usage);
    merged.name = name.to_string();
    let profile = to_oci(&merged);
    let write = |path: &Path, data: &[u8]| {
        crate::private::replace(path, data).map_err(|e| format!("{}: {e}", path.display()))
    };
    let json = serde_json::to_vec_pretty(&merged).map_err(|e| e.to_string())?;
    write(&files.usage, &json)?;
    let json = serde_json::to_vec_pretty(&profile).map_err(|e| e.to_string())?;
    write(&files.json, &json)?;
    write(&files.yaml, to_spo_yaml(name, &merged, &profile).as_bytes())?;
    drop(lock);
    Ok((files, merged))
}

#[cfg(test)]
mod tests {
    use super::super::usage::UsedSyscall;
    use super::*;

    fn used(arch: &str, name: &str, nr: u32) -> UsedSyscall {
        UsedSyscall {
            arch: arch.into(),
            name: name.into(),
            nr,
            count: 2,
        }
    }

    fn sample(id: &str, extra: &[(&str, u32)]) -> Usage {
        let mut u = Usage::new("web");
        u.containers.push(id.into());
        u.syscalls = [("read", 0), ("write", 1), ("socket", 41), ("clone", 56)]
            .iter()
            .chain(extra)
            .map(|(n, nr)| used("SCMP_ARCH_X86_64", n, *nr))
            .collect();
        u.socket_families = vec![1];
        u
    }

    #[test]
    fn profile_allows_what_was_used_with_argument_rules() {
        let p = to_oci(&sample("a", &[]));
        let text = serde_json::to_string(&p).unwrap();
        let filter = crate::seccomp::compile(&p, &[]).expect("a recorded profile compiles");
        use crate::seccomp::notify::{evaluate, Verdict};
        let x86_64 = 0xc000_003e;
        assert_eq!(
            evaluate(&filter, x86_64, 0, 0, [0; 6]),
            Verdict::Allow,
            "{text}"
        );
        assert_eq!(
            evaluate(&filter, x86_64, 41, 0, [1, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(&filter, x86_64, 41, 0, [2, 0, 0, 0, 0, 0]),
            Verdict::Errno(1)
        );
        assert_eq!(
            evaluate(&filter, x86_64, 56, 0, [0x1100011, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(&filter, x86_64, 56, 0, [0x1000_0000, 0, 0, 0, 0, 0]),
            Verdict::Errno(1),
            "CLONE_NEWUSER was not used"
        );
        assert_eq!(
            evaluate(&filter, x86_64, 435, 0, [0; 6]),
            Verdict::Errno(38)
        );
        assert_eq!(evaluate(&filter, x86_64, 83, 0, [0; 6]), Verdict::Errno(1));
    }

    #[test]
    fn recordings_of_one_name_merge_and_the_yaml_is_an_spo_object() {
        let dir = std::env::temp_dir().join(format!("pinhole-record-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (files, _) = write_merged(&dir, "web", &sample("a", &[])).unwrap();
        let (_, merged) = write_merged(&dir, "web", &sample("b", &[("mkdir", 83)])).unwrap();
        assert_eq!(merged.containers, vec!["a", "b"]);
        assert!(merged.names_on("SCMP_ARCH_X86_64").contains(&"mkdir"));
        assert_eq!(
            merged
                .syscalls
                .iter()
                .find(|s| s.name == "read")
                .unwrap()
                .count,
            4
        );
        let p: LinuxSeccomp = serde_json::from_slice(&std::fs::read(&files.json).unwrap()).unwrap();
        assert!(serde_json::to_string(&p).unwrap().contains("mkdir"));
        let yaml = std::fs::read_to_string(&files.yaml).unwrap();
        assert!(yaml.contains("kind: \"SeccompProfile\""), "{yaml}");
        assert!(yaml.contains("defaultAction: \"SCMP_ACT_ERRNO\""), "{yaml}");
        assert!(yaml.contains("  - \"mkdir\""), "{yaml}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.json).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert!(write_merged(&dir, "../x", &sample("c", &[])).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
