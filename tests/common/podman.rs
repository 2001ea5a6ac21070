//! Harness for tests that drive the pinhole CLI through podman 4.3.1 (Debian bookworm's
//! `podman`, installed by `hack/lib.sh ensure_packages`), the way a user does with
//! `podman --runtime <pinhole>`.
//!
//! Include it after the containerd harness (its `Out`, `run_cmd`, mount and /proc helpers):
//! `#[path = "common/containerd.rs"] mod containerd;`, then `#[path = "common/podman.rs"] mod
//! podman;`.
//!
//! [`Podman::start`] makes a short `/tmp/php-XXXXXX` dir holding everything podman keeps:
//! `--root` (image and container storage), `--runroot`, `--tmpdir` (events, exit files), a
//! `containers.conf` of its own (`CONTAINERS_CONF`: no network, the host's rlimits, no
//! healthchecks) and a `registries.conf` with no registry. Every call passes `--runtime
//! <pinhole>` ([`crate::containerd::pinhole_bin`]), `--cgroup-manager cgroupfs` (pinhole writes
//! cgroupfs itself and refuses `--systemd-cgroup`) and `--events-backend file`; containers get
//! `--cgroup-parent /<dir name>`. The test rootfs is `podman import`ed as [`IMAGE`]: no
//! registry.
//!
//! pinhole's state stays in its default root ([`STATE_ROOT`]): podman 4.3 gives `--runtime-flag`
//! flags to the calls it makes itself, but not to the `delete` of its cleanup process (the
//! exit command conmon runs), so a `--runtime-flag root=...` would leave every container's
//! state behind. [`Podman::leaks`] checks that root for the containers this instance made.
//!
//! Drop removes every container (`podman rm -af`), kills what still names the dir (conmon),
//! unmounts what is left below it, removes the cgroup parent (podman's own `conmon` cgroup
//! lives there) and the dir.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::containerd::{
    mount_points, other_pids, pinhole_bin, require_root, rmdir_tree, rootfs, run_cmd, umount_below,
    wait_until, Out,
};

/// The test rootfs as podman knows it.
pub const IMAGE: &str = "localhost/pinhole-test:1";
/// Upper bound for one podman call.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(60);
/// pinhole's default state root, where podman's containers live (see the module docs).
pub const STATE_ROOT: &str = "/run/pinhole";
/// The podman this harness is written for (bookworm's).
pub const PODMAN_VERSION: &str = "4.3.1";

/// `s` quoted for `sh -c`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Live pids whose command line contains `needle`.
fn pids_naming(needle: &str) -> Vec<(i32, String)> {
    let mut v = Vec::new();
    for pid in other_pids() {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            v.push((pid, text));
        }
    }
    v
}

/// A private podman (storage, run root, tmpdir, config) driving the pinhole CLI.
pub struct Podman {
    /// Everything of this instance is below it.
    pub dir: PathBuf,
    /// The pinhole binary given as `--runtime`.
    pub runtime: PathBuf,
    /// The `--cgroup-parent` of every container (`/<dir name>`).
    pub cgroup_parent: String,
}

impl Podman {
    /// A private podman with [`IMAGE`] imported. Panics with the reason when podman is
    /// missing or is not [`PODMAN_VERSION`].
    #[track_caller]
    pub fn start() -> Podman {
        require_root();
        let v = Command::new("podman").arg("--version").output();
        let version = match &v {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => panic!(
                "podman not runnable ({v:?}): `bash -c '. hack/lib.sh; ensure_packages'` installs it"
            ),
        };
        assert!(
            version.ends_with(PODMAN_VERSION),
            "{version}: these tests are written for podman {PODMAN_VERSION} (Debian bookworm)"
        );
        let dir = tempfile::Builder::new()
            .prefix("php-")
            .tempdir_in("/tmp")
            .expect("tempdir")
            .keep();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let p = Podman {
            runtime: pinhole_bin(),
            cgroup_parent: format!("/{name}"),
            dir,
        };
        p.write_config();
        p.import();
        eprintln!(
            "podman harness: {version} with --runtime {} in {}",
            p.runtime.display(),
            p.dir.display()
        );
        p
    }

    /// `containers.conf` and `registries.conf` of this instance.
    fn write_config(&self) {
        // This host has no CAP_SYS_RESOURCE: podman's default rlimits (nofile 1048576, nproc
        // from the host's hard limit) cannot be raised to, by runc neither.
        let conf = r#"[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"#;
        fs::write(self.dir.join("containers.conf"), conf).expect("containers.conf");
        fs::write(
            self.dir.join("registries.conf"),
            "unqualified-search-registries = []\n",
        )
        .expect("registries.conf");
    }

    /// `tar -C <test rootfs> -cf - . | podman import - IMAGE`.
    fn import(&self) {
        let tar = self.dir.join("rootfs.tar");
        let mut t = Command::new("tar");
        t.arg("-C").arg(rootfs()).arg("-cf").arg(&tar).arg(".");
        run_cmd(t, PODMAN_TIMEOUT).assert_ok();
        self.podman(&["import", tar.to_str().unwrap(), IMAGE])
            .assert_ok();
        let _ = fs::remove_file(&tar);
    }

