use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccompAction, Spec};
use serde_json::json;

use super::{Policy, PolicyError};

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtimeclass/policies")
}

fn parse(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, Path::new("/etc/pinhole/test.toml"))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// A spec whose five capability sets all hold `caps` (`"all"`: every capability).
fn spec_with_caps(caps: &[&str]) -> Spec {
    let caps: Vec<String> = if caps == ["all"] {
        caps::all().iter().map(|c| c.to_string()).collect()
    } else {
        caps.iter().map(|c| c.to_string()).collect()
    };
    serde_json::from_value(json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {
            "args": ["/bin/true"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
                "inheritable": caps, "ambient": caps
            }
        },
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
    }))
    .unwrap()
}

fn sets(spec: &Spec) -> Vec<Vec<String>> {
    let c = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    [
        c.bounding(),
        c.effective(),
        c.permitted(),
        c.inheritable(),
        c.ambient(),
    ]
    .iter()
    .map(|s| {
        let mut v: Vec<String> = s.iter().flatten().map(|c| format!("CAP_{c}")).collect();
        v.sort();
        v
    })
    .collect()
}

fn allowed_names(p: &oci_spec::runtime::LinuxSeccomp) -> Vec<String> {
    p.syscalls()
        .iter()
        .flatten()
        .filter(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
        .flat_map(|r| r.names().clone())
        .collect()
}

#[test]
fn embedded_allowlist_compiles() {
    let p = super::default_allowlist();
    assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
    crate::seccomp::compile(&p, &[]).unwrap();
}

#[test]
fn runtimeclass_policies_parse_and_compile() {
    for (file, name) in [
        ("pinhole.toml", "pinhole"),
        ("pinhole-strict.toml", "pinhole-strict"),
    ] {
        let p = Policy::load(&policies_dir().join(file)).unwrap();
        assert_eq!(p.name(), name);
        crate::seccomp::compile(p.seccomp_ceiling().unwrap(), &[]).unwrap();
    }
    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    assert!(strict.capability_ceiling().is_empty());
    // a read-only rootfs is the pod's choice; the image and volumes are the pod root's
    assert!(!strict.readonly_rootfs && strict.no_new_privileges);
    assert!(strict.idmap_binds && strict.unprivileged_ports);
    assert_eq!(strict.user_base, Some(super::DEFAULT_USER_BASE));
    assert_eq!(strict.privileged, super::Privileged::Refuse);
    assert!(!allowed_names(strict.seccomp_ceiling().unwrap()).contains(&"ptrace".to_string()));
}

#[test]
fn pinhole_toml_is_the_builtin_default() {
    let path = policies_dir().join("pinhole.toml");
    let mut file = Policy::load(&path).unwrap();
    file.origin = super::Policy::builtin_default().origin;
    assert_eq!(file, Policy::builtin_default());
}

#[test]
fn every_cap_set_is_intersected() {
    let p = parse(
        "name = \"t\"\n[capabilities]\nceiling = [\"CAP_CHOWN\", \"CAP_KILL\"]\n[namespaces]\nprivileged = \"clamp\"\n",
    )
    .unwrap();
    let mut spec = spec_with_caps(&["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]);
    p.apply(&mut spec).unwrap();
    for set in sets(&spec) {
        assert_eq!(set, ["CAP_CHOWN"]);
    }

    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    // Docker's default capabilities are clamped silently (every CRI container has them) ...
    let mut spec = spec_with_caps(&["CAP_CHOWN", "CAP_NET_RAW"]);
    strict.apply(&mut spec).unwrap();
    for set in sets(&spec) {
        assert!(set.is_empty());
    }
    // ... anything more is a privileged request, which strict refuses.
    let mut spec = spec_with_caps(&["CAP_CHOWN", "CAP_SYS_ADMIN"]);
    let e = strict.apply(&mut spec).unwrap_err().to_string();
    assert_eq!(
        e,
        "policy pinhole-strict: privileged requests are refused: process.capabilities.bounding: CAP_SYS_ADMIN exceeds the ceiling"
    );
}

#[test]
fn unknown_capability_names_the_key() {
    let e = Policy::parse(
        "name = \"s\"\n[capabilities]\nceiling = [\"CAP_CHOWN\", \"CAP_KILL\", \"CAP_FOO\"]\n",
        Path::new("/etc/pinhole/strict.toml"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"/etc/pinhole/strict.toml: capabilities.ceiling[2]: unknown capability "CAP_FOO""#
    );
}

#[test]
fn privileged_refuse_and_clamp() {
    let refuse = parse("name = \"r\"\n[namespaces]\nprivileged = \"refuse\"\n").unwrap();
    let mut spec = spec_with_caps(&["all"]);
    let before = spec.clone();
    let e = refuse.apply(&mut spec).unwrap_err();
    assert!(matches!(e, PolicyError::Privileged { .. }), "{e}");
    assert!(e.to_string().contains("privileged"), "{e}");
    assert_eq!(spec, before, "a refused spec is left unchanged");
    // Not privileged: one capability short.
    let mut spec = spec_with_caps(&["CAP_CHOWN"]);
    refuse.apply(&mut spec).unwrap();

    let clamp = parse(
        "name = \"c\"\n[capabilities]\nceiling = [\"CAP_KILL\"]\n[namespaces]\nprivileged = \"clamp\"\n",
    )
    .unwrap();
    let mut spec = spec_with_caps(&["all"]);
    clamp.apply(&mut spec).unwrap();
    for set in sets(&spec) {
        assert_eq!(set, ["CAP_KILL"]);
    }
    let mut process = spec_with_caps(&["all"]).process().clone().unwrap();
    assert!(refuse.apply_process(&mut process).is_err());
    clamp.apply_process(&mut process).unwrap();
}

/// What `ctr run --privileged` sends: every capability, no masked/read-only paths, rw sysfs
/// and cgroupfs, host devices, an allow-all device rule.
fn privileged_spec(drop: &[&str]) -> Spec {
    let mut spec = spec_with_caps(&["all"]);
    let mut v = serde_json::to_value(&spec).unwrap();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        v["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .retain(|c| !drop.contains(&c.as_str().unwrap()));
    }
    v["mounts"] = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "rw"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rw"]},
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "rw"]},
    ]);
    v["linux"]["devices"] = json!([
        {"path": "/dev/kvm", "type": "c", "major": 10, "minor": 232},
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200},
        {"path": "/dev/fifo", "type": "p", "major": 0, "minor": 0},
    ]);
    v["linux"]["resources"] = json!({"devices": [{"allow": true, "access": "rwm"}]});
    spec = serde_json::from_value(v).unwrap();
    spec
}

