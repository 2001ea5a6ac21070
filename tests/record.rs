//! Issue 8, recording and audit through the CLI: `pinhole profile record` records what a real
//! workload uses (seccomp user notification, the pinhole process as supervisor), the recorded
//! profile applied back lets the workload pass and allows little more than it used, replicas
//! merge, and `pinhole.dev/audit: denials` names a denied syscall while the workload sees
//! the same errno. The shim and CRI paths are in tests/shim_record.rs.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `pinhole profile record` arguments for `c` into `out` under `name` (policy: the shipped
/// `pinhole` unless given).
fn record(c: &Ctr, out: &Path, name: &str, policy_file: Option<&Path>) -> Out {
    c.write_spec();
    let pol = policy_file.map_or_else(|| policy("pinhole"), Path::to_path_buf);
    c.pinhole(&[
        "profile",
        "record",
        "--bundle",
        c.bundle().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--name",
        name,
        "--policy",
        pol.to_str().unwrap(),
        &c.id,
    ])
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Names a profile's ALLOW rules allow (with or without argument conditions).
fn allowed_names(profile: &Value) -> BTreeSet<String> {
    profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|r| r["names"].as_array().unwrap().iter())
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("pinhole-{name}-"))
        .tempdir()
        .unwrap()
}

/// Records `setup`'s workload, checks output and exit code are unchanged, applies the
/// profile back as the spec's own seccomp profile (a Localhost profile) and checks the
/// workload passes with the same output and that the profile allows ≤ 1.2 × what was used.
fn record_and_apply(what: &str, setup: impl Fn(&mut Ctr)) -> BTreeSet<String> {
    let out = scratch("rec-out");
    let mut plain = Ctr::new(&format!("{what}-plain"));
    setup(&mut plain);
    let expected = plain.run_under("pinhole");

    let mut rec = Ctr::new(&format!("{what}-rec"));
    setup(&mut rec);
    let got = record(&rec, out.path(), what, None);
    assert_eq!(
        got.code(),
        expected.code(),
        "recording changed the exit code\n{got}"
    );
    assert_eq!(
        got.stdout, expected.stdout,
        "recording changed the output\n{got}"
    );
    rec.assert_clean();

    let used = recorded_names(out.path(), what);
    assert!(
        used.contains("execve"),
        "recording starts at the execve: {used:?}"
    );
    assert!(
        (5..=80).contains(&used.len()),
        "{what}: {} distinct syscalls: {used:?}",
        used.len()
    );
    let profile_path = out.path().join(format!("{what}.json"));
    let profile = read_json(&profile_path);
    // What the compiled profile allows, by evaluating its BPF for every syscall number.
    let surface = rec.pinhole(&["surface", "--json", profile_path.to_str().unwrap()]);
    surface.assert_ok();
    let surface: Value = serde_json::from_str(&surface.stdout).unwrap();
    let allowed = surface["allowed"]["x86_64"].as_u64().unwrap() as usize;
    assert_eq!(surface["allowed"]["x86"], 0, "{surface}");
    assert!(
        allowed as f64 <= 1.2 * used.len() as f64 && allowed >= used.len(),
        "{what}: the profile allows {allowed} for {} used: {surface}",
        used.len()
    );
    let yaml = fs::read_to_string(out.path().join(format!("{what}.yaml"))).unwrap();
    assert!(yaml.contains("kind: \"SeccompProfile\""), "{yaml}");
    assert!(
        yaml.contains("security-profiles-operator.x-k8s.io/"),
        "{yaml}"
    );

    let mut enforced = Ctr::new(&format!("{what}-enforced"));
    setup(&mut enforced);
    enforced.spec["linux"]["seccomp"] = profile;
    let o = enforced.run_under("pinhole");
    assert_eq!(
        o.code(),
        expected.code(),
        "the recorded profile breaks {what}\n{o}"
    );
    assert_eq!(o.stdout, expected.stdout, "{o}");
    enforced.assert_clean();

    // The same profile as a handler's ceiling.
    let ceiling = out.path().join("ceiling.toml");
    fs::write(
        &ceiling,
        format!(
            "name = \"recorded\"\n[seccomp]\nprofile = \"{}\"\n",
            profile_path.display()
        ),
    )
    .unwrap();
    let mut under = Ctr::new(&format!("{what}-ceiling"));
    setup(&mut under);
    under.write_spec();
    let run = under.run_args();
    let mut argv = vec!["run", "--policy", ceiling.to_str().unwrap()];
    argv.extend(run[1..].iter().map(String::as_str));
    let o = under.pinhole(&argv);
    assert_eq!(
        o.code(),
        expected.code(),
        "the recorded ceiling breaks {what}\n{o}"
    );
    assert_eq!(o.stdout, expected.stdout, "{o}");
    under.assert_clean();
    used
}

#[test]
fn busybox_sh_echo_is_recorded_and_its_profile_runs_it() {
    let used = record_and_apply("sh-echo", |c| {
        c.sh("echo hi");
    });
    assert!(used.contains("write"), "{used:?}");
}

