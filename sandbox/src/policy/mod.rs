//! Handler policies: the ceiling a RuntimeClass handler puts over every pod spec.
//!
//! The effective sandbox is *pod spec ∩ handler ceiling*: [`Policy::apply`] clamps a spec in
//! place and returns the ceiling seccomp profile, which the caller installs as an extra filter
//! on top of the pod's own (the kernel runs every installed filter and the most restrictive
//! verdict wins, so stacking is the exact intersection; an `Unconfined` pod gets just the
//! ceiling).
//!
//! containerd passes a handler's policy file to the shim (`options.ConfigPath`); the `pinhole`
//! handler without a file uses [`Policy::builtin_default`]. Examples:
//! `runtimeclass/policies/pinhole.toml` and `runtimeclass/policies/pinhole-strict.toml`.
//!
//! # File format (TOML)
//!
//! Unknown keys are errors. Every key except `name` is optional; defaults are shown.
//!
//! ```toml
//! name = "pinhole-strict"          # required, shown in errors
//! # The spec's OCI hooks (crate::hooks): "run" them at their lifecycle points, or "refuse"
//! # any: the create fails naming the first (hooks run as host root or in the container
//! # before its confinement; a handler for untrusted pods may want none).
//! hooks = "run"
//!
//! [seccomp]
//! # "default": pinhole's built-in profile (sandbox/profiles/default.toml: moby's default on
//! #   the x86 ABIs, no io_uring, no AF_ALG/AF_VSOCK sockets; a reason per rule);
//! # "strict": the built-in profile for untrusted workloads (sandbox/profiles/strict.toml:
//! #   default less the high-risk list and more, four socket families, native ABI only);
//! # a path (relative to this file's directory) to a pinhole profile (`*.toml`, format in
//! #   crate::seccomp::profile) or to an OCI linux.seccomp JSON file (any other name);
//! # "unconfined": no ceiling filter at all (the pod's own profile, if any, still applies).
//! profile = "default"
//! # Syscall names taken out of the ceiling's allowing rules (SCMP_ACT_ALLOW / SCMP_ACT_LOG).
//! # With a default-allow base ("unconfined" or such a file) they get an explicit EPERM rule.
//! # Every name must be known to pinhole's seccomp compiler.
//! deny = []
//! # true: the ceiling covers only the native ABI (x86_64 on x86_64 hosts); a syscall entered
//! # through any other ABI the kernel offers (i386 via `int 0x80` or a 32-bit program, x32
//! # via X32_SYSCALL_BIT) kills the process with SIGSYS (SECCOMP_RET_KILL_PROCESS, the
//! # compiler's action for architectures a profile does not list). Those ABIs reach code
//! # the native filter rules cannot constrain (i386 socketcall reads its arguments from
//! # memory). Also applies to "unconfined" (then the ceiling allows every native syscall).
//! native_only = false
//! # true: a container annotated `pinhole.dev/record: NAME` is recorded (seccomp user
//! # notification, see crate::record) and its profile written to record_dir as NAME.json
//! # (OCI), NAME.yaml (security-profiles-operator SeccompProfile) and NAME.usage.json,
//! # merged over every container recorded under NAME. false: the annotation is refused.
//! recording = false
//! record_dir = "/var/lib/pinhole/profiles"   # required with recording = true, absolute
//! # "denials": every container's ceiling denials are reported by name (shim log,
//! # denials.json in the state dir, `pinhole denials ID`); the workload sees the same errno.
//! # "off": only containers annotated `pinhole.dev/audit: denials` are audited.
//! audit = "off"
//!
//! [capabilities]
//! # The most any of the five sets (bounding, effective, permitted, inheritable, ambient)
//! # may hold, as "CAP_*" names. Missing or empty: no capabilities at all.
//! ceiling = []
//!
//! [process]
//! no_new_privileges = true         # true forces process.noNewPrivileges
//!
//! [rootfs]
//! readonly = false                 # true forces root.readonly
//!
//! [capabilities]
//! ceiling = ["CAP_CHOWN", ...]     # the most any of the five sets may hold
//! # beyond the ceiling: "clamp" = dropped and reported (CLI stderr, shim log); "refuse" = the
//! # create fails naming it unless it is in Docker's default set (then dropped and reported).
//! # Default: "refuse" when privileged = "refuse", else "clamp" (privileged = "refuse" refuses
//! # such capabilities whatever this says: they make a privileged container).
//! above_ceiling = "clamp"
//!
//! [namespaces]
//! # true: a spec without a user namespace gets one mapping container ids 0..65536 to host
//! # ids user_base..user_base+65536 (uid and gid); a spec whose own mappings include host id 0
//! # is refused.
//! user = false
//! user_base = 100000
//! # Set: every pod gets host ids of its own, one range of 65536 from user_ranges ranges
//! # starting at user_base (allocated when the pod's user namespace is created, released with
//! # its container; exhaustion is an error). Unset: every pod maps to user_base.
//! # user_ranges = 512
//! # Every spec is brought down to what an unprivileged container gets: Docker's masked and
//! # read-only paths added, sysfs/cgroupfs read-only, only default and allowed devices (see
//! # confine.rs). A spec asking for more than that (a privileged pod; a capability outside
//! # the ceiling and Docker's default set; a read-write sysfs; a host device):
//! # "refuse" = error naming the field, "clamp" = cut down like any other spec.
//! privileged = "refuse"
//! # true: a container in a user namespace of its own (created or the pod's) sees its rootfs
//! # (when its root directory is owned by an id the namespace does not map, a host-root image)
//! # and its bind mounts (those without mounts[].uidMappings of their own) through idmapped
//! # mounts with that namespace's mapping: its root owns what host root owns there, as a
//! # container without a user namespace does. Idmapped binds are also nosuid and nodev; a
//! # filesystem that cannot be idmapped is bound as it is.
//! idmap_binds = false
//! # true: a container with a network namespace of its own or its pod's (never the host's)
//! # gets net.ipv4.ip_unprivileged_port_start = 0 there unless its spec sets it, so a server
//! # without capabilities binds port 80 (what containerd 2.x's enable_unprivileged_ports does).
//! unprivileged_ports = false
//!
//! [limits]
//! # Ceilings applied when a spec asks for no limit or a higher one (and on every update);
//! # 0 = no ceiling.
//! pids = 4096                      # pids.max per container
//! memory = 0                       # memory limit in bytes (memory+swap capped at it too)
//!
//! [host]
//! # Sharing the host's namespaces (no entry of that type in the spec, or a path that is the
//! # runtime's own): "refuse" or "allow".
//! pid = "refuse"
//! ipc = "refuse"
//! network = "allow"
//! # Bind mount sources must lie below one of these (empty: anywhere). Never allowed,
//! # whatever this says: /proc, /sys, runtimes' sockets, state and image stores (host.rs
//! # PROTECTED), the runtime's own state root, or any directory containing one (/, /run).
//! bind_prefixes = []
//! # Bind mounts with "shared"/"rshared" propagation (Kubernetes Bidirectional): what the
//! # container mounts below them appears in the host's mount namespace. "refuse" = error
//! # naming mounts[i]; "allow" = as the spec says. rslave/HostToContainer is always allowed
//! # (host mounts propagate in, nothing goes out). See rootfs::propagation.
//! shared_mounts = "allow"
//!
//! [devices]
//! # Devices containers may use besides the defaults (null, zero, full, random, urandom,
//! # tty, ptmx, pts/*), as "c MAJOR:MINOR" / "b MAJOR:MINOR"; e.g. "c 10:200" (/dev/net/tun).
//! allow = []
//! ```

