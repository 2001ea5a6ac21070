//! Docker drives pinhole (issue 10): a private dockerd (docker.io 26.1 of Debian trixie by
//! default) on a private containerd 1.7 or 2.1 runs the shim by runtime type and the CLI by
//! path (through containerd's runc shim), with Docker's default seccomp profile unchanged;
//! `--privileged` stays within the ceiling, `docker exec` too, and `pinhole-strict` works
//! (user namespace below Docker's 0710 data root). Nothing stays behind.
#[path = "common/containerd.rs"]
mod containerd;
#[path = "common/docker.rs"]
mod docker;

use containerd::{field, DOCKER_DEFAULT_CAPS};
use docker::*;

/// The `pinhole` ceiling held: capabilities within it, the ceiling's seccomp filter (plus
/// Docker's own profile unless privileged), no_new_privs.
#[track_caller]
fn assert_pinhole_ceiling(o: &containerd::Out, filters: &str) {
    o.assert_ok();
    for set in ["CapEff", "CapBnd", "CapPrm"] {
        let m = mask(&o.stdout, set);
        assert_eq!(
            m & !DOCKER_DEFAULT_CAPS,
            0,
            "{set} {m:x} beyond the ceiling\n{o}"
        );
    }
    assert_eq!(field(&o.stdout, "Seccomp"), Some("2"), "{o}");
    assert_eq!(field(&o.stdout, "Seccomp_filters"), Some(filters), "{o}");
    assert_eq!(field(&o.stdout, "NoNewPrivs"), Some("1"), "{o}");
}

/// `pinhole-strict` held: no capabilities, a user namespace whose root is host uid 100000 or
/// above, Docker's ping_group_range cut to the mapped gids; a privileged container refused.
#[track_caller]
fn assert_strict(d: &Docker, runtime: &str) {
    let o = d.run(
        runtime,
        &[],
        &format!("{PROBE}; cat /proc/sys/net/ipv4/ping_group_range"),
    );
    o.assert_ok();
    assert_eq!(mask(&o.stdout, "CapEff"), 0, "{o}");
    assert_eq!(mask(&o.stdout, "CapBnd"), 0, "{o}");
    assert_eq!(field(&o.stdout, "Seccomp"), Some("2"), "{o}");
    let map: Vec<u64> = o
        .stdout
        .lines()
        .find(|l| l.split_whitespace().count() == 3 && !l.contains(':'))
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .unwrap_or_default();
    assert!(
        map.len() == 3 && map[0] == 0 && map[1] >= 100000,
        "uid_map\n{o}"
    );
    assert!(o.stdout.contains("0\t65535"), "ping_group_range\n{o}");
    let o = d.run(runtime, &["--privileged"], "true");
    assert_ne!(o.code, 0, "strict ran a privileged container\n{o}");
    assert!(o.stderr.contains("privileged requests are refused"), "{o}");
}

/// `docker exec` in a container of `runtime`: bounded by the container's ceiling, exit
/// status passed through.
fn assert_exec(d: &Docker, runtime: &str, filters: &str) {
    let o = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--runtime",
        runtime,
        IMAGE,
        "sleep",
        "60",
    ]);
    o.assert_ok();
    let id = o.stdout.trim().to_string();
    let probe = d.docker(&["exec", &id, "sh", "-c", PROBE]);
    let code = d.docker(&["exec", &id, "sh", "-c", "exit 7"]);
    let rm = d.docker(&["rm", "-f", &id]);
    assert_pinhole_ceiling(&probe, filters);
    code.assert_code(7);
    rm.assert_ok();
}

#[track_caller]
fn assert_clean(mut d: Docker) {
    let left = d.shutdown();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The shim by runtime type (`--runtime io.containerd.pinhole.v2`, and daemon.json's
/// `pinhole-strict` with runtime option `ConfigPath`).
#[test]
fn docker_runs_the_shim_under_its_ceiling() {
    let d = Docker::start();
    let rt = "io.containerd.pinhole.v2";
    // Docker's default profile and the ceiling: two filters
    assert_pinhole_ceiling(&d.run(rt, &[], PROBE), "2");
    // --privileged: Docker drops its profile and asks for everything; the ceiling stays,
    // and no host device appears
    let o = d.run(rt, &["--privileged"], &format!("{PROBE}; ls /dev/kmsg"));
    assert_eq!(o.code, 1, "{o}");
    assert_pinhole_ceiling(
        &containerd::Out {
            code: 0,
            ..o.clone()
        },
        "1",
    );
    assert!(o.stderr.contains("/dev/kmsg"), "{o}");
    assert_exec(&d, rt, "2");
    assert_strict(&d, "pinhole-strict");
    assert_clean(d);
}

/// The CLI by path (`--add-runtime`/daemon.json `path`, driven by containerd's runc shim),
/// with no policy from Docker: the CLI's default ceiling (`/etc/pinhole/policy.toml`, else the
/// built-in `pinhole` policy); `runtimeArgs: ["--policy", pinhole-strict.toml]` for strict.
#[test]
fn docker_runs_the_cli_under_its_default_ceiling() {
    let d = Docker::start();
    assert_pinhole_ceiling(&d.run("pinhole-cli", &[], PROBE), "2");
    assert_pinhole_ceiling(&d.run("pinhole-cli", &["--privileged"], PROBE), "1");
    assert_exec(&d, "pinhole-cli", "2");
    assert_strict(&d, "pinhole-cli-strict");
    assert_clean(d);
}
