//! Task API v2 request bytes → the shim's decoding. The first byte picks the request type
//! (every method the shim serves); the rest is decoded with protobuf `parse_from_bytes`, then
//! through the shim's own pure checks: Create's runtime options (`service/options.rs`) and
//! rootfs mounts (`service/rootfs.rs`, compiled in here by path: the shim is a binary), Exec's
//! process spec JSON, Update's resources JSON (the library checks the shim calls). Never
//! panics; a decoded message re-encodes to bytes that decode to the same message.
#![no_main]

use containerd_shim::api::*;
use containerd_shim::protos::protobuf::Message;
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::{LinuxResources, Process};
use pinhole_sandbox::policy::Policy;

#[path = "../../shim/src/wire.rs"]
#[allow(dead_code)]
mod wire;
#[path = "../../shim/src/service/options.rs"]
#[allow(dead_code)]
mod options;
#[path = "../../shim/src/service/rootfs.rs"]
#[allow(dead_code)]
mod rootfs;

/// Decodes `bytes` as `M`; checks that re-encoding round-trips.
fn decode<M: Message + PartialEq>(bytes: &[u8]) -> Option<M> {
    let m = M::parse_from_bytes(bytes).ok()?;
    let again = m.write_to_bytes().expect("a decoded message encodes");
    let back = M::parse_from_bytes(&again).expect("an encoded message decodes");
    assert!(back == m, "{} does not round-trip", M::NAME);
    Some(m)
}

/// The shim's decoding of a JSON payload (`serde_path_to_error`, as in `service/*.rs`).
fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 17 {
        0 => {
            let Some(req) = decode::<CreateTaskRequest>(bytes) else {
                return;
            };
            let _ = options::parse(req.options.as_ref());
            let _ = rootfs::validate(&req.rootfs);
        }
        1 => {
            let Some(req) = decode::<ExecProcessRequest>(bytes) else {
                return;
            };
            if let Some(p) = req.spec.as_ref().and_then(|a| json::<Process>(&a.value)) {
                let _ = pinhole_sandbox::spec::check_process(&p);
                let mut p = p;
                let _ = Policy::builtin_default().apply_process(&mut p);
            }
        }
        2 => {
            let Some(req) = decode::<UpdateTaskRequest>(bytes) else {
                return;
            };
            if let Some(mut r) = req
                .resources
                .as_ref()
                .and_then(|a| json::<LinuxResources>(&a.value))
            {
                if pinhole_sandbox::cgroups::validate(&r).is_ok() {
                    Policy::builtin_default().recorded().clamp_update(&mut r);
                }
            }
        }
        3 => drop(decode::<StartRequest>(bytes)),
        4 => drop(decode::<DeleteRequest>(bytes)),
        5 => drop(decode::<StateRequest>(bytes)),
        6 => drop(decode::<PidsRequest>(bytes)),
        7 => drop(decode::<PauseRequest>(bytes)),
        8 => drop(decode::<ResumeRequest>(bytes)),
        9 => drop(decode::<CheckpointTaskRequest>(bytes)),
        10 => drop(decode::<KillRequest>(bytes)),
        11 => drop(decode::<ResizePtyRequest>(bytes)),
        12 => drop(decode::<CloseIORequest>(bytes)),
        13 => drop(decode::<WaitRequest>(bytes)),
        14 => drop(decode::<StatsRequest>(bytes)),
        15 => drop(decode::<ConnectRequest>(bytes)),
        _ => drop(decode::<ShutdownRequest>(bytes)),
    }
});
