//! What an unprivileged container gets, and what a spec asks for beyond it.
//!
//! A privileged spec (`ctr run --privileged`, a CRI `privileged: true` container) is more than
//! a full capability set: it drops the masked and read-only paths, mounts sysfs and the cgroup
//! filesystem read-write, adds every host device and allows every device in the device cgroup.
//! Clamping only the capabilities left `core_pattern`, `/sys/power/state`, `/dev/kvm` and the
//! container's own cgroup limits writable. So every policy brings *every* spec down to what an
//! unprivileged container gets:
//!
//! * Docker's masked and read-only paths are added to the spec's own;
//! * `sysfs`, `cgroup` and `cgroup2` mounts are read-only;
//! * `linux.devices` and the allow rules of `linux.resources.devices` keep only the default
//!   devices (`/dev/{null,zero,full,random,urandom,tty,ptmx}`, `/dev/pts/*`, FIFOs) and those
//!   the policy's `[devices] allow` lists;
//! * capabilities are intersected with the ceiling (in `apply.rs`).
//!
//! With `privileged = "refuse"` a spec that asks for any of these beyond the baseline (a
//! capability outside the ceiling and Docker's default set, a read-write sysfs/cgroupfs, a
//! device the policy does not allow) is refused instead, naming the first such field.

use std::fmt;

use crate::rootfs::options::MountOptions;
use crate::rootfs::sys::MOUNT_ATTR_RDONLY;
use crate::rootfs::validate::{mount_kind, MountKind};
use oci_spec::runtime::{Capabilities, LinuxDeviceCgroup, LinuxDeviceType, Mount, Process, Spec};

/// Docker's default masked paths (moby `oci/defaults.go`), forced by every policy.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's default read-only paths, forced by every policy.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Capabilities an unprivileged container gets by default (Docker's and containerd's default
/// set). Asking for these is not a privileged request, even under a smaller ceiling: they are
/// clamped silently, because every CRI container carries them.
pub const UNPRIVILEGED_CAPS: &[caps::Capability] = &[
    caps::Capability::CAP_CHOWN,
    caps::Capability::CAP_DAC_OVERRIDE,
    caps::Capability::CAP_FSETID,
    caps::Capability::CAP_FOWNER,
    caps::Capability::CAP_MKNOD,
    caps::Capability::CAP_NET_RAW,
    caps::Capability::CAP_SETGID,
    caps::Capability::CAP_SETUID,
    caps::Capability::CAP_SETFCAP,
    caps::Capability::CAP_SETPCAP,
    caps::Capability::CAP_NET_BIND_SERVICE,
    caps::Capability::CAP_SYS_CHROOT,
    caps::Capability::CAP_KILL,
    caps::Capability::CAP_AUDIT_WRITE,
];

/// Device numbers every container may use: null, zero, full, random, urandom, tty, ptmx
/// (pinhole's default nodes); `/dev/pts/*` (major 136) is matched separately.
const BASE_DEVICES: &[(i64, i64)] = &[(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)];

/// Major number of the pty slaves (`/dev/pts/*`).
const PTS_MAJOR: i64 = 136;

/// A device a policy lets containers use, written `"c 10:200"` (type `c` or `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct DeviceId {
    /// `'c'` or `'b'`.
    pub typ: char,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
}

impl DeviceId {
    /// Parses `"c 10:200"`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<DeviceId, String> {
        let bad = || format!("{s:?}: expected \"c MAJOR:MINOR\" or \"b MAJOR:MINOR\"");
        let (typ, nums) = s.trim().split_once(' ').ok_or_else(bad)?;
        let typ = match typ {
            "c" => 'c',
            "b" => 'b',
            _ => return Err(bad()),
        };
        let (major, minor) = nums.trim().split_once(':').ok_or_else(bad)?;
        let num = |n: &str| n.parse::<u32>().map(i64::from).map_err(|_| bad());
        Ok(DeviceId {
            typ,
            major: num(major)?,
            minor: num(minor)?,
        })
    }
}

