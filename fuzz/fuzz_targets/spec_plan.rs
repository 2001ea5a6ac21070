//! config.json bytes → the checks `create` makes before touching the system
//! (`container::create::check`, minus the state directory and the seccomp cache): spec parse
//! and bundle checks, each shipped handler policy applied (refusals, clamps), host sharing,
//! rootfs/mounts/devices, capabilities, sysctls, cgroup path and resources, and the spec's own
//! seccomp profile. Never panics; a policy's clamp is idempotent and within its ceiling.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pinhole_sandbox::caps::CapSets;
use pinhole_sandbox::policy::Policy;
use pinhole_sandbox::spec::{optional_syscalls, Bundle};

/// The bundle directory every input is checked in: an empty `rootfs/` below a fresh temp dir.
fn bundle_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pinhole-fuzz-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).expect("create the fuzz bundle");
        std::fs::canonicalize(&dir).expect("canonical bundle dir")
    })
}

/// The built-in policy and the shipped strict handler policy.
fn policies() -> &'static [Policy] {
    static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let strict = include_str!("../../runtimeclass/policies/pinhole-strict.toml");
        vec![
            Policy::builtin_default(),
            Policy::parse(strict, std::path::Path::new("pinhole-strict.toml"))
                .expect("shipped strict policy loads"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = bundle_dir();
    let bundle = match Bundle::from_config(dir.clone(), &dir.join("config.json"), data) {
        Ok(b) => b,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let optional = optional_syscalls(&bundle.spec);
    // The spec's own profile, once (it does not depend on the policy).
    if let Some(sc) = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        let _ = pinhole_sandbox::seccomp::compile(sc, &optional);
    }
    for policy in policies() {
        let mut spec = bundle.spec.clone();
        if policy.apply(&mut spec).is_err() {
            continue;
        }
        let mut again = spec.clone();
        policy
            .apply(&mut again)
            .expect("an applied policy accepts its own result");
        assert_eq!(again, spec, "policy {} is not idempotent", policy.name());
        let process = spec.process().as_ref().expect("checked by Bundle");
        if let Ok(sets) = CapSets::from_spec(process.capabilities().as_ref()) {
            for set in [
                &sets.bounding,
                &sets.effective,
                &sets.permitted,
                &sets.inheritable,
                &sets.ambient,
            ] {
                if let Some(cap) = set
                    .iter()
                    .find(|c| !policy.capability_ceiling().contains(c))
                {
                    panic!("{cap} survives policy {}", policy.name());
                }
            }
        }
        let _ = policy.check_host(&spec, &bundle.dir, &[]);
        if pinhole_sandbox::rootfs::validate::validate(&spec, &bundle.dir).is_err() {
            continue;
        }
        let linux = spec.linux().as_ref().expect("checked by Bundle");
        let creates = |name: &str| {
            linux.namespaces().iter().flatten().any(|n| {
                pinhole_sandbox::init::namespaces::proc_name(n.typ()) == name && n.path().is_none()
            })
        };
        let _ = pinhole_sandbox::init::sysctl::validate(&spec, creates);
        let _ = pinhole_sandbox::cgroups::Cgroup::new(linux.cgroups_path().as_deref(), "fuzz");
        if let Some(r) = linux.resources() {
            let _ = pinhole_sandbox::cgroups::validate(r);
        }
    }
});
