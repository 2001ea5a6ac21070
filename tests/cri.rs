//! CRI tests: containerd 1.6's CRI plugin driving `containerd-shim-pinhole-v2` (handlers
//! `pinhole`, `pinhole-strict`) next to runc's shim (handler `runc`), through a kubelet-like
//! client (tests/common/cri.rs) and a private containerd with the bridge CNI. Run as root, after
//! `cargo build -p containerd-shim-pinhole`.
#[path = "common/containerd.rs"]
mod containerd;
#[path = "common/cri.rs"]
mod cri;

use containerd::{cli_recorded_names, recorded_names, target_dir, unique_id, wait_until};
use cri::security_profile::ProfileType;
use cri::*;
use std::fs;
use std::time::Duration;

const MIB: i64 = 1024 * 1024;

fn sh_cmd(script: &str) -> Vec<&str> {
    vec!["/bin/sh", "-c", script]
}

/// Field `key` of a /proc/PID/status text (e.g. "CapEff").
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in:\n{status}"))
}

fn cap_mask(status: &str, key: &str) -> u64 {
    u64::from_str_radix(status_field(status, key), 16).expect("hex capability mask")
}

/// Bit numbers of the capabilities the tests name (linux/capability.h).
fn cap_bit(name: &str) -> u32 {
    match name {
        "CAP_CHOWN" => 0,
        "CAP_DAC_OVERRIDE" => 1,
        "CAP_DAC_READ_SEARCH" => 2,
        "CAP_FOWNER" => 3,
        "CAP_FSETID" => 4,
        "CAP_KILL" => 5,
        "CAP_SETGID" => 6,
        "CAP_SETUID" => 7,
        "CAP_SETPCAP" => 8,
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_NET_ADMIN" => 12,
        "CAP_NET_RAW" => 13,
        "CAP_SYS_CHROOT" => 18,
        "CAP_SYS_ADMIN" => 21,
        "CAP_MKNOD" => 27,
        "CAP_AUDIT_WRITE" => 29,
        "CAP_SETFCAP" => 31,
        _ => panic!("unknown capability {name}"),
    }
}

/// The capability ceiling of a handler policy file (its `ceiling = [...]` array).
fn policy_ceiling(policy: &str) -> u64 {
    let path = containerd::repo_root()
        .join("runtimeclass/policies")
        .join(policy);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text.find("ceiling = [").expect("ceiling array");
    let arr = &text[start..start + text[start..].find(']').expect("end of ceiling")];
    arr.split('"')
        .filter(|s| s.starts_with("CAP_"))
        .fold(0, |m, c| m | 1 << cap_bit(c))
}

// ---------------------------------------------------------------------------------------------
// 1. full pod lifecycle