mod apply;
mod confine;
mod error;
mod file;
mod host;
mod limits;
mod process;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use serde::Deserialize;

pub(crate) use apply::root_mapping;
pub use confine::{DeviceId, MASKED_PATHS, READONLY_PATHS};
pub use error::PolicyError;
pub use host::{HostRules, Share, PROTECTED};
pub use limits::{Limits, DEFAULT_PIDS};
pub use process::ProcessCeiling;

/// What a policy leaves behind in a container's state (`policy.json`), so that every later
/// exec and update is bounded by it whoever starts them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// The bound on every process (execs).
    pub process: ProcessCeiling,
    /// The resource ceilings (updates).
    pub limits: Limits,
    /// Devices allowed besides the defaults (updates of the device rules).
    pub devices: Vec<DeviceId>,
}

impl Recorded {
    /// Bounds an update of a container's resources as its create was: limits present in the
    /// update capped at the ceilings, device allow rules beyond the allowed devices dropped.
    pub fn clamp_update(&self, r: &mut oci_spec::runtime::LinuxResources) {
        self.limits.clamp(r, false);
        confine::confine_device_rules(r, &self.devices);
    }
}

/// Number of ids a forced user namespace maps (uid and gid each).
pub const USERNS_SIZE: u32 = 65536;

/// Default first host id of a forced user namespace.
pub const DEFAULT_USER_BASE: u32 = 100_000;

