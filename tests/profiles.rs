//! The built-in seccomp profiles (`sandbox/profiles/default.toml`, `strict.toml`) in real
//! containers: `tests/programs/abiprobe.c` runs under `--policy runtimeclass/policies/
//! pinhole.toml` (profile `default`) and `pinhole-strict.toml` (profile `strict`).
//!
//! - default: io_uring_setup EPERM, clone3 ENOSYS, socket/socketpair(AF_ALG) and
//!   socket(AF_VSOCK) EPERM (also with bit 32 set in the family).
//! - strict: every syscall of `sandbox/profiles/high-risk.toml` refused through each ABI that
//!   has it: EPERM on x86_64, SIGSYS (SECCOMP_RET_KILL_PROCESS) through i386 (`int $0x80`) and
//!   x32; i386 socketcall(SYS_SOCKET, AF_VSOCK) SIGSYS.
//! - both: Docker's masked and read-only paths are forced when the spec lists none.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde::Deserialize;

const PROBE: &str = "/bin/abiprobe";
const EPERM: &str = "errno 1";
const ENOSYS: &str = "errno 38";
const SIGSYS: &str = "signal 31";

/// Runs `args` in a container under the shipped policy `policy`; returns stdout. `edit`
/// changes the spec first.
fn run(policy: &str, args: &[&str], edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut c = Ctr::new("prof");
    assert!(
        c.rootfs.join(PROBE.trim_start_matches('/')).is_file(),
        "{PROBE} missing from the test rootfs {}: rebuild it with hack/build-rootfs.sh",
        c.rootfs.display()
    );
    c.args(args);
    edit(&mut c.spec);
    c.write_spec();
    let bundle = c.bundle().to_str().unwrap().to_string();
    let policy = common::policy(policy);
    let out = c.pinhole(&[
        "run",
        "--bundle",
        &bundle,
        "--policy",
        policy.to_str().unwrap(),
        &c.id,
    ]);
    out.assert_ok();
    c.assert_clean();
    out.stdout
}

#[test]
fn default_refuses_io_uring_clone3_alg_and_vsock() {
    let got = case_results(&run("pinhole", &[PROBE], |_| {}));
    assert_cases(
        "pinhole (default)",
        &got,
        &[
            ("io_uring_setup", EPERM),
            ("clone3_plain", ENOSYS),
            ("socket_alg", EPERM),
            ("socket_hi_alg", EPERM),
            ("socketpair_alg", EPERM),
            ("socket_vsock", EPERM),
            ("socket_hi_vsock", EPERM),
            ("i386_socketcall_vsock", EPERM),
            // What stays allowed.
            ("socket_inet", "ok"),
            ("socketpair_unix", "ok"),
            ("i386_getpid", "ok"),
        ],
    );
}

#[derive(Deserialize)]
struct RiskFile {
    syscall: Vec<Risk>,
}

#[derive(Deserialize)]
struct Risk {
    name: String,
}

