//! The high-risk syscall list (`sandbox/profiles/high-risk.toml`): what `strict` refuses on
//! every ABI and what `pinhole surface` and `pinhole profile show` flag.

use std::sync::OnceLock;

use serde::Deserialize;

/// The shipped list, embedded at build time.
pub const HIGH_RISK_TOML: &str = include_str!("../../profiles/high-risk.toml");

/// One entry of the high-risk list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// Syscall name (as in the kernel's tables).
    pub name: String,
    /// Why a workload should not reach it (one line).
    pub reason: String,
    /// Where the judgement comes from (Docker's table, a CVE, ...).
    pub reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskFile {
    syscall: Vec<Risk>,
}

/// The high-risk list, parsed once.
pub fn high_risk() -> &'static [Risk] {
    static LIST: OnceLock<Vec<Risk>> = OnceLock::new();
    LIST.get_or_init(|| {
        toml::from_str::<RiskFile>(HIGH_RISK_TOML)
            .expect("sandbox/profiles/high-risk.toml is valid")
            .syscall
    })
}

/// Whether `name` is on the high-risk list.
pub fn is_high_risk(name: &str) -> bool {
    high_risk().iter().any(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_parses_and_names_known_syscalls_once() {
        let list = high_risk();
        assert!(list.len() >= 60, "{}", list.len());
        let mut seen = std::collections::BTreeSet::new();
        for r in list {
            assert!(seen.insert(&r.name), "{} listed twice", r.name);
            assert!(
                !r.reason.is_empty() && !r.reference.is_empty(),
                "{}",
                r.name
            );
            assert!(
                super::super::names::is_foreign(&r.name),
                "{} is not a syscall on any architecture",
                r.name
            );
        }
        for needed in [
            "ptrace",
            "bpf",
            "io_uring_setup",
            "open_tree",
            "unshare",
            "keyctl",
        ] {
            assert!(is_high_risk(needed), "{needed}");
        }
    }
}
