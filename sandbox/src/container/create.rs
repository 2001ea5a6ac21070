//! `create`: build a container and leave it blocked right before its execve.

use crate::policy::USERNS_SIZE;
use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use oci_spec::runtime::{
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxNamespaceType, LinuxResources, Spec,
};

use super::spawn::{self, Progress, Stdio};
use super::state::{now_rfc3339, proc_stat, State, Status};
use super::{Error, Root};
use crate::caps::CapSets;
use crate::cgroups::Cgroup;
use crate::init::{InitConfig, InitKind, NsEntry, SeccompPlan};
use crate::spec::Bundle;

/// File name of the compiled seccomp filters (JSON list of programs) in a state directory.
pub(crate) const SECCOMP_FILE: &str = "seccomp.json";
/// File name of the spec copy in a state directory.
pub(crate) const SPEC_FILE: &str = "config.json";

/// Options of [`create`].
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// Write the init's host pid here.
    pub pid_file: Option<PathBuf>,
    /// The container's standard streams.
    pub stdio: Stdio,
    /// The caller passes a terminal (pty slave) as stdio, so `process.terminal` is allowed.
    pub console: bool,
    /// A handler ceiling: the spec is intersected with it (capabilities, no_new_privs,
    /// rootfs, user namespace) and its seccomp profile is stacked on the spec's own.
    pub policy: Option<crate::policy::Policy>,
    /// Record or audit the container (`pinhole profile record`); `None`: whatever the spec's
    /// annotations ask for and the policy allows.
    pub supervise: Option<crate::record::Ask>,
}

/// A created container.
#[derive(Debug)]
pub struct Created {
    /// Its state (status "created").
    pub state: State,
    /// The pty master of its terminal, when `process.terminal` is set.
    pub console: Option<std::os::fd::OwnedFd>,
    /// What the policy changed that the caller should say (capabilities dropped above the
    /// ceiling), one line each.
    pub warnings: Vec<String>,
}

/// Removes what a failed create made, in reverse order.
struct Cleanup<'a> {
    state_dir: Option<&'a Path>,
    cgroup: Option<&'a Cgroup>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(cg) = self.cgroup {
            let _ = cg.kill_all(Signal::SIGKILL);
            let _ = cg.remove();
        }
        if let Some(dir) = self.state_dir {
            super::userns_pool::release(Path::new(super::userns_pool::DEFAULT_POOL_DIR), dir);
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Under a policy with a pool of host id ranges (`namespaces.user_ranges`): a user namespace
/// the policy added gets a range of the pool to itself (recorded in `state_dir`, given back on
/// delete); mappings the spec brought (the kubelet's) must lie in the pool and overlap no
/// range another pod holds. A container joining a namespace by path maps nothing itself.
fn assign_user_range(
    spec: &mut oci_spec::runtime::Spec,
    policy: &crate::policy::Policy,
    state_dir: &Path,
) -> Result<(), Error> {
    use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};
    let (Some(pool), Some(linux)) = (policy.user_pool(), spec.linux_mut()) else {
        return Ok(());
    };
    let creates = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if !creates {
        return Ok(());
    }
    let dir = Path::new(super::userns_pool::DEFAULT_POOL_DIR);
    let pairs = |m: &Option<Vec<LinuxIdMapping>>| -> Vec<(u32, u32)> {
        m.iter()
            .flatten()
            .map(|m| (m.host_id(), m.size()))
            .collect()
    };
    let (uids, gids) = (pairs(linux.uid_mappings()), pairs(linux.gid_mappings()));
    let added = |maps: &[(u32, u32)]| {
        maps.len() == 1 && Some(maps[0]) == policy.user_base().map(|b| (b, USERNS_SIZE))
    };
    if added(&uids) && added(&gids) {
        let start = super::userns_pool::allocate(dir, pool, policy.name(), state_dir)?;
        linux.set_uid_mappings(Some(crate::policy::root_mapping(start)));
        linux.set_gid_mappings(Some(crate::policy::root_mapping(start)));
        return Ok(());
    }
    super::userns_pool::check_given(dir, pool, policy.name(), "linux.uidMappings", &uids)?;
    super::userns_pool::check_given(dir, pool, policy.name(), "linux.gidMappings", &gids)
}