/// The shipped high-risk list's names.
fn high_risk() -> Vec<String> {
    let path = repo_root().join("sandbox/profiles/high-risk.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let f: RiskFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.syscall.into_iter().map(|r| r.name).collect()
}

/// The number of `name` on an ABI (x32 from the x86_64 table; the x32-specific numbers
/// 512..=547 of the compat entries are covered by strict's kill of every x32 number anyway).
fn number(abi: &str, name: &str) -> Option<usize> {
    use std::str::FromStr;
    match abi {
        "i386" => syscalls::x86::Sysno::from_str(name)
            .ok()
            .map(|s| s.id() as usize),
        _ => syscalls::x86_64::Sysno::from_str(name)
            .ok()
            .map(|s| s.id() as usize),
    }
}

#[test]
fn strict_refuses_the_high_risk_list_on_every_abi() {
    let risk = high_risk();
    assert!(risk.len() >= 60, "{}", risk.len());
    let mut wrong = Vec::new();
    let mut probed = 0;
    for (abi, want) in [("x86_64", EPERM), ("i386", SIGSYS), ("x32", SIGSYS)] {
        let nrs: Vec<(String, usize)> = risk
            .iter()
            .filter_map(|n| number(abi, n).map(|nr| (n.clone(), nr)))
            .collect();
        let mut args = vec![PROBE.to_string(), "raw".into(), abi.to_string()];
        args.extend(nrs.iter().map(|(_, nr)| nr.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run("pinhole-strict", &args, |_| {});
        for (name, nr) in &nrs {
            probed += 1;
            let prefix = format!("raw {abi} {nr} ");
            let got = out.lines().find_map(|l| l.strip_prefix(&prefix));
            if got != Some(want) {
                wrong.push(format!("{abi} {name} ({nr}): want {want}, got {got:?}"));
            }
        }
        // Sanity: the same probe gets through where strict allows (x86_64 getpid).
        if abi == "x86_64" {
            let out = run("pinhole-strict", &[PROBE, "raw", abi, "39"], |_| {});
            assert!(out.contains("raw x86_64 39 ok"), "{out}");
        }
    }
    eprintln!("strict: {probed} (abi, high-risk syscall) pairs probed");
    assert!(
        wrong.is_empty(),
        "strict lets through:\n  {}",
        wrong.join("\n  ")
    );
    let got = case_results(&run(
        "pinhole-strict",
        &[PROBE, "i386_socketcall_vsock", "socket_alg", "clone3_plain"],
        |_| {},
    ));
    assert_cases(
        "pinhole-strict",
        &got,
        &[
            ("i386_socketcall_vsock", SIGSYS),
            ("socket_alg", EPERM),
            ("clone3_plain", ENOSYS),
        ],
    );
}

/// Docker's masked paths (`/dev/null` or an empty read-only tmpfs over them) and read-only
/// paths, as `sandbox/src/policy/confine.rs` lists them.
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[test]
fn masked_and_readonly_paths_are_forced_without_spec_entries() {
    let paths: Vec<&str> = MASKED.iter().chain(READONLY).copied().collect();
    let script = format!(
        "cat /proc/self/mountinfo; for p in {}; do [ -e $p ] && echo \"exists $p\"; done; \
         for f in /proc/kcore /proc/keys /proc/timer_list; do echo \"bytes $f $(cat $f 2>/dev/null | wc -c)\"; done; \
         echo \"ls /sys/firmware $(ls -A /sys/firmware | wc -l)\"",
        paths.join(" ")
    );
    for policy in ["pinhole", "pinhole-strict"] {
        let out = run(policy, &["/bin/sh", "-c", &script], |spec| {
            let linux = spec["linux"].as_object_mut().unwrap();
            linux.remove("maskedPaths");
            linux.remove("readonlyPaths");
        });
        // mount point → mount options (mountinfo fields 5 and 6).
        let mounts: BTreeMap<&str, &str> = out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() > 6 && f[0].parse::<u64>().is_ok()).then(|| (f[4], f[5]))
            })
            .collect();
        let exists: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("exists "))
            .collect();
        assert!(
            // /proc/kcore exists only with CONFIG_PROC_KCORE; these two always do.
            exists.contains(&"/proc/keys") && exists.contains(&"/proc/sys"),
            "{policy}: {out}"
        );
        for p in &exists {
            let opts = mounts.get(p).unwrap_or_else(|| {
                panic!("{policy}: {p} exists but nothing is mounted over it:\n{out}")
            });
            if READONLY.contains(p) {
                assert!(
                    opts.split(',').any(|o| o == "ro"),
                    "{policy}: {p} mounted {opts}"
                );
            }
        }
        for f in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
            assert!(
                out.contains(&format!("bytes {f} 0\n")),
                "{policy}: {f} readable:\n{out}"
            );
        }
        assert!(
            out.contains("ls /sys/firmware 0\n"),
            "{policy}: /sys/firmware not empty:\n{out}"
        );
    }
}

/// An engine's seccomp profile (moby's format: `archMap`, `includes`/`excludes`) as Docker and
/// podman hand it to the runtime for an x86_64 container with Docker's default capabilities
/// ([`DOCKER_CAPS`], which decide the rules that apply): the native arch and its
/// sub-architectures, the rules that apply, names untouched (other architectures' names
/// included).
fn as_engines_hand_it(profile: &serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Value};
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut archs = vec!["SCMP_ARCH_X86_64".to_string()];
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            archs.extend(list(&m["subArchitectures"]));
        }
    }
    let applies = |r: &Value| {
        let (inc, exc) = (&r["includes"], &r["excludes"]);
        let arch_ok =
            list(&inc["arches"]).is_empty() || list(&inc["arches"]).iter().any(|a| a == "amd64");
        let caps_ok = list(&inc["caps"])
            .iter()
            .all(|c| DOCKER_CAPS.contains(&c.as_str()));
        let not_excluded = !list(&exc["caps"])
            .iter()
            .any(|c| DOCKER_CAPS.contains(&c.as_str()))
            && !list(&exc["arches"]).iter().any(|a| a == "amd64");
        arch_ok && caps_ok && not_excluded
    };
    let syscalls: Vec<Value> = profile["syscalls"]
        .as_array()
        .expect("syscalls")
        .iter()
        .filter(|r| applies(r))
        .map(|r| {
            let mut o = json!({ "names": r["names"].clone(), "action": r["action"].clone() });
            for k in ["args", "errnoRet"] {
                if !r[k].is_null() {
                    o[k] = r[k].clone();
                }
            }
            o
        })
        .collect();
    let mut s = json!({
        "defaultAction": profile["defaultAction"].clone(),
        "architectures": archs,
        "syscalls": syscalls,
    });
    if !profile["defaultErrnoRet"].is_null() {
        s["defaultErrnoRet"] = profile["defaultErrnoRet"].clone();
    }
    s
}

