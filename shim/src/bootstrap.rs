//! What containerd writes on the stdin of `start`.
//!
//! - containerd 1.6 to 2.2: nothing, or the runtime options of the handler as a
//!   `google.protobuf.Any` (fields 1 `type_url` and 2 `value`);
//! - containerd 2.3 and later: a `containerd.runtime.bootstrap.v1.BootstrapParams` (the
//!   bootstrap protocol, `api/runtime/bootstrap/v1/bootstrap.proto`), which also carries the
//!   runtime options as its first extension.
//!
//! Both are decoded here, field by field, from containerd's field numbers (no generated code:
//! the proto is not in the crates the shim builds on). The two are told apart by their
//! fields: an `Any` has only fields 1 and 2, while containerd always fills
//! `containerd_version` (4) and its addresses (5, 6) in `BootstrapParams`; a message with any
//! field numbered 3 or above is therefore `BootstrapParams`. Unknown fields are skipped, as
//! protobuf readers do; a message that is not protobuf, or whose known fields have the wrong
//! wire type or are not UTF-8 where a string is due, is an error naming the field.

use crate::wire::{self, Field, Groups};

/// The largest stdin `start` reads (containerd's own shims read at most 10 MB).
pub const MAX_STDIN: u64 = 10 << 20;

/// `BootstrapParams` as far as the shim uses it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BootstrapParams {
    /// 1: the container or sandbox id (`-id`).
    pub instance_id: String,
    /// 2: the containerd namespace (`-namespace`).
    pub namespace: String,
    /// 3: the log level (0 info, negative more verbose: -4 debug, -8 trace).
    pub log_level: i32,
    /// 4: the version of the containerd that starts the shim.
    pub containerd_version: String,
    /// 5: containerd's ttrpc address (`TTRPC_ADDRESS`).
    pub ttrpc_address: String,
    /// 6: containerd's gRPC address (`-address`).
    pub grpc_address: String,
    /// 7: the containerd binary (`-publish-binary`).
    pub containerd_binary: String,
    /// 8: extensions, each a `google.protobuf.Any` (type URL and value).
    pub extensions: Vec<AnyMessage>,
}

impl BootstrapParams {
    /// Whether containerd asked for debug logs (`LOG_LEVEL_DEBUG` or more verbose).
    pub fn debug(&self) -> bool {
        self.log_level <= -4
    }
}

/// A `google.protobuf.Any`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AnyMessage {
    /// 1: the type URL.
    pub type_url: String,
    /// 2: the encoded message.
    pub value: Vec<u8>,
}

/// What was on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartInput {
    /// Nothing (containerd 1.x, or 2.x before 2.3 without runtime options).
    Empty,
    /// The handler's runtime options (containerd before 2.3).
    RuntimeOptions(AnyMessage),
    /// The bootstrap protocol (containerd 2.3 and later).
    Bootstrap(BootstrapParams),
}

/// Why stdin could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Reading stdin failed.
    #[error("read stdin: {0}")]
    Read(#[from] std::io::Error),
    /// More than [`MAX_STDIN`] bytes.
    #[error("stdin holds more than {MAX_STDIN} bytes")]
    TooLarge,
    /// Not a protobuf message, or a known field that does not decode.
    #[error("malformed bootstrap message on stdin: {0}")]
    Malformed(String),
}

/// Reads and decodes stdin of `start`.
pub fn read_stdin() -> Result<StartInput, BootstrapError> {
    use std::io::Read;
    let mut data = Vec::new();
    std::io::stdin()
        .take(MAX_STDIN + 1)
        .read_to_end(&mut data)?;
    if data.len() as u64 > MAX_STDIN {
        return Err(BootstrapError::TooLarge);
    }
    parse(&data)
}

/// Decodes what containerd wrote on stdin of `start`.
pub fn parse(data: &[u8]) -> Result<StartInput, BootstrapError> {
    if data.is_empty() {
        return Ok(StartInput::Empty);
    }
    let fields = fields(data).map_err(BootstrapError::Malformed)?;
    if fields.iter().all(|f| f.number <= 2) {
        return any(&fields).map(StartInput::RuntimeOptions);
    }
    let mut p = BootstrapParams::default();
    for f in &fields {
        let m = BootstrapError::Malformed;
        match f.number {
            1 => p.instance_id = f.string("instance_id").map_err(m)?,
            2 => p.namespace = f.string("namespace").map_err(m)?,
            3 => p.log_level = f.int32("log_level").map_err(m)?,
            4 => p.containerd_version = f.string("containerd_version").map_err(m)?,
            5 => p.ttrpc_address = f.string("containerd_ttrpc_address").map_err(m)?,
            6 => p.grpc_address = f.string("containerd_grpc_address").map_err(m)?,
            7 => p.containerd_binary = f.string("containerd_binary").map_err(m)?,
            8 => p.extensions.push(extension(f)?),
            _ => {}
        }
    }
    Ok(StartInput::Bootstrap(p))
}

fn any(fields: &[Field]) -> Result<AnyMessage, BootstrapError> {
    let mut a = AnyMessage::default();
    for f in fields {
        match f.number {
            1 => a.type_url = f.string("type_url").map_err(BootstrapError::Malformed)?,
            2 => {
                a.value = f
                    .bytes("value")
                    .map_err(BootstrapError::Malformed)?
                    .to_vec()
            }
            _ => {}
        }
    }
    Ok(a)
}

