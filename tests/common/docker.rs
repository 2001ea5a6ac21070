//! Harness for tests that drive pinhole through Docker: a PRIVATE dockerd on a private
//! containerd of [`crate::containerd`].
//!
//! Include it after the containerd harness: `#[path = "common/containerd.rs"] mod containerd;`
//! then `#[path = "common/docker.rs"] mod docker;`.
//!
//! [`Docker::start`] starts a containerd ([`docker_containerd`]: `PINHOLE_CONTAINERD` when it
//! is 1.7 or 2.1, else 1.7; Docker 26 wants 1.7 or later) and a dockerd of docker.io
//! [`docker_version`] (Debian trixie's 26.1 by default, `PINHOLE_DOCKER=28.5` for forky's;
//! `hack/lib.sh ensure_docker` extracts it into `target/docker/VERSION`, never installed),
//! everything of its own in a short `/tmp/phd-XXXXXX` dir: `--data-root`, `--exec-root`,
//! `--pidfile`, the `-H unix://` socket, `--cgroup-parent`, no bridge and no iptables
//! (containers run with `--network none`), no registry (the test rootfs is `docker
//! import`ed as [`IMAGE`]). Its `daemon.json` registers the runtimes of [`RUNTIMES`]: the shim
//! by runtime type (`pinhole`, and `pinhole-strict` with runtime option `ConfigPath`) and the
//! CLI by path, driven by containerd's runc shim (`pinhole-cli`, and `pinhole-cli-strict`
//! with `runtimeArgs: ["--policy", ...]`). Docker's default seccomp profile stays on.
//!
//! Drop stops dockerd (SIGTERM, then SIGKILL), unmounts what it left below its dir (overlay,
//! shm, netns), removes its cgroups and the dir, and shuts the containerd down;
//! [`Docker::leaks`] lists whatever is still there.
#![allow(dead_code)]

use crate::containerd::{
    field, mkdtemp, mount_points, repo_root, run_cmd, run_cmd_stdin, shim_bin, umount_below,
    wait_until, Containerd, Out,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test rootfs, imported into every dockerd.
pub const IMAGE: &str = "pinhole.test/busybox:1";
/// Upper bound for one docker CLI call.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);
/// Docker versions the harness can fetch (`hack/lib.sh`'s `PINHOLE_DOCKER_VERSIONS`).
pub const DOCKER_VERSIONS: [&str; 2] = ["26.1", "28.5"];
/// Runtime names in `daemon.json` (see the module docs).
pub const RUNTIMES: [&str; 4] = [
    "pinhole",
    "pinhole-strict",
    "pinhole-cli",
    "pinhole-cli-strict",
];

/// `PINHOLE_DOCKER` (default 26.1).
pub fn docker_version() -> &'static str {
    let v = std::env::var("PINHOLE_DOCKER").unwrap_or_else(|_| "26.1".to_string());
    DOCKER_VERSIONS
        .into_iter()
        .find(|d| *d == v)
        .unwrap_or_else(|| panic!("PINHOLE_DOCKER={v}: not one of {DOCKER_VERSIONS:?}"))
}

/// The containerd under Docker: `PINHOLE_CONTAINERD` if 1.7 or 2.1, else 1.7.
pub fn docker_containerd() -> &'static str {
    match std::env::var("PINHOLE_CONTAINERD").as_deref() {
        Ok("2.1") => "2.1",
        _ => "1.7",
    }
}