/// Checks everything that can be checked before touching the system.
pub(crate) struct Checked {
    /// See [`Created::warnings`].
    pub warnings: Vec<String>,
    pub bundle: Bundle,
    pub cgroup: Cgroup,
    /// The filters every process of the container gets (saved for exec).
    pub seccomp: Vec<SeccompPlan>,
    /// The init's filters: `seccomp`, plus the supervisor's listener when supervised.
    pub init_seccomp: Vec<SeccompPlan>,
    /// The supervision the container asked for.
    pub supervision: Option<crate::record::Supervision>,
}

/// Validates a bundle for `id`: spec, rootfs, capabilities, sysctl, cgroup, seccomp.
pub(crate) fn check(
    root: &Root,
    id: &str,
    bundle_dir: &Path,
    opts: &CreateOptions,
) -> Result<Checked, Error> {
    super::validate_id(id)?;
    let mut bundle = Bundle::load(bundle_dir)?;
    let warnings: Vec<String> = match (&opts.policy, bundle.spec.process()) {
        (Some(policy), Some(process)) => policy
            .process_ceiling()
            .report_dropped("process.capabilities", process)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    let ceiling = match &opts.policy {
        Some(policy) => policy.apply(&mut bundle.spec)?,
        None => None,
    };
    let spec = &bundle.spec;
    if let Some(policy) = &opts.policy {
        policy.check_host(spec, &bundle.dir, &runtime_paths(root))?;
    }
    crate::rootfs::validate(spec, &bundle.dir)?;
    crate::hooks::validate(spec)?;
    if let Some(policy) = opts.policy.as_ref().filter(|p| p.refuses_hooks()) {
        crate::hooks::refuse(spec, policy.name())?;
    }
    let process = spec.process().as_ref().expect("checked by Bundle::load");
    CapSets::from_spec(process.capabilities().as_ref())?;
    if process.terminal() == Some(true) && !opts.console {
        return Err(Error::Other(
            "config.json: process.terminal: true needs a console, which this caller does not provide (the containerd shim does)".into(),
        ));
    }
    let linux = spec.linux().as_ref().expect("checked by Bundle::load");
    // created or joined by path: the init refuses a joined one that is the host's
    let has = |name: &str| {
        linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| crate::init::namespaces::proc_name(n.typ()) == name)
    };
    crate::init::sysctl::validate(spec, has)
        .map_err(|m| Error::Other(format!("config.json: {m}")))?;
    let cgroup = Cgroup::new(linux.cgroups_path().as_deref(), id)?;
    if let Some(r) = linux.resources() {
        crate::cgroups::validate(r)?;
    }
    let optional = crate::spec::optional_syscalls(spec);
    let mut seccomp = Vec::new();
    // The ceiling first: each filter must allow the `seccomp` call that installs the next,
    // and a tight spec profile (a recorded one) allows little more than the workload uses,
    // so it goes last, right before execve (as runc installs it).
    for sc in ceiling.iter().chain(linux.seccomp().iter()) {
        let filter = crate::seccomp::compile_cached(&root.seccomp_cache(), sc, &optional)?;
        if let Some(verdict) = filter.refuses_exec() {
            return Err(Error::Other(refused_exec(process, verdict)));
        }
        seccomp.push(SeccompPlan {
            program: filter.to_bytes(),
            flags: sc.flags().clone().unwrap_or_default(),
            listener: false,
        });
    }
    let (init_seccomp, supervision) = supervision(id, &bundle, opts, ceiling.is_some(), &seccomp)?;
    Ok(Checked {
        warnings,
        bundle,
        cgroup,
        seccomp,
        init_seccomp,
        supervision,
    })
}

/// Why nothing could start under a profile that refuses every exec: named before the init
/// installs it, where no error could be written back (a block-all profile refuses `write`
/// and `exit_group` too).
fn refused_exec(process: &oci_spec::runtime::Process, verdict: u32) -> String {
    let what = crate::seccomp::surface::describe_verdict(verdict);
    let arg0 = process.args().as_ref().and_then(|a| a.first());
    format!(
        "linux.seccomp: the profile refuses execve and execveat ({what}): {} could never start",
        arg0.map_or_else(|| "process.args".to_string(), |a| format!("{a:?}"))
    )
}