#[test]
fn clamp_gives_a_privileged_spec_what_an_unprivileged_one_gets() {
    let p = parse(
        "name = \"c\"\n[namespaces]\nprivileged = \"clamp\"\n[devices]\nallow = [\"c 10:200\"]\n",
    )
    .unwrap();
    let mut spec = privileged_spec(&[]);
    p.apply(&mut spec).unwrap();
    let v = serde_json::to_value(&spec).unwrap();
    for p in super::MASKED_PATHS {
        assert!(
            v["linux"]["maskedPaths"]
                .as_array()
                .unwrap()
                .contains(&json!(p)),
            "{p}"
        );
    }
    for p in super::READONLY_PATHS {
        assert!(
            v["linux"]["readonlyPaths"]
                .as_array()
                .unwrap()
                .contains(&json!(p)),
            "{p}"
        );
    }
    assert_eq!(v["mounts"][1]["options"], json!(["nosuid", "ro"]));
    assert_eq!(v["mounts"][2]["options"], json!(["ro"]));
    assert_eq!(
        v["mounts"][3]["options"],
        json!(["rbind", "rw"]),
        "volumes stay writable"
    );
    let devs: Vec<&str> = v["linux"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(devs, ["/dev/null", "/dev/net/tun", "/dev/fifo"]);
    assert_eq!(v["linux"]["resources"]["devices"], json!([]));
    for set in sets(&spec) {
        assert!(set.is_empty(), "{set:?}");
    }
}

#[test]
fn refuse_names_what_exceeds_the_ceiling() {
    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    // `--privileged --cap-drop CAP_AUDIT_READ`: no longer "every capability", still privileged.
    let mut spec = privileged_spec(&["AUDIT_READ"]);
    let e = strict.apply(&mut spec).unwrap_err().to_string();
    assert!(e.starts_with("policy pinhole-strict: privileged requests are refused: process.capabilities.bounding: CAP_"), "{e}");
    // Only the default capabilities, but a read-write sysfs, a host device, an allow-all rule.
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 3] = [
        ("mounts[1]: a read-write sysfs mount on /sys", |_| {}),
        ("linux.devices[0]: device /dev/kvm (c 10:232)", |v| {
            v["mounts"] = json!([]);
        }),
        ("linux.resources.devices[0]: a device cgroup rule allowing more than the default devices", |v| {
            v["mounts"] = json!([]);
            v["linux"]["devices"] = json!([]);
        }),
    ];
    for (want, edit) in cases {
        let mut v = serde_json::to_value(privileged_spec(&[])).unwrap();
        v["process"]["capabilities"] = json!({"bounding": ["CAP_CHOWN"]});
        edit(&mut v);
        let mut spec: Spec = serde_json::from_value(v).unwrap();
        let e = strict.apply(&mut spec).unwrap_err().to_string();
        assert_eq!(e, format!("policy pinhole-strict: privileged requests are refused: {want} exceeds the ceiling"));
    }
}

