//! Protocol-level tests of `containerd-shim-pinhole-v2`: drive its task API v2 over ttrpc
//! directly, the way containerd does, with bad input. Every failing call must come back with
//! the right ttrpc code and a message naming the id, field or path at fault, and the shim must
//! keep serving afterwards. Each test ends with Delete + Shutdown and checks that the shim
//! exited and left no socket, cgroup or state behind.
//!
//! The shim is started like containerd starts it (`... start` in the bundle directory, with
//! `TTRPC_ADDRESS` set), against the private containerd of tests/common/containerd.rs (for
//! event publishing). Bundles live in a temp dir shaped like containerd's state dir
//! (`<state>/io.containerd.runtime.v2.task/<ns>/<id>`): the shim derives its own state
//! directory (`<state>/pinhole/<ns>`) from it. Run as root, after building the shim:
//!
//! ```text
//! cargo build -p containerd-shim-pinhole && cargo test -p pinhole-tests --test shim_api
//! ```

#[path = "common/containerd.rs"]
mod containerd;

use containerd::*;
use containerd_shim_protos::api::*;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim_sync::TaskClient;
use containerd_shim_protos::ttrpc::{self, context, Code};
use serde_json::{json, Value};
use std::ffi::CString;
use std::fs;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// containerd namespace of these tests (cgroups `/<API_NS>/<id>`).
const API_NS: &str = "pinhole-api";
/// Timeout of one ttrpc call.
const CALL: Duration = Duration::from_secs(5);
/// containerd's `-publish-binary` argument (never run here: the shim publishes over ttrpc).
const PUBLISH_BINARY: &str = "/usr/bin/containerd";
const LINUX_RESOURCES_TYPE: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

// ---------------------------------------------------------------------------------------------
// helpers

/// The shared read-only test rootfs (`<target>/pinhole-test/rootfs`, `hack/build-rootfs.sh`).
fn test_rootfs() -> PathBuf {
    let p = std::env::var_os("PINHOLE_TEST_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("pinhole-test/rootfs"));
    assert!(
        p.join("bin/sleep").exists(),
        "test rootfs incomplete: {} (run hack/build-rootfs.sh)",
        p.display()
    );
    p
}

/// A minimal OCI spec running `/bin/sleep 30` in the test rootfs, cgroup `/<API_NS>/<id>`.
fn spec(id: &str) -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/sleep", "30"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps,
            },
            "noNewPrivileges": true
        },
        "root": { "path": test_rootfs().to_str().expect("utf-8 rootfs path"), "readonly": true },
        "hostname": "pinhole-api",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "mode=1777", "size=65536k"] }
        ],
        "linux": {
            "cgroupsPath": format!("/{API_NS}/{id}"),
            "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
            "namespaces": [
                { "type": "pid" }, { "type": "mount" }, { "type": "ipc" }, { "type": "uts" }
            ]
        }
    })
}

/// The OCI process of an exec, as containerd sends it in ExecProcessRequest.spec.
fn exec_spec() -> Any {
    let p = json!({
        "terminal": false,
        "user": { "uid": 0, "gid": 0 },
        "args": ["/bin/sleep", "30"],
        "env": ["PATH=/usr/bin:/bin"],
        "cwd": "/"
    });
    let mut a = Any::new();
    a.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process".into();
    a.value = serde_json::to_vec(&p).unwrap();
    a
}

