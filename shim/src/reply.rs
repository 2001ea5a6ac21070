//! The reply of `start`: what containerd is told about the shim's address and protocol.
//!
//! The rule: containerd says which shim protocol versions it reads, the shim never guesses.
//! containerd 1.7 and 2.x put the highest version they accept in `MAX_SHIM_VERSION` (measured
//! with a stand-in shim: 1.7.24 and 2.1.9 both send `2`); containerd 1.6 sets nothing and reads
//! only a bare `unix://` address. The reply is the highest version both sides speak: a bare
//! address without the variable, else JSON `{"version":N,"address":…,"protocol":"ttrpc"}` with
//! N = min(MAX_SHIM_VERSION, [`SERVED`]). A variable that is not a number is treated as absent
//! (a bare address is what every containerd reads).

/// The newest shim protocol version this shim serves (task API v2).
pub const SERVED: u32 = 2;

/// The environment variable in which containerd names the newest version it reads.
pub const MAX_VERSION_ENV: &str = "MAX_SHIM_VERSION";

/// The reply of `start` for `address`, given the value of [`MAX_VERSION_ENV`].
pub fn start_reply(address: &str, max_version: Option<&str>) -> String {
    match max_version.and_then(|v| v.trim().parse::<u32>().ok()) {
        Some(max) if max >= 2 => serde_json::json!({
            "version": max.min(SERVED),
            "address": address,
            "protocol": "ttrpc",
        })
        .to_string(),
        _ => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "unix:///run/containerd/s/abc";

    #[test]
    fn containerd_1_6_gets_a_bare_address() {
        assert_eq!(start_reply(ADDR, None), ADDR);
    }

    #[test]
    fn containerd_that_reads_version_2_gets_json_version_2() {
        let v: serde_json::Value = serde_json::from_str(&start_reply(ADDR, Some("2"))).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(v["address"], ADDR);
        assert_eq!(v["protocol"], "ttrpc");
    }

    #[test]
    fn never_more_than_the_shim_serves() {
        let v: serde_json::Value = serde_json::from_str(&start_reply(ADDR, Some("3"))).unwrap();
        assert_eq!(v["version"], SERVED);
    }

    #[test]
    fn version_1_or_garbage_gets_a_bare_address() {
        for max in ["1", "0", "", "two", "-2"] {
            assert_eq!(
                start_reply(ADDR, Some(max)),
                ADDR,
                "MAX_SHIM_VERSION={max:?}"
            );
        }
    }
}