#[test]
fn engine_default_device_rules_are_dropped_not_refused() {
    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    let mut v = serde_json::to_value(spec_with_caps(&["CAP_CHOWN"])).unwrap();
    v["linux"]["resources"] = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
    ]});
    let mut spec: Spec = serde_json::from_value(v).unwrap();
    strict.apply(&mut spec).unwrap();
    let v = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        v["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"},
               {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])
    );
}

#[test]
fn device_allowlist_is_checked() {
    let e = err("name = \"x\"\n[devices]\nallow = [\"c 10:200\", \"x 1:2\"]\n");
    assert!(
        e.contains("devices.allow[1]") && e.contains("\"x 1:2\""),
        "{e}"
    );
}

#[test]
fn unconfined_pod_gets_the_ceiling() {
    let p = Policy::builtin_default();
    let mut spec = spec_with_caps(&[]);
    assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
    let ceiling = p.apply(&mut spec).unwrap().expect("a ceiling profile");
    assert_eq!(ceiling, super::default_allowlist());
    assert!(spec.linux().as_ref().unwrap().seccomp().is_none());

    let none = parse("name = \"u\"\n[seccomp]\nprofile = \"unconfined\"\n").unwrap();
    assert!(none.apply(&mut spec).unwrap().is_none());
}

#[test]
fn forcing_readonly_userns_and_no_new_privs() {
    let p = parse(
        "name = \"f\"\n[process]\nno_new_privileges = true\n[rootfs]\nreadonly = true\n\
         [namespaces]\nuser = true\nuser_base = 200000\n",
    )
    .unwrap();
    let mut spec = spec_with_caps(&[]);
    p.apply(&mut spec).unwrap();
    assert_eq!(
        spec.process().as_ref().unwrap().no_new_privileges(),
        Some(true)
    );
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    let linux = spec.linux().as_ref().unwrap();
    let users = linux
        .namespaces()
        .iter()
        .flatten()
        .filter(|n| n.typ() == LinuxNamespaceType::User)
        .count();
    assert_eq!(users, 1);
    for maps in [linux.uid_mappings(), linux.gid_mappings()] {
        let m = maps.as_ref().unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].container_id(), m[0].host_id(), m[0].size()),
            (0, 200000, 65536)
        );
    }
    // Applying twice changes nothing more.
    let once = spec.clone();
    p.apply(&mut spec).unwrap();
    assert_eq!(spec, once);

    // A spec mapping host root is refused.
    let mut spec: Spec = serde_json::from_value(json!({
        "ociVersion": "1.0.2", "root": {"path": "rootfs"},
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 0, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 5000, "size": 1}]
        }
    }))
    .unwrap();
    let e = p.apply(&mut spec).unwrap_err().to_string();
    assert!(e.contains("linux.uidMappings[0]"), "{e}");

    // Without forcing, the spec keeps its own values.
    let lax = parse("name = \"l\"\n[process]\nno_new_privileges = false\n").unwrap();
    let mut spec = spec_with_caps(&[]);
    lax.apply(&mut spec).unwrap();
    assert_eq!(spec.process().as_ref().unwrap().no_new_privileges(), None);
    assert_eq!(spec.root().as_ref().unwrap().readonly(), None);
    assert!(spec.linux().as_ref().unwrap().uid_mappings().is_none());
}