impl From<DeviceId> for String {
    fn from(d: DeviceId) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DeviceId {
    type Error = String;
    fn try_from(s: String) -> Result<DeviceId, String> {
        DeviceId::parse(&s)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:{}", self.typ, self.major, self.minor)
    }
}

/// The device type letter of an OCI type (`u` is a character device too); `None` for FIFOs
/// and `a`.
fn type_letter(t: LinuxDeviceType) -> Option<char> {
    match t {
        LinuxDeviceType::C | LinuxDeviceType::U => Some('c'),
        LinuxDeviceType::B => Some('b'),
        LinuxDeviceType::P | LinuxDeviceType::A => None,
    }
}

/// Whether a specific device may be used under `allowed`.
fn device_allowed(typ: char, major: i64, minor: i64, allowed: &[DeviceId]) -> bool {
    let base = typ == 'c' && (major == PTS_MAJOR || BASE_DEVICES.contains(&(major, minor)));
    base || allowed.contains(&DeviceId { typ, major, minor })
}

/// Device cgroup rules engines put in every default spec (containerd's `/dev/console` 5:1 and
/// tun 10:200) beyond pinhole's baseline: dropped like any other, but not a privileged request
/// (else `pinhole-strict` would refuse every plain `ctr run`).
const ENGINE_DEFAULT_RULES: &[(i64, i64)] = &[(5, 1), (10, 200)];

/// Whether an allow rule is one of [`ENGINE_DEFAULT_RULES`].
fn engine_default_rule(r: &LinuxDeviceCgroup) -> bool {
    r.typ().and_then(type_letter) == Some('c')
        && matches!((r.major(), r.minor()), (Some(a), Some(b)) if ENGINE_DEFAULT_RULES.contains(&(a, b)))
}

/// Whether an allow rule of `linux.resources.devices` grants nothing beyond the baseline and
/// `allowed`: mknod-only rules for any char/block device, `/dev/pts/*`, or a specific allowed
/// device.
fn rule_allowed(r: &LinuxDeviceCgroup, allowed: &[DeviceId]) -> bool {
    if !r.allow() {
        return true;
    }
    let Some(typ) = r.typ().and_then(type_letter) else {
        return false;
    };
    let access = r.access().clone().unwrap_or_else(|| "rwm".into());
    if !access.is_empty() && access.chars().all(|c| c == 'm') {
        return true;
    }
    let num = |n: Option<i64>| n.filter(|n| *n >= 0);
    match (num(r.major()), num(r.minor())) {
        (Some(PTS_MAJOR), _) if typ == 'c' => true,
        (Some(major), Some(minor)) => device_allowed(typ, major, minor, allowed),
        _ => false,
    }
}

/// A mount of a filesystem that must be read-only in every container (sysfs, cgroupfs; not a
/// bind), classified as the rootfs code classifies it.
fn is_kernel_fs(m: &Mount) -> bool {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    match mount_kind(m, &opts) {
        Some(MountKind::Cgroup) => true,
        Some(MountKind::Fs(t)) => t == "sysfs",
        _ => false,
    }
}

/// Whether a mount's options end up read-only (the last of `ro`/`rw` wins).
fn is_readonly(m: &Mount) -> bool {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    opts.attr_set & MOUNT_ATTR_RDONLY != 0
}

/// The first thing `spec` asks for beyond an unprivileged container under a ceiling `caps`
/// and device allowlist: `(field, what)`.
pub(super) fn first_excess(
    spec: &Spec,
    ceiling: &caps::CapsHashSet,
    allowed: &[DeviceId],
) -> Option<(String, String)> {
    if let Some(p) = spec.process() {
        if let Some(e) = process_excess(p, ceiling) {
            return Some(e);
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if is_kernel_fs(m) && !is_readonly(m) {
            return Some((
                format!("mounts[{i}]"),
                format!(
                    "a read-write {} mount on {}",
                    m.typ().as_deref().unwrap_or_default(),
                    m.destination().display()
                ),
            ));
        }
    }
    let linux = spec.linux().as_ref()?;
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if let Some(typ) = type_letter(d.typ()) {
            if !device_allowed(typ, d.major(), d.minor(), allowed) {
                return Some((
                    format!("linux.devices[{i}]"),
                    format!(
                        "device {} ({typ} {}:{})",
                        d.path().display(),
                        d.major(),
                        d.minor()
                    ),
                ));
            }
        }
    }
    let rules = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().as_ref());
    for (i, r) in rules.into_iter().flatten().enumerate() {
        if !rule_allowed(r, allowed) && !engine_default_rule(r) {
            return Some((
                format!("linux.resources.devices[{i}]"),
                "a device cgroup rule allowing more than the default devices".into(),
            ));
        }
    }
    None
}

