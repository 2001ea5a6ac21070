//! The runc verbs engines call beyond the lifecycle (issue 10 item 6), through the CLI:
//! `run --detach`, `pause`/`resume`, `ps`, `update`, `events`, `exec --detach --pid-file`,
//! `create --console-socket`, the global `--log`.

mod common;

use common::*;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

const SECS5: Duration = Duration::from_secs(5);

/// The v1 cgroup file `controller/file` of container `c` (this host: hybrid v1).
fn cgroup_file(c: &Ctr, controller: &str, file: &str) -> String {
    let p = Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(CGROUP_PARENT)
        .join(&c.id)
        .join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn detached_run_pause_resume_ps_update_events() {
    let mut c = Ctr::new("verbs");
    c.args(&["/bin/sleep", "30"]);
    c.write_spec();
    let mut args: Vec<String> = c.run_args();
    args.insert(1, "--detach".into());
    c.pinhole(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .assert_ok();
    let st = c.wait_status("running", SECS5);
    let pid = st["pid"].as_i64().unwrap() as i32;

    c.pinhole(&["pause", &c.id]).assert_ok();
    assert_eq!(c.state_ok()["status"], "paused");
    assert_eq!(cgroup_file(&c, "freezer", "freezer.state"), "FROZEN");
    c.pinhole(&["pause", &c.id])
        .assert_error(&["only a running container can be paused"]);
    c.pinhole(&["resume", &c.id]).assert_ok();
    assert_eq!(c.state_ok()["status"], "running");
    c.pinhole(&["resume", &c.id])
        .assert_error(&["only a paused container can be resumed"]);

    let out = c.pinhole(&["ps", "--format", "json", &c.id]);
    out.assert_ok();
    let pids: Vec<i32> = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(pids, [pid], "{out}");
    let out = c.pinhole(&["ps", &c.id]);
    out.assert_ok();
    assert!(
        out.stdout.lines().count() == 2 && out.stdout.contains("sleep"),
        "{out}"
    );

    c.pinhole(&["update", "--pids-limit", "77", &c.id])
        .assert_ok();
    assert_eq!(cgroup_file(&c, "pids", "pids.max"), "77");
    let res = c.bundle().join("res.json");
    fs::write(&res, r#"{"pids":{"limit":55}}"#).unwrap();
    c.pinhole(&["update", "--resources", res.to_str().unwrap(), &c.id])
        .assert_ok();
    assert_eq!(cgroup_file(&c, "pids", "pids.max"), "55");
    fs::write(&res, r#"{"pids":{"limit":"many"}}"#).unwrap();
    c.pinhole(&["update", "--resources", res.to_str().unwrap(), &c.id])
        .assert_error(&["--resources", "pids.limit"]);

    let out = c.pinhole(&["events", "--stats", &c.id]);
    out.assert_ok();
    let ev: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        (ev["type"].as_str(), ev["id"].as_str()),
        (Some("stats"), Some(c.id.as_str()))
    );
    assert_eq!(ev["data"]["pids"]["current"], 1, "{ev}");
    assert_eq!(ev["data"]["pids"]["limit"], 55, "{ev}");
    assert!(
        ev["data"]["cpu"]["usage"]["total"].as_u64().is_some(),
        "{ev}"
    );

    // a paused container still goes with delete --force
    c.pinhole(&["pause", &c.id]).assert_ok();
    c.delete_ok(true);
    c.assert_clean();
}

#[test]
fn exec_detach_writes_its_pid_file() {
    let mut c = Ctr::new("execd");
    c.start_sleeping();
    let pid_file = c.bundle().join("exec.pid");
    let out = c.exec(
        &["--detach", "--pid-file", pid_file.to_str().unwrap()],
        &["/bin/sleep", "7"],
    );
    out.assert_ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_until(SECS5, || proc_cmdline(pid).iter().any(|a| a == "7")),
        "exec'd sleep not running as {pid}"
    );
    let ns = |p: i32| fs::read_link(format!("/proc/{p}/ns/mnt")).unwrap();
    assert_eq!(ns(pid), ns(c.init_pid().unwrap()), "not in the container");
    c.exec(&["--tty"], &["/bin/true"])
        .assert_error(&["needs --console-socket"]);
    c.kill_and_delete();
    c.assert_clean();
}

/// Receives one fd sent over `listener` (the console socket), with its payload.
fn receive_fd(listener: &UnixListener) -> (OwnedFd, String) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (stream, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([i32; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("an fd");
    let n = msg.bytes;
    let name = String::from_utf8_lossy(&buf[..n]).into_owned();
    // SAFETY: the fd just came to us over SCM_RIGHTS; nobody else owns it.
    (unsafe { OwnedFd::from_raw_fd(fd) }, name)
}

#[test]
fn console_socket_gets_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut c = Ctr::new("console");
    c.spec["process"]["terminal"] = serde_json::json!(true);
    c.sh("read line; echo got-$line; tty");
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    c.create_with(&["--console-socket", sock.to_str().unwrap()])
        .assert_ok();
    let (master, name) = receiver.join().unwrap();
    assert!(name.starts_with("/dev/pts/"), "{name:?}");
    c.start_ok();
    let mut pty = fs::File::from(master);
    pty.write_all(b"hello\n").unwrap();
    c.wait_status("stopped", SECS5);
    let mut out = Vec::new();
    let _ = pty.read_to_end(&mut out); // EIO once the slave side is gone
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("got-hello") && out.contains("/dev/pts/"),
        "{out:?}"
    );
    c.delete_ok(false);
    c.assert_clean();
}

#[test]
fn errors_go_to_the_log_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let c = Ctr::new("logjson");
    let l = log.to_str().unwrap();
    c.pinhole(&[
        "--log",
        l,
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ])
    .assert_code(1);
    let line = fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["level"], "error", "{line}");
    assert!(
        v["msg"].as_str().unwrap().contains("no-such-container"),
        "{line}"
    );
    c.pinhole(&["--systemd-cgroup", "list"])
        .assert_error(&["--systemd-cgroup", "cgroupfs"]);
}
