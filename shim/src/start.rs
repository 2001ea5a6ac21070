//! `containerd-shim-pinhole-v2 start`: finds or starts the group's shim daemon and tells
//! containerd where it serves, in the form containerd reads ([`crate::reply`]).
//!
//! containerd names the shim in two ways that must agree: the flags it always passed
//! (`-namespace -id -address -publish-binary`, `TTRPC_ADDRESS`) and, from 2.3 on, a
//! `BootstrapParams` on stdin ([`crate::bootstrap`]). A bootstrap field fills in a flag that is
//! missing; a bootstrap id or namespace that contradicts its flag is refused.

use std::io::Write;

use containerd_shim::{Config, Flags, Shim, StartOpts};

use crate::bootstrap::{self, StartInput};
use crate::reply;
use crate::serve::TTRPC_ADDRESS;
use crate::shim::{PinholeShim, RUNTIME_ID};

/// Runs `start`; the error is printed on stderr by the caller, with a non-zero exit.
pub fn run(flags: Flags) -> Result<(), String> {
    let input = bootstrap::read_stdin().map_err(|e| e.to_string())?;
    let opts = start_opts(&flags, &input, std::env::var(TTRPC_ADDRESS).ok())?;
    let reply = reply::choose(
        &input,
        std::env::var(reply::MAX_VERSION_ENV).ok().as_deref(),
    );
    let mut config = Config::default();
    let mut shim = PinholeShim::new(RUNTIME_ID, &flags, &mut config);
    let address = shim.start_shim(opts).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    out.write_all(&reply::encode(&address, reply))
        .and_then(|()| out.flush())
        .map_err(|e| format!("write the reply: {e}"))
}

/// The start options from the flags, completed by the bootstrap parameters.
fn start_opts(
    flags: &Flags,
    input: &StartInput,
    ttrpc_env: Option<String>,
) -> Result<StartOpts, String> {
    let mut opts = StartOpts {
        id: flags.id.clone(),
        publish_binary: flags.publish_binary.clone(),
        address: flags.address.clone(),
        ttrpc_address: ttrpc_env.unwrap_or_default(),
        namespace: flags.namespace.clone(),
        debug: flags.debug,
    };
    if let StartInput::Bootstrap(p) = input {
        merge("id", "instance_id", &mut opts.id, &p.instance_id)?;
        merge("namespace", "namespace", &mut opts.namespace, &p.namespace)?;
        fill(&mut opts.address, &p.grpc_address);
        fill(&mut opts.ttrpc_address, &p.ttrpc_address);
        fill(&mut opts.publish_binary, &p.containerd_binary);
        opts.debug |= p.debug();
    }
    for (what, v) in [
        ("-id", &opts.id),
        ("-namespace", &opts.namespace),
        ("-address", &opts.address),
        (TTRPC_ADDRESS, &opts.ttrpc_address),
    ] {
        if v.is_empty() {
            return Err(format!("start: {what} is not given"));
        }
    }
    Ok(opts)
}

/// A bootstrap value must agree with the flag given for it.
fn merge(flag: &str, field: &str, value: &mut String, bootstrap: &str) -> Result<(), String> {
    if !value.is_empty() && !bootstrap.is_empty() && value != bootstrap {
        return Err(format!(
            "start: bootstrap {field} {bootstrap:?} contradicts -{flag} {value:?}"
        ));
    }
    fill(value, bootstrap);
    Ok(())
}

fn fill(value: &mut String, from: &str) {
    if value.is_empty() {
        *value = from.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::BootstrapParams;

    fn flags(id: &str, ns: &str) -> Flags {
        Flags {
            id: id.into(),
            namespace: ns.into(),
            address: "/run/containerd/containerd.sock".into(),
            action: "start".into(),
            ..Default::default()
        }
    }

    fn params() -> BootstrapParams {
        BootstrapParams {
            instance_id: "c1".into(),
            namespace: "k8s.io".into(),
            log_level: -4,
            ttrpc_address: "/run/c/ttrpc".into(),
            grpc_address: "/run/c/grpc".into(),
            containerd_binary: "/usr/bin/containerd".into(),
            ..Default::default()
        }
    }

    #[test]
    fn legacy_flags_and_env() {
        let o = start_opts(
            &flags("c1", "default"),
            &StartInput::Empty,
            Some("/t".into()),
        )
        .unwrap();
        assert_eq!((o.id.as_str(), o.namespace.as_str()), ("c1", "default"));
        assert_eq!(o.ttrpc_address, "/t");
        assert!(!o.debug);
    }

    #[test]
    fn bootstrap_fills_what_flags_leave_out() {
        let f = Flags {
            action: "start".into(),
            ..Default::default()
        };
        let o = start_opts(&f, &StartInput::Bootstrap(params()), None).unwrap();
        assert_eq!(o.id, "c1");
        assert_eq!(o.namespace, "k8s.io");
        assert_eq!(o.address, "/run/c/grpc");
        assert_eq!(o.ttrpc_address, "/run/c/ttrpc");
        assert_eq!(o.publish_binary, "/usr/bin/containerd");
        assert!(o.debug);
    }

    #[test]
    fn flags_win_where_both_agree_and_contradictions_are_refused() {
        let o = start_opts(
            &flags("c1", "k8s.io"),
            &StartInput::Bootstrap(params()),
            None,
        )
        .unwrap();
        assert_eq!(o.address, "/run/containerd/containerd.sock");
        let e = start_opts(
            &flags("c2", "k8s.io"),
            &StartInput::Bootstrap(params()),
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("instance_id \"c1\" contradicts -id \"c2\""),
            "{e}"
        );
        let e = start_opts(
            &flags("c1", "default"),
            &StartInput::Bootstrap(params()),
            None,
        )
        .unwrap_err();
        assert!(e.contains("namespace"), "{e}");
    }

    #[test]
    fn missing_ttrpc_address_is_named() {
        let e = start_opts(&flags("c1", "default"), &StartInput::Empty, None).unwrap_err();
        assert!(e.contains("TTRPC_ADDRESS"), "{e}");
    }
}