#[test]
fn malformed_toml_names_file_and_line() {
    let e = err("name = \"x\"\n\n[rootfs]\nreadonly = yes\n");
    assert!(e.starts_with("/etc/pinhole/test.toml:4:"), "{e}");

    let e = err("name = \"x\"\n[rootfs]\nreadnoly = true\n");
    assert!(e.starts_with("/etc/pinhole/test.toml:3:"), "{e}");
    assert!(e.contains("readnoly"), "{e}");

    let e = err("name = \"x\"\n[namespaces]\nprivileged = \"maybe\"\n");
    assert!(e.contains("namespaces.privileged"), "{e}");

    let e = err("[rootfs]\nreadonly = true\n");
    assert!(e.contains("name"), "{e}");
}

#[test]
fn missing_file_names_the_path() {
    let path = Path::new("/nonexistent/pinhole/policy.toml");
    let e = Policy::load(path).unwrap_err();
    assert!(matches!(e, PolicyError::Read { .. }));
    assert!(
        e.to_string().contains("/nonexistent/pinhole/policy.toml"),
        "{e}"
    );
}

#[test]
fn deny_removes_names() {
    let p = parse("name = \"d\"\n[seccomp]\ndeny = [\"ptrace\", \"personality\"]\n").unwrap();
    let profile = p.seccomp_ceiling().unwrap();
    let allowed = allowed_names(profile);
    assert!(!allowed.contains(&"ptrace".to_string()));
    // personality only had conditional rules: they are gone too.
    assert!(!allowed.contains(&"personality".to_string()));
    assert!(allowed.contains(&"read".to_string()));
    // Non-allowing rules are kept (clone3 → ENOSYS).
    assert!(profile
        .syscalls()
        .iter()
        .flatten()
        .any(|r| r.action() == LinuxSeccompAction::ScmpActErrno && *r.names() == ["clone3"]));

    let e = err("name = \"d\"\n[seccomp]\ndeny = [\"ptrace\", \"no_such_call\"]\n");
    assert_eq!(
        e,
        r#"/etc/pinhole/test.toml: seccomp.deny[1]: unknown syscall "no_such_call""#
    );

    // On a default-allow base, denied names get an explicit EPERM rule.
    let p =
        parse("name = \"u\"\n[seccomp]\nprofile = \"unconfined\"\ndeny = [\"ptrace\"]\n").unwrap();
    let profile = p.seccomp_ceiling().unwrap();
    assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActAllow);
    let rules = profile.syscalls().as_ref().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(*rules[0].names(), ["ptrace"]);
}

