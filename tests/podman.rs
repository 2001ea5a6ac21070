//! podman drives the pinhole CLI (issue 10 item 6): podman 4.3.1 (Debian bookworm) with
//! `--runtime <built pinhole>`, a private storage/run root and config of its own
//! (tests/common/podman.rs), the test rootfs `podman import`ed (no registry). It calls
//! `create [--console-socket]`, `start`, `exec --detach --pid-file --process [--tty
//! --console-socket]`, `pause`, `resume`, `kill`, `delete --force`; each test checks what a
//! user sees and that nothing is left (containers, pinhole state, mounts, cgroups, conmon).

#[path = "common/containerd.rs"]
mod containerd;
#[path = "common/podman.rs"]
mod podman;

use containerd::{field, DOCKER_DEFAULT_CAPS};
use podman::*;
use std::time::Duration;

/// `run --rm`: the container's stdout, stderr and exit code are podman's; a command not in
/// PATH is podman's exit 127 (it recognises runc's wording).
#[test]
fn run_rm_output_and_exit_code() {
    let p = Podman::start();
    let o = p.run("rm1", &[], "echo to-stdout; echo to-stderr >&2; exit 3");
    o.assert_code(3);
    assert_eq!(o.stdout, "to-stdout\n", "{o}");
    assert!(o.stderr.contains("to-stderr"), "{o}");
    let o = p.podman(&p.ctr_args("run", &["--rm", "--name", "rm2", IMAGE, "nosuchcmd"]));
    o.assert_code(127);
    assert!(
        o.stderr.contains("executable file not found in $PATH"),
        "{o}"
    );
    p.assert_clean();
}

/// `run -it` (podman on a pty of script(1)): pinhole's `create --console-socket` hands the
/// container's pty master to conmon; the workload has a terminal on stdin and stdout.
#[test]
fn run_it_has_a_terminal() {
    let p = Podman::start();
    let mut args = p.ctr_args("run", &["--rm", "-it", "--name", "tty1", IMAGE]);
    args.extend_from_slice(&[
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; exit 4",
    ]);
    let o = p.on_tty(&args);
    o.assert_code(4);
    assert!(o.stdout.contains("/dev/pts/0\r\n"), "{o}");
    assert!(o.stdout.contains("both-ttys\r\n"), "{o}");
    p.assert_clean();
}

/// A detached container through its life: `exec` (exit code, output), `exec -it`, `exec -d`,
/// `logs`, `pause` (the cgroup frozen, pinhole's state `paused`, podman refusing an exec),
/// `unpause`, `stop` (SIGTERM reaches the workload's handler; its exit code is podman's).
#[test]
fn detached_exec_logs_pause_stop() {
    let p = Podman::start();
    let mut args = p.ctr_args("run", &["-d", "--name", "d1", IMAGE]);
    args.extend_from_slice(&[
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; echo started; while :; do sleep 0.1; done",
    ]);
    p.podman(&args).assert_ok();
    p.wait_status("d1", "running", Duration::from_secs(10));
    let id = p.id("d1");

    let o = p.podman(&["exec", "d1", "sh", "-c", "echo from-exec; exit 5"]);
    o.assert_code(5);
    assert_eq!(o.stdout, "from-exec\n", "{o}");
    let o = p.on_tty(&["exec", "-it", "d1", "sh", "-c", "tty; exit 6"]);
    o.assert_code(6);
    assert!(o.stdout.contains("/dev/pts/"), "{o}");
    p.podman(&["exec", "-d", "d1", "sleep", "30"]).assert_ok();
    let o = p.podman(&["top", "d1", "args"]);
    o.assert_ok();
    assert!(o.stdout.contains("sleep 30"), "{o}");
    assert!(
        containerd::wait_until(Duration::from_secs(5), || p
            .podman(&["logs", "d1"])
            .stdout
            .contains("started")),
        "{}",
        p.podman(&["logs", "d1"])
    );

    p.podman(&["pause", "d1"]).assert_ok();
    assert_eq!(p.inspect("d1", "{{.State.Status}}"), "paused");
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer")
        .join(p.cgroup_parent.trim_start_matches('/'))
        .join(format!("libpod-{id}"))
        .join("freezer.state");
    if freezer.exists() {
        assert_eq!(
            std::fs::read_to_string(&freezer).unwrap().trim(),
            "FROZEN",
            "{}",
            freezer.display()
        );
    }
    let st = std::process::Command::new(&p.runtime)
        .args(["state", &id])
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("pinhole state JSON");
    assert_eq!(st["status"], "paused", "{st}");
    let o = p.podman(&["exec", "d1", "true"]);
    assert_ne!(o.code, 0, "exec into a paused container\n{o}");
    p.podman(&["unpause", "d1"]).assert_ok();
    assert_eq!(p.inspect("d1", "{{.State.Status}}"), "running");
    if freezer.exists() {
        assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "THAWED");
    }
    p.podman(&["exec", "d1", "true"]).assert_ok();

    p.podman(&["stop", "-t", "10", "d1"]).assert_ok();
    assert_eq!(p.inspect("d1", "{{.State.ExitCode}}"), "7");
    assert!(p.podman(&["logs", "d1"]).stdout.contains("got-term"));
    p.podman(&["rm", "d1"]).assert_ok();
    p.assert_clean();
}

