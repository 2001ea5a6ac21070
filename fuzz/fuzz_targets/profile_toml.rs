//! pinhole profile TOML → `seccomp::profile::parse` → BPF. Never panics; an error names the
//! file with a line and column (1-based whenever the text was read) and a key; a profile that
//! lowers and compiles gives, for probes of every ABI, the verdict the reference model gives
//! (`seccomp::model::check`), and refuses every name its refusing rules list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole_sandbox::seccomp::{model, profile};

const ORIGIN: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = match profile::parse(text, ORIGIN) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(ORIGIN), "error does not name the file: {msg}");
            assert!(e.line >= 1 && e.column >= 1, "no position: {msg}");
            assert!(!e.key.is_empty(), "no key: {msg}");
            return;
        }
    };
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    if let Err(m) = model::check(&p, &[], seed) {
        panic!(
            "differential mismatch: {m}\nprofile: {}",
            serde_json::to_string(&p).unwrap_or_default()
        );
    }
});
