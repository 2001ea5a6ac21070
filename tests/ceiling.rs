//! The CLI's default ceiling (issue 10 item 7): engines that drive `pinhole` as a runc-style
//! CLI (podman, Docker's `--add-runtime`) pass no policy, and the container is confined all
//! the same: `--policy` (global, before or after the verb) > `PINHOLE_POLICY` >
//! `/etc/pinhole/policy.toml` > the built-in `pinhole` policy; `unconfined` opts out, said
//! on stderr. `/etc/pinhole` is replaced in a private mount namespace (`unshare -m`, a bind
//! over `/etc` for the pinhole process only), so the host's files are never read or written.
mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The capabilities this test process holds in its bounding set: what an engine's
/// `--privileged` hands the runtime (all the kernel knows, less what this box withholds).
fn all_caps() -> Vec<&'static str> {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status_mask(&status, "CapBnd");
    host_cap_names()
        .iter()
        .copied()
        .filter(|n| bnd & cap_mask(&[n]) != 0)
        .collect()
}

/// Every capability we hold, in all five sets, and no no_new_privs: what `--privileged`
/// asks for; the container prints its capability sets, seccomp mode and no_new_privs.
fn privileged(c: &mut Ctr) {
    set_caps(&mut c.spec, &CapSets::uniform(&all_caps()));
    c.spec["process"]["noNewPrivileges"] = serde_json::json!(false);
    c.sh("grep -E '^(CapEff|CapBnd|CapPrm|Seccomp|NoNewPrivs):' /proc/self/status");
}

/// An `/etc` for the pinhole process: empty, or holding `pinhole/policy.toml` = `policy`.
fn etc_with(policy: Option<&str>) -> tempfile::TempDir {
    let etc = tempfile::Builder::new()
        .prefix("pinhole-etc-")
        .tempdir()
        .unwrap();
    if let Some(text) = policy {
        fs::create_dir(etc.path().join("pinhole")).unwrap();
        fs::write(etc.path().join("pinhole/policy.toml"), text).unwrap();
    }
    etc
}

/// `c.command(args)` run with `etc` bound over `/etc` in a mount namespace of its own.
fn in_etc(c: &Ctr, etc: &Path, args: &[&str]) -> Out {
    let inner = c.command(args);
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc && exec "$@""#)
        .arg(etc)
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(inner.get_current_dir().unwrap());
    c.invoke(cmd)
}

/// `run --bundle B ID` with the global flags `pre` before the verb.
fn run_args(c: &Ctr, pre: &[&str]) -> Vec<String> {
    c.write_spec();
    pre.iter()
        .map(|s| s.to_string())
        .chain(c.run_args())
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The `pinhole` handler's ceiling held: Docker's capabilities at most, the ceiling filter,
/// no_new_privs.
#[track_caller]
fn assert_pinhole_ceiling(out: &Out) {
    out.assert_ok();
    let docker = cap_mask(&DOCKER_CAPS);
    for set in ["CapEff", "CapBnd", "CapPrm"] {
        let m = status_mask(&out.stdout, set);
        assert_eq!(m & !docker, 0, "{set} beyond Docker's set: {m:x}\n{out}");
    }
    assert_eq!(status_field(&out.stdout, "Seccomp"), Some("2"), "{out}");
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), Some("1"), "{out}");
}

/// No policy anywhere (no flag, no variable, no /etc file): the built-in `pinhole` policy,
/// so a privileged spec is clamped as under the shim. Before item 7 it got every capability
/// and no seccomp filter at all.
#[test]
fn no_policy_anywhere_is_the_builtin_pinhole_ceiling() {
    let mut c = Ctr::new("ceiling-builtin");
    c.policy_env = None;
    privileged(&mut c);
    let etc = etc_with(None);
    let out = in_etc(&c, etc.path(), &strs(&run_args(&c, &[])));
    assert_pinhole_ceiling(&out);
    // what was dropped is said, never silently
    assert!(
        out.stderr
            .contains("pinhole: warning: policy \"pinhole\": process.capabilities: dropped"),
        "{out}"
    );
    c.assert_clean();
}

/// `/etc/pinhole/policy.toml` applies when neither the flag nor the variable names a policy;
/// `PINHOLE_POLICY` beats it and the flag beats both, before or after the verb.
#[test]
fn flag_beats_env_beats_etc_file() {
    let strict = fs::read_to_string(policy("pinhole-strict")).unwrap();
    let pinhole = policy("pinhole");
    let pinhole = pinhole.to_str().unwrap();
    let etc = etc_with(Some(&strict));
    let mut c = Ctr::new("ceiling-order");
    c.policy_env = None;
    privileged(&mut c);

    // the /etc file: strict refuses the privileged spec, naming itself
    let out = in_etc(&c, etc.path(), &strs(&run_args(&c, &[])));
    out.assert_error(&["pinhole-strict", "privileged requests are refused"]);
    c.assert_clean();

    // PINHOLE_POLICY beats the /etc file
    c.policy_env = Some(pinhole.to_string());
    assert_pinhole_ceiling(&in_etc(&c, etc.path(), &strs(&run_args(&c, &[]))));
    c.assert_clean();

    // the global flag beats the variable (podman: --runtime-flag policy=F gives --policy=F)
    c.policy_env = Some(policy("pinhole-strict").display().to_string());
    let flag = format!("--policy={pinhole}");
    assert_pinhole_ceiling(&in_etc(&c, etc.path(), &strs(&run_args(&c, &[&flag]))));
    c.assert_clean();

    // ... and so does the flag after the verb, as `run --policy F` always worked
    let mut args = vec!["run", "--policy", pinhole];
    let run = c.run_args();
    args.extend(run[1..].iter().map(String::as_str));
    assert_pinhole_ceiling(&in_etc(&c, etc.path(), &args));
    c.assert_clean();
}

