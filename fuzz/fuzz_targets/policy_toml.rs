//! Handler policy TOML → `Policy::parse`. Never panics; an error names the TOML key (or the
//! line/column of a syntax error); a policy that loads has a ceiling whose `deny` names the
//! compiled filter never allows (reference model, every ABI, a few argument vectors).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pinhole_sandbox::policy::{Policy, PolicyError};
use pinhole_sandbox::seccomp::model;

/// `origin` of every input; relative profile paths resolve below this (nonexistent) dir.
const ORIGIN: &str = "/nonexistent/pinhole-fuzz/policy.toml";

/// Audit arches of the ABIs (x86_64/x32 share one) and their syscall number ranges probed.
const AUDIT_ARCHES: [u32; 2] = [0xc000_003e, 0x4000_0003];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A profile path naming a device or FIFO would block the read: stay off the filesystem
    // except through the nonexistent origin directory.
    if let Ok(v) = text.parse::<toml::Table>() {
        let profile = v
            .get("seccomp")
            .and_then(|s| s.get("profile"))
            .and_then(|p| p.as_str());
        if profile.is_some_and(|p| p.starts_with('/') || p.contains("..")) {
            return;
        }
    }
    match Policy::parse(text, Path::new(ORIGIN)) {
        Err(e) => check_error(&e),
        Ok(policy) => check_deny(text, &policy),
    }
});

/// Errors must say where: a key, or a line and column within the text.
fn check_error(e: &PolicyError) {
    let msg = e.to_string();
    assert!(
        msg.starts_with(ORIGIN),
        "error does not name the file: {msg}"
    );
    match e {
        PolicyError::Syntax { line, column, .. } => assert!(*line >= 1 && *column >= 1, "{msg}"),
        PolicyError::Invalid { key, .. } | PolicyError::Seccomp { key, .. } => {
            assert!(!key.is_empty(), "{msg}")
        }
        PolicyError::Read { .. } => {}
        other => panic!("Policy::parse returned a spec-time error: {other}"),
    }
}

/// Every `seccomp.deny` name is refused by the ceiling on every ABI that has it.
fn check_deny(text: &str, policy: &Policy) {
    let v: toml::Table = text.parse().expect("parsed by Policy::parse");
    let deny: Vec<&str> = v
        .get("seccomp")
        .and_then(|s| s.get("deny"))
        .and_then(|d| d.as_array())
        .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    if deny.is_empty() {
        return;
    }
    let ceiling = policy
        .seccomp_ceiling()
        .expect("a deny list gives a ceiling");
    let filter = pinhole_sandbox::seccomp::compile(ceiling, &[]).expect("ceiling compiles");
    for name in deny {
        for &arch in &AUDIT_ARCHES {
            for (nr, args) in model::numbers(name, arch)
                .into_iter()
                .flat_map(|nr| [(nr, [0; 6]), (nr, [u64::MAX; 6]), (nr, [40, 1, 0, 0, 0, 0])])
            {
                let got = model::run_filter(&filter, arch, nr, args);
                assert_eq!(got, model::verdict(ceiling, arch, nr, args), "{name}");
                assert!(
                    !model::allows(got),
                    "seccomp.deny {name:?} is allowed: arch {arch:#x} nr {nr:#x} args {args:x?} → {got:#x}"
                );
            }
        }
    }
}