fn lifecycle(handler: &str) {
    let cri = Cri::shared();
    let pod = Pod::run("life", handler, Net::Host, |_| {})
        .unwrap_or_else(|e| panic!("RunPodSandbox ({handler}): {e}"));
    let (st, _) = cri.inspectp(&pod.id).expect("PodSandboxStatus");
    assert_eq!(st.state, PodSandboxState::SandboxReady as i32, "{st:?}");

    // A traps TERM and exits; B ignores TERM (and echoes what it reads on stdin)
    let a = pod.create_start(
        "app-a",
        &sh_cmd("trap 'echo got-term; exit 0' TERM; echo hello-a; sleep 300 & wait"),
        |_| {},
    );
    let b = pod.create_start(
        "app-b",
        &sh_cmd("trap '' TERM; echo hello-b; while read l; do echo got:$l; done; sleep 300"),
        |c| c.stdin = true,
    );

    if handler.starts_with("pinhole") {
        // one shim per pod: the pause container and both app containers under one shim
        let pids = [
            pod.sandbox_pid().expect("sandbox pid"),
            pod.container_pid(&a).expect("pid of a"),
            pod.container_pid(&b).expect("pid of b"),
        ];
        let shims: Vec<(i32, Vec<String>)> = cri
            .shims()
            .into_iter()
            .filter(|(_, argv)| {
                argv[0].ends_with("containerd-shim-pinhole-v2")
                    && argv
                        .windows(2)
                        .any(|w| w[0] == "-id" && (w[1] == pod.id || w[1] == a || w[1] == b))
            })
            .collect();
        assert_eq!(
            shims.len(),
            1,
            "expected one pinhole shim for the pod: {shims:?}"
        );
        let shim = shims[0].0;
        for p in pids {
            let anc = ancestors(p);
            assert!(
                anc.contains(&shim),
                "pid {p} is not below shim {shim}: ancestors {anc:?}"
            );
        }
        let serving: Vec<i32> = pod.shim_pids();
        assert_eq!(serving, vec![shim], "shims serving the pod");
    }

    // ExecSync: stdout, stderr, exit code
    let r = cri
        .exec_sync(&a, &sh_cmd("echo out; echo err >&2; exit 3"), 10)
        .expect("ExecSync");
    assert_eq!(
        (r.exit_code, r.stdout.as_slice(), r.stderr.as_slice()),
        (3, &b"out\n"[..], &b"err\n"[..])
    );
    assert_eq!(cri.sh(&a, "echo hi"), "hi\n");

    // Exec over the streaming server (websocket): stdin -> stdout, exit code in the status
    let o = cri
        .exec(
            &a,
            &sh_cmd("read l; echo got:$l; echo e >&2; exit 5"),
            Some(b"ping\n"),
            false,
        )
        .expect("Exec stream");
    assert_eq!(o.protocol, STREAM_PROTOCOL, "{o:?}");
    assert_eq!(o.stdout(), "got:ping\n", "{o:?}");
    assert_eq!(o.stderr(), "e\n", "{o:?}");
    assert_eq!(o.exit_code(), Some(5), "{o:?}");
    let o = cri
        .exec(&a, &["/bin/echo", "streamed"], None, false)
        .expect("Exec stream");
    assert_eq!(
        (o.stdout(), o.exit_code()),
        ("streamed\n".into(), Some(0)),
        "{o:?}"
    );

    // Attach: B's stdin and stdout
    let o = cri
        .attach(&b, Some(b"pong\n"), "got:pong")
        .expect("Attach stream");
    assert!(o.stdout().contains("got:pong"), "{o:?}");

    // ContainerStatus
    for (id, name) in [(&a, "app-a"), (&b, "app-b")] {
        let (st, info) = cri.inspect(id).expect("ContainerStatus");
        assert_eq!(st.state, ContainerState::ContainerRunning as i32, "{st:?}");
        assert_eq!(st.metadata.as_ref().map(|m| m.name.as_str()), Some(name));
        assert!(st.started_at > 0, "{st:?}");
        assert!(info["pid"].as_i64().unwrap_or(0) > 0, "{info}");
        assert!(
            st.log_path.starts_with(pod.log_dir.to_str().unwrap()),
            "log path {} outside the pod's log directory",
            st.log_path
        );
    }

    // ContainerStats / ListContainerStats
    let check_stats = |s: &ContainerStats| {
        let cpu = s
            .cpu
            .as_ref()
            .and_then(|c| c.usage_core_nano_seconds.as_ref());
        let mem = s.memory.as_ref().and_then(|m| m.working_set_bytes.as_ref());
        assert!(
            cpu.map(|v| v.value > 0).unwrap_or(false),
            "no cpu usage: {s:?}"
        );
        assert!(
            mem.map(|v| v.value > 0).unwrap_or(false),
            "no memory working set: {s:?}"
        );
    };
    check_stats(&cri.stats(&a).expect("ContainerStats"));
    let all = cri.list_stats(&pod.id).expect("ListContainerStats");
    let mut seen: Vec<String> = all
        .iter()
        .map(|s| {
            s.attributes
                .as_ref()
                .map(|a| a.id.clone())
                .unwrap_or_default()
        })
        .collect();
    seen.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(seen, want, "ListContainerStats ids");
    all.iter().for_each(check_stats);

    // logs in CRI format under the pod's log directory
    let has = |id: &str, stream: &str, text: &str| {
        wait_until_logs(cri, id, stream, text)
            .unwrap_or_else(|e| panic!("log of {id}: no `{stream} F {text}`: {e}"))
    };
    has(&a, "stdout", "hello-a");
    has(&b, "stdout", "hello-b");
    has(&b, "stdout", "got:pong");

    // UpdateContainerResources: memory limit reaches the container's cgroup
    cri.update(
        &a,
        LinuxContainerResources {
            memory_limit_in_bytes: 64 * MIB,
            cpu_shares: 512,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("UpdateContainerResources ({handler}): {e}"));
    let limit = fs::read_to_string(pod.cgroup_dir("memory", &a).join("memory.limit_in_bytes"))
        .unwrap_or_else(|e| panic!("memory.limit_in_bytes of {a}: {e}"));
    assert_eq!(limit.trim(), (64 * MIB).to_string());

    // StopContainer with a grace period: A exits on TERM, B is killed after the grace period
    let (r, took) = timed(|| cri.stop(&a, 10));
    r.expect("StopContainer a");
    let (st, _) = cri.inspect(&a).expect("ContainerStatus a");
    assert_eq!(st.state, ContainerState::ContainerExited as i32, "{st:?}");
    assert_eq!(st.exit_code, 0, "A trapped TERM and exited 0: {st:?}");
    assert!(took < Duration::from_secs(5), "A took {took:?} to stop");
    has(&a, "stdout", "got-term");

    let (r, took) = timed(|| cri.stop(&b, 2));
    r.expect("StopContainer b");
    let (st, _) = cri.inspect(&b).expect("ContainerStatus b");
    assert_eq!(st.state, ContainerState::ContainerExited as i32, "{st:?}");
    assert_eq!(
        st.exit_code, 137,
        "B ignores TERM: SIGKILL after the grace period: {st:?}"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "B took {took:?} to stop with a 2 s grace period"
    );

    cri.rm(&a).expect("RemoveContainer a");
    cri.rm(&b).expect("RemoveContainer b");
    cri.stopp(&pod.id).expect("StopPodSandbox");
    cri.rmp(&pod.id).expect("RemovePodSandbox");
    pod.assert_clean();
}

/// Waits up to 3 s for a complete (`F`) log line `text` on `stream` of container `id`.
fn wait_until_logs(cri: &Cri, id: &str, stream: &str, text: &str) -> Result<(), String> {
    let mut last = Err(String::new());
    containerd::wait_until(Duration::from_secs(3), || {
        last = cri.logs(id).map(|l| {
            l.into_iter()
                .map(|l| format!("{} {} {}", l.stream, l.tag, l.content))
                .collect::<Vec<_>>()
        });
        matches!(&last, Ok(l) if l.iter().any(|l| *l == format!("{stream} F {text}")))
    });
    match last {
        Ok(l) if l.iter().any(|l| *l == format!("{stream} F {text}")) => Ok(()),
        Ok(l) => Err(format!("lines: {l:?}")),
        Err(e) => Err(e),
    }
}

#[test]
fn lifecycle_pinhole() {
    lifecycle("pinhole");
}

#[test]
fn lifecycle_runc() {
    lifecycle("runc");
}

// ---------------------------------------------------------------------------------------------
// 1b. pod network through the bridge CNI

fn pod_network(handler: &str) {
    let cri = Cri::shared();
    let pod = Pod::run("net", handler, Net::Pod, |_| {})
        .unwrap_or_else(|e| panic!("RunPodSandbox pod network ({handler}): {e}"));
    let (st, _) = cri.inspectp(&pod.id).expect("PodSandboxStatus");
    let ip = st
        .network
        .as_ref()
        .map(|n| n.ip.clone())
        .unwrap_or_default();
    let prefix = POD_SUBNET.trim_end_matches("0/24");
    assert!(ip.starts_with(prefix), "pod IP {ip:?} not in {POD_SUBNET}");
    let c = pod.create_start("app", &sh_cmd("echo hello; sleep 300"), |_| {});
    let addrs = cri.sh(&c, "ip -o -4 addr show; hostname");
    assert!(addrs.contains(&format!("inet {ip}/24")), "{addrs}");
    assert!(addrs.contains("eth0"), "{addrs}");
    assert!(addrs.lines().last() == Some("net"), "hostname: {addrs}");
    cri.stop(&c, 0).expect("StopContainer");
    cri.rm(&c).expect("RemoveContainer");
    cri.stopp(&pod.id).expect("StopPodSandbox");
    cri.rmp(&pod.id).expect("RemovePodSandbox");
    pod.assert_clean();
}

#[test]
fn pod_network_pinhole() {
    pod_network("pinhole");
}

#[test]
fn pod_network_runc() {
    pod_network("runc");
}

// ---------------------------------------------------------------------------------------------
// 2. the handler ceiling holds through CRI

/// Security context asking for more than the pinhole ceiling allows.
fn greedy(c: &mut ContainerConfig, seccomp: ProfileType) {
    let sc = c
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
        .expect("security context");
    sc.capabilities = Some(Capability {
        add_capabilities: vec!["SYS_ADMIN".into(), "NET_ADMIN".into()],
        ..Default::default()
    });
    sc.seccomp = Some(SecurityProfile {
        profile_type: seccomp as i32,
        ..Default::default()
    });
}

/// /proc/1/status of container `id` must be within the pinhole ceiling.
#[track_caller]
fn assert_within_ceiling(cri: &Cri, id: &str, filters: &str) {
    let ceiling = policy_ceiling("pinhole.toml");
    let admin = 1u64 << cap_bit("CAP_SYS_ADMIN") | 1 << cap_bit("CAP_NET_ADMIN");
    let st = cri.sh(id, "cat /proc/1/status");
    for set in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
        let m = cap_mask(&st, set);
        assert_eq!(
            m & !ceiling,
            0,
            "{set} {m:x} exceeds the ceiling {ceiling:x}:\n{st}"
        );
    }
    assert_eq!(cap_mask(&st, "CapEff") & admin, 0, "{st}");
    assert_ne!(cap_mask(&st, "CapEff"), 0, "ceiling caps granted: {st}");
    assert_eq!(status_field(&st, "Seccomp"), "2", "{st}");
    assert_eq!(status_field(&st, "Seccomp_filters"), filters, "{st}");
    assert_eq!(status_field(&st, "NoNewPrivs"), "1", "{st}");
    // the ceiling's seccomp filter and capabilities are in force: mount(2) fails even as root
    let r = cri
        .exec_sync(id, &sh_cmd("mount -t tmpfs t /mnt"), 10)
        .expect("ExecSync mount");
    assert_ne!(r.exit_code, 0, "mount succeeded under pinhole");
}

