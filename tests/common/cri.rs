//! A kubelet-like CRI client for tests that drive containerd's CRI plugin (and through it
//! `containerd-shim-pinhole-v2`) in a PRIVATE containerd.
//!
//! Include it after the containerd harness (whose process helpers it uses):
//! `#[path = "common/containerd.rs"] mod containerd;` then `#[path = "common/cri.rs"] mod cri;`.
//!
//! - [`Cri::shared`]: one containerd per test binary, started on first use by
//!   `CRI=1 hack/containerd/start.sh DIR` (handlers runc, pinhole, pinhole-strict; the bridge CNI
//!   config of `hack/containerd/cni-bridge.conflist` on a bridge named after DIR, subnet
//!   [`POD_SUBNET`]), the test images imported into namespace `k8s.io`. An `atexit` handler stops
//!   it and runs `hack/containerd/cleanup.sh DIR --purge`.
//! - The verbs are those of crictl, doing what crictl does: [`Cri::runp`], [`Cri::create`],
//!   [`Cri::start`], [`Cri::exec_sync`] (`exec -s`), [`Cri::exec`] and [`Cri::attach`] (the
//!   streaming URL, driven over websocket `v4.channel.k8s.io` instead of crictl's SPDY),
//!   [`Cri::logs`], [`Cri::stats`], [`Cri::list_stats`], [`Cri::inspect`], [`Cri::inspectp`],
//!   [`Cri::update`], [`Cri::stop`], [`Cri::rm`], [`Cri::stopp`], [`Cri::rmp`].
//! - [`Pod`]: one pod sandbox (unique name, its own log directory and cgroup parent). `Drop`
//!   stops and removes its containers and the sandbox whatever happened, then kills by force what
//!   is left (recorded processes, the pod's shim). Tests end with [`Pod::assert_clean`]: nothing
//!   of the pod left in CRI, no shim, no mounts, no cgroups, no CNI cache entry.
//!
//! Environment: `PINHOLE_SHIM` (see the containerd harness), `PINHOLE_TEST_KEEP=1` (leave
//! containerd and its directory in place at exit).
#![allow(dead_code)]

use crate::containerd::{
    containerd_version, ctr_in, ensure_images, kill_cgroup_procs, mount_points, proc_alive,
    proc_cmdline, proc_start_time, repo_root, rmdir_tree, run_cmd, shim_bin, shims_of, unique_id,
    wait_until, Out, BUSYBOX_IMAGE,
};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
pub use k8s_cri::v1::*;
use serde_json::Value;
use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tonic::transport::{Channel, Endpoint, Uri};

/// containerd namespace of the CRI plugin.
pub const K8S_NS: &str = "k8s.io";
/// Pod subnet of the bridge CNI config (start.sh's default `CNI_SUBNET`).
pub const POD_SUBNET: &str = "10.213.7.0/24";
/// Prefix of every pod's `cgroup_parent` (cgroupfs driver): `/<CGROUP_ROOT>/pod<uid>`.
pub const CGROUP_ROOT: &str = "pinhole-cri";
/// Upper bound for one CRI call.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long leak checks wait for asynchronous teardown.
pub const SETTLE: Duration = Duration::from_secs(5);
/// The websocket subprotocol of the kubelet streaming server (stdin 0, stdout 1, stderr 2,
/// error/status 3, resize 4; every binary message starts with its channel byte).
pub const STREAM_PROTOCOL: &str = "v4.channel.k8s.io";

pub type Rpc<T> = Result<T, tonic::Status>;

// ---------------------------------------------------------------------------------------------
// the containerd instance

/// A private containerd with the CRI plugin enabled.
pub struct Cri {
    pub dir: PathBuf,
    pub sock: PathBuf,
    rt: tokio::runtime::Runtime,
    chan: Channel,
    down: AtomicBool,
}

static SHARED: OnceLock<Result<Cri, String>> = OnceLock::new();

extern "C" fn teardown_shared() {
    if let Some(Ok(c)) = SHARED.get() {
        c.shutdown();
    }
}

fn script(name: &str) -> PathBuf {
    repo_root().join("hack/containerd").join(name)
}

