//! exec into a running container: same sandbox (no_new_privs, seccomp, capabilities), same
//! namespaces and hostname, exit statuses, --env/--cwd/--user and --process.

mod common;

use common::*;
use serde_json::json;
use std::fs;

/// Creates and starts a `sleep 30` container with NNP, the seccomp allowlist, capabilities
/// {CHOWN, NET_BIND_SERVICE} and hostname "exec-host"; returns its init pid.
fn running(c: &mut Ctr) -> i32 {
    c.spec["hostname"] = json!("exec-host");
    c.spec["process"]["noNewPrivileges"] = json!(true);
    c.spec["linux"]["seccomp"] = seccomp_allowlist();
    set_caps(
        &mut c.spec,
        &CapSets::uniform(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]),
    );
    c.start_sleeping()
}

#[test]
fn exec_runs_under_the_same_sandbox() {
    let mut c = Ctr::new("exec-sandbox");
    let pid = running(&mut c);
    let out = c.exec(&[], &["/bin/cat", "/proc/self/status"]);
    out.assert_ok();
    let init = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), Some("1"), "{out}");
    assert_eq!(status_field(&out.stdout, "Seccomp"), Some("2"), "{out}");
    let want = cap_mask(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_mask(&out.stdout, f), want, "exec {f}\n{out}");
        assert_eq!(status_mask(&init, f), want, "init {f}\n{init}");
    }
    c.kill_and_delete();
    c.assert_clean();
}

#[test]
fn exec_sees_hostname_and_pid_namespace() {
    let mut c = Ctr::new("exec-ns");
    let pid = running(&mut c);
    let nss = ["pid", "uts", "ipc", "net", "mnt"];
    let out = c.exec(
        &[],
        &[
            "/bin/sh",
            "-c",
            "hostname; for n in pid uts ipc net mnt; do readlink /proc/self/ns/$n; done; ps",
        ],
    );
    out.assert_ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("exec-host"), "{out}");
    for ns in nss {
        let host_view = fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_eq!(
            lines.next(),
            Some(host_view.to_str().unwrap()),
            "exec is not in the container's {ns} namespace\n{out}"
        );
    }
    let ps: Vec<&str> = lines.collect();
    assert!(
        ps.iter().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&"1") && l.contains("sleep")
        }),
        "ps does not show the container init (sleep) as pid 1\n{out}"
    );
    c.kill_and_delete();
    c.assert_clean();
}

#[test]
fn exec_exit_status_propagates() {
    let mut c = Ctr::new("exec-exit");
    running(&mut c);
    c.exec(&[], &["/bin/sh", "-c", "exit 5"]).assert_code(5);
    c.exec(&[], &["/bin/false"]).assert_code(1);
    c.exec(&[], &["/bin/true"]).assert_ok();
    // an exec'd process is not PID 1: it can die from its own SIGTERM
    c.exec(&[], &["/bin/sh", "-c", "kill -TERM $$"])
        .assert_code(143);
    let out = c.exec(&[], &["/bin/sh", "-c", "echo out; echo err >&2"]);
    out.assert_ok();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("out\n", "err\n"),
        "{out}"
    );
    assert_eq!(c.state_ok()["status"], "running");
    c.kill_and_delete();
    c.assert_clean();
}

#[test]
fn exec_env_cwd_user() {
    let mut c = Ctr::new("exec-opts");
    running(&mut c);
    let out = c.exec(
        &["--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:1000"],
        &["/bin/sh", "-c", "echo $FOO; pwd; id -u; id -g"],
    );
    out.assert_ok();
    assert_eq!(out.stdout, "bar\n/tmp\n1000\n1000\n", "{out}");
    c.kill_and_delete();
    c.assert_clean();
}

#[test]
fn exec_process_file() {
    let mut c = Ctr::new("exec-proc");
    running(&mut c);
    let proc_json = c.bundle().join("exec-process.json");
    fs::write(
        &proc_json,
        serde_json::to_string(&json!({
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/sh", "-c", "echo from-process-file $HOSTNAME_CHECK; pwd; exit 4"],
            "env": ["PATH=/bin", "HOSTNAME_CHECK=ok"],
            "cwd": "/root"
        }))
        .unwrap(),
    )
    .unwrap();
    let out = c.pinhole(&["exec", "--process", proc_json.to_str().unwrap(), &c.id]);
    out.assert_code(4);
    assert_eq!(out.stdout, "from-process-file ok\n/root\n", "{out}");
    c.kill_and_delete();
    c.assert_clean();
}