fn privileged_pod(c: &mut PodSandboxConfig) {
    if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        sc.privileged = true;
    }
}

fn privileged_container(c: &mut ContainerConfig) {
    if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
        sc.privileged = true;
    }
}

/// containerd 1.6's RuntimeDefault profile names syscalls pinhole does not know; the
/// `run.pinhole.seccomp.optional` annotation (passed through by the handler's
/// `container_annotations`) lets them be skipped.
fn optional_syscalls(c: &mut ContainerConfig) {
    c.annotations
        .insert("run.pinhole.seccomp.optional".into(), "*".into());
}

#[test]
fn ceiling_clamps_capabilities_and_seccomp() {
    let cri = Cri::shared();
    let admin = 1u64 << cap_bit("CAP_SYS_ADMIN") | 1 << cap_bit("CAP_NET_ADMIN");
    assert_eq!(
        policy_ceiling("pinhole.toml") & admin,
        0,
        "test premise: the pinhole ceiling excludes them"
    );

    // reference: runc grants what the pod asks for
    let pod = Pod::run("ceil-runc", "runc", Net::Host, |_| {}).expect("RunPodSandbox runc");
    let c = pod.create_start("greedy", &sh_cmd("sleep 300"), |c| {
        greedy(c, ProfileType::Unconfined)
    });
    let st = cri.sh(&c, "cat /proc/1/status");
    assert_eq!(cap_mask(&st, "CapEff") & admin, admin, "runc: {st}");
    assert_eq!(status_field(&st, "Seccomp"), "0", "runc, Unconfined: {st}");
    pod.assert_clean();

    let pod = Pod::run("ceil", "pinhole", Net::Host, |_| {}).expect("RunPodSandbox pinhole");
    let unconfined = pod.create_start("greedy", &sh_cmd("sleep 300"), |c| {
        greedy(c, ProfileType::Unconfined)
    });
    // Unconfined: only the ceiling's filter
    assert_within_ceiling(cri, &unconfined, "1");
    let runtime_default = pod.create_start("default", &sh_cmd("sleep 300"), |c| {
        greedy(c, ProfileType::RuntimeDefault);
        optional_syscalls(c);
    });
    // RuntimeDefault: containerd's profile stacked with the ceiling
    assert_within_ceiling(cri, &runtime_default, "2");
    // never silently: the shim logs what the ceiling dropped, for the containers and for the
    // execs (containerd's exec process carries the capabilities the pod asked for)
    let log = fs::read_to_string(cri.dir.join("containerd.log")).unwrap_or_default();
    for what in ["process.capabilities", "exec: process.capabilities"] {
        let line = format!("{what}: dropped CAP_NET_ADMIN, CAP_SYS_ADMIN (above the ceiling)");
        assert!(log.contains(&line), "no {line:?} in containerd's log");
    }
    pod.assert_clean();

    // privileged under `pinhole` (privileged = "clamp"): runs, clamped to the ceiling
    let pod = Pod::run("ceil-priv", "pinhole", Net::Host, privileged_pod)
        .unwrap_or_else(|e| panic!("RunPodSandbox privileged pinhole: {e}"));
    let c = pod.create_start("priv", &sh_cmd("sleep 300"), privileged_container);
    assert_within_ceiling(cri, &c, "1");
    pod.assert_clean();
}