/// Issue 10 item 2: the engines' default profiles as they ship them (Docker 26.1's, podman's
/// containers-common of bookworm and of today; `hack/lib.sh ensure_engine_profiles` fetches
/// them from Debian) are accepted unchanged, although they name other architectures'
/// syscalls (`riscv_hwprobe`, `syscall`, `vm86old`, `cacheflush`): as the runtime's own spec
/// (without and under the pinhole ceiling) and by `pinhole profile check`. A name no
/// architecture has stays an error.
#[test]
fn engine_default_profiles_are_accepted_unchanged() {
    let dir = repo_root().join("target/engine-profiles");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| std::path::PathBuf::from(t).join("engine-profiles"))
        .filter(|d| d.is_dir())
        .unwrap_or(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: fetch them with `bash -c '. hack/lib.sh; ensure_engine_profiles'`",
                dir.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let c = Ctr::new("engine-prof");
        c.pinhole(&["profile", "check", f.to_str().unwrap()])
            .assert_ok();
        let profile: serde_json::Value =
            serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        for policy in [None, Some("pinhole")] {
            let mut c = Ctr::new("engine-prof");
            c.spec["linux"]["seccomp"] = as_engines_hand_it(&profile);
            c.sh("grep Seccomp: /proc/self/status; echo ran");
            let out = match policy {
                None => c.run(),
                Some(p) => c.run_under(p),
            };
            out.assert_ok();
            assert!(
                out.stdout.contains("Seccomp:\t2") && out.stdout.ends_with("ran\n"),
                "{}: {out}",
                f.display()
            );
            c.assert_clean();
        }
    }
    let mut c = Ctr::new("engine-prof-bad");
    let mut bad =
        as_engines_hand_it(&serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap());
    bad["syscalls"][0]["names"] = serde_json::json!(["read", "no_such_syscall"]);
    c.spec["linux"]["seccomp"] = bad;
    c.sh("true");
    c.run()
        .assert_error(&["unknown syscall \"no_such_syscall\""]);
    c.assert_clean();
}

/// Issue 10 item 2: security-profiles-operator profiles (tests/data/spo-seccomp-profiles.yaml,
/// SeccompProfile objects in the shape of the operator's examples) as the operator puts them on
/// the node, each `spec` handed unchanged as the spec's linux.seccomp: `pinhole profile check`
/// accepts every one, a block-all profile is a create error naming execve, the others confine
/// the workload (alone, with the rules they list, and under the pinhole ceiling).
#[test]
fn spo_example_profiles_are_accepted_unchanged() {
    let path = repo_root().join("tests/data/spo-seccomp-profiles.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut seen = 0;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let obj: serde_json::Value =
            serde_json::to_value(serde_yaml::Value::deserialize(doc).unwrap()).unwrap();
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        let note = |k: &str| {
            obj["metadata"]["annotations"][k]
                .as_str()
                .map(str::to_string)
        };
        let profile = obj["spec"].clone();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), profile.to_string()).unwrap();
        Ctr::new("spo-prof")
            .pinhole(&["profile", "check", file.path().to_str().unwrap()])
            .assert_ok();
        for policy in [None, Some("pinhole")] {
            let mut c = Ctr::new("spo-prof");
            c.spec["linux"]["seccomp"] = profile.clone();
            c.sh("grep Seccomp: /proc/self/status; abiprobe raw x86_64 250; echo ran");
            let out = match policy {
                None => c.run(),
                Some(p) => c.run_under(p),
            };
            match note("pinhole.test/expect").as_deref() {
                Some("refused") => {
                    out.assert_error(&["execve", "/bin/sh", "Operation not permitted"]);
                }
                Some("confined") => {
                    out.assert_ok();
                    assert!(
                        out.stdout.contains("Seccomp:\t2") && out.stdout.ends_with("ran\n"),
                        "{name} under {policy:?}: {out}"
                    );
                    if let (None, Some(want)) = (policy, note("pinhole.test/keyctl")) {
                        assert!(
                            out.stdout.contains(&format!("raw x86_64 250 {want}\n")),
                            "{name}: keyctl not {want}: {out}"
                        );
                    }
                }
                other => panic!("{name}: pinhole.test/expect {other:?}"),
            }
            c.assert_clean();
        }
        seen += 1;
    }
    assert_eq!(seen, 5, "{}", path.display());
}
