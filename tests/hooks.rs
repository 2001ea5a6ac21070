//! OCI hooks through the CLI: every kind runs at its lifecycle point with the state on its
//! stdin, in the namespace the runtime-spec names, with only its own environment; failures
//! stop the create or start (or are warnings for poststart/poststop), timeouts kill; a policy
//! with `hooks = "refuse"` refuses any.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A hook that records, in `dir`, its stdin (the state), mount namespace, credentials and
/// environment, and appends its kind to `dir/order`.
fn recorder(kind: &str, dir: &str) -> Value {
    let script = format!(
        "cat > {dir}/{kind}.state; readlink /proc/self/ns/mnt > {dir}/{kind}.mnt; \
         grep -E '^(CapEff|Seccomp|NoNewPrivs|Uid):' /proc/self/status > {dir}/{kind}.status; \
         echo \"$HOOKENV:${{{MARK_VAR}:-unset}}\" > {dir}/{kind}.env; echo {kind} >> {dir}/order"
    );
    json!({ "path": "/bin/sh", "args": ["sh", "-c", script], "env": [format!("HOOKENV={kind}")] })
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .to_string()
}

fn state_of(dir: &Path, kind: &str) -> Value {
    serde_json::from_str(&read(dir, &format!("{kind}.state")))
        .unwrap_or_else(|e| panic!("{kind}.state: {e}"))
}

fn own_mnt_ns() -> String {
    fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_kind_runs_at_its_point_with_the_state_in_its_namespace() {
    let host = tempfile::tempdir().unwrap();
    let d = host.path().to_str().unwrap().to_string();
    let mut c = Ctr::new("hooks");
    add_bind_mount(&mut c.spec, host.path(), "/mnt", false);
    c.spec["hooks"] = json!({
        "prestart": [recorder("prestart", &d)],
        "createRuntime": [recorder("createRuntime", &d)],
        "createContainer": [recorder("createContainer", &d)],
        // resolves in the container: its /bin/sh, its /mnt
        "startContainer": [recorder("startContainer", "/mnt")],
        "poststart": [recorder("poststart", &d)],
        "poststop": [recorder("poststop", &d)],
    });
    c.sh("grep -E '^(CapEff|Seccomp|NoNewPrivs|Uid):' /proc/self/status > /mnt/workload.status; readlink /proc/self/ns/mnt > /mnt/workload.mnt");
    let policy = policy("pinhole");
    c.create_with(&["--policy", policy.to_str().unwrap()])
        .assert_ok();
    let pid = c.init_pid().unwrap();
    assert_eq!(
        read(host.path(), "order"),
        "prestart\ncreateRuntime\ncreateContainer"
    );
    let container_mnt = fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(container_mnt, own_mnt_ns());
    for kind in ["prestart", "createRuntime"] {
        assert_eq!(
            read(host.path(), &format!("{kind}.mnt")),
            own_mnt_ns(),
            "{kind}"
        );
    }
    assert_eq!(read(host.path(), "createContainer.mnt"), container_mnt);
    let bundle = fs::canonicalize(c.bundle()).unwrap();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let st = state_of(host.path(), kind);
        assert_eq!(st["status"], "creating", "{kind}: {st}");
        assert_eq!(st["id"], c.id.as_str(), "{kind}: {st}");
        assert_eq!(st["ociVersion"], "1.0.2", "{kind}: {st}");
        assert_eq!(
            fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
            bundle,
            "{kind}: {st}"
        );
        // the runtime's pid of the init; the container's own view in its PID namespace
        let want = if kind == "createContainer" { 1 } else { pid };
        assert_eq!(st["pid"], want, "{kind}: {st}");
        // its own env only: not the runtime's
        assert_eq!(
            read(host.path(), &format!("{kind}.env")),
            format!("{kind}:unset")
        );
    }

    c.start_ok();
    c.wait_status("stopped", Duration::from_secs(10));
    assert_eq!(
        read(host.path(), "order"),
        "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart"
    );
    let st = state_of(host.path(), "startContainer");
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("created"), Some(1)),
        "{st}"
    );
    let st = state_of(host.path(), "poststart");
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("running"), Some(i64::from(pid))),
        "{st}"
    );
    // startContainer: in the container, confined exactly like the workload
    assert_eq!(read(host.path(), "startContainer.mnt"), container_mnt);
    let confined = read(host.path(), "workload.status");
    assert!(
        confined.contains("Seccomp:\t2") && confined.contains("NoNewPrivs:\t1"),
        "{confined}"
    );
    assert_eq!(read(host.path(), "startContainer.status"), confined);
    assert_eq!(read(host.path(), "poststart.mnt"), own_mnt_ns());

    c.delete_ok(false);
    assert_eq!(read(host.path(), "order").lines().last(), Some("poststop"));
    let st = state_of(host.path(), "poststop");
    assert_eq!(st["status"], "stopped", "{st}");
    assert_eq!(read(host.path(), "poststop.mnt"), own_mnt_ns());
    c.assert_clean();
}

