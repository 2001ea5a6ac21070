//! Modes of pinhole's state (issue 7 item 6): every directory pinhole creates is 0700 and
//! every file 0600, whatever the umask, so other local users can neither list container ids
//! nor read a container's spec (its environment may hold secrets). The shim's side is in
//! tests/shim.rs (`state_is_owner_only`).

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// `cmd` with umask 0 (the most permissive) in the child.
fn umask0(mut cmd: Command) -> Command {
    // SAFETY: umask is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    cmd
}

#[test]
fn cli_state_is_owner_only() {
    let mut c = Ctr::new("perm-cli");
    c.args(&["/bin/sleep", "30"]);
    c.spec["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push("SECRET=hunter2".into());
    c.spec["linux"]["seccomp"] = seccomp_allowlist();
    // The test's state root is the parent everyone may traverse; pinhole makes the rest.
    fs::set_permissions(c.state_root(), fs::Permissions::from_mode(0o711)).unwrap();
    c.write_spec();
    let create = c.command(&["create", "--bundle", c.bundle().to_str().unwrap(), &c.id]);
    c.invoke(umask0(create)).assert_ok();
    let _ = c.state(); // record the init pid for the leak checks
    let dir = c.state_root().join(&c.id);
    assert!(dir.join("config.json").is_file() && dir.join("seccomp.json").is_file());
    assert!(
        dir.join("start.sock").exists(),
        "created: the gate socket is there"
    );
    let mut bad: Vec<String> = fs::read_dir(c.state_root())
        .unwrap()
        .flatten()
        .flat_map(|e| loose_modes(&e.path()))
        .collect();
    // A state root pinhole creates itself, parents included.
    let nested = c.state_root().join("made/by/pinhole");
    let mut list = Command::new(&c.bin);
    list.arg("--root").arg(&nested).arg("list");
    c.invoke(umask0(list)).assert_ok();
    bad.extend(loose_modes(&c.state_root().join("made")));
    assert!(bad.is_empty(), "not owner-only:\n  {}", bad.join("\n  "));
    assert_private_from_nobody(&dir, &dir.join("config.json"));

    c.start_ok();
    c.wait_status("running", std::time::Duration::from_secs(5));
    let bad = loose_modes(&dir);
    assert!(bad.is_empty(), "after start:\n  {}", bad.join("\n  "));
    c.kill_and_delete();
    c.assert_clean();
}
