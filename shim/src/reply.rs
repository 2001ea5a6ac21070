//! The reply of `start`: what containerd is told about the shim's address and protocol.
//!
//! The rule: containerd says which shim protocol versions it reads, the shim never guesses.
//!
//! - containerd 2.3 and later start the shim with the bootstrap protocol
//!   ([`crate::bootstrap`]) and read a `BootstrapResult` protobuf first: they get one, with
//!   version 3 (task API v3; containerd 2.3's `CurrentShimVersion`).
//! - containerd 1.7 to 2.2 put the highest version they accept in `MAX_SHIM_VERSION` (measured
//!   with a stand-in shim: 1.7.24 and 2.1.9 both send `2`, and containerd's `command.go` sends a
//!   literal 2 up to 2.3) and read JSON: they get `{"version":N,"address":…,"protocol":"ttrpc"}`
//!   with N = min(MAX_SHIM_VERSION, [`SERVED`]) — 2 today, so 2.0–2.2 drive the shim through
//!   their task v2 bridge. (containerd's own runc shim answers 3 to 2.0–2.2 without being told,
//!   at the price of not working with 1.x.)
//! - containerd 1.6 sets nothing and reads only a bare `unix://` address. A
//!   `MAX_SHIM_VERSION` that is not a number, or below 2, is treated as absent: a bare address
//!   is what every containerd reads.

use crate::bootstrap::StartInput;

/// The newest shim protocol version this shim serves (task API v3 beside v2).
pub const SERVED: u32 = 3;

/// The environment variable in which containerd names the newest version it reads.
pub const MAX_VERSION_ENV: &str = "MAX_SHIM_VERSION";

/// The form of the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The bare `unix://` address (containerd 1.6).
    Bare,
    /// JSON with this version (containerd 1.7 to 2.2).
    Json(u32),
    /// A `BootstrapResult` protobuf with this version (containerd 2.3+).
    Bootstrap(u32),
}

/// The reply containerd reads, from what it wrote on stdin and the value of
/// [`MAX_VERSION_ENV`].
pub fn choose(input: &StartInput, max_version: Option<&str>) -> Reply {
    if let StartInput::Bootstrap(_) = input {
        return Reply::Bootstrap(SERVED);
    }
    match max_version.and_then(|v| v.trim().parse::<u32>().ok()) {
        Some(max) if max >= 2 => Reply::Json(max.min(SERVED)),
        _ => Reply::Bare,
    }
}

/// The bytes `start` prints for `address`.
pub fn encode(address: &str, reply: Reply) -> Vec<u8> {
    match reply {
        Reply::Bare => address.as_bytes().to_vec(),
        Reply::Json(version) => serde_json::json!({
            "version": version,
            "address": address,
            "protocol": "ttrpc",
        })
        .to_string()
        .into_bytes(),
        Reply::Bootstrap(version) => bootstrap_result(version, address),
    }
}

/// `containerd.runtime.bootstrap.v1.BootstrapResult{version: 1, address: 2, protocol: 3}`.
fn bootstrap_result(version: u32, address: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut os = protobuf::CodedOutputStream::vec(&mut out);
    // writes to a Vec cannot fail
    let _ = os.write_int32(1, version as i32);
    let _ = os.write_string(2, address);
    let _ = os.write_string(3, "ttrpc");
    let _ = os.flush();
    drop(os);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::{BootstrapParams, StartInput};

    const ADDR: &str = "unix:///run/containerd/s/abc";

    fn json(reply: Reply) -> serde_json::Value {
        serde_json::from_slice(&encode(ADDR, reply)).unwrap()
    }

    #[test]
    fn containerd_1_6_gets_a_bare_address() {
        let r = choose(&StartInput::Empty, None);
        assert_eq!(r, Reply::Bare);
        assert_eq!(encode(ADDR, r), ADDR.as_bytes());
    }

    #[test]
    fn containerd_that_reads_version_2_gets_json_version_2() {
        let v = json(choose(&StartInput::Empty, Some("2")));
        assert_eq!(v["version"], 2);
        assert_eq!(v["address"], ADDR);
        assert_eq!(v["protocol"], "ttrpc");
    }

    #[test]
    fn never_more_than_the_shim_serves() {
        assert_eq!(json(choose(&StartInput::Empty, Some("3")))["version"], 3);
        assert_eq!(
            json(choose(&StartInput::Empty, Some("9")))["version"],
            SERVED
        );
    }

    #[test]
    fn version_1_or_garbage_gets_a_bare_address() {
        for max in ["1", "0", "", "two", "-2"] {
            assert_eq!(
                choose(&StartInput::Empty, Some(max)),
                Reply::Bare,
                "MAX_SHIM_VERSION={max:?}"
            );
        }
    }

    #[test]
    fn bootstrap_protocol_gets_a_bootstrap_result_version_3() {
        let input = StartInput::Bootstrap(BootstrapParams::default());
        let r = choose(&input, Some("2"));
        assert_eq!(r, Reply::Bootstrap(3));
        let b = encode(ADDR, r);
        // field 1 varint 3, field 2 the address, field 3 "ttrpc"
        let mut want = vec![0x08, 3, 0x12, ADDR.len() as u8];
        want.extend_from_slice(ADDR.as_bytes());
        want.extend_from_slice(&[0x1a, 5]);
        want.extend_from_slice(b"ttrpc");
        assert_eq!(b, want);
    }
}