impl Cri {
    /// The CRI containerd of this test binary (started on first use, torn down at exit).
    #[track_caller]
    pub fn shared() -> &'static Cri {
        let r = SHARED.get_or_init(|| {
            let r = Cri::launch();
            if r.is_ok() {
                // SAFETY: teardown_shared is an extern "C" fn without arguments, valid for the whole process.
                unsafe { libc::atexit(teardown_shared) };
            }
            r
        });
        match r {
            Ok(c) => c,
            Err(e) => panic!("private CRI containerd unavailable: {e}"),
        }
    }

    fn launch() -> Result<Cri, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the CRI tests must run as root".into());
        }
        let shim = shim_bin()?;
        let images = ensure_images()?;
        let o = run_cmd(
            {
                let mut c = Command::new("mktemp");
                c.args(["-d", "/tmp/phc-XXXXXX"]);
                c
            },
            Duration::from_secs(5),
        );
        if !o.ok() {
            return Err(format!("mktemp: {o}"));
        }
        let dir = PathBuf::from(o.stdout.trim());
        let mut cmd = Command::new("bash");
        cmd.arg(script("start.sh"))
            .arg(&dir)
            .env("CRI", "1")
            .env("CONTAINERD_VERSION", containerd_version())
            .env("SHIM_BIN", &shim)
            .env_remove("CNI_BRIDGE")
            .env("CNI_SUBNET", POD_SUBNET);
        let o = run_cmd(cmd, Duration::from_secs(30));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let sock = dir.join("containerd.sock");
        let s2 = sock.clone();
        let chan = {
            let _g = rt.enter();
            Endpoint::try_from("http://[::]")
                .map_err(|e| e.to_string())?
                .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                    let p = s2.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(p).await?))
                    }
                }))
        };
        let cri = Cri {
            sock,
            dir,
            rt,
            chan,
            down: AtomicBool::new(false),
        };
        if !o.ok() {
            cri.shutdown();
            return Err(format!("hack/containerd/start.sh failed: {o}"));
        }
        let r = cri.finish_start(&images);
        if let Err(e) = r {
            cri.shutdown();
            return Err(e);
        }
        Ok(cri)
    }

    fn finish_start(&self, images: &Path) -> Result<(), String> {
        for img in ["busybox", "pause"] {
            let tar = images.join(format!("{img}.tar"));
            let o = self.ctr(&["images", "import", tar.to_str().unwrap()]);
            if !o.ok() {
                return Err(format!("image import failed: {o}"));
            }
        }
        // the CRI plugin answers once it is up; the network is ready once it read the CNI config
        let mut last = String::new();
        let ready = wait_until(Duration::from_secs(15), || {
            match self.call(self.client().status(StatusRequest { verbose: false })) {
                Ok(r) => {
                    let conds = r.status.map(|s| s.conditions).unwrap_or_default();
                    last = format!("{conds:?}");
                    conds.iter().all(|c| c.status)
                        && conds.iter().any(|c| c.r#type == "NetworkReady")
                }
                Err(e) => {
                    last = e.to_string();
                    false
                }
            }
        });
        if !ready {
            return Err(format!("CRI not ready: {last}"));
        }
        Ok(())
    }

    /// Stops containerd and removes everything of this instance (idempotent).
    pub fn shutdown(&self) {
        if self.down.swap(true, Ordering::SeqCst) {
            return;
        }
        if std::env::var_os("PINHOLE_TEST_KEEP").is_some() {
            eprintln!(
                "PINHOLE_TEST_KEEP: CRI containerd left running in {} (socket {}); later: \
                 hack/containerd/stop.sh {0} && hack/containerd/cleanup.sh {0} --purge",
                self.dir.display(),
                self.sock.display()
            );
            return;
        }
        let mut cmd = Command::new("bash");
        cmd.arg(script("stop.sh")).arg(&self.dir).arg("--force");
        let o = run_cmd(cmd, Duration::from_secs(30));
        if !o.ok() {
            eprintln!("CRI harness: {o}");
        }
        let mut cmd = Command::new("bash");
        cmd.arg(script("cleanup.sh")).arg(&self.dir).arg("--purge");
        let o = run_cmd(cmd, Duration::from_secs(60));
        if !o.ok() {
            eprintln!("CRI harness: cleanup failed: {o}");
        }
    }

    /// `ctr -a <sock> -n k8s.io ARGS...`.
    pub fn ctr(&self, args: &[&str]) -> Out {
        let mut c = Command::new(ctr_in(&self.dir));
        c.arg("-a").arg(&self.sock).args(["-n", K8S_NS]).args(args);
        run_cmd(c, Duration::from_secs(20))
    }

    /// A RuntimeService client on the shared connection.
    pub fn client(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.chan.clone())
    }

    /// Runs one CRI call to completion (bounded by [`RPC_TIMEOUT`]).
    pub fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Rpc<tonic::Response<T>>>,
    ) -> Rpc<T> {
        self.rt.block_on(async {
            match tokio::time::timeout(RPC_TIMEOUT, fut).await {
                Ok(r) => r.map(tonic::Response::into_inner),
                Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                    "harness: no answer within {RPC_TIMEOUT:?}"
                ))),
            }
        })
    }

    /// The last `n` lines of containerd's log that mention `needle` (for failure messages).
    pub fn log_excerpt(&self, needle: &str, n: usize) -> String {
        let s = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let l: Vec<&str> = s.lines().filter(|l| l.contains(needle)).collect();
        l[l.len().saturating_sub(n)..].join("\n")
    }

    // ---- crictl verbs --------------------------------------------------------------------

    /// `crictl runp [--runtime HANDLER] pod.json`.
    pub fn runp(&self, config: &PodSandboxConfig, handler: &str) -> Rpc<String> {
        self.call(self.client().run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        }))
        .map(|r| r.pod_sandbox_id)
    }

    /// `crictl create POD container.json pod.json`.
    pub fn create(
        &self,
        pod: &str,
        config: &ContainerConfig,
        pod_config: &PodSandboxConfig,
    ) -> Rpc<String> {
        self.call(self.client().create_container(CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config.clone()),
            sandbox_config: Some(pod_config.clone()),
        }))
        .map(|r| r.container_id)
    }

    /// `crictl start ID`.
    pub fn start(&self, id: &str) -> Rpc<()> {
        self.call(self.client().start_container(StartContainerRequest {
            container_id: id.into(),
        }))
        .map(|_| ())
    }

    /// `crictl exec -s --timeout T ID CMD...` (ExecSync).
    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout_s: i64) -> Rpc<ExecSyncResponse> {
        self.call(self.client().exec_sync(ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: timeout_s,
        }))
    }

    /// ExecSync that must succeed with exit 0; returns stdout.
    #[track_caller]
    pub fn sh(&self, id: &str, script: &str) -> String {
        let r = self
            .exec_sync(id, &["/bin/sh", "-c", script], 10)
            .unwrap_or_else(|e| panic!("ExecSync {script:?} in {id}: {e}"));
        assert_eq!(
            r.exit_code,
            0,
            "ExecSync {script:?} in {id}: exit {}, stdout {:?}, stderr {:?}",
            r.exit_code,
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        String::from_utf8_lossy(&r.stdout).into_owned()
    }

    /// `crictl exec [-i] [-t] ID CMD...`: the Exec RPC, then the returned streaming URL over
    /// websocket. `stdin` is sent (when given) right after the upgrade; the stream is read until
    /// the server closes it.
    pub fn exec(
        &self,
        id: &str,
        cmd: &[&str],
        stdin: Option<&[u8]>,
        tty: bool,
    ) -> Result<StreamOut, String> {
        let url = self
            .call(self.client().exec(ExecRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                tty,
                stdin: stdin.is_some(),
                stdout: true,
                stderr: !tty,
            }))
            .map_err(|e| format!("Exec RPC: {e}"))?
            .url;
        self.stream(&url, stdin, None)
    }

    /// `crictl attach [-i] ID`: the Attach RPC, then the streaming URL over websocket. Sends
    /// `stdin` (when given), reads until stdout contains `until` (or the server closes), then
    /// closes the stream (detach).
    pub fn attach(&self, id: &str, stdin: Option<&[u8]>, until: &str) -> Result<StreamOut, String> {
        let url = self
            .call(self.client().attach(AttachRequest {
                container_id: id.into(),
                stdin: stdin.is_some(),
                tty: false,
                stdout: true,
                stderr: true,
            }))
            .map_err(|e| format!("Attach RPC: {e}"))?
            .url;
        self.stream(&url, stdin, Some(until))
    }

    /// One websocket session on a streaming URL of the CRI (must be on 127.0.0.1).
    pub fn stream(
        &self,
        url: &str,
        stdin: Option<&[u8]>,
        until: Option<&str>,
    ) -> Result<StreamOut, String> {
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .ok_or_else(|| format!("streaming URL not on http://127.0.0.1: {url:?}"))?;
        let ws_url = format!("ws://127.0.0.1:{rest}");
        let stdin = stdin.map(<[u8]>::to_vec);
        let until = until.map(str::to_string);
        self.rt.block_on(async move {
            let fut = ws_session(ws_url, stdin, until);
            tokio::time::timeout(RPC_TIMEOUT, fut)
                .await
                .unwrap_or_else(|_| Err(format!("stream {url}: no end within {RPC_TIMEOUT:?}")))
        })
    }

    /// `crictl logs ID`: the container's CRI log file (ContainerStatus.log_path), parsed.
    pub fn logs(&self, id: &str) -> Result<Vec<LogLine>, String> {
        let st = self.inspect(id).map_err(|e| e.to_string())?.0;
        let s = fs::read_to_string(&st.log_path).map_err(|e| format!("{}: {e}", st.log_path))?;
        s.lines()
            .map(|l| LogLine::parse(l).ok_or_else(|| format!("not a CRI log line: {l:?}")))
            .collect()
    }

    /// `crictl stats ID` (ContainerStats).
    pub fn stats(&self, id: &str) -> Rpc<ContainerStats> {
        self.call(self.client().container_stats(ContainerStatsRequest {
            container_id: id.into(),
        }))
        .map(|r| r.stats.unwrap_or_default())
    }

    /// `crictl stats --pod POD` (ListContainerStats).
    pub fn list_stats(&self, pod: &str) -> Rpc<Vec<ContainerStats>> {
        self.call(
            self.client()
                .list_container_stats(ListContainerStatsRequest {
                    filter: Some(ContainerStatsFilter {
                        pod_sandbox_id: pod.into(),
                        ..Default::default()
                    }),
                }),
        )
        .map(|r| r.stats)
    }

    /// `crictl inspect ID`: ContainerStatus (verbose) and its `info` JSON (pid, runtimeSpec, ...).
    pub fn inspect(&self, id: &str) -> Rpc<(ContainerStatus, Value)> {
        self.call(self.client().container_status(ContainerStatusRequest {
            container_id: id.into(),
            verbose: true,
        }))
        .map(|r| (r.status.unwrap_or_default(), info_json(&r.info)))
    }

    /// `crictl inspectp POD`: PodSandboxStatus (verbose) and its `info` JSON.
    pub fn inspectp(&self, pod: &str) -> Rpc<(PodSandboxStatus, Value)> {
        self.call(self.client().pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.into(),
            verbose: true,
        }))
        .map(|r| (r.status.unwrap_or_default(), info_json(&r.info)))
    }

    /// `crictl update --memory N ID` and friends (UpdateContainerResources).
    pub fn update(&self, id: &str, res: LinuxContainerResources) -> Rpc<()> {
        self.call(
            self.client()
                .update_container_resources(UpdateContainerResourcesRequest {
                    container_id: id.into(),
                    linux: Some(res),
                    ..Default::default()
                }),
        )
        .map(|_| ())
    }

    /// `crictl stop --timeout T ID`.
    pub fn stop(&self, id: &str, timeout_s: i64) -> Rpc<()> {
        self.call(self.client().stop_container(StopContainerRequest {
            container_id: id.into(),
            timeout: timeout_s,
        }))
        .map(|_| ())
    }

    /// `crictl rm ID`.
    pub fn rm(&self, id: &str) -> Rpc<()> {
        self.call(self.client().remove_container(RemoveContainerRequest {
            container_id: id.into(),
        }))
        .map(|_| ())
    }

    /// `crictl stopp POD`.
    pub fn stopp(&self, pod: &str) -> Rpc<()> {
        self.call(self.client().stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.into(),
        }))
        .map(|_| ())
    }

    /// `crictl rmp POD`.
    pub fn rmp(&self, pod: &str) -> Rpc<()> {
        self.call(self.client().remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod.into(),
        }))
        .map(|_| ())
    }

    /// `crictl pods` (every sandbox).
    pub fn pods(&self) -> Rpc<Vec<PodSandbox>> {
        self.call(
            self.client()
                .list_pod_sandbox(ListPodSandboxRequest { filter: None }),
        )
        .map(|r| r.items)
    }

    /// `crictl ps -a --pod POD`.
    pub fn containers(&self, pod: &str) -> Rpc<Vec<Container>> {
        self.call(self.client().list_containers(ListContainersRequest {
            filter: Some(ContainerFilter {
                pod_sandbox_id: pod.into(),
                ..Default::default()
            }),
        }))
        .map(|r| r.containers)
    }

    // ---- processes -----------------------------------------------------------------------

    /// Shim processes of this containerd (`containerd-shim*` with `-address <our socket>`).
    pub fn shims(&self) -> Vec<(i32, Vec<String>)> {
        shims_of(&self.sock)
    }

    /// Our shims started with `-id <id>`.
    pub fn shims_with_id(&self, id: &str) -> Vec<i32> {
        self.shims()
            .into_iter()
            .filter(|(_, a)| a.windows(2).any(|w| w[0] == "-id" && w[1] == id))
            .map(|(p, _)| p)
            .collect()
    }
}

