//! The runtime options containerd sends: `runtimeoptions.v1.Options{type_url, config_path}` for
//! a handler with an options table, or, for a handler without one, nothing or the
//! `containerd.runc.v1.Options` containerd's client makes up itself (containerd 2.x does so for
//! every task of a `hostUsers: false` pod, to pass the pipes' owner `io_uid`/`io_gid`; with a
//! `runtimeoptions` table it fails such pods: "can't unmarshal type runtimeoptions.v1.Options").
//! runc's other fields mean nothing to pinhole and are ignored; its container gets the
//! built-in policy.

use containerd_shim::protos::protobuf::well_known_types::any::Any;

use crate::wire;

/// The type containerd uses for the options of runtimes other than runc.
pub const RUNTIME_OPTIONS_TYPE: &str = "runtimeoptions.v1.Options";
/// The type containerd's client fills in itself when the handler has no options.
pub const RUNC_OPTIONS_TYPE: &str = "containerd.runc.v1.Options";

/// What pinhole takes from CreateTaskRequest.options.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// The handler policy (`runtimeoptions` `config_path`).
    pub config_path: Option<String>,
    /// Who must own the process's stdio pipes (runc's `io_uid`/`io_gid`: the host ids of the
    /// container's root in a user namespace).
    pub io_owner: Option<(u32, u32)>,
}

/// Decodes CreateTaskRequest.options; default when none were given. Other option types are an
/// error naming the type.
pub fn parse(options: Option<&Any>) -> Result<RuntimeOptions, String> {
    let Some(any) = options else {
        return Ok(RuntimeOptions::default());
    };
    if any.type_url.is_empty() && any.value.is_empty() {
        return Ok(RuntimeOptions::default());
    }
    let short = any.type_url.rsplit('/').next().unwrap_or_default();
    let malformed = |e: String| format!("options: malformed {short}: {e}");
    let fields = match short {
        RUNC_OPTIONS_TYPE | RUNTIME_OPTIONS_TYPE => wire::fields(&any.value, wire::Groups::Skip).map_err(malformed)?,
        _ => {
            return Err(format!(
                "options: unsupported type {:?} (pinhole takes {RUNTIME_OPTIONS_TYPE}, or {RUNC_OPTIONS_TYPE} from a handler without options)",
                any.type_url
            ))
        }
    };
    let mut o = RuntimeOptions::default();
    if short == RUNC_OPTIONS_TYPE {
        // io_uid (4) and io_gid (5); none when both are 0
        let id = |n: u32| {
            fields
                .iter()
                .rev()
                .filter(|f| f.number == n)
                .find_map(|f| f.varint())
                .map_or(0, |v| v as u32)
        };
        let (uid, gid) = (id(4), id(5));
        o.io_owner = (uid, gid).ne(&(0, 0)).then_some((uid, gid));
        return Ok(o);
    }
    // config_path (2)
    for f in fields.iter().filter(|f| f.number == 2) {
        if let Some(b) = f.as_bytes() {
            let path =
                String::from_utf8(b.to_vec()).map_err(|e| format!("options: config_path: {e}"))?;
            o.config_path = Some(path);
        }
    }
    o.config_path = o.config_path.filter(|p| !p.is_empty());
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(type_url: &str, value: Vec<u8>) -> Any {
        let mut a = Any::new();
        a.type_url = type_url.into();
        a.value = value;
        a
    }

    fn config_path(options: Option<&Any>) -> Result<Option<String>, String> {
        parse(options).map(|o| o.config_path)
    }

    #[test]
    fn decodes_config_path() {
        // field 1 (type_url) = "x", field 2 (config_path) = "/p.toml"
        let mut v = vec![0x0a, 1, b'x', 0x12, 7];
        v.extend_from_slice(b"/p.toml");
        let a = any("runtimeoptions.v1.Options", v);
        assert_eq!(config_path(Some(&a)).unwrap().as_deref(), Some("/p.toml"));
        assert_eq!(config_path(None).unwrap(), None);
        assert_eq!(config_path(Some(&any("", vec![]))).unwrap(), None);
        // io_uid = 3000000000 (field 4), as containerd 2.x sends for a userns pod
        let runc = any(
            "containerd.runc.v1.Options",
            vec![0x20, 0x80, 0xbc, 0xc1, 0x96, 0x0b],
        );
        assert_eq!(config_path(Some(&runc)).unwrap(), None);
        assert!(config_path(Some(&any("io.containerd.kata.v2.Options", vec![]))).is_err());
        assert!(config_path(Some(&any("runtimeoptions.v1.Options", vec![0x12, 9]))).is_err());
    }
}