/// The fields of a bootstrap message (a group in one is garbage: containerd sends none).
fn fields(data: &[u8]) -> Result<Vec<Field>, String> {
    wire::fields(data, Groups::Refuse)
}

/// An `Extension` (field 1: the `Any`).
fn extension(f: &Field) -> Result<AnyMessage, BootstrapError> {
    let inner = fields(f.bytes("extensions").map_err(BootstrapError::Malformed)?)
        .map_err(|e| BootstrapError::Malformed(format!("field extensions (8): {e}")))?;
    let mut out = AnyMessage::default();
    for e in &inner {
        if e.number == 1 {
            let payload = e
                .bytes("extensions.value")
                .map_err(BootstrapError::Malformed)?;
            let value = fields(payload).map_err(|err| {
                BootstrapError::Malformed(format!("field extensions.value: {err}"))
            })?;
            out = any(&value)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a length-delimited field.
    fn ld(number: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = varint(u64::from(number << 3 | 2));
        out.extend(varint(payload.len() as u64));
        out.extend_from_slice(payload);
        out
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn vint(number: u32, v: u64) -> Vec<u8> {
        let mut out = varint(u64::from(number << 3));
        out.extend(varint(v));
        out
    }

    fn any_bytes(type_url: &str, value: &[u8]) -> Vec<u8> {
        [ld(1, type_url.as_bytes()), ld(2, value)].concat()
    }

    /// A message as containerd 2.3's `command()` builds it.
    fn containerd_2_3() -> Vec<u8> {
        [
            ld(1, b"pod-1"),
            ld(2, b"k8s.io"),
            vint(3, (-4i64) as u64),
            ld(4, b"2.3.0"),
            ld(5, b"/run/containerd/containerd.sock.ttrpc"),
            ld(6, b"/run/containerd/containerd.sock"),
            ld(7, b"/usr/bin/containerd"),
            ld(
                8,
                &ld(1, &any_bytes("containerd.runc.v1.Options", b"\x0a\x02ab")),
            ),
        ]
        .concat()
    }

    #[test]
    fn empty_stdin_is_legacy() {
        assert_eq!(parse(b"").unwrap(), StartInput::Empty);
    }

    #[test]
    fn bootstrap_params_decode() {
        let StartInput::Bootstrap(p) = parse(&containerd_2_3()).unwrap() else {
            panic!("not bootstrap");
        };
        assert_eq!(p.instance_id, "pod-1");
        assert_eq!(p.namespace, "k8s.io");
        assert_eq!(p.log_level, -4);
        assert!(p.debug());
        assert_eq!(p.containerd_version, "2.3.0");
        assert_eq!(p.ttrpc_address, "/run/containerd/containerd.sock.ttrpc");
        assert_eq!(p.grpc_address, "/run/containerd/containerd.sock");
        assert_eq!(p.containerd_binary, "/usr/bin/containerd");
        assert_eq!(p.extensions.len(), 1);
        assert_eq!(p.extensions[0].type_url, "containerd.runc.v1.Options");
        assert_eq!(p.extensions[0].value, b"\x0a\x02ab");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut m = containerd_2_3();
        m.extend(ld(9, b"/run/containerd/s"));
        m.extend(vint(4000, 7));
        m.extend([0x5d, 1, 2, 3, 4]); // field 11, fixed32
        let StartInput::Bootstrap(p) = parse(&m).unwrap() else {
            panic!("not bootstrap");
        };
        assert_eq!(p.namespace, "k8s.io");
    }

    #[test]
    fn runtime_options_of_older_containerd_are_an_any() {
        let m = any_bytes("containerd.runc.v1.Options", b"\x0a\x03pol");
        assert_eq!(
            parse(&m).unwrap(),
            StartInput::RuntimeOptions(AnyMessage {
                type_url: "containerd.runc.v1.Options".into(),
                value: b"\x0a\x03pol".to_vec(),
            })
        );
    }

    #[test]
    fn malformed_messages_are_errors_naming_the_problem() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{\"json\":1}".to_vec(), "malformed"),
            (vec![0x0a, 0x10, b'a'], "malformed"), // truncated string
            (
                [ld(4, b"2.3"), ld(2, &[0xff, 0xfe])].concat(),
                "namespace (2) is not UTF-8",
            ),
            (
                [ld(4, b"2.3"), vint(5, 1)].concat(),
                "containerd_ttrpc_address (5) has the wrong wire type",
            ),
            (
                [ld(4, b"2.3"), ld(3, b"x")].concat(),
                "log_level (3) has the wrong wire type",
            ),
            (
                [ld(4, b"2.3"), ld(8, &[0x0a, 0x05])].concat(),
                "extensions (8)",
            ),
            (vec![0x0b, 0x00], "groups"),
            (vec![0x00, 0x00], "field number 0"),
        ];
        for (m, want) in cases {
            let e = parse(&m).expect_err(want).to_string();
            assert!(e.contains(want), "{m:?}: {e}");
        }
    }
}