fn info_json(info: &std::collections::HashMap<String, String>) -> Value {
    info.get("info")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// Parent pid of `pid` (from /proc/PID/stat).
pub fn ppid(pid: i32) -> Option<i32> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `pid` and its ancestors up to (excluding) pid 1.
pub fn ancestors(pid: i32) -> Vec<i32> {
    let mut v = vec![pid];
    let mut p = pid;
    while let Some(pp) = ppid(p) {
        if pp <= 1 || v.len() > 64 {
            break;
        }
        v.push(pp);
        p = pp;
    }
    v
}

// ---------------------------------------------------------------------------------------------
// streaming (websocket, channel.k8s.io)

/// What a streaming session returned.
#[derive(Debug, Default, Clone)]
pub struct StreamOut {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// the error channel (v4: a JSON metav1.Status)
    pub status: String,
    /// the protocol the server chose
    pub protocol: String,
}

impl StreamOut {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Exit code from the v4 status: 0 on `Success`, the `ExitCode` cause otherwise.
    pub fn exit_code(&self) -> Option<i32> {
        let v: Value = serde_json::from_str(&self.status).ok()?;
        if v["status"] == "Success" {
            return Some(0);
        }
        v["details"]["causes"]
            .as_array()?
            .iter()
            .find(|c| c["reason"] == "ExitCode")?["message"]
            .as_str()?
            .parse()
            .ok()
    }
}

async fn ws_session(
    url: String,
    stdin: Option<Vec<u8>>,
    until: Option<String>,
) -> Result<StreamOut, String> {
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        STREAM_PROTOCOL.parse().expect("header value"),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| format!("websocket upgrade of {url}: {e}"))?;
    let mut out = StreamOut {
        protocol: resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        ..Default::default()
    };
    if let Some(data) = stdin {
        let mut m = vec![0u8];
        m.extend_from_slice(&data);
        ws.send(Message::binary(m))
            .await
            .map_err(|e| format!("send stdin: {e}"))?;
    }
    while let Some(msg) = ws.next().await {
        let msg = match msg {
            Ok(m) => m,
            // the server may drop the TCP connection right after its close frame
            Err(_) if !out.status.is_empty() => break,
            Err(e) => return Err(format!("stream {url}: {e} (so far: {out:?})")),
        };
        let data: Vec<u8> = match msg {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&ch, payload)) = data.split_first() else {
            continue;
        };
        match ch {
            1 => out.stdout.extend_from_slice(payload),
            2 => out.stderr.extend_from_slice(payload),
            3 => out.status.push_str(&String::from_utf8_lossy(payload)),
            _ => {}
        }
        if let Some(u) = &until {
            if out.stdout().contains(u.as_str()) {
                let _ = ws.close(None).await;
                break;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// logs

/// One line of a CRI log file: `<RFC3339Nano> <stdout|stderr> <F|P> <content>`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub time: String,
    pub stream: String,
    pub tag: String,
    pub content: String,
}

impl LogLine {
    pub fn parse(l: &str) -> Option<LogLine> {
        let mut f = l.splitn(4, ' ');
        let (time, stream, tag) = (f.next()?, f.next()?, f.next()?);
        let content = f.next().unwrap_or("");
        let time_ok = time.len() >= 20 && time.as_bytes()[4] == b'-' && time.contains('T');
        let ok =
            time_ok && (stream == "stdout" || stream == "stderr") && (tag == "F" || tag == "P");
        ok.then(|| LogLine {
            time: time.into(),
            stream: stream.into(),
            tag: tag.into(),
            content: content.into(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// pods

/// The pod's network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// host network (no CNI)
    Host,
    /// own network namespace through the bridge CNI
    Pod,
}

/// Namespace options as kubelet sends them (own pid namespace per container, shared IPC).
pub fn namespaces(net: Net) -> NamespaceOption {
    NamespaceOption {
        network: match net {
            Net::Host => NamespaceMode::Node,
            Net::Pod => NamespaceMode::Pod,
        } as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// The socket a shim daemon serves: the value of `-socket` on its command line.
fn shim_socket(pid: i32) -> Option<PathBuf> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let i = args.iter().position(|a| *a == b"-socket")?;
    let addr = std::str::from_utf8(args.get(i + 1)?).ok()?;
    Some(PathBuf::from(addr.trim_start_matches("unix://")))
}

/// One pod sandbox; cleaned up on drop.
pub struct Pod {
    pub cri: &'static Cri,
    pub id: String,
    pub name: String,
    pub uid: String,
    pub handler: String,
    pub net: Net,
    pub config: PodSandboxConfig,
    pub log_dir: PathBuf,
    /// `cgroup_parent` (cgroupfs path, `/pinhole-cri/pod<uid>`)
    pub cgroup_parent: String,
    containers: RefCell<Vec<String>>,
    /// (pid, start time) of the sandbox and container processes seen
    procs: RefCell<Vec<(i32, u64)>>,
    /// (pid, start time) of shims seen serving this pod
    shims: RefCell<Vec<(i32, u64)>>,
    /// the ttrpc sockets those shims serve (`-socket` of their command line)
    sockets: RefCell<Vec<PathBuf>>,
    /// mounts seen for this pod (netns, shm, rootfs)
    netns: RefCell<Option<String>>,
    cleaned: RefCell<bool>,
}

impl Pod {
    /// The config kubelet would send for pod `name` (unique uid, own log dir, cgroup parent).
    pub fn config_for(cri: &Cri, name: &str, net: Net) -> (PodSandboxConfig, String) {
        let uid = unique_id(name);
        let log_dir = cri.dir.join("podlogs").join(&uid);
        let cfg = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: uid.clone(),
                uid: uid.clone(),
                namespace: "default".into(),
                attempt: 0,
            }),
            // kubelet sends no hostname for host-network pods (runc refuses to set it then)
            hostname: match net {
                Net::Host => String::new(),
                Net::Pod => name.chars().take(30).collect(),
            },
            log_directory: log_dir.to_string_lossy().into_owned(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: format!("/{CGROUP_ROOT}/pod{uid}"),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(namespaces(net)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        (cfg, uid)
    }

    /// RunPodSandbox of a fresh pod `name` under `handler`; `tweak` may change the config.
    pub fn run(
        name: &str,
        handler: &str,
        net: Net,
        tweak: impl FnOnce(&mut PodSandboxConfig),
    ) -> Result<Pod, tonic::Status> {
        let cri = Cri::shared();
        let (mut config, uid) = Pod::config_for(cri, name, net);
        tweak(&mut config);
        let log_dir = PathBuf::from(&config.log_directory);
        fs::create_dir_all(&log_dir).expect("create pod log dir");
        let cgroup_parent = config
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.clone())
            .unwrap_or_default();
        let mut pod = Pod {
            cri,
            id: String::new(),
            name: name.into(),
            uid,
            handler: handler.into(),
            net,
            config,
            log_dir,
            cgroup_parent,
            containers: RefCell::new(Vec::new()),
            procs: RefCell::new(Vec::new()),
            shims: RefCell::new(Vec::new()),
            sockets: RefCell::new(Vec::new()),
            netns: RefCell::new(None),
            cleaned: RefCell::new(false),
        };
        match cri.runp(&pod.config, handler) {
            Ok(id) => {
                pod.id = id;
                pod.note();
                Ok(pod)
            }
            Err(e) => {
                // a failed RunPodSandbox may leave a NOTREADY sandbox behind: find it by uid
                if let Ok(items) = cri.pods() {
                    if let Some(p) = items
                        .iter()
                        .find(|p| p.metadata.as_ref().map(|m| m.uid.as_str()) == Some(&pod.uid))
                    {
                        pod.id = p.id.clone();
                    }
                }
                Err(e)
            }
        }
    }

    /// A container config kubelet-style: image busybox, `cmd`, log path `<name>.log`, own pid
    /// namespace; `tweak` may change it.
    pub fn container_config(
        &self,
        name: &str,
        cmd: &[&str],
        tweak: impl FnOnce(&mut ContainerConfig),
    ) -> ContainerConfig {
        let mut c = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: BUSYBOX_IMAGE.into(),
                ..Default::default()
            }),
            command: cmd.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(namespaces(self.net)),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        tweak(&mut c);
        c
    }

    /// CreateContainer (recorded for cleanup).
    pub fn create(&self, config: &ContainerConfig) -> Rpc<String> {
        let r = self.cri.create(&self.id, config, &self.config);
        if let Ok(id) = &r {
            self.containers.borrow_mut().push(id.clone());
        } else if let Ok(cs) = self.cri.containers(&self.id) {
            // a failed create may still have registered the container
            for c in cs {
                if !self.containers.borrow().contains(&c.id) {
                    self.containers.borrow_mut().push(c.id);
                }
            }
        }
        r
    }

    /// CreateContainer + StartContainer; panics on failure.
    #[track_caller]
    pub fn create_start(
        &self,
        name: &str,
        cmd: &[&str],
        tweak: impl FnOnce(&mut ContainerConfig),
    ) -> String {
        let cfg = self.container_config(name, cmd, tweak);
        let id = self.create(&cfg).unwrap_or_else(|e| {
            panic!(
                "CreateContainer {name} ({}): {e}\ncontainerd log:\n{}",
                self.handler,
                self.cri.log_excerpt(&self.id, 10)
            )
        });
        if let Err(e) = self.cri.start(&id) {
            panic!(
                "StartContainer {name} ({}): {e}\ncontainerd log:\n{}",
                self.handler,
                self.cri.log_excerpt(&id, 10)
            );
        }
        self.note();
        id
    }

    /// Containers created through this pod.
    pub fn container_ids(&self) -> Vec<String> {
        self.containers.borrow().clone()
    }

    /// Host pid of the sandbox (pause) process.
    pub fn sandbox_pid(&self) -> Option<i32> {
        let (_, info) = self.cri.inspectp(&self.id).ok()?;
        info["pid"].as_i64().filter(|p| *p > 0).map(|p| p as i32)
    }

    /// Host pid of container `id`'s init process.
    pub fn container_pid(&self, id: &str) -> Option<i32> {
        let (_, info) = self.cri.inspect(id).ok()?;
        info["pid"].as_i64().filter(|p| *p > 0).map(|p| p as i32)
    }

    /// The cgroup v1 directory of container (or sandbox) `id` in `controller`.
    pub fn cgroup_dir(&self, controller: &str, id: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(self.cgroup_parent.trim_start_matches('/'))
            .join(id)
    }

    /// Records the processes, shims and network namespace of the pod seen right now.
    pub fn note(&self) {
        let mut pids: Vec<i32> = self.sandbox_pid().into_iter().collect();
        for c in self.container_ids() {
            pids.extend(self.container_pid(&c));
        }
        let shims: Vec<i32> = self.cri.shims().into_iter().map(|s| s.0).collect();
        for p in pids {
            if let Some(t) = proc_start_time(p) {
                if !self.procs.borrow().contains(&(p, t)) {
                    self.procs.borrow_mut().push((p, t));
                }
            }
            for a in ancestors(p) {
                if shims.contains(&a) {
                    if let Some(t) = proc_start_time(a) {
                        if !self.shims.borrow().contains(&(a, t)) {
                            self.shims.borrow_mut().push((a, t));
                            self.sockets.borrow_mut().extend(shim_socket(a));
                        }
                    }
                }
            }
        }
        if self.netns.borrow().is_none() {
            if let Ok((_, info)) = self.cri.inspectp(&self.id) {
                let ns = info["runtimeSpec"]["linux"]["namespaces"]
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .find(|n| n["type"] == "network")
                            .and_then(|n| n["path"].as_str())
                            .map(str::to_string)
                    });
                *self.netns.borrow_mut() = ns;
            }
        }
    }

    /// The shims recorded as serving this pod (pids).
    pub fn shim_pids(&self) -> Vec<i32> {
        self.shims.borrow().iter().map(|s| s.0).collect()
    }

    /// Orderly teardown as kubelet does it: stop + remove every container, StopPodSandbox,
    /// RemovePodSandbox, then the pod's cgroup parent and log directory. Returns what failed.
    pub fn remove(&self) -> Vec<String> {
        let mut bad = Vec::new();
        if self.id.is_empty() {
            return bad;
        }
        self.note();
        let known: Vec<String> = self
            .cri
            .containers(&self.id)
            .map(|v| v.into_iter().map(|c| c.id).collect())
            .unwrap_or_else(|_| self.container_ids());
        let ids = known.clone();
        for c in &ids {
            if !known.contains(c) {
                continue;
            }
            if let Err(e) = self.cri.stop(c, 0) {
                bad.push(format!("StopContainer {c}: {e}"));
            }
            if let Err(e) = self.cri.rm(c) {
                bad.push(format!("RemoveContainer {c}: {e}"));
            }
        }
        let listed = self
            .cri
            .pods()
            .map(|v| v.iter().any(|p| p.id == self.id))
            .unwrap_or(true);
        if listed {
            if let Err(e) = self.cri.stopp(&self.id) {
                bad.push(format!("StopPodSandbox: {e}"));
            }
            if let Err(e) = self.cri.rmp(&self.id) {
                bad.push(format!("RemovePodSandbox: {e}"));
            }
        }
        bad
    }

    /// The ids whose runtime leftovers (cgroups, mounts, shims) are checked.
    fn all_ids(&self) -> Vec<String> {
        let mut v = vec![self.id.clone()];
        v.extend(self.container_ids());
        v
    }

    /// What this pod left behind (empty = clean). Call after [`Pod::remove`].
    pub fn leaks(&self) -> Vec<String> {
        let mut l = Vec::new();
        if self.id.is_empty() {
            return l;
        }
        match self.cri.pods() {
            Ok(p) if p.iter().any(|p| p.id == self.id) => l.push("sandbox still listed".into()),
            Ok(_) => {}
            Err(e) => l.push(format!("ListPodSandbox: {e}")),
        }
        match self.cri.containers(&self.id) {
            Ok(c) if !c.is_empty() => l.push(format!(
                "containers still listed: {:?}",
                c.iter().map(|c| &c.id).collect::<Vec<_>>()
            )),
            Ok(_) => {}
            Err(e) => l.push(format!("ListContainers: {e}")),
        }
        let ids = self.all_ids();
        for id in &ids {
            for p in self.cri.shims_with_id(id) {
                l.push(format!("shim {p} still running: {:?}", proc_cmdline(p)));
            }
        }
        for &(p, t) in self.shims.borrow().iter() {
            if proc_alive(p, t) {
                l.push(format!(
                    "shim {p} of the pod still running: {:?}",
                    proc_cmdline(p)
                ));
            }
        }
        for &(p, t) in self.procs.borrow().iter() {
            if proc_alive(p, t) {
                l.push(format!("process {p} still running: {:?}", proc_cmdline(p)));
            }
        }
        for sock in self.sockets.borrow().iter() {
            if sock.exists() {
                l.push(format!("shim socket left: {}", sock.display()));
            }
        }
        let dir = self.cri.dir.to_string_lossy().into_owned();
        let netns = self.netns.borrow().clone();
        for m in mount_points() {
            if !m.starts_with(&dir) {
                continue;
            }
            if ids.iter().any(|id| m.contains(id.as_str())) || netns.as_deref() == Some(m.as_str())
            {
                l.push(format!("mount left: {m}"));
            }
        }
        for h in cgroup_hierarchies() {
            for id in &ids {
                let d = h.join(self.cgroup_parent.trim_start_matches('/')).join(id);
                if d.exists() {
                    l.push(format!("cgroup left: {}", d.display()));
                }
            }
        }
        if let Some(cached) = self.cni_cache_entries() {
            l.extend(
                cached
                    .into_iter()
                    .map(|c| format!("CNI cache entry left: {c}")),
            );
        }
        l
    }

    /// libcni's result cache (`/var/lib/cni/results/<network>-<sandbox id>-<ifname>`): the one
    /// thing containerd 1.6 writes outside its directory for a pod.
    fn cni_cache_entries(&self) -> Option<Vec<String>> {
        let d = fs::read_dir("/var/lib/cni/results").ok()?;
        Some(
            d.filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
                .filter(|n| n.contains(&self.id))
                .collect(),
        )
    }

    /// Removes the pod's cgroup parent (kubelet's job) and log directory; Err if the cgroup
    /// parent is not empty.
    fn remove_parent_dirs(&self) -> Result<(), String> {
        let _ = fs::remove_dir_all(&self.log_dir);
        let mut r = Ok(());
        for h in cgroup_hierarchies() {
            let d = h.join(self.cgroup_parent.trim_start_matches('/'));
            if d.is_dir() && fs::remove_dir(&d).is_err() {
                r = Err(format!("cgroup parent not empty: {}", d.display()));
            }
            let _ = fs::remove_dir(h.join(CGROUP_ROOT)); // shared with other pods: best effort
        }
        r
    }

    /// Tears the pod down and panics with what it left behind.
    #[track_caller]
    pub fn assert_clean(self) {
        let bad = self.remove();
        let mut last = Vec::new();
        let clean = wait_until(SETTLE, || {
            last = self.leaks();
            last.is_empty()
        });
        let parent = if clean {
            self.remove_parent_dirs()
        } else {
            Ok(())
        };
        let msg = if !bad.is_empty() {
            format!("teardown failed: {}", bad.join("; "))
        } else if !clean {
            format!("leaked:\n  {}", last.join("\n  "))
        } else if let Err(e) = parent {
            e
        } else {
            *self.cleaned.borrow_mut() = true;
            return;
        };
        let excerpt = self.cri.log_excerpt(&self.id, 10);
        panic!(
            "pod {} ({}) {msg}\ncontainerd log:\n{excerpt}",
            self.id, self.handler
        );
    }

    /// Kills by force what the orderly removal left.
    fn force_cleanup(&self) {
        for c in ["freezer"] {
            for id in self.all_ids() {
                let _ = fs::write(self.cgroup_dir(c, &id).join("freezer.state"), "THAWED");
            }
        }
        for h in cgroup_hierarchies() {
            for id in self.all_ids() {
                let procs = h
                    .join(self.cgroup_parent.trim_start_matches('/'))
                    .join(&id)
                    .join("cgroup.procs");
                kill_cgroup_procs(&procs);
            }
        }
        for &(p, t) in self.procs.borrow().iter().chain(self.shims.borrow().iter()) {
            if proc_alive(p, t) {
                // SAFETY: kill(2) takes plain integers; no memory is involved.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        for id in self.all_ids() {
            for p in self.cri.shims_with_id(&id) {
                // SAFETY: kill(2) takes plain integers; no memory is involved.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.remove();
        for h in cgroup_hierarchies() {
            let d = h.join(self.cgroup_parent.trim_start_matches('/'));
            if d.is_dir() {
                let _ = rmdir_tree(&d);
            }
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if *self.cleaned.borrow() || self.id.is_empty() {
            // a failed RunPodSandbox leaves nothing in CRI, but the runtime may have created
            // the pod's cgroup parent (kubelet's to remove)
            let _ = self.remove_parent_dirs();
            return;
        }
        let _ = self.remove();
        let clean = wait_until(Duration::from_secs(2), || self.leaks().is_empty());
        if !clean {
            self.force_cleanup();
        }
        let _ = self.remove_parent_dirs();
    }
}

/// `/sys/fs/cgroup/<hierarchy>` directories (v1 controllers and the unified hierarchy).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_type().map(|t| t.is_dir()).unwrap_or(false) && !e.path().is_symlink()
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Elapsed time of `f`.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}