fn failing(marker: &Path) -> Value {
    json!([
        { "path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 7"] },
        // never runs: the first failure ends the list
        { "path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", marker.display())] },
    ])
}

/// A failing prestart, createRuntime or createContainer hook fails the create, naming it, and
/// leaves nothing; a failing startContainer fails the start before the workload runs.
#[test]
fn failing_create_and_start_hooks_stop_the_container() {
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
    ] {
        let host = tempfile::tempdir().unwrap();
        let marker = host.path().join("second-hook-ran");
        let mut c = Ctr::new("hookfail");
        add_bind_mount(&mut c.spec, host.path(), "/mnt", false);
        c.sh("touch /mnt/workload-ran");
        c.spec["hooks"] = json!({ kind: failing(&marker) });
        let want = format!("hooks.{kind}[0] (/bin/sh): exit status 7, output: \"hook-said-no\"");
        if kind == "startContainer" {
            c.create_ok();
            c.pinhole(&["start", &c.id]).assert_error(&[&want]);
            c.wait_status("stopped", Duration::from_secs(10));
            c.delete_ok(false);
        } else {
            c.create_with(&[]).assert_error(&[&want]);
        }
        assert!(
            !marker.exists(),
            "{kind}: the hook after the failing one ran"
        );
        assert!(
            !host.path().join("workload-ran").exists(),
            "{kind}: the workload ran"
        );
        c.assert_clean();
    }
}

/// poststart and poststop failures are warnings: start and delete succeed, every hook runs.
#[test]
fn failing_poststart_and_poststop_are_warnings() {
    let host = tempfile::tempdir().unwrap();
    let mut c = Ctr::new("hookwarn");
    let after = |name: &str| json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("touch {}/{name}", host.path().display())] });
    c.spec["hooks"] = json!({
        "poststart": [{ "path": "/bin/false" }, after("poststart-1")],
        "poststop": [{ "path": "/nonexistent/hook" }, after("poststop-1")],
    });
    c.args(&["/bin/sleep", "30"]);
    c.create_ok();
    let out = c.pinhole(&["start", &c.id]);
    out.assert_ok();
    assert!(
        out.stderr
            .contains("pinhole: warning: hooks.poststart[0] (/bin/false): exit status 1"),
        "{out}"
    );
    assert!(host.path().join("poststart-1").exists());
    c.wait_status("running", Duration::from_secs(5));
    let out = c.pinhole(&["delete", "--force", &c.id]);
    out.assert_ok();
    assert!(
        out.stderr
            .contains("pinhole: warning: hooks.poststop[0] (/nonexistent/hook): cannot run it:"),
        "{out}"
    );
    assert!(host.path().join("poststop-1").exists());
    c.assert_clean();
}

/// A hook past its `timeout` is killed and fails the create; no hook process is left.
#[test]
fn hook_timeout_kills_it() {
    let mut c = Ctr::new("hooktimeout");
    // a distinctive argument to find a leftover by
    c.spec["hooks"] = json!({
        "createRuntime": [{ "path": "/bin/sleep", "args": ["sleep", "424242"], "timeout": 1 }],
    });
    c.create_with(&[])
        .assert_error(&["hooks.createRuntime[0] (/bin/sleep): timed out after 1 s (killed)"]);
    let left: Vec<i32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|p| proc_cmdline(*p).iter().any(|a| a == "424242"))
        .collect();
    assert!(left.is_empty(), "hook processes left: {left:?}");
    c.assert_clean();
}

/// Invalid hooks are refused before anything runs; a policy with `hooks = "refuse"` refuses
/// any hook, naming it.
#[test]
fn invalid_or_refused_hooks_fail_the_create() {
    for (hook, want) in [
        (
            json!({ "poststop": [{ "path": "bin/true" }] }),
            "config.json: hooks.poststop[0].path: must be an absolute path",
        ),
        (
            json!({ "prestart": [{ "path": "/bin/true", "timeout": 0 }] }),
            "config.json: hooks.prestart[0].timeout: must be greater than zero",
        ),
    ] {
        let mut c = Ctr::new("hookbad");
        c.spec["hooks"] = hook;
        c.create_with(&[]).assert_error(&[want]);
        c.assert_clean();
    }
    let host = tempfile::tempdir().unwrap();
    let marker = host.path().join("ran");
    let mut c = Ctr::new("hookrefused");
    c.spec["hooks"] = json!({
        "createRuntime": [{ "path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", marker.display())] }],
    });
    let no_hooks = host.path().join("no-hooks.toml");
    fs::write(&no_hooks, "name = \"no-hooks\"\nhooks = \"refuse\"\n").unwrap();
    c.create_with(&["--policy", no_hooks.to_str().unwrap()])
        .assert_error(&[
            "config.json: hooks.createRuntime[0] (/bin/sh): refused by policy \"no-hooks\" (hooks = \"refuse\")",
        ]);
    assert!(!marker.exists());
    c.assert_clean();
}