#[test]
fn runtime_default_seccomp_without_annotation() {
    let cri = Cri::shared();
    let pod = Pod::run("rtdef", "pinhole", Net::Host, |_| {}).expect("RunPodSandbox pinhole");
    let c = pod.create_start("default", &sh_cmd("sleep 300"), |c| {
        greedy(c, ProfileType::RuntimeDefault)
    });
    assert_within_ceiling(cri, &c, "2");
    pod.assert_clean();
}

#[test]
fn strict_refuses_privileged() {
    let cri = Cri::shared();
    // containerd admits privileged containers only in privileged sandboxes, so the refusal
    // may come at RunPodSandbox (pause) or at CreateContainer/StartContainer (the app)
    let err = match Pod::run("priv", "pinhole-strict", Net::Host, privileged_pod) {
        Err(e) => e.message().to_string(),
        Ok(pod) => {
            let cfg = pod.container_config("priv", &sh_cmd("sleep 300"), privileged_container);
            let r = pod.create(&cfg).and_then(|id| cri.start(&id));
            let e = r.expect_err("a privileged container ran under pinhole-strict");
            pod.assert_clean();
            e.message().to_string()
        }
    };
    assert!(
        err.contains("pinhole-strict") && err.contains("privileged"),
        "error does not name the policy and the reason: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. pinhole-strict: user namespace, read-only rootfs when the pod asks

#[test]
fn strict_lifecycle() {
    let cri = Cri::shared();
    let pod = Pod::run("strict", "pinhole-strict", Net::Host, |_| {})
        .unwrap_or_else(|e| panic!("RunPodSandbox pinhole-strict: {e}"));
    // a read-only rootfs is the pod's choice (readOnlyRootFilesystem), not forced by strict
    let c = pod.create_start("app", &sh_cmd("echo hello; sleep 300"), |c| {
        let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
        sc.readonly_rootfs = true;
    });
    assert_eq!(cri.sh(&c, "id -u"), "0\n");
    let map = cri.sh(&c, "cat /proc/self/uid_map");
    let first: Vec<&str> = map.split_whitespace().take(3).collect();
    assert_eq!(first.first(), Some(&"0"), "{map}");
    assert_ne!(first.get(1), Some(&"0"), "uid 0 is host root: {map}");
    let r = cri
        .exec_sync(&c, &sh_cmd("touch /probe"), 10)
        .expect("ExecSync touch");
    assert_ne!(r.exit_code, 0, "rootfs is writable");
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("Read-only file system"),
        "{r:?}"
    );
    let st = cri.sh(&c, "cat /proc/1/status");
    assert_eq!(cap_mask(&st, "CapBnd"), 0, "{st}");
    assert_eq!(status_field(&st, "Seccomp"), "2", "{st}");
    wait_until_logs(cri, &c, "stdout", "hello").expect("log");
    let (r, took) = timed(|| cri.stop(&c, 2));
    r.expect("StopContainer");
    assert!(took < Duration::from_secs(8), "{took:?}");
    cri.rm(&c).expect("RemoveContainer");
    cri.stopp(&pod.id).expect("StopPodSandbox");
    cri.rmp(&pod.id).expect("RemovePodSandbox");
    pod.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// 4. recording (issue 8): handler pinhole-record, container annotation pinhole.dev/record

#[test]
fn cri_recording_gives_the_profile_the_cli_records() {
    let cri = Cri::shared();
    let profiles = cri.dir.join("profiles");
    let name = unique_id("cri-echo");
    let pod = Pod::run("rec", "pinhole-record", Net::Host, |_| {})
        .unwrap_or_else(|e| panic!("RunPodSandbox pinhole-record: {e}"));
    let c = pod.create_start("app", &sh_cmd("echo hi"), |c| {
        c.annotations
            .insert("pinhole.dev/record".into(), name.clone());
    });
    assert!(
        wait_until(Duration::from_secs(20), || cri.inspect(&c).is_ok_and(
            |(st, _)| st.state == ContainerState::ContainerExited as i32
        )),
        "the recorded container did not exit"
    );
    assert!(
        wait_until(Duration::from_secs(10), || profiles
            .join(format!("{name}.json"))
            .exists()),
        "no profile {name}.json in {}",
        profiles.display()
    );
    let (st, _) = cri.inspect(&c).expect("ContainerStatus");
    assert_eq!(st.exit_code, 0, "{st:?}");
    let recorded = recorded_names(&profiles, &name);
    let cli = cli_recorded_names(
        &target_dir().join("pinhole-test/rootfs"),
        &["/bin/sh", "-c", "echo hi"],
        &["HOSTNAME=pinhole"],
    );
    assert_eq!(recorded, cli, "the CRI recording differs from the CLI's");
    // the sandbox (pause) container is not recorded: it carries no such annotation, and pod
    // annotations copied into it are ignored for recording
    let usage: serde_json::Value =
        serde_json::from_slice(&fs::read(profiles.join(format!("{name}.usage.json"))).unwrap())
            .unwrap();
    assert_eq!(usage["containers"], serde_json::json!([c]), "{usage}");
    cri.rm(&c).expect("RemoveContainer");
    cri.stopp(&pod.id).expect("StopPodSandbox");
    cri.rmp(&pod.id).expect("RemovePodSandbox");
    pod.assert_clean();
}

/// Issue 9 item 3: pods always go away. Three kubelets' worth of pods come and go at once
/// (host and pod network, a running container in each, stopped by StopPodSandbox without a
/// StopContainer first, as the kubelet does on pod deletion); every one must leave no shim,
/// socket, mount, cgroup or process, on every containerd of the matrix.
#[test]
fn pods_always_go_away() {
    let workers: Vec<_> = (0..3)
        .map(|w| {
            std::thread::spawn(move || {
                for i in 0..8 {
                    let net = if (w + i) % 2 == 0 {
                        Net::Host
                    } else {
                        Net::Pod
                    };
                    let pod = Pod::run("churn", "pinhole", net, |_| {})
                        .unwrap_or_else(|e| panic!("RunPodSandbox {w}/{i}: {e}"));
                    let c = pod.create_start("app", &sh_cmd("sleep 300"), |_| {});
                    pod.note();
                    assert!(pod.container_pid(&c).is_some(), "{w}/{i}: no pid");
                    pod.cri
                        .stopp(&pod.id)
                        .unwrap_or_else(|e| panic!("StopPodSandbox {w}/{i}: {e}"));
                    pod.cri
                        .rmp(&pod.id)
                        .unwrap_or_else(|e| panic!("RemovePodSandbox {w}/{i}: {e}"));
                    pod.assert_clean();
                }
            })
        })
        .collect();
    let failed: Vec<String> = workers
        .into_iter()
        .enumerate()
        .filter_map(|(w, h)| h.join().err().map(|e| format!("worker {w}: {e:?}")))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}

/// Issue 9 item 6: two `pinhole-strict` pods never share host ids: each pod's user namespace
/// holds a range of the policy's pool (the ledger in /run/pinhole/userns names it), the pod's
/// containers share the pod's range, and the ranges go back when the pods are removed.
#[test]
fn strict_pods_get_distinct_host_ids() {
    let cri = Cri::shared();
    let host_base = |c: &str| -> u32 {
        let map = cri.sh(c, "cat /proc/self/uid_map");
        let f: Vec<u32> = map.split_whitespace().map(|x| x.parse().unwrap()).collect();
        assert_eq!((f[0], f[2]), (0, 65536), "{map}");
        f[1]
    };
    let ledger = |start: u32| std::path::Path::new("/run/pinhole/userns").join(start.to_string());
    let mut pods = Vec::new();
    let mut bases = Vec::new();
    for name in ["strict-ids-a", "strict-ids-b"] {
        let pod = Pod::run(name, "pinhole-strict", Net::Host, |_| {})
            .unwrap_or_else(|e| panic!("RunPodSandbox {name}: {e}"));
        let c1 = pod.create_start("one", &sh_cmd("sleep 300"), |_| {});
        let c2 = pod.create_start("two", &sh_cmd("sleep 300"), |_| {});
        let (b1, b2) = (host_base(&c1), host_base(&c2));
        assert_eq!(b1, b2, "{name}: the pod's containers share its range");
        assert!(
            (100_000..100_000 + 512 * 65536).contains(&b1),
            "{name}: {b1} outside pinhole-strict's pool"
        );
        let holder = fs::read_to_string(ledger(b1))
            .unwrap_or_else(|e| panic!("{name}: range {b1} not in the ledger: {e}"));
        assert!(holder.contains(&pod.id), "{name}: {b1} held by {holder}");
        bases.push((b1, holder));
        pods.push(pod);
    }
    assert_ne!(
        bases[0].0, bases[1].0,
        "two strict pods got the same host ids"
    );
    for pod in pods {
        cri.stopp(&pod.id).expect("StopPodSandbox");
        cri.rmp(&pod.id).expect("RemovePodSandbox");
        pod.assert_clean();
    }
    // (other strict pods of parallel tests may take the ranges right away)
    for (b, holder) in bases {
        let now = fs::read_to_string(ledger(b)).unwrap_or_default();
        assert_ne!(now, holder, "range {b} still held by the removed pod");
    }
}

/// The user namespace the kubelet asks for with `hostUsers: false`: mode POD with one 65536-id
/// range from `host`.
fn userns_options(host: u32) -> UserNamespace {
    let map = vec![IdMapping {
        host_id: host,
        container_id: 0,
        length: 65536,
    }];
    UserNamespace {
        mode: NamespaceMode::Pod as i32,
        uids: map.clone(),
        gids: map,
    }
}

/// Issue 9 item 5: a `hostUsers: false` pod as the kubelet sends it (userns_options on the pod
/// and its containers) on containerd 2.x: its root is the kubelet's host range, the image's
/// files are its own through idmapped rootfs layers (root-owned, writable by it, no chown), a
/// root-only volume is its own through an idmapped bind, and a file it writes there is owned by
/// host root as the mapping says.
#[test]
fn host_users_false_pod_owns_its_files() {
    if !crate::containerd::containerd_v2() {
        return eprintln!("skipped: containerd 2.x sends idmapped mounts");
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let cri = Cri::shared();
    // a range far from pinhole-strict's pool and other tests'
    let host = 3_000_000_000u32;
    let vol = tempfile::tempdir_in("/tmp").unwrap();
    fs::set_permissions(vol.path(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(vol.path().join("secret"), "s3cret\n").unwrap();
    fs::set_permissions(vol.path().join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    // containerd pins the user namespace through the pod's network namespace
    // a handler without options: containerd 2.1 fails userns pods of handlers with one
    let pod = Pod::run("userns", "pinhole-default", Net::Pod, |p| {
        let sc = p.linux.as_mut().unwrap().security_context.as_mut().unwrap();
        sc.namespace_options.as_mut().unwrap().userns_options = Some(userns_options(host));
    })
    .unwrap_or_else(|e| panic!("RunPodSandbox with userns_options: {e}"));
    let c = pod.create_start("app", &sh_cmd("sleep 300"), |c| {
        let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
        sc.namespace_options.as_mut().unwrap().userns_options = Some(userns_options(host));
        // the kubelet idmaps a volume with the pod's mapping
        let ns = userns_options(host);
        c.mounts.push(Mount {
            container_path: "/vol".into(),
            host_path: vol.path().to_string_lossy().into_owned(),
            uid_mappings: ns.uids,
            gid_mappings: ns.gids,
            ..Default::default()
        });
    });
    let map = cri.sh(&c, "cat /proc/self/uid_map");
    let f: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(f, ["0", &host.to_string(), "65536"], "{map}");
    assert_eq!(
        cri.sh(&c, "stat -c %u:%g /bin/sh /etc"),
        "0:0\n0:0\n",
        "image files"
    );
    assert_eq!(cri.sh(&c, "touch /etc/made && stat -c %u /etc/made"), "0\n");
    // its stdio pipes are its root's (containerd's io_uid/io_gid), so it may reopen them
    assert_eq!(cri.sh(&c, "echo reopened > /dev/stdout"), "reopened\n");
    assert_eq!(cri.sh(&c, "cat /vol/secret"), "s3cret\n", "volume");
    cri.sh(&c, "echo x > /vol/made");
    let made = fs::metadata(vol.path().join("made")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (0, 0),
        "volume writes are host root's"
    );
    cri.stopp(&pod.id).expect("StopPodSandbox");
    cri.rmp(&pod.id).expect("RemovePodSandbox");
    pod.assert_clean();
}

/// Issue 10 item 1: on containerd 2.x's default CRI config (`enable_unprivileged_ports`,
/// `enable_unprivileged_icmp`) every container of a pod carries network sysctls for the pod's
/// network namespace, which it joins: they apply there (an unprivileged process may bind port
/// 80), and the host's values stay.
#[test]
fn unprivileged_ports_in_the_pods_network_namespace() {
    if !crate::containerd::containerd_v2() {
        return eprintln!("skipped: containerd 1.x sets no such sysctls by default");
    }
    const KEY: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let host = fs::read_to_string(KEY).unwrap();
    let cri = Cri::shared();
    let pod = Pod::run("uports", "pinhole", Net::Pod, |_| {})
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}"));
    let c = pod.create_start("app", &sh_cmd("sleep 300"), |_| {});
    assert_eq!(cri.sh(&c, &format!("cat {KEY}")), "0\n");
    assert_eq!(
        cri.sh(&c, "cat /proc/sys/net/ipv4/ping_group_range")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "2147483647"]
    );
    // a non-root user binds a low port
    assert_eq!(
        cri.sh(
            &c,
            "su nobody -s /bin/sh -c 'nc -l -p 80 & sleep 0.3; kill $!' 2>&1; echo done"
        ),
        "done\n"
    );
    assert_eq!(
        fs::read_to_string(KEY).unwrap(),
        host,
        "the host's value changed"
    );
    cri.stopp(&pod.id).expect("StopPodSandbox");
    cri.rmp(&pod.id).expect("RemovePodSandbox");
    pod.assert_clean();
}

/// A tmpfs on a temp dir made shared (a host peer group of its own, as hostPath volumes under
/// a shared `/` are), detached with everything below it when dropped.
struct SharedDir(tempfile::TempDir);

impl SharedDir {
    fn new() -> SharedDir {
        let d = tempfile::tempdir_in("/tmp").unwrap();
        host_sh(&format!(
            "mount -t tmpfs -o mode=1777 phcri {0} && mount --make-shared {0} && mkdir {0}/late",
            d.path().display()
        ));
        SharedDir(d)
    }

    /// `shared:N` of the mount on the host.
    fn group(&self) -> String {
        let want = self.0.path().to_string_lossy().into_owned();
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|f| f.get(4) == Some(&want.as_str()))
            .find_map(|f| {
                f.iter()
                    .find(|x| x.starts_with("shared:"))
                    .map(|s| s.to_string())
            })
            .expect("the source is shared on the host")
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-R", "-l"])
            .arg(self.0.path())
            .status();
    }
}

#[track_caller]
fn host_sh(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The optional fields of `point`'s line in a mountinfo text.
fn optional_fields(mountinfo: &str, point: &str) -> Vec<String> {
    mountinfo
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(4) == Some(&point))
        .map(|f| {
            let sep = f.iter().position(|x| *x == "-").unwrap_or(f.len());
            f[6..sep].iter().map(|s| s.to_string()).collect()
        })
        .unwrap_or_else(|| panic!("no {point} in\n{mountinfo}"))
}

/// Issue 10 item 9 (critest's propagation specs): a hostPath volume with `mountPropagation:
/// HostToContainer` is a slave of the host's peer group under `pinhole` and `pinhole-strict`,
/// so a mount made on the host after the container started appears inside, and one made
/// inside stays there; `Bidirectional` is a peer of the host's group under `pinhole` and
/// refused by `pinhole-strict`, naming the mount.
#[test]
fn host_to_container_propagation() {
    let cri = Cri::shared();
    for handler in ["pinhole", "pinhole-strict"] {
        let src = SharedDir::new();
        let group = src.group();
        let pod = Pod::run("hostprop", handler, Net::Host, |_| {})
            .unwrap_or_else(|e| panic!("RunPodSandbox {handler}: {e}"));
        let c = pod.create_start("app", &sh_cmd("sleep 300"), |c| {
            c.mounts.push(Mount {
                container_path: "/vol".into(),
                host_path: src.0.path().to_string_lossy().into_owned(),
                propagation: MountPropagation::PropagationHostToContainer as i32,
                ..Default::default()
            });
        });
        let info = cri.sh(&c, "cat /proc/self/mountinfo");
        assert_eq!(
            optional_fields(&info, "/vol"),
            [group.replace("shared:", "master:")],
            "{handler}: a slave of the host's {group}"
        );
        host_sh(&format!(
            "mount -t tmpfs phlate {0}/late && echo m > {0}/late/marker",
            src.0.path().display()
        ));
        assert_eq!(cri.sh(&c, "cat /vol/late/marker"), "m\n", "{handler}");
        if handler == "pinhole" {
            // Bidirectional: the same peer group as the host's
            let both = pod.create_start("both", &sh_cmd("sleep 300"), |c| {
                c.mounts.push(Mount {
                    container_path: "/vol".into(),
                    host_path: src.0.path().to_string_lossy().into_owned(),
                    propagation: MountPropagation::PropagationBidirectional as i32,
                    ..Default::default()
                });
            });
            let info = cri.sh(&both, "cat /proc/self/mountinfo");
            assert_eq!(
                optional_fields(&info, "/vol"),
                std::slice::from_ref(&group),
                "Bidirectional"
            );
        } else {
            let cfg = pod.container_config("both", &sh_cmd("sleep 300"), |c| {
                c.mounts.push(Mount {
                    container_path: "/vol".into(),
                    host_path: src.0.path().to_string_lossy().into_owned(),
                    propagation: MountPropagation::PropagationBidirectional as i32,
                    ..Default::default()
                });
            });
            let e = pod
                .create(&cfg)
                .and_then(|id| cri.start(&id))
                .expect_err("a Bidirectional volume ran under pinhole-strict");
            let msg = e.message();
            assert!(
                msg.contains("pinhole-strict")
                    && msg.contains("mounts[")
                    && msg.contains("shared_mounts"),
                "{msg}"
            );
        }
        cri.stopp(&pod.id).expect("StopPodSandbox");
        cri.rmp(&pod.id).expect("RemovePodSandbox");
        pod.assert_clean();
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let below = format!("{}/", src.0.path().display());
        let leaked: Vec<&str> = info
            .lines()
            .filter(|l| l.contains(&below) && !l.contains(" phlate "))
            .collect();
        assert!(
            leaked.is_empty(),
            "{handler}: mounts reached the host: {leaked:?}"
        );
    }
}

/// Issue 10 item 8: critest's Conformance specs a restricted pod must pass, under
/// `pinhole-strict` (user namespace, no capabilities): two containers share the pod's network
/// namespace and talk over localhost; a server without capabilities binds port 80 (and a
/// non-root one port 81: `ip_unprivileged_port_start` = 0 in the pod's network namespace, the
/// host's unchanged); the rootfs is writable when the pod does not ask for read-only (its
/// world-writable parts: the image's own directories stay host root's); a 0700
/// root-owned hostPath volume, also through a symlinked host path, is readable and writable
/// by the pod's root (idmapped, nosuid, nodev) and what it writes is host root's; host
/// namespaces and privileged pods stay refused.
#[test]
fn strict_runs_ordinary_pods() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    const KEY: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let host_ports = fs::read_to_string(KEY).unwrap();
    let cri = Cri::shared();
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let vol = dir.path().join("vol");
    fs::create_dir(&vol).unwrap();
    fs::set_permissions(&vol, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(vol.join("secret"), "s3cret\n").unwrap();
    fs::set_permissions(vol.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&vol, &link).unwrap();

    let pod = Pod::run("strictpod", "pinhole-strict", Net::Pod, |_| {})
        .unwrap_or_else(|e| panic!("RunPodSandbox pinhole-strict: {e}"));
    let server = pod.create_start(
        "server",
        &sh_cmd(
            "mkdir -p /tmp/www && echo served > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www",
        ),
        |_| {},
    );
    let client = pod.create_start("client", &sh_cmd("sleep 300"), |c| {
        for (path, host) in [("/vol", &vol), ("/linked", &link)] {
            c.mounts.push(Mount {
                container_path: path.into(),
                host_path: host.to_string_lossy().into_owned(),
                ..Default::default()
            });
        }
    });
    let st = match cri.exec_sync(&server, &sh_cmd("cat /proc/1/status"), 10) {
        Ok(r) if r.exit_code == 0 => String::from_utf8_lossy(&r.stdout).into_owned(),
        r => panic!("server: {r:?}\nits log: {:?}", cri.logs(&server)),
    };
    assert_eq!(cap_mask(&st, "CapEff"), 0, "{st}");
    let map = cri.sh(&server, "cat /proc/self/uid_map");
    assert_ne!(map.split_whitespace().nth(1), Some("0"), "host root: {map}");
    // the pod's network namespace, over localhost, port 80 without capabilities
    let fetch = |from: &str, port: u16| {
        (0..50)
            .find_map(|_| {
                let get = format!("wget -q -O - http://127.0.0.1:{port}/");
                let r = cri.exec_sync(from, &sh_cmd(&get), 10).ok()?;
                if r.exit_code == 0 {
                    return Some(String::from_utf8_lossy(&r.stdout).into_owned());
                }
                std::thread::sleep(Duration::from_millis(100));
                None
            })
            .unwrap_or_else(|| panic!("the client never reached localhost:{port}"))
    };
    assert_eq!(fetch(&client, 80), "served\n");
    assert_eq!(cri.sh(&client, &format!("cat {KEY}")), "0\n");
    // a server as a non-root user (65534) on port 81
    let _nobody = pod.create_start(
        "nobody",
        &sh_cmd(
            "mkdir -p /tmp/www81 && echo nobody > /tmp/www81/index.html && exec httpd -f -p 81 -h /tmp/www81",
        ),
        |c| {
            let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
            sc.run_as_user = Some(Int64Value { value: 65534 });
        },
    );
    assert_eq!(
        fetch(&client, 81),
        "nobody\n",
        "a non-root server on port 81"
    );
    assert_eq!(
        fs::read_to_string(KEY).unwrap(),
        host_ports,
        "host's value changed"
    );
    // the rootfs is writable (the pod did not ask for read-only), also the image's
    // root-owned directories (nginx's mkdir /var/lib/nginx/body): the shim idmaps the image
    // layers with the pod's user namespace, so the pod's root owns the image as root does
    assert_eq!(cri.sh(&client, "touch /tmp/probe && echo ok"), "ok\n");
    assert_eq!(
        cri.sh(
            &client,
            "stat -c '%u:%g' /bin/busybox /etc; mkdir -p /var/lib/made/body && touch /etc/made /made && echo ok"
        ),
        "0:0\n0:0\nok\n"
    );
    // 0700 root-owned volumes, plain and through a symlinked host path
    for (path, made) in [("/vol", "made"), ("/linked", "made2")] {
        assert_eq!(
            cri.sh(&client, &format!("cat {path}/secret")),
            "s3cret\n",
            "{path}"
        );
        cri.sh(&client, &format!("echo x > {path}/{made}"));
        let m = fs::metadata(vol.join(made)).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0), "{path}: written as host root");
    }
    let info = cri.sh(&client, "grep ' /vol ' /proc/self/mountinfo");
    assert!(
        info.contains("nosuid") && info.contains("nodev") && info.contains("idmapped"),
        "{info}"
    );
    cri.stopp(&pod.id).expect("StopPodSandbox");
    cri.rmp(&pod.id).expect("RemovePodSandbox");
    pod.assert_clean();

    // still refused: the host's PID namespace
    let err = match Pod::run("strictpid", "pinhole-strict", Net::Host, |p| {
        let sc = p.linux.as_mut().unwrap().security_context.as_mut().unwrap();
        sc.namespace_options.as_mut().unwrap().pid = NamespaceMode::Node as i32;
    }) {
        Err(e) => e.message().to_string(),
        Ok(pod) => {
            let cfg = pod.container_config("hostpid", &sh_cmd("sleep 300"), |c| {
                let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
                sc.namespace_options.as_mut().unwrap().pid = NamespaceMode::Node as i32;
            });
            let e = pod
                .create(&cfg)
                .and_then(|id| cri.start(&id))
                .expect_err("a host-PID container ran under pinhole-strict");
            pod.assert_clean();
            e.message().to_string()
        }
    };
    assert!(
        err.contains("pinhole-strict") && err.contains("pid namespace"),
        "{err}"
    );
}
