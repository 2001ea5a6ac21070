//! Clamping a spec to a policy: pod spec ∩ handler ceiling.

use oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxSeccomp,
    Process, Spec,
};

use super::{Policy, PolicyError, Privileged, ProcessCeiling, USERNS_SIZE};

/// The `caps` crate's value for a spec capability (`None` if that crate does not know it).
pub(super) fn to_caps(c: &oci_spec::runtime::Capability) -> Option<caps::Capability> {
    format!("CAP_{c}").parse().ok()
}

impl Policy {
    /// Intersects `spec` with the ceiling, in place.
    ///
    /// The spec is brought down to an unprivileged container (masked and read-only paths,
    /// read-only sysfs/cgroupfs, default devices: see `confine.rs`) — or refused, when the
    /// policy refuses privileged requests and the spec makes one; each of the five capability
    /// sets is intersected with the capability ceiling; `process.noNewPrivileges`,
    /// `root.readonly` and a user namespace are forced when the policy says so. Returns the ceiling seccomp profile, which the caller must install as
    /// an extra filter next to the spec's own `linux.seccomp` (stacked filters intersect);
    /// `None` when the policy has no seccomp ceiling. On error the spec is unchanged.
    pub fn apply(&self, spec: &mut Spec) -> Result<Option<LinuxSeccomp>, PolicyError> {
        if self.privileged == Privileged::Refuse {
            if let Some((field, what)) =
                super::confine::first_excess(spec, &self.ceiling, &self.devices)
            {
                return Err(self.privileged_error(field, what));
            }
        }
        if self.readonly_rootfs && spec.root().is_none() {
            return Err(self.spec_error("root", "missing; the policy forces a read-only rootfs"));
        }
        if self.user_base.is_some() {
            self.check_user_namespace(spec)?;
        }

        super::confine::confine(spec, &self.devices);
        if let Some(linux) = spec.linux_mut() {
            let mut r = linux.resources().clone().unwrap_or_default();
            self.limits.clamp(&mut r, true);
            linux.set_resources(Some(r));
        }
        if let Some(p) = spec.process_mut() {
            self.apply_process(p)?;
        }
        if self.readonly_rootfs {
            if let Some(root) = spec.root_mut() {
                root.set_readonly(Some(true));
            }
        }
        if let Some(base) = self.user_base {
            if let Some(linux) = spec.linux_mut() {
                add_user_namespace(linux, base);
            }
        }
        if self.unprivileged_ports {
            if let Some(linux) = spec.linux_mut() {
                add_unprivileged_ports(linux);
            }
        }
        Ok(self.seccomp.clone())
    }

    /// The capabilities `process` asks for (in any set) that the ceiling lacks: what clamping
    /// drops, to be reported.
    pub fn caps_above_ceiling(&self, process: &Process) -> Vec<String> {
        self.process_ceiling().above(process)
    }

    /// Clamps a process (an `exec`'s, or the container's): capabilities ∩ ceiling and
    /// no_new_privs. The seccomp ceiling of the container applies to it as well.
    pub fn apply_process(&self, process: &mut Process) -> Result<(), PolicyError> {
        self.process_ceiling().apply(process)
    }

    /// What bounds every process of a container under this policy (recorded at create for
    /// later execs).
    pub fn process_ceiling(&self) -> ProcessCeiling {
        ProcessCeiling::new(
            &self.name,
            &self.ceiling,
            self.no_new_privileges,
            self.privileged == Privileged::Refuse || self.refuse_above_ceiling,
        )
    }

    /// What the policy records in a container's state for its later execs and updates.
    pub fn recorded(&self) -> super::Recorded {
        super::Recorded {
            process: self.process_ceiling(),
            limits: self.limits,
            devices: self.devices.clone(),
        }
    }

    fn privileged_error(&self, field: String, what: String) -> PolicyError {
        PolicyError::Privileged {
            policy: self.name.clone(),
            field,
            what,
        }
    }