#[test]
fn static_hello_is_recorded_and_its_profile_runs_it() {
    let used = record_and_apply("hello", |c| {
        c.args(&["/bin/hello", "world"]);
    });
    assert!(
        used.contains("write") && used.contains("exit_group"),
        "{used:?}"
    );
}

#[test]
fn busybox_httpd_serving_one_request_is_recorded_across_its_fork() {
    // httpd forks into the background; the wget client runs beside it; both are recorded
    // (the filter follows every fork and exec). Host network: loopback is up there.
    let port = 20000 + std::process::id() % 20000;
    let script = format!(
        "mkdir -p /tmp/www && echo served > /tmp/www/index.html && \
         httpd -p 127.0.0.1:{port} -h /tmp/www && \
         for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:{port}/index.html && break; sleep 0.2; done; \
         kill $(pidof httpd)"
    );
    let used = record_and_apply("httpd", |c| {
        remove_namespace(&mut c.spec, "network");
        c.sh(&script);
    });
    for needed in ["socket", "bind", "listen", "accept", "connect"] {
        assert!(
            used.iter().any(|u| u.starts_with(needed)),
            "{needed} missing: {used:?}"
        );
    }
}

#[test]
fn replicas_recorded_under_one_name_merge() {
    let out = scratch("rec-merge");
    let mut a = Ctr::new("replica-a");
    a.sh("echo a");
    record(&a, out.path(), "app", None).assert_ok();
    let first = recorded_names(out.path(), "app");
    let mut b = Ctr::new("replica-b");
    b.sh("mkdir /tmp/d && rmdir /tmp/d");
    record(&b, out.path(), "app", None).assert_ok();
    let usage = read_json(&out.path().join("app.usage.json"));
    let containers: Vec<&str> = usage["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(containers.len(), 2, "{usage}");
    assert!(containers.contains(&a.id.as_str()) && containers.contains(&b.id.as_str()));
    let merged = recorded_names(out.path(), "app");
    assert!(merged.is_superset(&first), "{merged:?} ⊉ {first:?}");
    assert!(
        merged.contains("mkdir") && merged.contains("rmdir"),
        "{merged:?}"
    );
    let allowed = allowed_names(&read_json(&out.path().join("app.json")));
    assert!(
        allowed.contains("mkdir") && allowed.contains("write"),
        "{allowed:?}"
    );
}

/// A policy (in a temp dir) without no_new_privs, so pinhole's init installs the filters
/// before switching user and dropping capabilities: those steps must not be recorded.
#[test]
fn pinholes_own_setup_is_not_recorded() {
    let dir = scratch("rec-nnp");
    let pol = dir.path().join("no-nnp.toml");
    fs::write(
        &pol,
        "name = \"no-nnp\"\n[process]\nno_new_privileges = false\n[capabilities]\nceiling = [\"CAP_KILL\"]\n",
    )
    .unwrap();
    let mut c = Ctr::new("rec-setup");
    c.spec["process"]["noNewPrivileges"] = json!(false);
    c.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c.sh("echo hi");
    let out = dir.path().join("out");
    record(&c, &out, "setup", Some(&pol)).assert_ok();
    let used = recorded_names(&out, "setup");
    for setup in ["setresuid", "setresgid", "setgroups", "capset", "seccomp"] {
        assert!(
            !used.contains(setup),
            "{setup} of pinhole's setup recorded: {used:?}"
        );
    }
    assert!(used.contains("execve"), "{used:?}");
}

/// A policy denying mkdir with the audit on (in a temp dir).
fn audit_policy(dir: &Path, audit: bool) -> PathBuf {
    let p = dir.join(format!("audit-{audit}.toml"));
    let mut text =
        String::from("name = \"audit-test\"\n[seccomp]\ndeny = [\"mkdir\", \"mkdirat\"]\n");
    if audit {
        text.push_str("audit = \"denials\"\n");
    }
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn audit_names_a_denied_mkdir_and_the_workload_sees_the_same_errno() {
    let dir = scratch("audit");
    let script = "mkdir /tmp/x; echo rc=$?";
    let run = |name: &str, audit_by_policy: bool, annotate: bool| {
        let mut c = Ctr::new(name);
        c.sh(&format!("{script}; sleep 1"));
        if annotate {
            c.spec["annotations"] = json!({"pinhole.dev/audit": "denials"});
        }
        c.write_spec();
        let pol = audit_policy(dir.path(), audit_by_policy);
        let mut running = c.spawn(&[
            "run",
            "--policy",
            pol.to_str().unwrap(),
            "--bundle",
            c.bundle().to_str().unwrap(),
            &c.id,
        ]);
        let mut seen = Value::Null;
        if annotate || audit_by_policy {
            assert!(
                wait_until(Duration::from_secs(10), || {
                    let o = c.pinhole(&["denials", "--json", &c.id]);
                    seen = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
                    seen["denials"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|x| x["name"] == "mkdir"))
                }),
                "no mkdir denial reported: {seen}"
            );
            let _ = running.is_running();
        }
        let o = running.wait(TIMEOUT);
        c.assert_clean();
        (o, seen)
    };
    let (plain, _) = run("audit-off", false, false);
    for (name, by_policy, annotate) in [("audit-ann", false, true), ("audit-pol", true, false)] {
        let (o, seen) = run(name, by_policy, annotate);
        assert_eq!(o.stdout, plain.stdout, "{o}");
        assert!(o.stdout.contains("rc=1"), "{o}");
        let first = |s: &str| {
            s.lines()
                .find(|l| l.starts_with("mkdir:"))
                .map(str::to_string)
        };
        assert_eq!(
            first(&o.stderr),
            first(&plain.stderr),
            "different error seen\n{o}\n{plain}"
        );
        let d = seen["denials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "mkdir")
            .unwrap();
        assert_eq!(d["errno"], libc::EPERM, "{seen}");
        assert_eq!(d["arch"], "SCMP_ARCH_X86_64", "{seen}");
        assert!(
            o.stderr.contains("seccomp denied mkdir"),
            "the denial is not reported on stderr\n{o}"
        );
    }
}

#[test]
fn bad_recording_requests_are_clear_errors() {
    let dir = scratch("rec-bad");
    // A record name that would leave the output directory.
    let mut c = Ctr::new("rec-badname");
    c.sh("true");
    record(&c, dir.path(), "../escape", None).assert_error(&["--name", "../escape"]);
    c.assert_clean();

    // Annotations refused: (container, annotations, policy: None = no policy, error words).
    let pol = dir.path().join("rec.toml");
    fs::write(
        &pol,
        format!(
            "name = \"rec\"\n[seccomp]\nrecording = true\nrecord_dir = \"{}\"\n",
            dir.path().join("profiles").display()
        ),
    )
    .unwrap();
    let shipped = policy("pinhole");
    let cases: [(&str, Value, Option<&Path>, &[&str]); 5] = [
        // under a policy that does not allow recording
        (
            "rec-notallowed",
            json!({"pinhole.dev/record": "web"}),
            Some(&shipped),
            &["pinhole.dev/record", "\"pinhole\"", "recording = true"],
        ),
        // allowed by the policy, but the name has a slash
        (
            "rec-slash",
            json!({"pinhole.dev/record": "a/b"}),
            Some(&pol),
            &["pinhole.dev/record", "\"a/b\""],
        ),
        (
            "rec-both",
            json!({"pinhole.dev/record": "x", "pinhole.dev/audit": "denials"}),
            Some(&pol),
            &["not both"],
        ),
        (
            "rec-mode",
            json!({"pinhole.dev/audit": "everything"}),
            Some(&pol),
            &["pinhole.dev/audit", "\"everything\""],
        ),
        // audit without any ceiling
        (
            "rec-noceiling",
            json!({"pinhole.dev/audit": "denials"}),
            None,
            &["pinhole.dev/audit", "no ceiling"],
        ),
    ];
    for (name, annotations, policy_file, needles) in cases {
        let mut c = Ctr::new(name);
        c.sh("true");
        c.spec["annotations"] = annotations;
        c.write_spec();
        let out = match policy_file {
            Some(p) => c.pinhole(&argv_for(&c, p)),
            None => c.run(),
        };
        out.assert_error(needles);
        c.assert_clean();
    }

    // An output directory that cannot be created: the workload still ran, the error names it.
    let mut c = Ctr::new("rec-unwritable");
    c.sh("echo ran");
    let o = record(&c, Path::new("/proc/version/profiles"), "x", None);
    assert_ne!(o.code(), 0, "{o}");
    assert!(o.stdout.contains("ran"), "{o}");
    assert!(o.stderr.contains("/proc/version/profiles"), "{o}");
    c.assert_clean();

    // A supervised container cannot be started without its supervisor.
    let mut c = Ctr::new("rec-start");
    c.sh("true");
    c.spec["annotations"] = json!({"pinhole.dev/audit": "denials"});
    c.write_spec();
    let p = policy("pinhole");
    c.create_with(&["--policy", p.to_str().unwrap()])
        .assert_ok();
    c.pinhole(&["start", &c.id]).assert_error(&["supervisor"]);
    c.pinhole(&["delete", "--force", &c.id]).assert_ok();
    c.assert_clean();
}

/// `run --policy POL --bundle B ID` for `c`.
fn argv_for<'a>(c: &'a Ctr, pol: &'a Path) -> Vec<&'a str> {
    vec![
        "run",
        "--policy",
        pol.to_str().unwrap(),
        "--bundle",
        c.bundle().to_str().unwrap(),
        &c.id,
    ]
}

/// A spec profile tighter than pinhole's own last steps (here: no execve, no sendto, no
/// memory calls) fails with the execve error named, not a silent exit 127: pinhole's steps
/// after the filters are only execve and a plain write(2) of the error.
#[test]
fn a_profile_without_execve_is_a_clear_error() {
    let mut c = Ctr::new("tight-profile");
    c.sh("echo hi");
    c.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["write", "exit_group", "read", "close"], "action": "SCMP_ACT_ALLOW"}]
    });
    c.run_under("pinhole")
        .assert_error(&["execve", "/bin/sh", "Operation not permitted"]);
    c.assert_clean();
}
