//! The part of a policy that bounds every process of a container, the container's own and
//! every exec's: capabilities ∩ ceiling, no_new_privs, and (with `privileged = "refuse"`) no
//! capability beyond the ceiling and Docker's default set.
//!
//! `create` records it in the container's state directory, so an exec is clamped the same way
//! whoever starts it (the shim, or `pinhole exec --process` without `--policy`).

use caps::Capability;
use oci_spec::runtime::{Capabilities, LinuxCapabilities, Process};
use serde::{Deserialize, Serialize};

use super::apply::to_caps;
use super::PolicyError;

/// A process ceiling, as recorded in a container's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessCeiling {
    /// Name of the policy it comes from (shown in errors).
    pub policy: String,
    /// The most any of the five capability sets may hold (`CAP_*` names, sorted).
    pub capabilities: Vec<String>,
    /// Whether `process.noNewPrivileges` is forced.
    pub no_new_privileges: bool,
    /// Whether a process asking for a capability beyond the ceiling and Docker's default set
    /// is refused (`privileged = "refuse"`) rather than clamped.
    pub refuse_privileged: bool,
}

impl ProcessCeiling {
    /// Builds one from a policy's values.
    pub(super) fn new(
        policy: &str,
        ceiling: &caps::CapsHashSet,
        no_new_privileges: bool,
        refuse_privileged: bool,
    ) -> ProcessCeiling {
        let mut capabilities: Vec<String> = ceiling.iter().map(|c| c.to_string()).collect();
        capabilities.sort();
        ProcessCeiling {
            policy: policy.to_string(),
            capabilities,
            no_new_privileges,
            refuse_privileged,
        }
    }

    /// The capability ceiling as a set (names unknown to this build are dropped: a ceiling
    /// never grows by being read back).
    pub fn ceiling(&self) -> caps::CapsHashSet {
        self.capabilities
            .iter()
            .filter_map(|c| c.parse::<Capability>().ok())
            .collect()
    }

    /// The capabilities `process` has in any set that the ceiling lacks (`CAP_*`, sorted).
    pub fn above(&self, process: &Process) -> Vec<String> {
        let ceiling = self.ceiling();
        let Some(c) = process.capabilities() else {
            return Vec::new();
        };
        let mut out: Vec<String> = [
            c.bounding(),
            c.effective(),
            c.permitted(),
            c.inheritable(),
            c.ambient(),
        ]
        .into_iter()
        .flatten()
        .flatten()
        .filter(|cap| to_caps(cap).is_none_or(|k| !ceiling.contains(&k)))
        .map(|cap| format!("CAP_{cap}"))
        .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A one-line report of [`ProcessCeiling::above`] for `field`, None when nothing drops.
    pub fn report_dropped(&self, field: &str, process: &Process) -> Option<String> {
        let above = self.above(process);
        (!above.is_empty()).then(|| {
            format!(
                "policy {:?}: {field}: dropped {} (above the ceiling)",
                self.policy,
                above.join(", ")
            )
        })
    }

    /// Clamps `process`: refused if it asks for too much under `refuse_privileged`, else
    /// each of the five sets ∩ ceiling and no_new_privs when forced. On error `process` is
    /// unchanged.
    pub fn apply(&self, process: &mut Process) -> Result<(), PolicyError> {
        let ceiling = self.ceiling();
        if self.refuse_privileged {
            if let Some((field, what)) = super::confine::process_excess(process, &ceiling) {
                return Err(PolicyError::Privileged {
                    policy: self.policy.clone(),
                    field,
                    what,
                });
            }
        }
        if let Some(c) = process.capabilities() {
            process.set_capabilities(Some(clamp_caps(c, &ceiling)));
        }
        if self.no_new_privileges {
            process.set_no_new_privileges(Some(true));
        }
        Ok(())
    }
}

/// Each of the five sets ∩ ceiling (capabilities unknown to pinhole are dropped).
fn clamp_caps(c: &LinuxCapabilities, ceiling: &caps::CapsHashSet) -> LinuxCapabilities {
    let clamp = |set: &Option<Capabilities>| {
        set.as_ref().map(|s| {
            s.iter()
                .filter(|c| to_caps(c).is_some_and(|c| ceiling.contains(&c)))
                .copied()
                .collect::<Capabilities>()
        })
    };
    let mut out = c.clone();
    out.set_bounding(clamp(c.bounding()))
        .set_effective(clamp(c.effective()))
        .set_permitted(clamp(c.permitted()))
        .set_inheritable(clamp(c.inheritable()))
        .set_ambient(clamp(c.ambient()));
    out
}