/// `--policy unconfined` opts out of every ceiling, the /etc file's included, and says so.
#[test]
fn unconfined_opts_out_and_says_so() {
    let etc = etc_with(Some(&fs::read_to_string(policy("pinhole-strict")).unwrap()));
    let mut c = Ctr::new("ceiling-unconfined");
    c.policy_env = None;
    privileged(&mut c);
    let out = in_etc(
        &c,
        etc.path(),
        &strs(&run_args(&c, &["--policy", "unconfined"])),
    );
    out.assert_ok();
    let all = cap_mask(&all_caps());
    assert_eq!(status_mask(&out.stdout, "CapEff"), all, "{out}");
    assert_eq!(status_field(&out.stdout, "Seccomp"), Some("0"), "{out}");
    assert!(
        out.stderr.starts_with(
            "pinhole: warning: --policy unconfined: no handler ceiling; capabilities, seccomp and no_new_privs are as the spec says\n"
        ),
        "{out}"
    );
    c.assert_clean();
}

/// A policy file that does not load is one error line naming the file and the field, and no
/// fallback to a weaker ceiling (or none).
#[test]
fn a_bad_policy_file_is_one_line_naming_file_and_field() {
    let etc = etc_with(Some("name = \"local\"\n[rootfs]\nreadonyl = true\n"));
    let mut c = Ctr::new("ceiling-bad");
    c.policy_env = None;
    let out = in_etc(&c, etc.path(), &strs(&run_args(&c, &[])));
    out.assert_error(&["/etc/pinhole/policy.toml", "readonyl"]);
    c.assert_clean();
    // the same through the variable
    let bad = c.bundle().join("bad.toml");
    fs::write(
        &bad,
        "name = \"local\"\n[capabilities]\nceiling = [\"CAP_BOGUS\"]\n",
    )
    .unwrap();
    c.policy_env = Some(bad.display().to_string());
    let out = c.run();
    out.assert_error(&[
        "PINHOLE_POLICY",
        &bad.display().to_string(),
        "capabilities.ceiling",
    ]);
    c.assert_clean();
    // a missing file named by the flag is an error too, not the default
    c.policy_env = None;
    let out = in_etc(
        &c,
        etc_with(None).path(),
        &strs(&run_args(&c, &["--policy", "/nonexistent/policy.toml"])),
    );
    out.assert_error(&["/nonexistent/policy.toml"]);
    c.assert_clean();
}

/// exec is bounded by the policy recorded at create, whatever `--policy` an engine passes to
/// every verb (podman repeats its runtime flags on each call): `--policy unconfined exec`
/// does not lift the ceiling. Verbs that create nothing never read the policy, so a policy
/// that does not load breaks no state/kill/delete.
#[test]
fn exec_keeps_the_create_policy_and_other_verbs_ignore_it() {
    let mut c = Ctr::new("ceiling-exec");
    c.policy_env = None;
    set_caps(&mut c.spec, &CapSets::uniform(&all_caps()));
    c.spec["process"]["noNewPrivileges"] = serde_json::json!(false);
    c.args(&["/bin/sleep", "30"]);
    c.write_spec();
    let etc = etc_with(None);
    let create = [
        "create",
        "--bundle",
        c.bundle().to_str().unwrap(),
        c.id.as_str(),
    ];
    in_etc(&c, etc.path(), &create).assert_ok();
    c.state_ok();
    c.start_ok();
    c.wait_status("running", std::time::Duration::from_secs(5));
    let probe = "grep -E '^(CapEff|CapBnd|CapPrm|Seccomp|NoNewPrivs):' /proc/self/status";
    let out = c.pinhole(&[
        "--policy",
        "unconfined",
        "exec",
        &c.id,
        "--",
        "/bin/sh",
        "-c",
        probe,
    ]);
    assert_pinhole_ceiling(&out);
    assert!(
        !out.stderr.contains("unconfined"),
        "exec read --policy\n{out}"
    );
    // a policy that cannot load does not matter to state, kill and delete
    let bogus = "--policy=/nonexistent/policy.toml";
    c.pinhole(&[bogus, "state", &c.id]).assert_ok();
    c.pinhole(&[bogus, "kill", &c.id, "KILL"]).assert_ok();
    c.wait_status("stopped", std::time::Duration::from_secs(5));
    c.pinhole(&[bogus, "delete", &c.id]).assert_ok();
    c.assert_clean();
}