/// The init's filters and the supervision for what the caller or the annotations ask.
fn supervision(
    id: &str,
    bundle: &Bundle,
    opts: &CreateOptions,
    has_ceiling: bool,
    seccomp: &[SeccompPlan],
) -> Result<(Vec<SeccompPlan>, Option<crate::record::Supervision>), Error> {
    use crate::record::{Ask, Mode, Supervision};
    let ask = match &opts.supervise {
        Some(a) => Some(a.clone()),
        None => {
            let policy = opts.policy.as_ref();
            crate::record::from_annotations(
                bundle.spec.annotations().as_ref(),
                policy.map_or("(none)", |p| p.name()),
                policy.and_then(|p| p.record_dir()),
                policy.is_some_and(|p| p.audits()),
            )
            .map_err(|m| Error::Other(format!("config.json: {m}")))?
        }
    };
    let mut plans = seccomp.to_vec();
    let supervision = match ask {
        None => return Ok((plans, None)),
        Some(Ask::Record { name, out_dir }) => {
            // After the ceiling, before the spec's filter (which may not allow `seccomp`):
            // the spec filter's install is then notified, before the execve that starts
            // the recording.
            plans.insert(
                usize::from(has_ceiling),
                SeccompPlan {
                    program: crate::seccomp::notify::notify_all().to_bytes(),
                    flags: Vec::new(),
                    listener: true,
                },
            );
            Supervision {
                mode: Mode::Record,
                name,
                out_dir,
            }
        }
        Some(Ask::Audit) => {
            // The ceiling is the first filter (see `check`).
            let Some(ceiling) = plans.first_mut().filter(|_| has_ceiling) else {
                return Err(Error::Other(format!(
                    "{}: the denial audit reports what the handler ceiling refuses, and this container has no ceiling (no policy, or profile = \"unconfined\")",
                    crate::record::AUDIT_ANNOTATION
                )));
            };
            let original = crate::seccomp::Filter::from_bytes(&ceiling.program)?;
            ceiling.program = crate::seccomp::notify::notify_denials(&original)
                .ok_or_else(|| {
                    Error::Other(format!(
                        "{}: the ceiling with the audit's notifications exceeds the kernel's {} BPF instructions",
                        crate::record::AUDIT_ANNOTATION,
                        crate::seccomp::MAX_INSTRUCTIONS
                    ))
                })?
                .to_bytes();
            ceiling.listener = true;
            Supervision {
                mode: Mode::Audit {
                    program: original.to_bytes(),
                },
                name: id.to_string(),
                out_dir: None,
            }
        }
    };
    Ok((plans, Some(supervision)))
}