#[test]
fn profile_path_is_relative_to_the_policy_file() {
    let dir = std::env::temp_dir().join(format!("pinhole-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("p.json"),
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","ptrace"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("bad.json"), r#"{"defaultAction":"SCMP_ACT_NOPE"}"#).unwrap();
    std::fs::write(
        dir.join("unknown.json"),
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["no_such_call"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let origin = dir.join("policy.toml");
    let load = |profile: &str| {
        let text =
            format!("name = \"p\"\n[seccomp]\nprofile = \"{profile}\"\ndeny = [\"ptrace\"]\n");
        std::fs::write(&origin, text).unwrap();
        Policy::load(&origin)
    };
    let p = load("p.json").unwrap();
    assert_eq!(
        allowed_names(p.seccomp_ceiling().unwrap()),
        ["read", "write"]
    );
    let e = load("bad.json").unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("defaultAction"), "{e}");
    let e = load("unknown.json").unwrap_err().to_string();
    assert!(
        e.contains("seccomp.profile") && e.contains("no_such_call"),
        "{e}"
    );
    let e = load("missing.json").unwrap_err().to_string();
    assert!(
        e.contains("seccomp.profile: read ") && e.contains("missing.json"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_user_base_is_rejected() {
    let e = err("name = \"b\"\n[namespaces]\nuser = true\nuser_base = 0\n");
    assert!(e.contains("namespaces.user_base"), "{e}");
}

#[test]
fn above_ceiling_refuses_or_reports() {
    let with = |v: &str| {
        Policy::parse(
            &format!("name = \"a\"\n[capabilities]\nceiling = [\"CAP_CHOWN\"]\nabove_ceiling = \"{v}\"\n[namespaces]\nprivileged = \"clamp\"\n"),
            Path::new("a.toml"),
        )
    };
    let mut process: oci_spec::runtime::Process = serde_json::from_value(json!({
        "cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_KILL"],
                         "effective": ["CAP_NET_ADMIN"]}
    }))
    .unwrap();
    let clamp = with("clamp").unwrap();
    assert_eq!(
        clamp.caps_above_ceiling(&process),
        ["CAP_KILL", "CAP_NET_ADMIN"]
    );
    let line = clamp
        .process_ceiling()
        .report_dropped("process.capabilities", &process)
        .unwrap();
    assert!(line.contains("dropped CAP_KILL, CAP_NET_ADMIN"), "{line}");
    let e = with("refuse")
        .unwrap()
        .apply_process(&mut process.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains("CAP_NET_ADMIN"), "{e}");
    clamp.apply_process(&mut process).unwrap();
    assert!(clamp.caps_above_ceiling(&process).is_empty());
    let e = with("maybe").unwrap_err().to_string();
    assert!(e.contains("above_ceiling"), "{e}");
}

#[test]
fn user_ranges_are_checked() {
    for (text, want) in [
        (
            "[namespaces]\nuser_ranges = 4\n",
            "needs namespaces.user = true",
        ),
        ("[namespaces]\nuser = true\nuser_ranges = 0\n", "0 ranges"),
        (
            "[namespaces]\nuser = true\nuser_base = 4000000000\nuser_ranges = 10000\n",
            "do not fit below 2^32",
        ),
    ] {
        let e = err(&format!("name = \"r\"\n{text}"));
        assert!(
            e.contains("namespaces.user_ranges") && e.contains(want),
            "{text}: {e}"
        );
    }
    let p = Policy::parse(
        "name = \"r\"\n[namespaces]\nuser = true\nuser_base = 200000\nuser_ranges = 3\n",
        Path::new("r.toml"),
    )
    .unwrap();
    let pool = p.user_pool().unwrap();
    assert_eq!(pool.bounds(), (200_000, 200_000 + 3 * 65536 - 1));
    assert_eq!(pool.start(2), Some(200_000 + 2 * 65536));
    assert_eq!(pool.start(3), None);
    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    assert_eq!(strict.user_pool().map(|p| p.ranges()), Some(512));
}

#[test]
fn effective_user_namespace_is_checked() {
    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    let ok = "         0     100000      65536\n";
    strict.check_effective_userns(ok, ok).unwrap();
    for (uid, gid, want) in [
        (
            "0 0 4294967295\n",
            ok,
            "effective uid_map): maps container id 0 to host id 0",
        ),
        (
            ok,
            "0 1 1\n",
            "effective gid_map): maps container id 0 to host id 1",
        ),
        (ok, "", "effective gid_map): has no mapping"),
        (
            "0 100000 65536\n1000 99999 1\n",
            ok,
            "maps container id 1000 to host id 99999",
        ),
    ] {
        let e = strict
            .check_effective_userns(uid, gid)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("policy pinhole-strict: user namespace (") && e.contains(want),
            "{e}"
        );
    }
    // No forced user namespace: nothing to check.
    Policy::builtin_default()
        .check_effective_userns("0 0 4294967295", "0 0 4294967295")
        .unwrap();
}

#[test]
fn native_only_limits_the_ceiling_to_the_native_abi() {
    use oci_spec::runtime::Arch;
    let arches = |p: &Policy| p.seccomp_ceiling().unwrap().architectures().clone();
    let p = parse("name = \"n\"\n[seccomp]\nnative_only = true\n").unwrap();
    assert_eq!(arches(&p), Some(vec![Arch::ScmpArchNative]));
    // The rules are the default allowlist's.
    let mut expected = super::default_allowlist();
    expected.set_architectures(Some(vec![Arch::ScmpArchNative]));
    assert_eq!(p.seccomp_ceiling(), Some(&expected));
    // Off (the default): the base profile's architectures stay.
    let p = parse("name = \"n\"\n[seccomp]\nnative_only = false\n").unwrap();
    assert_eq!(
        arches(&p),
        super::default_allowlist().architectures().clone()
    );
    // "unconfined" + native_only still installs a ceiling: allow all, native ABI only.
    let p =
        parse("name = \"u\"\n[seccomp]\nprofile = \"unconfined\"\nnative_only = true\n").unwrap();
    let ceiling = p.seccomp_ceiling().expect("a ceiling profile");
    assert_eq!(ceiling.default_action(), LinuxSeccompAction::ScmpActAllow);
    assert_eq!(arches(&p), Some(vec![Arch::ScmpArchNative]));
    // A typo or a wrong type names the key.
    let e = err("name = \"n\"\n[seccomp]\nnative_onyl = true\n");
    assert!(e.contains("native_onyl"), "{e}");
    let e = err("name = \"n\"\n[seccomp]\nnative_only = \"yes\"\n");
    assert!(e.contains("seccomp.native_only"), "{e}");
}

#[test]
fn shipped_policies_set_native_only_as_documented() {
    use oci_spec::runtime::Arch;
    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    assert_eq!(
        strict.seccomp_ceiling().unwrap().architectures().as_deref(),
        Some(&[Arch::ScmpArchNative][..])
    );
    let pinhole = Policy::load(&policies_dir().join("pinhole.toml")).unwrap();
    let listed = pinhole.seccomp_ceiling().unwrap().architectures().clone();
    assert!(listed.unwrap().contains(&Arch::ScmpArchX86));
    // Neither ceiling allows io_uring, whatever its deny list says.
    for p in [&strict, &pinhole] {
        let allowed = allowed_names(p.seccomp_ceiling().unwrap());
        for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            assert!(!allowed.contains(&name.to_string()), "{}: {name}", p.name());
        }
    }
}

#[test]
fn profile_names_the_builtins_or_a_pinhole_toml_file() {
    let p = parse("name = \"s\"\n[seccomp]\nprofile = \"strict\"\n").unwrap();
    assert_eq!(
        p.seccomp_ceiling(),
        super::builtin_profile("strict").as_ref()
    );
    assert!(!allowed_names(p.seccomp_ceiling().unwrap()).contains(&"ptrace".to_string()));
    // The shipped strict handler is the strict profile, nothing taken out on top.
    let shipped = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    assert_eq!(
        shipped.seccomp_ceiling(),
        super::builtin_profile("strict").as_ref()
    );

    let dir = std::env::temp_dir().join(format!("pinhole-policy-toml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mine.toml"),
        "base = \"default\"\n[[remove]]\nnames = [\"ptrace\"]\nreason = \"not here\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.toml"),
        "default_action = \"errno\"\n[[rule]]\nnames = [\"nope\"]\naction = \"allow\"\nreason = \"r\"\n",
    )
    .unwrap();
    let origin = dir.join("policy.toml");
    let load = |profile: &str| {
        std::fs::write(
            &origin,
            format!("name = \"p\"\n[seccomp]\nprofile = \"{profile}\"\n"),
        )
        .unwrap();
        Policy::load(&origin)
    };
    let p = load("mine.toml").unwrap();
    let allowed = allowed_names(p.seccomp_ceiling().unwrap());
    assert!(!allowed.contains(&"ptrace".to_string()) && allowed.contains(&"read".to_string()));
    let e = load("bad.toml").unwrap_err().to_string();
    assert!(
        e.contains("seccomp.profile")
            && e.contains("bad.toml:3:10: rule[0].names[0]: unknown syscall \"nope\""),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Docker's `net.ipv4.ping_group_range = "0 2147483647"` names gids a user namespace the
/// policy adds does not map (EINVAL on write): it is cut to the mapped gids; a range of the
/// spec's own user namespace is left alone.
#[test]
fn ping_group_range_is_cut_to_an_added_user_namespace() {
    let p = parse("name = \"u\"\n[namespaces]\nuser = true\n").unwrap();
    let range = |value: &str, own_userns: bool| {
        let mut spec = spec_with_caps(&[]);
        let linux = spec.linux_mut().as_mut().unwrap();
        let mut sysctl = std::collections::HashMap::new();
        sysctl.insert("net.ipv4.ping_group_range".to_string(), value.to_string());
        linux.set_sysctl(Some(sysctl));
        if own_userns {
            let map = super::root_mapping(300000);
            linux.set_uid_mappings(Some(map.clone()));
            linux.set_gid_mappings(Some(map));
        }
        p.apply(&mut spec).unwrap();
        spec.linux().as_ref().unwrap().sysctl().as_ref().unwrap()["net.ipv4.ping_group_range"]
            .clone()
    };
    assert_eq!(range("0 2147483647", false), "0 65535");
    assert_eq!(range("100 200", false), "100 200");
    assert_eq!(range("70000 80000", false), "1 0");
    assert_eq!(range("bogus", false), "bogus");
    assert_eq!(range("0 2147483647", true), "0 2147483647");
}

#[test]
fn hooks_run_unless_refused() {
    let p = |text: &str| Policy::parse(text, Path::new("h.toml"));
    assert!(!p("name = \"h\"\n").unwrap().refuses_hooks());
    assert!(!p("name = \"h\"\nhooks = \"run\"\n")
        .unwrap()
        .refuses_hooks());
    assert!(p("name = \"h\"\nhooks = \"refuse\"\n")
        .unwrap()
        .refuses_hooks());
    assert!(!Policy::builtin_default().refuses_hooks());
    let e = p("name = \"h\"\nhooks = \"sometimes\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("hooks"), "{e}");
}

#[test]
fn shared_mounts_are_refused_by_strict_only() {
    let dir = tempfile::tempdir().unwrap();
    let spec_with = |opts: &[&str]| -> Spec {
        serde_json::from_value(json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/vol", "type": "bind",
                 "source": dir.path().to_str().unwrap(), "options": opts}
            ],
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "ipc"}]}
        }))
        .unwrap()
    };
    let strict = Policy::load(&policies_dir().join("pinhole-strict.toml")).unwrap();
    let pinhole = Policy::load(&policies_dir().join("pinhole.toml")).unwrap();
    for opts in [&["rbind", "rshared"][..], &["bind", "shared"][..]] {
        let e = strict
            .check_host(&spec_with(opts), dir.path(), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mounts[1].options") && e.contains("shared_mounts"),
            "{e}"
        );
        pinhole
            .check_host(&spec_with(opts), dir.path(), &[])
            .unwrap();
        Policy::builtin_default()
            .check_host(&spec_with(opts), dir.path(), &[])
            .unwrap();
    }
    for opts in [
        &["rbind", "rslave"][..],
        &["rbind"][..],
        &["rbind", "rprivate"][..],
    ] {
        strict
            .check_host(&spec_with(opts), dir.path(), &[])
            .unwrap();
    }
    let e = err("name = \"n\"\n[host]\nshared_mounts = \"maybe\"\n");
    assert!(e.contains("host.shared_mounts"), "{e}");
}
