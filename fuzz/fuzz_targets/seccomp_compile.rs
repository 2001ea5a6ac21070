//! OCI seccomp → BPF. Input: a `linux.seccomp` JSON object, or (anything that is not one)
//! bytes decoded into a profile by `seccomp::model::profile_from_bytes`. A profile that
//! compiles must give, for probes of every ABI, the verdict the reference model gives
//! (`seccomp::model::check`); nothing may panic. Arbitrary bytes also go through
//! `Filter::from_bytes` (the state directory's serialized filters).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;
use pinhole_sandbox::seccomp::{model, Filter};

fuzz_target!(|data: &[u8]| {
    let _ = Filter::from_bytes(data);
    let (profile, optional) = match serde_json::from_slice::<LinuxSeccomp>(data) {
        Ok(p) => (p, vec!["*".to_owned()]),
        Err(_) => model::profile_from_bytes(data),
    };
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    if let Err(m) = model::check(&profile, &optional, seed) {
        panic!(
            "differential mismatch: {m}\nprofile: {}",
            serde_json::to_string(&profile).unwrap_or_default()
        );
    }
});