/// Creates container `id` from the bundle at `bundle_dir`.
///
/// On success the container's init exists, is fully set up and waits for [`super::start`].
/// On failure nothing is left behind: no process, cgroup or state directory.
pub fn create(
    root: &Root,
    id: &str,
    bundle_dir: &Path,
    opts: CreateOptions,
) -> Result<Created, Error> {
    let Checked {
        warnings,
        mut bundle,
        cgroup,
        seccomp,
        init_seccomp,
        supervision,
    } = check(root, id, bundle_dir, &opts)?;

    // Never adopt what a previous container left: processes in a cgroup of the same path
    // would become this container's (and be killed with it).
    if cgroup.exists() {
        let mut pids = cgroup.pids()?;
        if !pids.is_empty() {
            pids.truncate(8);
            return Err(Error::CgroupInUse {
                path: cgroup.path().to_path_buf(),
                pids,
            });
        }
    }
    let state_dir = root.state_dir(id);
    // Owner-only: it holds the spec (env secrets) and its name is the container id. The init
    // binds the gate socket here before entering any user namespace, with host credentials.
    match crate::private::create_dir(&state_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(id.to_string()))
        }
        Err(e) => return Err(Error::io("create state directory", &state_dir)(e)),
    }
    let mut cleanup = Cleanup {
        state_dir: Some(&state_dir),
        cgroup: None,
        armed: true,
    };
    if let Some(policy) = &opts.policy {
        assign_user_range(&mut bundle.spec, policy, &state_dir)?;
    }
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref().expect("checked by Bundle::load");
    let spec_json = serde_json::to_vec(spec).map_err(|e| Error::Other(e.to_string()))?;
    crate::private::write_new(&state_dir.join(SPEC_FILE), &spec_json)
        .map_err(Error::io("write", state_dir.join(SPEC_FILE)))?;
    if let Some(policy) = &opts.policy {
        super::exec::save_recorded_policy(&state_dir, &policy.recorded())?;
    }
    if !seccomp.is_empty() {
        let text = serde_json::to_vec(&seccomp).map_err(|e| Error::Other(e.to_string()))?;
        crate::private::write_new(&state_dir.join(SECCOMP_FILE), &text)
            .map_err(Error::io("write", state_dir.join(SECCOMP_FILE)))?;
    }
    if let Some(sup) = &supervision {
        sup.save(&state_dir).map_err(Error::Other)?;
    }

    cgroup.create()?;
    cleanup.cgroup = Some(&cgroup);
    cgroup.apply(&resources_with_devices(linux))?;

    let cfg = InitConfig {
        kind: InitKind::Container,
        id: id.to_string(),
        spec: spec.clone(),
        process: spec.process().clone().expect("checked by Bundle::load"),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        state_dir: state_dir.clone(),
        namespaces: namespaces_of(spec),
        uid_mappings: linux.uid_mappings().clone().unwrap_or_default(),
        gid_mappings: linux.gid_mappings().clone().unwrap_or_default(),
        seccomp: init_seccomp,
        cgroup_dirs: cgroup.dirs(),
        protected_binds: opts
            .policy
            .as_ref()
            .map(|p| p.protected_binds(&runtime_paths(root)))
            .unwrap_or_default(),
        idmap_binds: opts.policy.as_ref().is_some_and(|p| p.idmap_binds()),
    };
    if cfg.creates_ns(LinuxNamespaceType::User) {
        // The init sets the rootfs up as the container's root, an unprivileged host uid,
        // which must be able to traverse the bundle; containerd creates bundles 0700
        // (containerd 1.7 does the same chmod for user-namespaced pods). Traversal only.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&bundle.dir, fs::Permissions::from_mode(0o711))
            .map_err(Error::io("chmod 0711 (user namespace)", &bundle.dir))?;
    }
    let mut spawned = spawn::spawn_init(&cfg, opts.stdio)?;
    // The first stage goes into the cgroup at once, before it has done anything: on cgroup v1
    // the write waits for an RCU grace period (cgroup_threadgroup_rwsem; 9-11 ms measured
    // here, for runc too), which so overlaps with the init's exec and setup.
    let first_stage = spawned.child.id() as i32;
    if let Err(e) = cgroup.add_pid(first_stage) {
        let _ = spawned.child.kill();
        let _ = spawned.child.wait();
        return Err(e.into());
    }
    let mut progress = Progress::default();
    let result = spawn::handshake(&mut spawned, true, &mut progress, |step| match step {
        spawn::Step::Setup { pid, new_userns } => {
            if new_userns {
                spawn::write_id_maps(pid, &cfg.uid_mappings, &cfg.gid_mappings)?;
            }
            if let Some(policy) = &opts.policy {
                check_effective_userns(policy, pid)?;
            }
            if pid != first_stage {
                cgroup.add_pid(pid)?;
            }
            Ok(())
        }
        spawn::Step::Hooks { pid } => runtime_hooks(spec, id, pid, &bundle.dir),
    });
    // The first stage exits once it has forked the container init; reap it. Without a PID
    // namespace the direct child is the container itself and must not be waited for.
    if progress.pid.is_some() && progress.pid != Some(spawned.child.id() as i32) {
        let _ = spawned.child.wait();
    }
    if let Err(e) = result {
        let _ = spawned.child.kill();
        let _ = spawned.child.wait();
        return Err(e);
    }
    let pid = progress
        .pid
        .ok_or_else(|| Error::Init("init reported ready without a pid".into()))?;
    if let Some(policy) = &opts.policy {
        if let Err(e) = policy.check_effective_host_namespaces(pid) {
            let _ = spawned.child.kill();
            return Err(e.into());
        }
    }
    let (_, start) = proc_stat(pid)
        .ok_or_else(|| Error::Init(format!("container init {pid} vanished after setup")))?;
    let state = State {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        status: Status::Created,
        pid,
        bundle: bundle.dir.clone(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        rootfs: bundle.rootfs.clone(),
        created: now_rfc3339(),
        init_start_time: start,
        cgroup_path: cgroup.path().to_path_buf(),
    };
    state.save(&state_dir)?;
    if let Some(p) = &opts.pid_file {
        fs::write(p, pid.to_string()).map_err(Error::io("write pid file", p))?;
    }
    cleanup.armed = false;
    Ok(Created {
        state,
        console: progress.console,
        warnings,
    })
}