/// Protobuf length-delimited field.
fn pb_string(field: u8, s: &str) -> Vec<u8> {
    assert!(s.len() < 128, "short strings only");
    let mut v = vec![(field << 3) | 2, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// The address of a `containerd.runtime.bootstrap.v1.BootstrapResult` reply, after checking
/// that it says version 3 over ttrpc.
#[track_caller]
fn bootstrap_result_address(reply: &[u8]) -> String {
    use containerd_shim_protos::protobuf::CodedInputStream;
    let mut input = CodedInputStream::from_bytes(reply);
    let (mut version, mut address, mut protocol) = (0, String::new(), String::new());
    while let Some(tag) = input.read_raw_tag_or_eof().expect("a protobuf reply") {
        match tag {
            0x08 => version = input.read_int32().expect("version"),
            0x12 => address = input.read_string().expect("address"),
            0x1a => protocol = input.read_string().expect("protocol"),
            t => panic!("unexpected field tag {t:#x} in the reply {reply:?}"),
        }
    }
    assert_eq!((version, protocol.as_str()), (3, "ttrpc"), "{reply:?}");
    address
}

/// One call of task API v3 (`containerd.task.v3.Task/<method>`), as containerd 2.x's v3
/// client makes it.
fn call_v3<Req: Message, Resp: Message>(
    client: &ttrpc::Client,
    method: &str,
    req: &Req,
) -> ttrpc::Result<Resp> {
    let mut creq = ttrpc::Request::new();
    creq.service = "containerd.task.v3.Task".into();
    creq.method = method.into();
    creq.timeout_nano = CALL.as_nanos() as i64;
    creq.payload = req.write_to_bytes().expect("encode request");
    let res = client.request(creq)?;
    Ok(Resp::parse_from_bytes(&res.payload).expect("decode response"))
}

/// `runtimeoptions.v1.Options{config_path}` as containerd sends it for non-runc runtimes.
fn runtime_options(config_path: &str) -> Any {
    let mut a = Any::new();
    a.type_url = "runtimeoptions.v1.Options".into();
    a.value = pb_string(2, config_path);
    a
}

/// The ttrpc status of a failed call; panics (naming `what`) if the call succeeded or failed
/// at the transport level.
#[track_caller]
fn status_of<T: std::fmt::Debug>(what: &str, r: ttrpc::Result<T>) -> (Code, String) {
    match r {
        Err(ttrpc::Error::RpcStatus(s)) => (s.code(), s.message().to_string()),
        Err(e) => panic!("{what}: expected an rpc status, got transport error {e:?}"),
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
    }
}

/// Asserts that `r` failed with `code` and a message containing every one of `names`.
#[track_caller]
fn assert_status<T: std::fmt::Debug>(what: &str, r: ttrpc::Result<T>, code: Code, names: &[&str]) {
    let (got, msg) = status_of(what, r);
    assert_eq!(got, code, "{what}: wrong code (message {msg:?})");
    for n in names {
        assert!(
            msg.contains(n),
            "{what}: message {msg:?} does not name {n:?}"
        );
    }
}

fn ctx() -> context::Context {
    context::with_duration(CALL)
}

fn is_mount_point(p: &Path) -> bool {
    mount_points().iter().any(|m| Path::new(m) == p)
}

/// A tmpfs "snapshot" mount (harmless to mount; the refused creates never run anything).
fn tmpfs_rootfs() -> containerd_shim_protos::types::mount::Mount {
    let mut m = containerd_shim_protos::types::mount::Mount::new();
    m.type_ = "tmpfs".into();
    m.source = "tmpfs".into();
    m.options = vec!["size=1m".into()];
    m
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    CHECKED_CONTROLLERS
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join(API_NS).join(id))
        .collect()
}

/// Live [`Shim`] guards (the `/<API_NS>` parent cgroups are removed when the last one goes).
static LIVE: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------------------------
// the shim under test

/// One shim process started for `id`, with a containerd-like state tree in a temp dir.
/// Dropping it kills whatever is left (shim, container processes) and removes cgroups,
/// socket and the temp dir.
struct Shim {
    cd: &'static Containerd,
    id: String,
    /// `<tmp>/state` (containerd's state dir).
    state: PathBuf,
    /// The temp dir (None once deliberately leaked because a mount in it could not go).
    tmp: Option<tempfile::TempDir>,
    address: String,
    pid: i32,
    start_time: u64,
    client: Option<TaskClient>,
    /// Every task id this test may have created (for the cgroup cleanup).
    ids: Vec<String>,
    /// The shim's log, read from the `log` FIFO of its bundle as containerd does.
    log: Option<ShimLog>,
}

impl Shim {
    /// Writes a bundle for `id` (config.json = `spec`) and starts the shim there, the way
    /// containerd 1.x to 2.2 start it (flags and environment).
    fn start(name: &str) -> Shim {
        Shim::start_as(name, false)
    }

    /// [`Shim::start`], the way containerd 2.3 starts it when `bootstrap`: a
    /// `BootstrapParams` on stdin, a `BootstrapResult` on stdout (task API v3).
    fn start_as(name: &str, bootstrap: bool) -> Shim {
        let cd = Containerd::shared();
        let bin = shim_bin().unwrap_or_else(|e| panic!("{e}"));
        LIVE.fetch_add(1, Ordering::SeqCst);
        let tmp = tempfile::Builder::new()
            .prefix("pha-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let state = tmp.path().join("state");
        let id = unique_id(name);
        let mut shim = Shim {
            cd,
            id: id.clone(),
            state,
            tmp: Some(tmp),
            address: String::new(),
            pid: 0,
            start_time: 0,
            client: None,
            ids: vec![id.clone()],
            log: None,
        };
        let bundle = shim.bundle_with(&id, &spec(&id).to_string());
        // containerd creates and reads `<bundle>/log` before `start`; the shim cannot run
        // without it
        shim.log = Some(ShimLog::open(&bundle.join("log")));
        let ttrpc_address = cd.dir.join("containerd.sock.ttrpc");
        let mut cmd = Command::new(&bin);
        cmd.current_dir(&bundle)
            .env("TTRPC_ADDRESS", &ttrpc_address)
            .env("MAX_SHIM_VERSION", "2")
            .args(["-namespace", API_NS, "-id", &id, "-address"])
            .arg(&cd.sock)
            .args(["-publish-binary", PUBLISH_BINARY, "start"]);
        let stdin = if bootstrap {
            let params = [
                pb_string(1, &id),
                pb_string(2, API_NS),
                pb_string(4, "2.3.0"),
                pb_string(5, ttrpc_address.to_str().unwrap()),
                pb_string(6, cd.sock.to_str().unwrap()),
                pb_string(7, PUBLISH_BINARY),
            ]
            .concat();
            let f = shim.tmp.as_ref().unwrap().path().join("bootstrap.pb");
            fs::write(&f, params).expect("write bootstrap params");
            fs::File::open(&f).expect("open bootstrap params").into()
        } else {
            std::process::Stdio::null()
        };
        let o = run_cmd_stdin(cmd, stdin, Duration::from_secs(10));
        // record the daemon first, so Drop kills it whatever happens next
        if let Some(&pid) = cd.shims_with_id(&id).first() {
            shim.pid = pid;
            shim.start_time = proc_start_time(pid).unwrap_or(0);
        }
        assert!(
            o.ok(),
            "shim start failed: {o}\nshim log:\n{}",
            shim.log_text()
        );
        shim.address = if bootstrap {
            bootstrap_result_address(o.stdout.as_bytes())
        } else {
            let reply: Value = serde_json::from_str(&o.stdout).expect("a JSON reply");
            assert_eq!(reply["version"], 2, "{o}");
            reply["address"].as_str().unwrap_or_default().to_string()
        };
        assert!(
            shim.address.starts_with("unix:///run/containerd/s/"),
            "start printed no shim address: {o}"
        );
        let client = ttrpc::Client::connect(&shim.address).unwrap_or_else(|e| {
            panic!(
                "connect {}: {e:?}\nshim log:\n{}",
                shim.address,
                shim.log_text()
            )
        });
        shim.client = Some(TaskClient::new(client));
        let resp = shim.connect();
        if shim.pid == 0 {
            shim.pid = resp.shim_pid as i32;
            shim.start_time = proc_start_time(shim.pid).unwrap_or(0);
        }
        assert_eq!(resp.shim_pid as i32, shim.pid, "Connect names another shim");
        shim
    }

    fn log_text(&self) -> String {
        self.log.as_ref().map(ShimLog::text).unwrap_or_default()
    }

    fn task(&self) -> &TaskClient {
        self.client.as_ref().expect("connected")
    }

    /// `<state>/io.containerd.runtime.v2.task/<ns>/<id>` with `config` as its config.json.
    fn bundle_with(&mut self, id: &str, config: &str) -> PathBuf {
        if !self.ids.iter().any(|i| i == id) {
            self.ids.push(id.to_string());
        }
        let b = self
            .state
            .join("io.containerd.runtime.v2.task")
            .join(API_NS)
            .join(id);
        fs::create_dir_all(&b).expect("create bundle");
        fs::write(b.join("config.json"), config).expect("write config.json");
        b
    }

    fn bundle(&self, id: &str) -> PathBuf {
        self.state
            .join("io.containerd.runtime.v2.task")
            .join(API_NS)
            .join(id)
    }

    /// pinhole's state directory of container `id`.
    fn state_dir(&self, id: &str) -> PathBuf {
        self.state.join("pinhole").join(API_NS).join(id)
    }

    /// The shim's working directory (`.shims/<group>`).
    fn shim_dir(&self) -> PathBuf {
        self.state
            .join("pinhole")
            .join(API_NS)
            .join(".shims")
            .join(&self.id)
    }

    fn socket_path(&self) -> PathBuf {
        PathBuf::from(self.address.trim_start_matches("unix://"))
    }

    fn alive(&self) -> bool {
        self.pid > 0 && proc_alive(self.pid, self.start_time)
    }

    #[track_caller]
    fn connect(&self) -> ConnectResponse {
        let mut req = ConnectRequest::new();
        req.id = self.id.clone();
        self.task()
            .connect(ctx(), &req)
            .unwrap_or_else(|e| panic!("Connect failed: {e:?}"))
    }

    /// The shim still answers: Connect on the open connection and on a new one.
    #[track_caller]
    fn assert_up(&self, after: &str) {
        assert!(self.alive(), "shim died after {after}");
        let mut req = ConnectRequest::new();
        req.id = self.id.clone();
        let r = self.task().connect(ctx(), &req);
        let r = r.unwrap_or_else(|e| panic!("Connect after {after} failed: {e:?}"));
        assert_eq!(r.shim_pid as i32, self.pid, "after {after}");
        let fresh = ttrpc::Client::connect(&self.address)
            .unwrap_or_else(|e| panic!("new connection after {after}: {e:?}"));
        TaskClient::new(fresh)
            .connect(ctx(), &req)
            .unwrap_or_else(|e| panic!("Connect on a new connection after {after}: {e:?}"));
    }

    fn create_req(&self, id: &str) -> CreateTaskRequest {
        let mut req = CreateTaskRequest::new();
        req.id = id.to_string();
        req.bundle = self.bundle(id).to_string_lossy().into_owned();
        req
    }

    fn state_of(&self, id: &str, exec_id: &str) -> ttrpc::Result<StateResponse> {
        let mut req = StateRequest::new();
        req.id = id.to_string();
        req.exec_id = exec_id.to_string();
        self.task().state(ctx(), &req)
    }

    fn kill(&self, id: &str, exec_id: &str, signal: u32) -> ttrpc::Result<Empty> {
        let mut req = KillRequest::new();
        req.id = id.to_string();
        req.exec_id = exec_id.to_string();
        req.signal = signal;
        self.task().kill(ctx(), &req)
    }

    fn start_task(&self, id: &str, exec_id: &str) -> ttrpc::Result<StartResponse> {
        let mut req = StartRequest::new();
        req.id = id.to_string();
        req.exec_id = exec_id.to_string();
        self.task().start(ctx(), &req)
    }

    fn delete(&self, id: &str, exec_id: &str) -> ttrpc::Result<DeleteResponse> {
        let mut req = DeleteRequest::new();
        req.id = id.to_string();
        req.exec_id = exec_id.to_string();
        self.task().delete(ctx(), &req)
    }

    fn wait(&self, id: &str, exec_id: &str) -> ttrpc::Result<WaitResponse> {
        let mut req = WaitRequest::new();
        req.id = id.to_string();
        req.exec_id = exec_id.to_string();
        self.task().wait(ctx(), &req)
    }

    fn exec(&self, id: &str, exec_id: &str) -> ttrpc::Result<Empty> {
        self.exec_with(id, exec_id, exec_spec())
    }

    fn exec_with(&self, id: &str, exec_id: &str, spec: Any) -> ttrpc::Result<Empty> {
        let mut req = ExecProcessRequest::new();
        req.id = id.to_string();
        req.exec_id = exec_id.to_string();
        req.spec = Some(spec).into();
        self.task().exec(ctx(), &req)
    }

    /// Asserts that task `id` left nothing: unknown to the shim, no cgroup, no state dir.
    #[track_caller]
    fn assert_task_gone(&self, id: &str) {
        assert_status(
            &format!("State of removed task {id}"),
            self.state_of(id, ""),
            Code::NOT_FOUND,
            &[id],
        );
        let mut left = Vec::new();
        let ok = wait_until(SETTLE, || {
            left = cgroup_dirs(id)
                .into_iter()
                .chain([self.state_dir(id)])
                .filter(|p| p.exists())
                .collect();
            left.is_empty()
        });
        assert!(ok, "task {id} left {left:?}");
    }

    /// Shutdown like containerd after the last Delete: the shim must exit and remove its
    /// socket; then containerd's `delete` action must leave no working directory.
    #[track_caller]
    fn shutdown(&mut self) {
        let mut req = ShutdownRequest::new();
        req.id = self.id.clone();
        // the shim may exit before answering: only an error status would be wrong
        if let Err(ttrpc::Error::RpcStatus(s)) = self.task().shutdown(ctx(), &req) {
            panic!("Shutdown failed: {s:?}");
        }
        self.client = None;
        self.assert_gone_clean(SETTLE, "Shutdown");
    }

    /// The shim exits within `within` (after `what`), leaves no socket, and containerd's
    /// `delete` action then leaves no cgroup, state or working directory.
    fn assert_gone_clean(&mut self, within: Duration, what: &str) {
        assert!(
            wait_until(within, || !self.alive()),
            "shim {} still runs {within:?} after {what}",
            self.pid
        );
        assert!(
            !self.socket_path().exists(),
            "shim socket left: {}",
            self.socket_path().display()
        );
        // containerd runs `<shim> ... -bundle B delete` once the shim disconnected
        let bundle = self.bundle(&self.id);
        let mut cmd = Command::new(shim_bin().unwrap());
        cmd.current_dir(&bundle)
            .env("TTRPC_ADDRESS", self.cd.dir.join("containerd.sock.ttrpc"))
            .args(["-namespace", API_NS, "-id", &self.id, "-address"])
            .arg(&self.cd.sock)
            .args(["-publish-binary", PUBLISH_BINARY, "-bundle"])
            .arg(&bundle)
            .arg("delete");
        run_cmd(cmd, Duration::from_secs(10)).assert_ok();
        for id in &self.ids {
            let left: Vec<PathBuf> = cgroup_dirs(id)
                .into_iter()
                .chain([self.state_dir(id)])
                .filter(|p| p.exists())
                .collect();
            assert!(left.is_empty(), "after shutdown, {id} left {left:?}");
        }
        assert!(
            !self.shim_dir().exists(),
            "shim working dir left: {}",
            self.shim_dir().display()
        );
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        self.client = None;
        if std::thread::panicking() {
            eprintln!("shim log of {}:\n{}", self.id, self.log_text());
        }
        if self.alive() {
            // SAFETY: kill(2) takes plain integers; no memory is involved.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            wait_until(SETTLE, || !self.alive());
        }
        for id in &self.ids {
            let freezer = Path::new("/sys/fs/cgroup/freezer").join(API_NS).join(id);
            let _ = fs::write(freezer.join("freezer.state"), "THAWED");
            for c in [
                "pids", "memory", "cpu", "freezer", "cpuacct", "devices", "blkio", "cpuset",
            ] {
                let d = Path::new("/sys/fs/cgroup").join(c).join(API_NS).join(id);
                kill_cgroup_procs(&d.join("cgroup.procs"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for id in &self.ids {
            if let Ok(d) = fs::read_dir("/sys/fs/cgroup") {
                for h in d.flatten() {
                    let cg = h.path().join(API_NS).join(id);
                    if cg.is_dir() {
                        let _ = rmdir_tree(&cg);
                    }
                }
            }
        }
        // a SIGKILLed shim leaves its socket behind (only our own, hashed name is touched)
        let sock = self.socket_path();
        let name = sock.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if sock.parent() == Some(Path::new("/run/containerd/s"))
            && name.len() == 64
            && name.bytes().all(|b| b.is_ascii_hexdigit())
            && !self.alive()
        {
            let _ = fs::remove_file(&sock);
        }
        // never let the temp dir's removal descend into a mount (a rootfs the shim left)
        if let Some(tmp) = self.tmp.take() {
            let under = |m: &String| Path::new(m).starts_with(tmp.path());
            let mut mounts: Vec<String> = mount_points().into_iter().filter(under).collect();
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in &mounts {
                if let Ok(c) = CString::new(m.as_bytes()) {
                    // SAFETY: c is a NUL-terminated path; umount2 does not keep the pointer.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
            if mount_points().iter().any(under) {
                eprintln!("mounts left in {}: not removing it", tmp.path().display());
                std::mem::forget(tmp);
            }
        }
        if LIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Ok(d) = fs::read_dir("/sys/fs/cgroup") {
                for h in d.flatten() {
                    let _ = fs::remove_dir(h.path().join(API_NS));
                }
            }
        }
    }
}

/// The reading end of a shim's `log` FIFO, drained by a thread into a buffer.
struct ShimLog {
    text: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ShimLog {
    /// Creates the FIFO and opens it read-write (never blocks, never sees EOF), as containerd.
    fn open(path: &Path) -> ShimLog {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: c is a NUL-terminated path; mkfifo does not keep the pointer.
        let r = unsafe { libc::mkfifo(c.as_ptr(), 0o700) };
        assert_eq!(
            r,
            0,
            "mkfifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        // SAFETY: c is a NUL-terminated path; open does not keep the pointer.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        assert!(
            fd >= 0,
            "open {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        // SAFETY: the fd was just returned to us by the kernel and nothing else owns it.
        let mut f = unsafe { fs::File::from_raw_fd(fd) };
        let text = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (text2, stop2) = (text.clone(), stop.clone());
        let reader = std::thread::spawn(move || {
            pump_fd(&mut f, &stop2, 50, |b| {
                text2.lock().unwrap().extend_from_slice(b)
            });
        });
        ShimLog {
            text,
            stop,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }
}

impl Drop for ShimLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tests

/// State/Kill/Delete/Start/Wait/Update/Exec on ids the shim does not know: NOT_FOUND naming
/// the id; Checkpoint: UNIMPLEMENTED. The shim answers after each.
#[test]
fn unknown_ids_are_not_found() {
    let mut s = Shim::start("api-unknown");
    let ghost = format!("{}-ghost", s.id);
    let g = ghost.as_str();

    assert_status("State", s.state_of(g, ""), Code::NOT_FOUND, &[g]);
    s.assert_up("State of an unknown task");
    assert_status("Kill", s.kill(g, "", 9), Code::NOT_FOUND, &[g]);
    s.assert_up("Kill of an unknown task");
    assert_status("Delete", s.delete(g, ""), Code::NOT_FOUND, &[g]);
    s.assert_up("Delete of an unknown task");
    assert_status("Start", s.start_task(g, ""), Code::NOT_FOUND, &[g]);
    s.assert_up("Start of an unknown task");
    assert_status("Wait", s.wait(g, ""), Code::NOT_FOUND, &[g]);
    s.assert_up("Wait on an unknown task");
    assert_status("Exec", s.exec(g, "e1"), Code::NOT_FOUND, &[g]);
    s.assert_up("Exec in an unknown task");

    let mut req = UpdateTaskRequest::new();
    req.id = ghost.clone();
    assert_status(
        "Update",
        s.task().update(ctx(), &req),
        Code::NOT_FOUND,
        &[g],
    );
    s.assert_up("Update of an unknown task");

    let mut req = CheckpointTaskRequest::new();
    req.id = ghost.clone();
    req.path = "/tmp/nowhere".into();
    assert_status(
        "Checkpoint",
        s.task().checkpoint(ctx(), &req),
        Code::UNIMPLEMENTED,
        &[g],
    );
    s.assert_up("Checkpoint");

    s.assert_task_gone(g);
    s.shutdown();
}

/// containerd 2.3's start: `BootstrapParams` on stdin, a `BootstrapResult` (version 3) back,
/// then the whole task lifecycle over task API v3 — the same handlers as v2, with the same
/// errors.
#[test]
fn bootstrap_start_serves_task_api_v3() {
    let mut s = Shim::start_as("api-v3", true);
    let raw = ttrpc::Client::connect(&s.address).expect("connect");
    let mut req = ConnectRequest::new();
    req.id = s.id.clone();
    let r: ConnectResponse = call_v3(&raw, "Connect", &req).expect("v3 Connect");
    assert_eq!(r.shim_pid as i32, s.pid);

    let ghost = format!("{}-ghost", s.id);
    let mut req = StateRequest::new();
    req.id = ghost.clone();
    assert_status(
        "v3 State of an unknown task",
        call_v3::<_, StateResponse>(&raw, "State", &req),
        Code::NOT_FOUND,
        &[&ghost],
    );

    let id = s.id.clone();
    let r: CreateTaskResponse = call_v3(&raw, "Create", &s.create_req(&id)).expect("v3 Create");
    assert!(r.pid > 0, "{r:?}");
    let mut req = StartRequest::new();
    req.id = id.clone();
    let _: StartResponse = call_v3(&raw, "Start", &req).expect("v3 Start");
    let mut req = KillRequest::new();
    req.id = id.clone();
    req.signal = 9;
    let _: Empty = call_v3(&raw, "Kill", &req).expect("v3 Kill");
    let mut req = WaitRequest::new();
    req.id = id.clone();
    let w: WaitResponse = call_v3(&raw, "Wait", &req).expect("v3 Wait");
    assert_eq!(w.exit_status, 137, "{w:?}");
    let mut req = DeleteRequest::new();
    req.id = id.clone();
    let d: DeleteResponse = call_v3(&raw, "Delete", &req).expect("v3 Delete");
    assert_eq!(d.exit_status, 137, "{d:?}");
    s.assert_task_gone(&id);
    s.shutdown();
}

/// A grouped shim told to Shutdown while tasks remain keeps serving them (containerd sends
/// Shutdown after deleting each task of a group; 2.x may send it for the sandbox's task while
/// the pod's containers still run): it exits only once the last task is deleted.
#[test]
fn shutdown_with_tasks_left_keeps_serving() {
    let mut s = Shim::start("api-keep");
    let a = s.id.clone();
    let b = format!("{a}-b");
    s.bundle_with(&b, &spec(&b).to_string());
    for id in [&a, &b] {
        s.task().create(ctx(), &s.create_req(id)).expect("Create");
        s.start_task(id, "").expect("Start");
    }
    let shutdown = |s: &Shim| {
        let mut req = ShutdownRequest::new();
        req.id = a.clone();
        s.task()
            .shutdown(ctx(), &req)
            .expect("Shutdown with tasks left");
    };
    shutdown(&s);
    std::thread::sleep(Duration::from_millis(300));
    s.assert_up("Shutdown with two tasks");
    for id in [&a, &b] {
        let st = s.state_of(id, "").expect("State after Shutdown");
        assert_eq!(
            st.status(),
            containerd_shim_protos::types::task::Status::RUNNING,
            "{id}"
        );
    }
    s.kill(&a, "", 9).expect("Kill a");
    s.wait(&a, "").expect("Wait a");
    s.delete(&a, "").expect("Delete a");
    shutdown(&s);
    std::thread::sleep(Duration::from_millis(300));
    s.assert_up("Shutdown with one task left");
    let st = s.state_of(&b, "").expect("State of b");
    assert_eq!(
        st.status(),
        containerd_shim_protos::types::task::Status::RUNNING
    );
    s.kill(&b, "", 9).expect("Kill b");
    s.wait(&b, "").expect("Wait b");
    s.delete(&b, "").expect("Delete b");
    s.shutdown();
}

/// Issue 9 item 3: a shim with no task and no connection goes away by itself, leaving nothing
/// (containerd 2.x sends no Shutdown for a sandbox's task, and after a disconnect it only runs
/// `delete`): a pod's shim is never left behind by a Shutdown that does not come.
#[test]
fn idle_shim_exits_by_itself() {
    let mut s = Shim::start("api-idle");
    let id = s.id.clone();
    s.task().create(ctx(), &s.create_req(&id)).expect("Create");
    s.start_task(&id, "").expect("Start");
    s.kill(&id, "", 9).expect("Kill");
    s.wait(&id, "").expect("Wait");
    s.delete(&id, "").expect("Delete");
    // a connection keeps it: containerd holds one per task
    std::thread::sleep(Duration::from_secs(12));
    s.assert_up("12 s without a task but with a connection");
    // no Shutdown: containerd only closes its connection
    s.client = None;
    s.assert_gone_clean(Duration::from_secs(20), "its last connection closed");
}

/// A bootstrap message that is not protobuf, or contradicts the flags, is refused on stderr
/// with a non-zero exit, and no shim is started.
#[test]
fn malformed_bootstrap_is_a_clear_error() {
    let cd = Containerd::shared();
    let bin = shim_bin().unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir_in("/tmp").expect("temp dir");
    let id = unique_id("api-badboot");
    let cases: [(&str, Vec<u8>, &str); 2] = [
        (
            "json",
            b"{\"instance_id\":1}".to_vec(),
            "malformed bootstrap message",
        ),
        (
            "contradiction",
            [
                pb_string(1, "someone-else"),
                pb_string(2, API_NS),
                pb_string(4, "2.3.0"),
            ]
            .concat(),
            "contradicts -id",
        ),
    ];
    for (name, params, want) in cases {
        let f = tmp.path().join(name);
        fs::write(&f, params).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.current_dir(tmp.path())
            .env("TTRPC_ADDRESS", cd.dir.join("containerd.sock.ttrpc"))
            .args(["-namespace", API_NS, "-id", &id, "-address"])
            .arg(&cd.sock)
            .args(["-publish-binary", PUBLISH_BINARY, "start"]);
        let o = run_cmd_stdin(cmd, fs::File::open(&f).unwrap().into(), CALL);
        assert_ne!(o.code, 0, "{name}: {o}");
        assert!(o.stderr.contains(want), "{name}: {o}");
        assert!(o.stdout.is_empty(), "{name}: {o}");
        assert!(
            cd.shims_with_id(&id).is_empty(),
            "{name}: a shim was started"
        );
    }
}

/// Create requests the shim must refuse before anything exists: unsupported rootfs mount type,
/// a policy file that does not exist, a malformed config.json. Nothing of the refused tasks is
/// left (no state dir, no cgroup, unknown to State).
#[test]
fn create_rejects_bad_input_and_leaves_nothing() {
    let mut s = Shim::start("api-create");

    // rootfs mount type pinhole does not mount
    let id = format!("{}-ext4", s.id);
    s.bundle_with(&id, &spec(&id).to_string());
    let mut req = s.create_req(&id);
    let mut m = containerd_shim_protos::types::mount::Mount::new();
    m.type_ = "ext4".into();
    m.source = "/dev/nonexistent".into();
    req.rootfs.push(m);
    assert_status(
        "Create with an ext4 rootfs",
        s.task().create(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[&id, "rootfs[0].type", "ext4"],
    );
    s.assert_up("Create with an ext4 rootfs");
    s.assert_task_gone(&id);

    // runtime options naming a policy file that does not exist
    let id = format!("{}-nopolicy", s.id);
    s.bundle_with(&id, &spec(&id).to_string());
    let missing = format!("/tmp/pinhole-api-missing-{}.toml", std::process::id());
    let mut req = s.create_req(&id);
    req.options = Some(runtime_options(&missing)).into();
    assert_status(
        "Create with a missing policy file",
        s.task().create(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[&missing],
    );
    s.assert_up("Create with a missing policy file");
    s.assert_task_gone(&id);

    // options of a type pinhole does not take (runc's are taken: containerd 2.x makes them up
    // for handlers without options)
    let id = format!("{}-runhcsopts", s.id);
    s.bundle_with(&id, &spec(&id).to_string());
    let mut req = s.create_req(&id);
    let mut a = Any::new();
    a.type_url = "containerd.runhcs.v1.Options".into();
    req.options = Some(a).into();
    assert_status(
        "Create with runhcs options",
        s.task().create(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &["containerd.runhcs.v1.Options"],
    );
    s.assert_up("Create with runhcs options");
    s.assert_task_gone(&id);

    // config.json with a field of the wrong type
    let id = format!("{}-badspec", s.id);
    let mut bad = spec(&id);
    bad["process"]["args"] = json!("/bin/sleep 30");
    s.bundle_with(&id, &bad.to_string());
    let (code, msg) = status_of(
        "Create with a malformed config.json",
        s.task().create(ctx(), &s.create_req(&id)),
    );
    assert_eq!(code, Code::INVALID_ARGUMENT, "message {msg:?}");
    for n in [id.as_str(), "config.json", "process.args"] {
        assert!(msg.contains(n), "message {msg:?} does not name {n:?}");
    }
    s.assert_up("Create with a malformed config.json");
    s.assert_task_gone(&id);

    // config.json that is not JSON at all
    let id = format!("{}-notjson", s.id);
    s.bundle_with(&id, "{\"ociVersion\": \"1.0.2\", ");
    let (code, msg) = status_of(
        "Create with a truncated config.json",
        s.task().create(ctx(), &s.create_req(&id)),
    );
    assert_eq!(code, Code::INVALID_ARGUMENT, "message {msg:?}");
    for n in [id.as_str(), "config.json"] {
        assert!(msg.contains(n), "message {msg:?} does not name {n:?}");
    }
    s.assert_up("Create with a truncated config.json");
    s.assert_task_gone(&id);

    // a refused create must unmount the rootfs it mounted
    let id = format!("{}-mounted", s.id);
    let mut bad = spec(&id);
    bad["linux"]["namespaces"] = json!("pid");
    let bundle = s.bundle_with(&id, &bad.to_string());
    let mut req = s.create_req(&id);
    req.rootfs.push(tmpfs_rootfs());
    assert_status(
        "Create with a rootfs and a malformed config.json",
        s.task().create(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[&id, "config.json", "linux.namespaces"],
    );
    s.assert_up("Create with a rootfs and a malformed config.json");
    s.assert_task_gone(&id);
    assert!(
        !is_mount_point(&bundle.join("rootfs")),
        "refused create left its rootfs mounted at {}",
        bundle.join("rootfs").display()
    );

    // more than one snapshot mount
    let id = format!("{}-twomounts", s.id);
    let bundle = s.bundle_with(&id, &spec(&id).to_string());
    let mut req = s.create_req(&id);
    req.rootfs.push(tmpfs_rootfs());
    req.rootfs.push(tmpfs_rootfs());
    assert_status(
        "Create with two rootfs mounts",
        s.task().create(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[&id, "rootfs"],
    );
    s.assert_up("Create with two rootfs mounts");
    s.assert_task_gone(&id);
    assert!(!is_mount_point(&bundle.join("rootfs")));

    // a task id that is not a safe file name
    let id = format!("../{}-escape", s.id);
    let bundle = s.bundle_with(&format!("{}-escape", s.id), &spec(&id).to_string());
    s.ids.push(id.clone());
    let mut req = s.create_req(&id);
    req.bundle = bundle.to_string_lossy().into_owned();
    req.rootfs.push(tmpfs_rootfs());
    assert_status(
        "Create with id ../x",
        s.task().create(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[&id],
    );
    s.assert_up("Create with id ../x");
    s.assert_task_gone(&id);
    assert!(!is_mount_point(&bundle.join("rootfs")));

    // a bundle that does not exist
    let id = format!("{}-nobundle", s.id);
    s.ids.push(id.clone());
    let req = s.create_req(&id);
    assert_status(
        "Create with a missing bundle",
        s.task().create(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[&id, &req.bundle],
    );
    s.assert_up("Create with a missing bundle");
    s.assert_task_gone(&id);

    s.shutdown();
}

/// One task through its life with bad requests at each step: Create twice, Exec before Start,
/// duplicate exec id, Start of an unknown exec, malformed Update, Checkpoint, Kill after exit.
#[test]
fn task_lifecycle_refuses_bad_requests() {
    let mut s = Shim::start("api-task");
    let id = s.id.clone();
    let t = id.as_str();

    let created = s
        .task()
        .create(ctx(), &s.create_req(t))
        .unwrap_or_else(|e| panic!("Create {t}: {e:?}"));
    assert!(created.pid > 0, "Create returned no pid");
    assert_eq!(
        s.state_of(t, "").unwrap().status.enum_value(),
        Ok(Status::CREATED)
    );

    assert_status(
        "second Create",
        s.task().create(ctx(), &s.create_req(t)),
        Code::ALREADY_EXISTS,
        &[t],
    );
    s.assert_up("a second Create");
    assert_eq!(
        s.state_of(t, "").unwrap().pid,
        created.pid,
        "a refused Create changed the task"
    );

    assert_status(
        "Exec before Start",
        s.exec(t, "e1"),
        Code::FAILED_PRECONDITION,
        &[t, "e1"],
    );
    s.assert_up("Exec before Start");
    assert_status(
        "State of the refused exec",
        s.state_of(t, "e1"),
        Code::NOT_FOUND,
        &["e1"],
    );

    s.start_task(t, "")
        .unwrap_or_else(|e| panic!("Start {t}: {e:?}"));
    assert_eq!(
        s.state_of(t, "").unwrap().status.enum_value(),
        Ok(Status::RUNNING)
    );

    s.exec(t, "e1").unwrap_or_else(|e| panic!("Exec e1: {e:?}"));
    assert_status(
        "Exec with a duplicate exec id",
        s.exec(t, "e1"),
        Code::ALREADY_EXISTS,
        &[t, "e1"],
    );
    s.assert_up("Exec with a duplicate exec id");
    assert_status(
        "Exec with an empty exec id",
        s.exec(t, ""),
        Code::INVALID_ARGUMENT,
        &[t, "exec id"],
    );
    s.assert_up("Exec with an empty exec id");
    let mut bad = Any::new();
    bad.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process".into();
    bad.value = br#"{"args": 5, "cwd": "/", "user": {"uid": 0, "gid": 0}}"#.to_vec();
    assert_status(
        "Exec with a malformed process spec",
        s.exec_with(t, "e2", bad),
        Code::INVALID_ARGUMENT,
        &["e2", "args"],
    );
    s.assert_up("Exec with a malformed process spec");
    assert_status(
        "State of the refused exec e2",
        s.state_of(t, "e2"),
        Code::NOT_FOUND,
        &["e2"],
    );
    // The shim checks the shape of what it reads (args, cwd, user, env, terminal); the rest of
    // the process is the setup helper's to parse at Start, with the field named.
    let mut bad = Any::new();
    bad.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process".into();
    bad.value = br#"{"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": [5]}}"#
        .to_vec();
    s.exec_with(t, "e3", bad)
        .expect("Exec of a process whose capabilities are malformed");
    assert_status(
        "Start of an exec with malformed capabilities",
        s.start_task(t, "e3"),
        Code::INVALID_ARGUMENT,
        &["e3", "capabilities.bounding"],
    );
    s.assert_up("Start of an exec with malformed capabilities");
    assert_status(
        "Kill with an invalid signal",
        s.kill(t, "", 999),
        Code::INVALID_ARGUMENT,
        &[t, "999"],
    );
    s.assert_up("Kill with an invalid signal");

    assert_status(
        "Start of an unknown exec",
        s.start_task(t, "nope"),
        Code::NOT_FOUND,
        &[t, "nope"],
    );
    s.assert_up("Start of an unknown exec");

    let mut req = UpdateTaskRequest::new();
    req.id = id.clone();
    let mut a = Any::new();
    a.type_url = LINUX_RESOURCES_TYPE.into();
    a.value = br#"{"memory": {"limit": "lots"}}"#.to_vec();
    req.resources = Some(a).into();
    assert_status(
        "Update with malformed resources",
        s.task().update(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[t, "memory.limit"],
    );
    s.assert_up("Update with malformed resources");
    let mut a = Any::new();
    a.type_url = LINUX_RESOURCES_TYPE.into();
    a.value = b"{not json".to_vec();
    req.resources = Some(a).into();
    assert_status(
        "Update with resources that are not JSON",
        s.task().update(ctx(), &req),
        Code::INVALID_ARGUMENT,
        &[t, "resources"],
    );
    s.assert_up("Update with resources that are not JSON");

    let mut req = CheckpointTaskRequest::new();
    req.id = id.clone();
    req.path = "/tmp/nowhere".into();
    assert_status(
        "Checkpoint",
        s.task().checkpoint(ctx(), &req),
        Code::UNIMPLEMENTED,
        &[t],
    );
    s.assert_up("Checkpoint");
    assert_eq!(
        s.state_of(t, "").unwrap().status.enum_value(),
        Ok(Status::RUNNING),
        "the task no longer runs after the refused requests"
    );

    // a running exec cannot be deleted; once killed it is finished and can go
    s.start_task(t, "e1")
        .unwrap_or_else(|e| panic!("Start exec e1: {e:?}"));
    assert_status(
        "Start of a running exec",
        s.start_task(t, "e1"),
        Code::FAILED_PRECONDITION,
        &[t, "e1"],
    );
    s.assert_up("Start of a running exec");
    assert_status(
        "Delete of a running exec",
        s.delete(t, "e1"),
        Code::FAILED_PRECONDITION,
        &[t, "e1"],
    );
    s.assert_up("Delete of a running exec");
    s.kill(t, "e1", 9)
        .unwrap_or_else(|e| panic!("Kill exec e1: {e:?}"));
    let w = s
        .wait(t, "e1")
        .unwrap_or_else(|e| panic!("Wait exec e1: {e:?}"));
    assert_eq!(w.exit_status, 128 + 9, "exit status of the killed exec");
    assert_status(
        "Kill of an exited exec",
        s.kill(t, "e1", 9),
        Code::NOT_FOUND,
        &[t, "e1", "already finished"],
    );
    s.assert_up("Kill of an exited exec");
    s.delete(t, "e1")
        .unwrap_or_else(|e| panic!("Delete exec e1: {e:?}"));
    assert_status(
        "State of the deleted exec",
        s.state_of(t, "e1"),
        Code::NOT_FOUND,
        &["e1"],
    );

    // containerd's Shutdown while a task lives must be ignored
    let mut req = ShutdownRequest::new();
    req.id = id.clone();
    s.task()
        .shutdown(ctx(), &req)
        .unwrap_or_else(|e| panic!("Shutdown with a live task: {e:?}"));
    std::thread::sleep(Duration::from_millis(200));
    s.assert_up("Shutdown with a live task");

    // the running task cannot be deleted
    assert_status(
        "Delete of a running task",
        s.delete(t, ""),
        Code::FAILED_PRECONDITION,
        &[t],
    );
    s.assert_up("Delete of a running task");

    s.kill(t, "", 9)
        .unwrap_or_else(|e| panic!("Kill {t}: {e:?}"));
    let w = s.wait(t, "").unwrap_or_else(|e| panic!("Wait {t}: {e:?}"));
    assert_eq!(w.exit_status, 128 + 9, "exit status of the killed task");
    assert_status(
        "Kill of an exited task",
        s.kill(t, "", 9),
        Code::NOT_FOUND,
        &[t, "already finished"],
    );
    s.assert_up("Kill of an exited task");
    assert_status(
        "Start of an exited task",
        s.start_task(t, ""),
        Code::FAILED_PRECONDITION,
        &[t],
    );
    s.assert_up("Start of an exited task");

    let d = s
        .delete(t, "")
        .unwrap_or_else(|e| panic!("Delete {t}: {e:?}"));
    assert_eq!(d.exit_status, 128 + 9);
    assert_eq!(d.pid, created.pid);
    s.assert_task_gone(t);
    assert_status("second Delete", s.delete(t, ""), Code::NOT_FOUND, &[t]);
    s.assert_up("a second Delete");
    s.shutdown();
}

/// Issue 7 item 5: a uid or gid of 4294967295 (-1 to setresuid/setresgid: "unchanged", so
/// root) is INVALID_ARGUMENT naming the field, at Create under either policy and at Exec.
#[test]
fn ids_out_of_range_are_invalid_arguments() {
    let mut s = Shim::start("api-ids");
    let strict = repo_root().join("runtimeclass/policies/pinhole-strict.toml");
    for (name, options) in [
        ("default", None),
        ("strict", Some(runtime_options(strict.to_str().unwrap()))),
    ] {
        let id = format!("{}-{name}", s.id);
        let mut bad = spec(&id);
        bad["process"]["user"] = json!({ "uid": 4294967295u32, "gid": 0 });
        s.bundle_with(&id, &bad.to_string());
        let mut req = s.create_req(&id);
        req.options = options.into();
        assert_status(
            &format!("Create as uid 4294967295 ({name} policy)"),
            s.task().create(ctx(), &req),
            Code::INVALID_ARGUMENT,
            &[&id, "process.user.uid", "4294967295"],
        );
        s.assert_up("Create as uid 4294967295");
        s.assert_task_gone(&id);
    }

    let t = s.id.clone();
    s.task()
        .create(ctx(), &s.create_req(&t))
        .unwrap_or_else(|e| panic!("Create {t}: {e:?}"));
    s.start_task(&t, "").unwrap();
    let mut bad = exec_spec();
    let mut p: Value = serde_json::from_slice(&bad.value).unwrap();
    p["user"] = json!({ "uid": 0, "gid": 4294967295u32 });
    bad.value = serde_json::to_vec(&p).unwrap();
    assert_status(
        "Exec as gid 4294967295",
        s.exec_with(&t, "e1", bad),
        Code::INVALID_ARGUMENT,
        &["e1", "process.user.gid", "4294967295"],
    );
    s.assert_up("Exec as gid 4294967295");
    s.kill(&t, "", 9).unwrap();
    s.wait(&t, "").unwrap();
    s.delete(&t, "").unwrap();
    s.shutdown();
}
