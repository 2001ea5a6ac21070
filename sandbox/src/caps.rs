//! Capabilities: all five sets, applied in an order execve cannot undo.
//!
//! Dropping only effective and permitted is not enough for uid 0: execve recomputes
//! permitted from the bounding set. So the bounding set is dropped first (that needs
//! CAP_SETPCAP, which we still hold), then inheritable, permitted and effective are set
//! with one capset, then ambient.

use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

/// Errors applying capabilities.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    /// A capability name in the spec is unknown.
    #[error("{field}: unknown capability {name:?}")]
    Unknown {
        /// Field holding the name.
        field: String,
        /// The name.
        name: String,
    },
    /// The kernel refused to change a set.
    #[error("set {set} capabilities: {source}")]
    Apply {
        /// Which set.
        set: &'static str,
        /// Underlying error.
        source: caps::errors::CapsError,
    },
}

/// The five sets, as the `caps` crate's types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Bounding set.
    pub bounding: CapsHashSet,
    /// Effective set.
    pub effective: CapsHashSet,
    /// Permitted set.
    pub permitted: CapsHashSet,
    /// Inheritable set.
    pub inheritable: CapsHashSet,
    /// Ambient set.
    pub ambient: CapsHashSet,
}

fn convert(field: &str, set: &Option<Capabilities>) -> Result<CapsHashSet, CapsError> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let cap = name
            .parse::<caps::Capability>()
            .map_err(|_| CapsError::Unknown {
                field: field.to_string(),
                name: name.clone(),
            })?;
        out.insert(cap);
    }
    Ok(out)
}

impl CapSets {
    /// Converts the spec's sets; a missing `capabilities` means all five sets empty.
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Result<CapSets, CapsError> {
        let Some(c) = c else {
            return Ok(CapSets::default());
        };
        Ok(CapSets {
            bounding: convert("process.capabilities.bounding", c.bounding())?,
            effective: convert("process.capabilities.effective", c.effective())?,
            permitted: convert("process.capabilities.permitted", c.permitted())?,
            inheritable: convert("process.capabilities.inheritable", c.inheritable())?,
            ambient: convert("process.capabilities.ambient", c.ambient())?,
        })
    }

    /// Whether an ambient entry can be raised (it is also permitted and inheritable).
    pub fn raisable_ambient(&self, cap: &caps::Capability) -> bool {
        self.permitted.contains(cap) && self.inheritable.contains(cap)
    }

    /// Drops every capability not in the bounding set from the bounding set.
    ///
    /// Call while CAP_SETPCAP is still effective.
    pub fn apply_bounding(&self) -> Result<(), CapsError> {
        for cap in caps::all() {
            if !self.bounding.contains(&cap)
                && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                caps::drop(None, CapSet::Bounding, cap).map_err(|source| CapsError::Apply {
                    set: "bounding",
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Sets inheritable, permitted, effective and then ambient exactly as listed.
    pub fn apply_process_sets(&self) -> Result<(), CapsError> {
        let err = |set| move |source| CapsError::Apply { set, source };
        caps::set(None, CapSet::Inheritable, &self.inheritable).map_err(err("inheritable"))?;
        // Effective must be a subset of permitted at every step: shrink effective first.
        let eff_now = caps::read(None, CapSet::Effective).map_err(err("effective"))?;
        let shrunk: CapsHashSet = eff_now.intersection(&self.permitted).copied().collect();
        caps::set(None, CapSet::Effective, &shrunk).map_err(err("effective"))?;
        caps::set(None, CapSet::Permitted, &self.permitted).map_err(err("permitted"))?;
        caps::set(None, CapSet::Effective, &self.effective).map_err(err("effective"))?;
        caps::clear(None, CapSet::Ambient).map_err(err("ambient"))?;
        // The kernel only lets a capability be ambient if it is permitted and inheritable.
        // Like runc, an ambient entry the spec does not also make inheritable is not
        // raised (never more privilege than the spec's sets allow together).
        for cap in self.ambient.iter().filter(|c| self.raisable_ambient(c)) {
            caps::raise(None, CapSet::Ambient, *cap).map_err(err("ambient"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_convert() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_NET_BIND_SERVICE"],"effective":["CAP_CHOWN"]}"#,
        )
        .unwrap();
        let s = CapSets::from_spec(Some(&c)).unwrap();
        assert_eq!(s.bounding.len(), 2);
        assert!(s.bounding.contains(&caps::Capability::CAP_NET_BIND_SERVICE));
        assert!(s.effective.contains(&caps::Capability::CAP_CHOWN));
        assert!(s.ambient.is_empty());
    }

    #[test]
    fn missing_means_empty() {
        assert_eq!(CapSets::from_spec(None).unwrap(), CapSets::default());
    }
}