/// Origin reported for [`Policy::builtin_default`].
const BUILTIN_ORIGIN: &str = "<builtin pinhole policy>";

/// What to do with a spec that asks for more than an unprivileged container gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privileged {
    /// Refuse to create it, naming the first field that asks too much.
    #[default]
    Refuse,
    /// Cut it down to an unprivileged container under the ceiling, like any other spec.
    Clamp,
}

/// A parsed and checked handler policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    name: String,
    origin: PathBuf,
    seccomp: Option<LinuxSeccomp>,
    ceiling: caps::CapsHashSet,
    no_new_privileges: bool,
    readonly_rootfs: bool,
    idmap_binds: bool,
    unprivileged_ports: bool,
    user_base: Option<u32>,
    user_pool: Option<UserPool>,
    privileged: Privileged,
    refuse_above_ceiling: bool,
    refuse_hooks: bool,
    devices: Vec<DeviceId>,
    limits: Limits,
    host: HostRules,
    record_dir: Option<PathBuf>,
    audit: bool,
}

/// The host ids a policy hands out to user namespaces, one range of [`USERNS_SIZE`] ids per
/// pod (`namespaces.user_ranges` ranges from `namespaces.user_base`); the allocation itself is
/// the container's (`container::userns_pool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPool {
    base: u32,
    ranges: u32,
}

impl UserPool {
    /// `ranges` ranges from `base`; None if there are none or they pass 2^32.
    pub fn new(base: u32, ranges: u32) -> Option<UserPool> {
        let end = u64::from(base) + u64::from(ranges) * u64::from(USERNS_SIZE);
        (ranges > 0 && base > 0 && end <= 1 << 32).then_some(UserPool { base, ranges })
    }

    /// The first host id of range `i`.
    pub fn start(&self, i: u32) -> Option<u32> {
        (i < self.ranges).then(|| self.base + i * USERNS_SIZE)
    }

    /// Number of ranges.
    pub fn ranges(&self) -> u32 {
        self.ranges
    }

    /// The host ids of the whole pool, `first..=last`.
    pub fn bounds(&self) -> (u32, u32) {
        let end = u64::from(self.base) + u64::from(self.ranges) * u64::from(USERNS_SIZE);
        (self.base, (end - 1) as u32)
    }

    /// Whether host ids `start..start + size` lie inside the pool.
    pub fn contains(&self, start: u32, size: u32) -> bool {
        let (first, last) = self.bounds();
        size > 0 && start >= first && u64::from(start) + u64::from(size) - 1 <= u64::from(last)
    }
}