/// The first capability of a process beyond `ceiling` and [`UNPRIVILEGED_CAPS`].
pub(super) fn process_excess(p: &Process, ceiling: &caps::CapsHashSet) -> Option<(String, String)> {
    let c = p.capabilities().as_ref()?;
    let sets: [(&str, &Option<Capabilities>); 5] = [
        ("bounding", c.bounding()),
        ("effective", c.effective()),
        ("permitted", c.permitted()),
        ("inheritable", c.inheritable()),
        ("ambient", c.ambient()),
    ];
    for (name, set) in sets {
        for cap in set.iter().flatten() {
            let known = super::apply::to_caps(cap);
            let fine =
                known.is_some_and(|k| ceiling.contains(&k) || UNPRIVILEGED_CAPS.contains(&k));
            if !fine {
                return Some((format!("process.capabilities.{name}"), format!("CAP_{cap}")));
            }
        }
    }
    None
}

/// Brings `spec` down to an unprivileged container (see the module docs); capabilities are
/// clamped by the caller.
pub(super) fn confine(spec: &mut Spec, allowed: &[DeviceId]) {
    if let Some(mounts) = spec.mounts_mut() {
        for m in mounts.iter_mut().filter(|m| is_kernel_fs(m)) {
            if !is_readonly(m) {
                let mut opts: Vec<String> = m
                    .options()
                    .iter()
                    .flatten()
                    .filter(|o| *o != "rw")
                    .cloned()
                    .collect();
                opts.push("ro".into());
                m.set_options(Some(opts));
            }
        }
    }
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let union = |have: Option<Vec<String>>, add: &[&str]| {
        let mut v = have.unwrap_or_default();
        for p in add {
            if !v.iter().any(|x| x == p) {
                v.push((*p).to_string());
            }
        }
        Some(v)
    };
    linux.set_masked_paths(union(linux.masked_paths().clone(), MASKED_PATHS));
    linux.set_readonly_paths(union(linux.readonly_paths().clone(), READONLY_PATHS));
    if let Some(devs) = linux.devices().clone() {
        let kept = devs
            .into_iter()
            .filter(|d| {
                type_letter(d.typ())
                    .is_none_or(|t| device_allowed(t, d.major(), d.minor(), allowed))
            })
            .collect();
        linux.set_devices(Some(kept));
    }
    if let Some(res) = linux.resources_mut() {
        confine_device_rules(res, allowed);
    }
}

/// Drops the allow rules of `linux.resources.devices` that grant more than the default
/// devices and `allowed` (at create, and on every update).
pub(super) fn confine_device_rules(
    res: &mut oci_spec::runtime::LinuxResources,
    allowed: &[DeviceId],
) {
    if let Some(rules) = res.devices().clone() {
        let kept = rules
            .into_iter()
            .filter(|r| rule_allowed(r, allowed))
            .collect();
        res.set_devices(Some(kept));
    }
}