/// `--read-only --tmpfs`: podman asks for `tmpcopyup` on every tmpfs (and adds /run,
/// /var/tmp); the tmpfs over /etc starts with the image's /etc (copied by pinhole), the root
/// stays read-only; `notmpcopyup` gives an empty tmpfs.
#[test]
fn read_only_with_tmpfs_copyup() {
    let p = Podman::start();
    let image_passwd =
        std::fs::read_to_string(containerd::rootfs().join("etc/passwd")).expect("rootfs passwd");
    let o = p.run(
        "ro1",
        &["--read-only", "--tmpfs", "/tmp", "--tmpfs", "/etc"],
        "touch /x 2>/dev/null && echo root-writable; echo t > /tmp/t && cat /tmp/t; \
         grep -E ' /(etc|tmp|run|var/tmp) ' /proc/mounts | cut -d' ' -f2,3; \
         echo new > /etc/new && cat /etc/new; echo ---; cat /etc/passwd",
    );
    o.assert_ok();
    let (head, passwd) = o.stdout.split_once("---\n").expect("marker");
    assert!(!head.contains("root-writable"), "{o}");
    for line in [
        "t",
        "/etc tmpfs",
        "/tmp tmpfs",
        "/run tmpfs",
        "/var/tmp tmpfs",
        "new",
    ] {
        assert!(head.lines().any(|l| l == line), "no {line:?}\n{o}");
    }
    assert_eq!(passwd, image_passwd, "/etc/passwd not copied up\n{o}");
    let o = p.run(
        "ro2",
        &["--read-only", "--tmpfs", "/etc:notmpcopyup"],
        "ls /etc",
    );
    o.assert_ok();
    assert!(!o.stdout.contains("passwd"), "{o}");
    p.assert_clean();
}

/// `--privileged` runs, within the CLI's default ceiling (podman passes no policy: the
/// built-in `pinhole` policy, or /etc/pinhole/policy.toml, applies; issue 10 item 7).
#[test]
fn privileged_runs_within_the_ceiling() {
    let p = Podman::start();
    let o = p.run(
        "priv1",
        &["--privileged"],
        "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status",
    );
    o.assert_ok();
    for set in ["CapEff", "CapBnd", "CapPrm"] {
        let m = u64::from_str_radix(field(&o.stdout, set).unwrap_or("?"), 16)
            .unwrap_or_else(|_| panic!("no {set}\n{o}"));
        assert_eq!(
            m & !DOCKER_DEFAULT_CAPS,
            0,
            "{set} {m:x} above the ceiling\n{o}"
        );
    }
    assert_eq!(field(&o.stdout, "Seccomp"), Some("2"), "{o}");
    assert_eq!(field(&o.stdout, "NoNewPrivs"), Some("1"), "{o}");
    p.assert_clean();
}