impl Policy {
    /// Reads and parses the policy file at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text, path)
    }

    /// Parses policy text; `origin` names it in errors and anchors relative profile paths.
    ///
    /// The ceiling seccomp profile is compiled once here, so a policy that loads is one whose
    /// ceiling can be installed.
    pub fn parse(text: &str, origin: &Path) -> Result<Policy, PolicyError> {
        let c = file::parse(text, origin)?.check(origin)?;
        Ok(Policy {
            name: c.name,
            origin: origin.to_path_buf(),
            seccomp: c.seccomp,
            ceiling: c.ceiling,
            no_new_privileges: c.no_new_privileges,
            readonly_rootfs: c.readonly_rootfs,
            idmap_binds: c.idmap_binds,
            unprivileged_ports: c.unprivileged_ports,
            user_base: c.user_base,
            user_pool: c.user_pool,
            privileged: c.privileged,
            refuse_above_ceiling: c.refuse_above_ceiling,
            refuse_hooks: c.refuse_hooks,
            devices: c.devices,
            limits: c.limits,
            host: c.host,
            record_dir: c.record_dir,
            audit: c.audit,
        })
    }

    /// The policy of the `pinhole` handler when containerd gives no file: the default
    /// allowlist, Docker's default capabilities, no_new_privs, privileged pods clamped.
    pub fn builtin_default() -> Policy {
        Policy {
            name: "pinhole".to_string(),
            origin: PathBuf::from(BUILTIN_ORIGIN),
            seccomp: Some(default_allowlist()),
            ceiling: confine::UNPRIVILEGED_CAPS.iter().copied().collect(),
            no_new_privileges: true,
            readonly_rootfs: false,
            idmap_binds: false,
            unprivileged_ports: false,
            user_base: None,
            user_pool: None,
            privileged: Privileged::Clamp,
            refuse_above_ceiling: false,
            refuse_hooks: false,
            devices: Vec::new(),
            limits: Limits {
                pids: Some(DEFAULT_PIDS),
                memory: None,
            },
            host: HostRules::default(),
            record_dir: None,
            audit: false,
        }
    }

    /// Where recorded profiles go when the policy allows recording (`seccomp.recording`).
    pub fn record_dir(&self) -> Option<&Path> {
        self.record_dir.as_deref()
    }

    /// Whether the spec's OCI hooks are refused (`hooks = "refuse"`) rather than run.
    pub fn refuses_hooks(&self) -> bool {
        self.refuse_hooks
    }

    /// Whether every container's ceiling denials are audited (`seccomp.audit = "denials"`).
    pub fn audits(&self) -> bool {
        self.audit
    }

    /// Whether the rootfs and bind mounts of a user-namespaced container are idmapped with its
    /// namespace's mapping (`namespaces.idmap_binds`).
    pub fn idmap_binds(&self) -> bool {
        self.idmap_binds
    }

    /// The pool of per-pod host id ranges (`namespaces.user_ranges`), if the policy has one.
    pub fn user_pool(&self) -> Option<&UserPool> {
        self.user_pool.as_ref()
    }

    /// The host id the policy maps a new user namespace's root to when it has no pool.
    pub fn user_base(&self) -> Option<u32> {
        self.user_base
    }

    /// The policy's name (`name` in the file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the policy came from (file path, or a marker for the built-in one).
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The ceiling seccomp profile (`None` for `profile = "unconfined"` without `deny`).
    pub fn seccomp_ceiling(&self) -> Option<&LinuxSeccomp> {
        self.seccomp.as_ref()
    }

    /// The capability ceiling.
    pub fn capability_ceiling(&self) -> &caps::CapsHashSet {
        &self.ceiling
    }
}

/// A built-in ceiling profile by name (`"default"`, `"strict"`), as `seccomp.profile` in a
/// policy file names it; `None` for other names. The sources are
/// `sandbox/profiles/{default,strict}.toml` (reasons per rule), lowered by
/// [`crate::seccomp::profile`].
pub fn builtin_profile(name: &str) -> Option<LinuxSeccomp> {
    crate::seccomp::profile::builtin(name)
}

/// The built-in `default` profile, lowered (`sandbox/profiles/default.toml`).
pub(crate) fn default_allowlist() -> LinuxSeccomp {
    builtin_profile("default").expect("the built-in default profile exists")
}