/// The pinhole CLI Docker runs through containerd's runc shim: `$PINHOLE_BIN`, else the one
/// next to the shim (the shim's setup helper too).
pub fn cli_bin() -> PathBuf {
    std::env::var_os("PINHOLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| shim_bin().expect("shim").with_file_name("pinhole"))
}

/// A handler policy shipped in `runtimeclass/policies`.
pub fn policy(name: &str) -> PathBuf {
    repo_root()
        .join("runtimeclass/policies")
        .join(format!("{name}.toml"))
}

/// A private dockerd on a private containerd.
pub struct Docker {
    pub dir: PathBuf,
    pub sock: PathBuf,
    bin: PathBuf,
    daemon: Option<Child>,
    cgroup_parent: String,
    containerd: Option<Containerd>,
}

impl Docker {
    /// Fetches Docker if needed, starts containerd and dockerd, imports [`IMAGE`].
    /// Panics with the reason when something cannot start.
    #[track_caller]
    pub fn start() -> Docker {
        Docker::try_start().unwrap_or_else(|e| panic!("private dockerd unavailable: {e}"))
    }

    fn try_start() -> Result<Docker, String> {
        let version = docker_version();
        // lib.sh's TARGET_DIR ($CARGO_TARGET_DIR, else <repo>/target), where the install
        // stage of hack/test.sh fetched it already
        let mut fetch = Command::new("bash");
        fetch
            .arg("-c")
            .arg(r#". "$0/hack/lib.sh" && ensure_docker "$1" && echo "$TARGET_DIR/docker/$1""#)
            .arg(repo_root())
            .arg(version);
        let o = run_cmd(fetch, Duration::from_secs(600));
        if !o.ok() {
            return Err(format!("ensure_docker {version}: {o}"));
        }
        let root = PathBuf::from(o.stdout.lines().last().unwrap_or_default().trim()).join("usr");
        let containerd = Containerd::start_private_version(docker_containerd())?;
        let dir = mkdtemp("/tmp/phd-")?;
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut d = Docker {
            sock: dir.join("docker.sock"),
            bin: root.join("bin/docker"),
            daemon: None,
            cgroup_parent: name,
            containerd: Some(containerd),
            dir,
        };
        eprintln!(
            "docker harness: docker.io {version} on containerd {} in {}",
            docker_containerd(),
            d.dir.display()
        );
        d.write_config()?;
        d.spawn_daemon(&root.join("sbin/dockerd"))?;
        d.import()?;
        Ok(d)
    }

    /// `daemon.json`: the [`RUNTIMES`].
    fn write_config(&self) -> Result<(), String> {
        let cli = cli_bin();
        let strict = policy("pinhole-strict");
        let cfg = serde_json::json!({
            "runtimes": {
                "pinhole": { "runtimeType": "io.containerd.pinhole.v2" },
                "pinhole-strict": {
                    "runtimeType": "io.containerd.pinhole.v2",
                    "options": { "ConfigPath": strict },
                },
                "pinhole-cli": { "path": cli },
                "pinhole-cli-strict": {
                    "path": cli,
                    "runtimeArgs": ["--policy", strict],
                },
            }
        });
        fs::write(
            self.dir.join("daemon.json"),
            serde_json::to_string_pretty(&cfg).unwrap(),
        )
        .map_err(|e| format!("daemon.json: {e}"))
    }

    fn spawn_daemon(&mut self, dockerd: &Path) -> Result<(), String> {
        let cd = self.containerd.as_ref().unwrap();
        let log = fs::File::create(self.dir.join("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(dockerd)
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--containerd")
            .arg(&cd.sock)
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .args([
                "--userland-proxy=false",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", dockerd.display()))?;
        self.daemon = Some(child);
        let up = wait_until(Duration::from_secs(30), || {
            self.sock.exists() && self.docker(&["version"]).ok()
        });
        if !up {
            return Err(format!(
                "dockerd did not come up: {}",
                fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
            ));
        }
        Ok(())
    }

    /// `tar -C <test rootfs> -c . | docker import - IMAGE`.
    fn import(&self) -> Result<(), String> {
        let rootfs = std::env::var_os("PINHOLE_TEST_ROOTFS")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/pinhole-test/rootfs"));
        if !rootfs.join("bin/busybox").exists() {
            return Err(format!(
                "no test rootfs at {}: run hack/build-rootfs.sh (or set PINHOLE_TEST_ROOTFS)",
                rootfs.display()
            ));
        }
        let tar = self.dir.join("rootfs.tar");
        let mut t = Command::new("tar");
        t.arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".");
        let o = run_cmd(t, DOCKER_TIMEOUT);
        if !o.ok() {
            return Err(format!("tar of {}: {o}", rootfs.display()));
        }
        let file = fs::File::open(&tar).map_err(|e| e.to_string())?;
        let o = run_cmd_stdin(
            self.command(&["import", "-", IMAGE]),
            Stdio::from(file),
            DOCKER_TIMEOUT,
        );
        let _ = fs::remove_file(&tar);
        if !o.ok() {
            return Err(format!("docker import: {o}"));
        }
        Ok(())
    }

    /// A `docker -H unix://SOCK ARGS...` command.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("client"));
        c
    }

    /// `docker ARGS...` with [`DOCKER_TIMEOUT`].
    pub fn docker(&self, args: &[&str]) -> Out {
        run_cmd(self.command(args), DOCKER_TIMEOUT)
    }

    /// `docker run --rm --network none --runtime RUNTIME [extra...] IMAGE sh -c SCRIPT`.
    pub fn run(&self, runtime: &str, extra: &[&str], script: &str) -> Out {
        let mut args = vec!["run", "--rm", "--network", "none", "--runtime", runtime];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        self.docker(&args)
    }

    /// What of this instance is still on the host: mounts below its dir, its cgroup parent
    /// directories, processes naming its dir.
    pub fn leaks(&self) -> Vec<String> {
        let dir = self.dir.to_string_lossy().into_owned();
        let mut v: Vec<String> = mount_points()
            .into_iter()
            .filter(|m| m.starts_with(&dir))
            .map(|m| format!("mount {m}"))
            .collect();
        for p in self.cgroup_dirs() {
            v.push(format!("cgroup {}", p.display()));
        }
        for pid in crate::containerd::all_pids() {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&dir) {
                v.push(format!(
                    "process {pid}: {}",
                    String::from_utf8_lossy(&cmdline)
                ));
            }
        }
        v
    }

    /// The `--cgroup-parent` directories dockerd made, in every hierarchy (cgroup v1
    /// controllers, the unified one, or the v2 root).
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let root = Path::new("/sys/fs/cgroup");
        let mut hierarchies = vec![root.to_path_buf()];
        if let Ok(rd) = fs::read_dir(root) {
            hierarchies.extend(rd.flatten().map(|e| e.path()));
        }
        let mut v: Vec<PathBuf> = hierarchies
            .into_iter()
            .map(|h| h.join(&self.cgroup_parent))
            .filter(|p| p.is_dir())
            .collect();
        // cpu and cpuacct may be links to one cpu,cpuacct hierarchy
        v.sort_by_key(|p| fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        v.dedup_by_key(|p| fs::canonicalize(&*p).unwrap_or_else(|_| p.clone()));
        v
    }

    /// Stops dockerd and removes what it left (idempotent); returns what could not be removed.
    pub fn shutdown(&mut self) -> Vec<String> {
        let Some(mut child) = self.daemon.take() else {
            return Vec::new();
        };
        let ps = self.docker(&["ps", "-aq"]);
        for id in ps.stdout.split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // SAFETY: kill with a pid of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let pid = child.id() as i32;
        let gone = wait_until(Duration::from_secs(20), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !gone {
            eprintln!("docker harness: dockerd {pid} ignored SIGTERM, killing it");
            let _ = child.kill();
            let _ = child.wait();
        }
        // Mounts dockerd did not take down itself (after a kill).
        umount_below(&self.dir);
        for p in self.cgroup_dirs() {
            let _ = crate::containerd::rmdir_tree(&p);
        }
        if let Some(cd) = self.containerd.take() {
            cd.shutdown();
        }
        let left = self.leaks();
        if left.is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        left
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let left = self.shutdown();
        if !left.is_empty() {
            eprintln!("docker harness: left behind: {left:?}");
        }
    }
}

/// The lines of `/proc/self/status` a probe prints: capability sets, no_new_privs, seccomp.
pub const PROBE: &str = "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status; cat /proc/self/uid_map";

/// A hex capability mask of probe output.
pub fn mask(out: &str, name: &str) -> u64 {
    u64::from_str_radix(field(out, name).unwrap_or("0"), 16).unwrap_or(u64::MAX)
}