    /// A spec's own user namespace mappings must not map host id 0.
    /// A spec's own user namespace mappings must map only host ids at or above the policy's
    /// first host id (`user_base`): host id 0 is root, and the ids below are the host's
    /// system and login users (a container root mapped to host uid 1 owns `daemon`'s files).
    fn check_user_namespace(&self, spec: &Spec) -> Result<(), PolicyError> {
        let Some(linux) = spec.linux() else {
            return Err(self.spec_error("linux", "missing; the policy forces a user namespace"));
        };
        let base = self.user_base.unwrap_or(1);
        // idmapped mounts too: a mount mapping host id 0 would let the container act as host
        // root on the files below it
        let mount_maps = spec
            .mounts()
            .iter()
            .flatten()
            .enumerate()
            .flat_map(|(i, m)| {
                [
                    (format!("mounts[{i}].uidMappings"), m.uid_mappings()),
                    (format!("mounts[{i}].gidMappings"), m.gid_mappings()),
                ]
            });
        let lists = [
            ("linux.uidMappings".to_string(), linux.uid_mappings()),
            ("linux.gidMappings".to_string(), linux.gid_mappings()),
        ];
        for (field, maps) in lists.into_iter().chain(mount_maps) {
            for (i, m) in maps.iter().flatten().enumerate() {
                if m.host_id() < base && m.size() > 0 {
                    return Err(self.spec_error(
                        &format!("{field}[{i}]"),
                        &format!(
                            "maps host id {}; the policy requires host ids from {base} up (an unprivileged user namespace)",
                            m.host_id()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the *effective* id maps of the user namespace a container ended up in, as the
    /// host reads them from `/proc/PID/{uid,gid}_map` (host ids relative to the host): the
    /// namespace may have been created by the spec, joined by path or be a pod's, and may
    /// have been made by anyone. Under a policy that forces a user namespace every mapped
    /// host range must start at `user_base` or above; the host's own namespace (`0 0
    /// 4294967295`) fails this like any mapping of host root.
    pub fn check_effective_userns(&self, uid_map: &str, gid_map: &str) -> Result<(), PolicyError> {
        let Some(base) = self.user_base else {
            return Ok(());
        };
        for (file, text) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let field = format!("user namespace (effective {file})");
            let mut lines = 0;
            for line in text.lines() {
                let nums: Vec<u64> = line
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect();
                let [inside, outside, count] = nums[..] else {
                    return Err(self.spec_error(&field, &format!("unreadable line {line:?}")));
                };
                lines += 1;
                if count > 0 && outside < u64::from(base) {
                    return Err(self.spec_error(
                        &field,
                        &format!(
                            "maps container id {inside} to host id {outside}; the policy requires host ids from {base} up"
                        ),
                    ));
                }
            }
            if lines == 0 {
                return Err(self.spec_error(&field, "has no mapping"));
            }
        }
        Ok(())
    }

    pub(super) fn spec_error(&self, field: &str, message: &str) -> PolicyError {
        PolicyError::Spec {
            policy: self.name.clone(),
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

/// The mapping of a user namespace a policy gives a container: container ids
/// `0..USERNS_SIZE` to host ids `host..host + USERNS_SIZE`.
pub(crate) fn root_mapping(host: u32) -> Vec<LinuxIdMapping> {
    vec![LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(host)
        .size(USERNS_SIZE)
        .build()
        .expect("id mapping builds")]
}

/// Adds a user namespace (if the spec has none) and mappings (if it has none) mapping
/// container ids `0..USERNS_SIZE` to host ids `base..base + USERNS_SIZE`.
///
/// A user namespace the spec joins by path is left alone.
/// The sysctl that lets processes without `CAP_NET_BIND_SERVICE` bind ports below 1024.
pub(crate) const UNPRIVILEGED_PORT_START: &str = "net.ipv4.ip_unprivileged_port_start";

/// `namespaces.unprivileged_ports`: [`UNPRIVILEGED_PORT_START`] = 0 for a container with a
/// network namespace entry (its own, or its pod's joined by path) whose spec does not set it.
/// A container without one, or joining the runtime's own, is in the host's network namespace
/// and gets nothing; the init refuses to write a sysctl into the host's namespace anyway, right
/// before the write (`init::sysctl`).
fn add_unprivileged_ports(linux: &mut oci_spec::runtime::Linux) {
    let netns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network);
    let own = netns.is_some_and(|n| {
        n.path()
            .as_ref()
            .is_none_or(|p| !super::host::is_ours(p, "net"))
    });
    if !own {
        return;
    }
    let sysctl = linux.sysctl_mut().get_or_insert_with(Default::default);
    sysctl
        .entry(UNPRIVILEGED_PORT_START.to_string())
        .or_insert_with(|| "0".to_string());
}

fn add_user_namespace(linux: &mut oci_spec::runtime::Linux, base: u32) {
    let namespaces = linux.namespaces_mut().get_or_insert_with(Vec::new);
    let existing = namespaces
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::User);
    if existing.is_some_and(|n| n.path().is_some()) {
        return;
    }
    if existing.is_none() {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()
                .expect("namespace with a type builds"),
        );
    }
    if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        linux.set_uid_mappings(Some(root_mapping(base)));
    }
    if linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        linux.set_gid_mappings(Some(root_mapping(base)));
        fit_ping_group_range(linux);
    }
}

/// The sysctl whose value is a range of gids of the writer's user namespace.
const PING_GROUP_RANGE: &str = "net.ipv4.ping_group_range";

/// Cuts `net.ipv4.ping_group_range` to the gids a user namespace the policy added maps
/// (`0..USERNS_SIZE`): the kernel refuses (EINVAL) a range naming gids the namespace does not
/// map. Docker puts `0 2147483647` (every group may ping) into every container with a network
/// namespace of its own, not knowing that the policy adds a user namespace; cut to the mapped
/// gids it still means every group there is. A range starting above them allows none (`1 0`,
/// the kernel's default). Other values are left for the sysctl check to judge.
fn fit_ping_group_range(linux: &mut oci_spec::runtime::Linux) {
    let Some(sysctl) = linux.sysctl_mut().as_mut() else {
        return;
    };
    let Some(value) = sysctl.get_mut(PING_GROUP_RANGE) else {
        return;
    };
    let mut parts = value.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(lo)), Some(Ok(hi)), None) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let last = u64::from(USERNS_SIZE - 1);
    if hi <= last {
        return;
    }
    *value = if lo > last {
        "1 0".to_string()
    } else {
        format!("{lo} {last}")
    };
}
