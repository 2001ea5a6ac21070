//! Bad input: each mistake gives one `pinhole: ` error line naming the field/value, a non-zero
//! exit, and leaves nothing behind (no state, no cgroup, no process). Checked for `create` and
//! `run`.

mod common;

use common::*;
use serde_json::json;
use std::fs;

/// Runs `create` and then `run` on the current spec (already written unless `raw_config` is
/// given); both must fail with an error line containing every needle, leaving nothing.
#[track_caller]
fn assert_refused(c: &Ctr, raw_config: Option<&str>, needles: &[&str]) {
    for verb in ["create", "run"] {
        match raw_config {
            Some(text) => fs::write(c.bundle().join("config.json"), text).unwrap(),
            None => c.write_spec(),
        }
        let out = c.pinhole(&[verb, "--bundle", c.bundle().to_str().unwrap(), &c.id]);
        out.assert_error(needles);
        c.assert_clean();
    }
}

#[test]
fn malformed_json() {
    let c = Ctr::new("bad-json");
    assert_refused(
        &c,
        Some("{ \"ociVersion\": \"1.0.2\", \"process\": "),
        &["config.json"],
    );
}

#[test]
fn missing_config_json() {
    let c = Ctr::new("bad-noconfig");
    for verb in ["create", "run"] {
        let out = c.pinhole(&[verb, "--bundle", c.bundle().to_str().unwrap(), &c.id]);
        out.assert_error(&["config.json"]);
        c.assert_clean();
    }
}

#[test]
fn missing_rootfs() {
    let mut c = Ctr::new("bad-rootfs");
    let missing = format!("/nonexistent-pinhole-rootfs/{}", c.id);
    c.spec["root"]["path"] = json!(missing);
    assert_refused(&c, None, &[&missing]);
}

#[test]
fn unknown_syscall_name() {
    let mut c = Ctr::new("bad-syscall");
    let mut p = seccomp_allowlist_without(&["mkdir"]);
    seccomp_add_rule(&mut p, &["nosuch"], "SCMP_ACT_ERRNO", Some(1), None);
    c.spec["linux"]["seccomp"] = p;
    assert_refused(&c, None, &["\"nosuch\"", "linux.seccomp.syscalls[1].names"]);
}

/// The optional annotation names other syscalls only: "nosuch" is still an error.
#[test]
fn unknown_syscall_not_in_optional_list() {
    let mut c = Ctr::new("bad-syscall-opt");
    let mut p = seccomp_allowlist();
    seccomp_add_rule(&mut p, &["nosuch"], "SCMP_ACT_ERRNO", Some(1), None);
    c.spec["linux"]["seccomp"] = p;
    c.spec["annotations"] = json!({ "run.pinhole.seccomp.optional": "othername" });
    assert_refused(&c, None, &["nosuch"]);
}

#[test]
fn invalid_capability_name() {
    let mut c = Ctr::new("bad-cap");
    c.spec["process"]["capabilities"]["effective"] = json!(["CAP_CHOWN", "CAP_FOO"]);
    c.spec["process"]["capabilities"]["permitted"] = json!(["CAP_CHOWN", "CAP_FOO"]);
    assert_refused(&c, None, &["CAP_FOO"]);
}

#[test]
fn namespace_path_does_not_exist() {
    let mut c = Ctr::new("bad-nspath");
    let path = format!("/proc/999999999/ns/net-{}", c.id);
    set_namespace(&mut c.spec, "network", Some(&path));
    assert_refused(&c, None, &[&path]);
}

#[test]
fn missing_process_args() {
    let mut c = Ctr::new("bad-args");
    c.spec["process"].as_object_mut().unwrap().remove("args");
    assert_refused(&c, None, &["args"]);
}

#[test]
fn empty_process_args() {
    let mut c = Ctr::new("bad-args-empty");
    c.args(&[]);
    assert_refused(&c, None, &["args"]);
}

#[test]
fn commands_on_missing_container() {
    let c = Ctr::new("bad-cli");
    let out = c.pinhole(&["state", &c.id]);
    out.assert_error(&[&c.id]);
    let out = c.pinhole(&["start", &c.id]);
    out.assert_error(&[&c.id]);
    let out = c.pinhole(&["kill", &c.id, "NOSUCHSIG"]);
    assert_ne!(out.code(), 0, "{out}");
    c.assert_clean();
}
