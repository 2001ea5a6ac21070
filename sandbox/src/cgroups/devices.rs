//! Device cgroup rules: validation of OCI `linux.resources.devices` entries and their v1
//! (`devices.allow`/`devices.deny`) rendering. The v2 eBPF rendering lives in `bpf.rs`.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

use super::error::CgroupError;

/// Access bit: mknod(2).
pub(crate) const ACC_MKNOD: u32 = 1;
/// Access bit: open for reading.
pub(crate) const ACC_READ: u32 = 2;
/// Access bit: open for writing.
pub(crate) const ACC_WRITE: u32 = 4;
/// All access bits.
pub(crate) const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// A validated device rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeviceRule {
    /// Allow (true) or deny (false).
    pub allow: bool,
    /// `a` (all devices), `b` (block) or `c` (char).
    pub typ: char,
    /// Major number, `None` = any.
    pub major: Option<u32>,
    /// Minor number, `None` = any.
    pub minor: Option<u32>,
    /// Access bits (`ACC_*`).
    pub access: u32,
}

impl DeviceRule {
    /// Validate the OCI rule at index `idx` of `linux.resources.devices`; `None` for a FIFO
    /// rule (type `p`: FIFOs are no device cgroup matter, but engines derive such rules from
    /// the FIFOs in `linux.devices`, as containerd and podman do).
    pub(crate) fn from_oci(
        r: &LinuxDeviceCgroup,
        idx: usize,
    ) -> Result<Option<DeviceRule>, CgroupError> {
        let bad = |field: &str, value: String, reason: &str| CgroupError::InvalidResource {
            field: format!("devices[{idx}].{field}"),
            value,
            reason: reason.to_string(),
        };
        let typ = match r.typ() {
            None | Some(LinuxDeviceType::A) => 'a',
            Some(LinuxDeviceType::B) => 'b',
            // `u` (unbuffered) is a character device
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
            Some(LinuxDeviceType::P) => return Ok(None),
        };
        let num = |field: &str, v: Option<i64>| -> Result<Option<u32>, CgroupError> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) if (0..=u32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
                Some(n) => Err(bad(
                    field,
                    n.to_string(),
                    "must be -1 (any) or a device number",
                )),
            }
        };
        let major = num("major", r.major())?;
        let minor = num("minor", r.minor())?;
        let access_str = r.access().clone().unwrap_or_default();
        let mut access = 0;
        for ch in access_str.chars() {
            access |= match ch {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => {
                    return Err(bad(
                        "access",
                        access_str.clone(),
                        "only r, w and m are allowed",
                    ))
                }
            };
        }
        if access == 0 {
            access = ACC_ALL;
        }
        if typ == 'a' {
            // Like the kernel's v1 parser: "a" covers every device, numbers are ignored.
            return Ok(Some(DeviceRule {
                allow: r.allow(),
                typ,
                major: None,
                minor: None,
                access: ACC_ALL,
            }));
        }
        Ok(Some(DeviceRule {
            allow: r.allow(),
            typ,
            major,
            minor,
            access,
        }))
    }

    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm`.
    pub(crate) fn v1_line(&self) -> String {
        if self.typ == 'a' {
            return "a".to_string();
        }
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let mut acc = String::new();
        if self.access & ACC_READ != 0 {
            acc.push('r');
        }
        if self.access & ACC_WRITE != 0 {
            acc.push('w');
        }
        if self.access & ACC_MKNOD != 0 {
            acc.push('m');
        }
        format!("{} {}:{} {}", self.typ, n(self.major), n(self.minor), acc)
    }
}

/// Validate all rules of `linux.resources.devices`.
pub(crate) fn parse_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, CgroupError> {
    rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| DeviceRule::from_oci(r, i).transpose())
        .collect()
}

/// The devices every container may use (runc's default allowlist): mknod of any device node,
/// `/dev/{null,zero,full,random,urandom,tty,ptmx}` and `/dev/pts/*`.
///
/// [`super::Cgroup::apply`] appends these after the configured rules, like runc does.
pub fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access(access.to_string());
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().expect("static device rule")
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(136), None, "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_v1_lines() {
        let rules = parse_rules(&default_allowed()).unwrap();
        assert_eq!(rules[0].v1_line(), "c *:* m");
        assert_eq!(rules[2].v1_line(), "c 1:3 rwm");
        assert_eq!(rules[9].v1_line(), "c 136:* rwm");
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(
            DeviceRule::from_oci(&all, 0).unwrap().unwrap().v1_line(),
            "a"
        );
    }

    #[test]
    fn rejects_bad_rules() {
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .access("rwx")
            .build()
            .unwrap();
        let e = DeviceRule::from_oci(&r, 3).unwrap_err().to_string();
        assert!(e.contains("devices[3].access"), "{e}");
        // a FIFO rule (derived from a FIFO in linux.devices) is no rule at all
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::P)
            .build()
            .unwrap();
        assert!(DeviceRule::from_oci(&r, 0).unwrap().is_none());
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(-5i64)
            .build()
            .unwrap();
        assert!(DeviceRule::from_oci(&r, 0).is_err());
    }
}
