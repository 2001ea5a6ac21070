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

// ------------------------------------------------------------------------------------------------
// Ids (issue 7 item 5): 4294967295 is -1 to setresuid/setresgid ("leave unchanged"), so it ran
// the workload as uid/gid 0. Ids above 2147483647 are refused, naming the field.

#[test]
fn uid_out_of_range() {
    for uid in [4294967295u32, 2147483648] {
        let mut c = Ctr::new("bad-uid");
        c.spec["process"]["user"]["uid"] = json!(uid);
        assert_refused(&c, None, &["process.user.uid", &uid.to_string()]);
    }
}

#[test]
fn gid_out_of_range() {
    let mut c = Ctr::new("bad-gid");
    c.spec["process"]["user"] = json!({ "uid": 1000, "gid": 4294967295u32 });
    assert_refused(&c, None, &["process.user.gid", "4294967295"]);
}

#[test]
fn additional_gid_out_of_range() {
    let mut c = Ctr::new("bad-agid");
    c.spec["process"]["user"]["additionalGids"] = json!([5, 4294967295u32]);
    assert_refused(&c, None, &["process.user.additionalGids[1]", "4294967295"]);
}

/// The largest valid id still runs (and really is that id, not 0).
#[test]
fn largest_id_runs_as_itself() {
    let mut c = Ctr::new("max-uid");
    c.spec["process"]["user"] = json!({ "uid": 2147483647u32, "gid": 2147483647u32 });
    c.sh("id -u; id -g");
    let out = c.run();
    out.assert_ok();
    assert_eq!(out.stdout, "2147483647\n2147483647\n", "{out}");
    c.assert_clean();
}

/// A container with a user namespace and the given `linux.uidMappings` (gid maps sane).
fn with_uid_mappings(name: &str, maps: serde_json::Value) -> Ctr {
    let mut c = Ctr::new(name);
    set_namespace(&mut c.spec, "user", None);
    c.spec["linux"]["uidMappings"] = maps;
    c.spec["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    c
}

#[test]
fn id_mapping_of_size_zero() {
    let c = with_uid_mappings(
        "bad-map-size",
        json!([{ "containerID": 0, "hostID": 100000, "size": 0 }]),
    );
    assert_refused(&c, None, &["linux.uidMappings[0].size"]);
    let mut c = Ctr::new("bad-gmap-size");
    set_namespace(&mut c.spec, "user", None);
    c.spec["linux"]["gidMappings"] = json!([
        { "containerID": 0, "hostID": 100000, "size": 65536 },
        { "containerID": 70000, "hostID": 300000, "size": 0 }
    ]);
    assert_refused(&c, None, &["linux.gidMappings[1].size"]);
}

#[test]
fn id_mapping_beyond_the_id_space() {
    let c = with_uid_mappings(
        "bad-map-cid",
        json!([{ "containerID": 4294967295u32, "hostID": 100000, "size": 1 }]),
    );
    assert_refused(
        &c,
        None,
        &["linux.uidMappings[0]", "containerID 4294967295"],
    );
    let c = with_uid_mappings(
        "bad-map-hid",
        json!([{ "containerID": 0, "hostID": 4294967000u32, "size": 65536 }]),
    );
    assert_refused(&c, None, &["linux.uidMappings[0]", "hostID 4294967000"]);
}

#[test]
fn id_mappings_overlapping() {
    let cases = [
        // container side
        ("containerID", [(0, 100000, 65536), (1000, 300000, 10)]),
        // host side: two container ranges onto the same host ids
        ("hostID", [(0, 100000, 10), (10, 100005, 10)]),
    ];
    for (side, maps) in cases {
        let maps: Vec<_> = maps
            .iter()
            .map(|(c, h, n)| json!({ "containerID": c, "hostID": h, "size": n }))
            .collect();
        let c = with_uid_mappings(&format!("bad-map-ovl-{side}"), json!(maps));
        let needles = [
            "linux.uidMappings[1]",
            side,
            "overlaps linux.uidMappings[0]",
        ];
        assert_refused(&c, None, &needles);
    }
}

/// `exec --user` and `exec --process FILE` are held to the same range.
#[test]
fn exec_ids_out_of_range() {
    let mut c = Ctr::new("bad-exec-uid");
    c.start_sleeping();
    c.exec(&["--user", "4294967295"], &["/bin/id"])
        .assert_error(&["process.user.uid", "4294967295"]);
    c.exec(&["--user", "0:4294967295"], &["/bin/id"])
        .assert_error(&["process.user.gid", "4294967295"]);
    let file = c.bundle().join("process.json");
    let mut process = c.spec["process"].clone();
    process["args"] = json!(["/bin/id"]);
    process["user"] = json!({ "uid": 0, "gid": 0, "additionalGids": [4294967295u32] });
    fs::write(&file, process.to_string()).unwrap();
    let out = c.pinhole(&["exec", "--process", file.to_str().unwrap(), &c.id]);
    out.assert_error(&["process.user.additionalGids[0]", "4294967295"]);
    c.kill_and_delete();
    c.assert_clean();
}
