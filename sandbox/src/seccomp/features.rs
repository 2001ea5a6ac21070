//! What the seccomp compiler accepts, for the OCI features document (`pinhole features`).
//!
//! Derived from the compiler's own tables, never listed by hand: an action is supported if
//! `compile` turns it into a return value, a flag if `install` turns it into a filter flag, an
//! arch if the filter covers it on this host.

use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use super::compile::resolve_action;
use super::install::filter_flags;
use super::names::TargetArch;

/// Every action of the runtime-spec.
const ACTIONS: [LinuxSeccompAction; 9] = [
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActTrap,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActAllow,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
];

/// Every filter flag of the runtime-spec.
const FLAGS: [LinuxSeccompFilterFlag; 4] = [
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];

/// Every operator (all compiled, see `compile::emit_cond`).
const OPERATORS: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];

/// The `linux.seccomp` object of the features document.
pub fn features() -> serde_json::Value {
    let mut actions: Vec<String> = ACTIONS
        .iter()
        .filter(|a| resolve_action(**a, None, "", "").is_ok())
        .map(|a| a.to_string())
        .collect();
    actions.sort();
    let known: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
    let supported: Vec<String> = FLAGS
        .iter()
        .filter(|f| filter_flags(std::slice::from_ref(f)).is_ok())
        .map(|f| f.to_string())
        .collect();
    serde_json::json!({
        "enabled": true,
        "actions": actions,
        "operators": OPERATORS.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
        "archs": TargetArch::ALL.iter().map(|a| a.oci_name()).collect::<Vec<_>>(),
        "knownFlags": known,
        "supportedFlags": supported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_and_trace_are_not_offered() {
        let f = features();
        let actions: Vec<&str> = f["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(actions.contains(&"SCMP_ACT_ALLOW"), "{actions:?}");
        assert!(actions.contains(&"SCMP_ACT_ERRNO"), "{actions:?}");
        assert!(actions.contains(&"SCMP_ACT_KILL_PROCESS"), "{actions:?}");
        assert!(!actions.contains(&"SCMP_ACT_NOTIFY"), "{actions:?}");
        assert!(!actions.contains(&"SCMP_ACT_TRACE"), "{actions:?}");
        let supported = f["supportedFlags"].as_array().unwrap();
        assert!(!supported
            .iter()
            .any(|s| s == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"));
        assert_eq!(f["knownFlags"].as_array().unwrap().len(), 4);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            f["archs"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_X86"])
        );
    }
}
