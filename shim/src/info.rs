//! `-v` and `-info`: what the shim tells about itself.
//!
//! containerd (2.0+, `ctr plugins inspect-runtime`; 2.2.7+ before it offers user namespaces to
//! the kubelet) runs `<shim> -info` with the handler's runtime options on stdin and reads a
//! `containerd.types.RuntimeInfo` protobuf on stdout: the runtime's name, version and the OCI
//! features document as an `Any` of type
//! `types.containerd.io/opencontainers/runtime-spec/1/features/Features` holding JSON, as
//! containerd's own runc shim answers. The features are pinhole's
//! ([`pinhole_sandbox::features`]).

use std::io::{Read, Write};

use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::types::introspection::{RuntimeInfo, RuntimeVersion};

/// The type URL containerd reads the features under.
pub const FEATURES_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

/// The runtime name in `RuntimeInfo`.
const NAME: &str = "containerd-shim-pinhole-v2";

/// The largest stdin `-info` reads (runtime options are a few hundred bytes).
const MAX_OPTIONS: u64 = 1 << 20;

/// Prints the version, as containerd's shims do for `-v`.
pub fn print_version() -> Result<(), String> {
    println!("{NAME}:\n  Version:  {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}

/// Prints the `RuntimeInfo` protobuf on stdout.
pub fn print_info() -> Result<(), String> {
    // the runtime options do not change what pinhole can do; read them so that containerd's
    // write never fails on a closed pipe
    let mut options = Vec::new();
    std::io::stdin()
        .take(MAX_OPTIONS)
        .read_to_end(&mut options)
        .map_err(|e| format!("read the runtime options on stdin: {e}"))?;
    let bytes = runtime_info()
        .write_to_bytes()
        .map_err(|e| format!("encode RuntimeInfo: {e}"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("write RuntimeInfo: {e}"))
}

/// The `RuntimeInfo` message.
pub fn runtime_info() -> RuntimeInfo {
    let features = Any {
        type_url: FEATURES_TYPE_URL.to_string(),
        value: pinhole_sandbox::features::features()
            .to_string()
            .into_bytes(),
        ..Default::default()
    };
    RuntimeInfo {
        name: NAME.to_string(),
        version: MessageField::some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }),
        features: MessageField::some(features),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_info_round_trips_with_the_features_json() {
        let bytes = runtime_info().write_to_bytes().unwrap();
        let info = RuntimeInfo::parse_from_bytes(&bytes).unwrap();
        assert_eq!(info.name, NAME);
        assert_eq!(info.version.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.features.type_url, FEATURES_TYPE_URL);
        let doc: serde_json::Value = serde_json::from_slice(&info.features.value).unwrap();
        assert!(doc["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "user"));
    }
}