/// The `prestart` and `createRuntime` hooks, in the runtime namespace (this process), while
/// the init `pid` waits between its mounts and `pivot_root`.
fn runtime_hooks(spec: &Spec, id: &str, pid: i32, bundle: &Path) -> Result<(), Error> {
    use crate::hooks::{self, Kind};
    for kind in [Kind::Prestart, Kind::CreateRuntime] {
        let state = hooks::state_json(spec, id, kind, pid, bundle);
        hooks::run_all(kind, hooks::of(spec, kind), &state, Some(bundle))?;
    }
    Ok(())
}

/// The runtime's own state and sockets, which no container may bind: the state root (a
/// shim's `<containerd state>/pinhole/<ns>`: then all of `<containerd state>/pinhole`) and
/// containerd's sockets when a shim runs us (`TTRPC_ADDRESS` and its gRPC sibling).
fn runtime_paths(root: &Root) -> Vec<PathBuf> {
    let mut v = vec![root.dir().to_path_buf()];
    if let Some(parent) = root.dir().parent().filter(|p| p.ends_with("pinhole")) {
        v.push(parent.to_path_buf());
    }
    if let Some(ttrpc) = std::env::var_os("TTRPC_ADDRESS") {
        let ttrpc = PathBuf::from(ttrpc);
        if let Some(grpc) = ttrpc.to_str().and_then(|s| s.strip_suffix(".ttrpc")) {
            v.push(PathBuf::from(grpc));
        }
        v.push(ttrpc);
    }
    v
}

/// Checks the id maps of the user namespace the first stage `pid` is in (created, joined by
/// path or the pod's: whoever made it) against the policy.
fn check_effective_userns(policy: &crate::policy::Policy, pid: i32) -> Result<(), Error> {
    let read = |file: &str| {
        let path = format!("/proc/{pid}/{file}");
        fs::read_to_string(&path).map_err(Error::io("read", path))
    };
    policy.check_effective_userns(&read("uid_map")?, &read("gid_map")?)?;
    Ok(())
}

/// The spec's namespaces, as init entries.
pub(crate) fn namespaces_of(spec: &Spec) -> Vec<NsEntry> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|v| {
            v.iter()
                .map(|n| NsEntry {
                    typ: n.typ(),
                    path: n.path().clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The spec's resources, with device rules allowing every device in `linux.devices`
/// (the cgroup adds its default allowlist itself).
fn resources_with_devices(linux: &oci_spec::runtime::Linux) -> LinuxResources {
    let mut r = linux.resources().clone().unwrap_or_default();
    let mut rules = r.devices().clone().unwrap_or_default();
    for d in linux.devices().iter().flatten() {
        // FIFOs are no device cgroup matter; `u` (unbuffered) is a character device
        let typ = match d.typ() {
            LinuxDeviceType::P => continue,
            LinuxDeviceType::U => LinuxDeviceType::C,
            t => t,
        };
        if let Ok(rule) = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .major(d.major())
            .minor(d.minor())
            .access("rwm".to_string())
            .build()
        {
            rules.push(rule);
        }
    }
    r.set_devices(Some(rules));
    r
}