    /// A `podman <private globals> ARGS...` command.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.args(self.global_args()).args(args);
        self.env(&mut c);
        c
    }

    /// The global flags of every call.
    pub fn global_args(&self) -> Vec<String> {
        let d = |p: &str| self.dir.join(p).display().to_string();
        vec![
            "--root".into(),
            d("root"),
            "--runroot".into(),
            d("run"),
            "--tmpdir".into(),
            d("tmp"),
            "--storage-driver".into(),
            "overlay".into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
            "--runtime".into(),
            self.runtime.display().to_string(),
        ]
    }

    fn env(&self, c: &mut Command) {
        c.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.join("registries.conf"),
            )
            .env_remove("PINHOLE_POLICY")
            .current_dir(&self.dir);
    }

    /// `podman ARGS...` with [`PODMAN_TIMEOUT`].
    pub fn podman(&self, args: &[&str]) -> Out {
        run_cmd(self.command(args), PODMAN_TIMEOUT)
    }

    /// Full ids of every container this instance created (its `create` events).
    pub fn created_ids(&self) -> Vec<String> {
        let o = run_cmd(
            self.command(&[
                "events",
                "--stream=false",
                "--filter",
                "type=container",
                "--filter",
                "event=create",
                "--format",
                "{{.ID}}",
            ]),
            PODMAN_TIMEOUT,
        );
        let mut ids: Vec<String> = o.stdout.split_whitespace().map(str::to_string).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The arguments of a container's `run`/`create`: `--cgroup-parent`, then `extra`.
    pub fn ctr_args<'a>(&'a self, verb: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![verb, "--cgroup-parent", self.cgroup_parent.as_str()];
        args.extend_from_slice(extra);
        args
    }

    /// `podman run --rm --name NAME [extra...] IMAGE sh -c SCRIPT`.
    pub fn run(&self, name: &str, extra: &[&str], script: &str) -> Out {
        let mut args = self.ctr_args("run", &["--rm", "--name", name]);
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        self.podman(&args)
    }

    /// `script -qec "podman ARGS..." /dev/null`: podman on a pty of its own (`-it`), its
    /// output as the terminal shows it (CR LF line ends), the exit code podman's.
    pub fn on_tty(&self, args: &[&str]) -> Out {
        let line: Vec<String> = std::iter::once("podman".to_string())
            .chain(self.global_args())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| sh_quote(&a))
            .collect();
        let mut c = Command::new("script");
        c.args(["-qec", &line.join(" "), "/dev/null"]);
        self.env(&mut c);
        run_cmd(c, PODMAN_TIMEOUT)
    }

    /// The full id of container `name`.
    pub fn id(&self, name: &str) -> String {
        let o = self.podman(&["inspect", "--format", "{{.Id}}", name]);
        o.assert_ok();
        o.stdout.trim().to_string()
    }

    /// `podman inspect --format FORMAT NAME`, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let o = self.podman(&["inspect", "--format", format, name]);
        o.assert_ok();
        o.stdout.trim().to_string()
    }

    /// Polls `inspect {{.State.Status}}` until it is `want`; panics after `timeout`.
    #[track_caller]
    pub fn wait_status(&self, name: &str, want: &str, timeout: Duration) {
        let mut last = String::new();
        let ok = wait_until(timeout, || {
            last = self.inspect(name, "{{.State.Status}}");
            last == want
        });
        assert!(
            ok,
            "{name}: status {last:?}, not {want:?} within {timeout:?}"
        );
    }

    /// The host cgroup directories (every hierarchy) below the cgroup parent.
    fn parent_dirs(&self) -> Vec<PathBuf> {
        let root = Path::new("/sys/fs/cgroup");
        let rel = self.cgroup_parent.trim_start_matches('/');
        let mut v = vec![root.join(rel)];
        for e in fs::read_dir(root).into_iter().flatten().flatten() {
            v.push(e.path().join(rel));
        }
        v.retain(|p| p.is_dir());
        v
    }

    /// What of this instance's containers is still on the host: containers podman lists,
    /// pinhole state directories of the containers it made, mounts below the dir, container
    /// cgroups (anything but podman's own `conmon` below the parent), processes naming the
    /// dir (conmon, a container's pinhole).
    pub fn leaks(&self) -> Vec<String> {
        let mut v = Vec::new();
        let ps = run_cmd(self.command(&["ps", "-aq", "--no-trunc"]), PODMAN_TIMEOUT);
        for id in ps.stdout.split_whitespace() {
            v.push(format!("podman container {id}"));
        }
        for id in self.created_ids() {
            let state = Path::new(STATE_ROOT).join(id);
            if state.exists() {
                v.push(format!("pinhole state {}", state.display()));
            }
        }
        let dir = self.dir.display().to_string();
        for m in mount_points().into_iter().filter(|m| m.starts_with(&dir)) {
            v.push(format!("mount {m}"));
        }
        for p in self.parent_dirs() {
            for e in fs::read_dir(&p).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != "conmon" {
                    v.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
        for (pid, cmd) in pids_naming(&dir) {
            v.push(format!("process {pid}: {cmd}"));
        }
        v
    }

    /// Panics unless [`Podman::leaks`] is empty (waiting a few seconds for podman's cleanup
    /// process, which runs after the container exits).
    #[track_caller]
    pub fn assert_clean(&self) {
        let mut left = Vec::new();
        let ok = wait_until(Duration::from_secs(10), || {
            left = self.leaks();
            left.is_empty()
        });
        assert!(ok, "left behind:\n  {}", left.join("\n  "));
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = run_cmd(self.command(&["rm", "-af", "-t", "0"]), PODMAN_TIMEOUT);
        let dir = self.dir.display().to_string();
        for (pid, _) in pids_naming(&dir) {
            // SAFETY: kill(2) takes plain integers; the pid named our private dir.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // pinhole state of containers podman could not remove
        for id in self.created_ids() {
            if Path::new(STATE_ROOT).join(&id).exists() {
                let _ = Command::new(&self.runtime)
                    .args(["delete", "--force", &id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        umount_below(&self.dir);
        for p in self.parent_dirs() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while p.exists() && rmdir_tree(&p).is_err() && Instant::now() < deadline {
                sleep(Duration::from_millis(50));
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
