//! `pinhole surface` and `pinhole profile show/diff/check/compile/merge` (issue 8 point 4),
//! run as the built binary. Expected values are derived here from the inputs (the shipped
//! allowlist JSON, the high-risk list, the policies' TOML, hand-made profiles and the
//! `syscalls` crate's x86_64 table), not hard-coded. The container case creates a real
//! container under `runtimeclass/policies/pinhole.toml` and checks that its stacked filters'
//! surface is the intersection of its spec profile's and its policy ceiling's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use common::*;
use serde_json::{json, Value};

/// The architectures `pinhole surface` reports on an x86_64 host.
const ARCHES: [&str; 3] = ["x86_64", "x32", "x86"];

/// Runs `pinhole --root ROOT ARGS...` (no container involved) to completion.
fn pinhole(root: &Path, args: &[&str]) -> Out {
    let mut c = Command::new(pinhole_bin());
    c.arg("--root").arg(root).args(args);
    let what = format!("{c:?}");
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    Out {
        what,
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `pinhole ARGS... --json`, which must succeed, parsed.
#[track_caller]
fn json_of(root: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = pinhole(root, &a);
    out.assert_ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"))
}

/// `allowed_names` of a `surface --json` output, per arch.
fn names(v: &Value) -> BTreeMap<String, BTreeSet<String>> {
    ARCHES
        .iter()
        .map(|a| {
            let set = v["allowed_names"][a]
                .as_array()
                .unwrap_or_else(|| panic!("allowed_names.{a} in {v}"))
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            (a.to_string(), set)
        })
        .collect()
}

/// The shipped high-risk list's names.
fn high_risk() -> BTreeSet<String> {
    let text = fs::read_to_string(repo_root().join("sandbox/profiles/high-risk.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["syscall"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// Whether `name` is an x86_64 syscall (the `syscalls` crate's table, as pinhole's).
fn on_x86_64(name: &str) -> bool {
    syscalls::x86_64::Sysno::from_str(name).is_ok()
}

/// x86_64 number of `name`.
fn nr(name: &str) -> u32 {
    syscalls::x86_64::Sysno::from_str(name).unwrap().id() as u32
}

/// Checks the counts of a `surface --json` output against its own name lists.
#[track_caller]
fn assert_consistent(v: &Value) {
    for a in ARCHES {
        assert_eq!(
            v["allowed"][a].as_u64().unwrap() as usize,
            v["allowed_names"][a].as_array().unwrap().len(),
            "{a}"
        );
        assert_eq!(
            v["conditional"][a].as_u64().unwrap() as usize,
            v["conditional_names"][a].as_array().unwrap().len(),
            "{a}"
        );
    }
    let risk = high_risk();
    let want: BTreeSet<String> = names(v)
        .into_values()
        .flatten()
        .filter(|n| risk.contains(n))
        .collect();
    let got: BTreeSet<String> = v["risk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want, "risk = allowed names on the high-risk list");
    for key in [
        "docker_default",
        "gvisor_host_filter",
        "firecracker_vmm",
        "nabla",
    ] {
        assert!(v["references"][key]["min"].is_u64(), "references.{key}");
    }
}

#[test]
fn builtin_profiles_and_policies() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let default = json_of(root, &["surface", "default"]);
    assert_consistent(&default);
    // The shipped profile's names (sandbox/profiles/default.toml, read as plain TOML): those
    // of allowing rules that x86_64 has.
    let shipped: toml::Value = toml::from_str(
        &fs::read_to_string(repo_root().join("sandbox/profiles/default.toml")).unwrap(),
    )
    .unwrap();
    let mut listed = BTreeSet::new();
    let mut with_args = BTreeSet::new();
    for r in shipped["rule"].as_array().unwrap() {
        if r["action"].as_str() != Some("allow") {
            continue;
        }
        for n in r["names"].as_array().unwrap() {
            let n = n.as_str().unwrap();
            if on_x86_64(n) {
                listed.insert(n.to_string());
                if r.get("args").is_some() {
                    with_args.insert(n.to_string());
                }
            }
        }
    }
    let dn = names(&default);
    assert_eq!(dn["x86_64"], listed);
    let cond: BTreeSet<String> = default["conditional_names"]["x86_64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(cond, with_args, "conditional = the rules with arguments");
    assert!(dn["x86"].contains("socketcall") && !dn["x86_64"].contains("socketcall"));

    // strict = default less the high-risk list and strict.toml's [[remove]] lists, native
    // ABI only (read from the shipped file as plain TOML).
    let strict = json_of(root, &["surface", "strict"]);
    assert_consistent(&strict);
    let sn = names(&strict);
    let strict_toml: toml::Value = toml::from_str(
        &fs::read_to_string(repo_root().join("sandbox/profiles/strict.toml")).unwrap(),
    )
    .unwrap();
    let mut removed = high_risk();
    for r in strict_toml["remove"].as_array().unwrap() {
        for n in r["names"].as_array().unwrap() {
            removed.insert(n.as_str().unwrap().to_string());
        }
    }
    let want: BTreeSet<String> = dn["x86_64"].difference(&removed).cloned().collect();
    assert_eq!(sn["x86_64"], want);
    assert!(sn["x32"].is_empty() && sn["x86"].is_empty());
    assert_eq!(strict["risk"], json!([]));

    // Handler policies: the ceiling their TOML describes.
    for p in ["pinhole", "pinhole-strict"] {
        let path = policy(p);
        let t: toml::Value = toml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let sc = &t["seccomp"];
        let base = match sc["profile"].as_str() {
            Some("default") => &dn,
            Some("strict") => &sn,
            other => panic!("{p}: profile {other:?}"),
        };
        let deny: BTreeSet<String> = sc
            .get("deny")
            .and_then(|d| d.as_array())
            .map(|d| d.iter().map(|n| n.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        let native_only = sc.get("native_only").and_then(|v| v.as_bool()) == Some(true);
        let v = json_of(root, &["surface", path.to_str().unwrap()]);
        assert_consistent(&v);
        let got = names(&v);
        for a in ARCHES {
            let want: BTreeSet<String> = if native_only && a != "x86_64" {
                BTreeSet::new()
            } else {
                base[a].difference(&deny).cloned().collect()
            };
            assert_eq!(got[a], want, "{p} {a}");
        }
    }

    // The text form names the same counts and the references.
    let out = pinhole(root, &["surface", "default"]);
    out.assert_ok();
    let line = format!("allowed {:>4} of", dn["x86_64"].len());
    assert!(out.stdout.contains(&line), "{out}");
    assert!(out.stdout.contains("Docker default profile"), "{out}");
}

/// Writes `v` as JSON to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

fn profile(arches: &[&str], allow: &[&str]) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": arches,
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
    })
}

#[test]
fn oci_files_show_diff_usage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a_names = ["read", "write", "getpid", "socketcall", "ptrace"];
    let b_names = ["read", "write", "close", "openat"];
    let mut a = profile(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], &a_names);
    seccomp_add_rule(
        &mut a,
        &["kill"],
        "SCMP_ACT_ALLOW",
        None,
        Some(json!([{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}])),
    );
    let a_path = write(d, "a.json", &a);
    let b_path = write(d, "b.json", &profile(&["SCMP_ARCH_X86_64"], &b_names));

    let v = json_of(d, &["surface", &a_path]);
    assert_consistent(&v);
    let n = names(&v);
    let a_x86_64: BTreeSet<String> = a_names
        .iter()
        .chain(&["kill"])
        .filter(|n| on_x86_64(n))
        .map(|s| s.to_string())
        .collect();
    assert_eq!(n["x86_64"], a_x86_64);
    assert!(n["x32"].is_empty(), "x32 is not listed");
    assert!(n["x86"].contains("socketcall") && n["x86"].contains("kill"));
    assert_eq!(v["conditional_names"]["x86_64"], json!(["kill"]));
    assert_eq!(v["risk"], json!(["ptrace"]));

    // show: one line per allowed syscall, x86_64 numbers from the table, counts from usage.
    let usage = json!({
        "version": 1, "name": "t",
        "syscalls": [
            {"arch": "SCMP_ARCH_X86_64", "name": "read", "nr": nr("read"), "count": 42},
            {"arch": "SCMP_ARCH_X86_64", "name": "mount", "nr": nr("mount"), "count": 1}
        ],
        "socket_families": [], "clone_namespace_flags": 0, "containers": []
    });
    let u_path = write(d, "usage.json", &usage);
    let out = pinhole(d, &["profile", "show", &a_path, "--usage", &u_path]);
    out.assert_ok();
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 6 && f[2] == "x86_64")
        .collect();
    assert_eq!(rows.len(), a_x86_64.len(), "{out}");
    for r in &rows {
        assert_eq!(r[1], nr(r[0]).to_string(), "{out}");
        // With a usage file, a syscall it does not list was used 0 times.
        let count = if r[0] == "read" { "42" } else { "0" };
        assert_eq!(r[3], count, "{out}");
        assert_eq!(r[4] == "high-risk", high_risk().contains(r[0]), "{out}");
        assert_eq!(r[5] == "conditional", r[0] == "kill", "{out}");
    }
    assert!(
        out.stdout
            .contains("default action x86_64 SCMP_ACT_ERRNO(1)"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("default action x32 SCMP_ACT_KILL_PROCESS"),
        "{out}"
    );

    // surface --usage: used vs allowed, and what was used outside the filter.
    let v = json_of(d, &["surface", &a_path, "--usage", &u_path]);
    assert_eq!(v["used"]["x86_64"], 2);
    assert_eq!(v["used_not_allowed"]["x86_64"], json!(["mount"]));
    assert_eq!(v["used"]["x86"], 0);

    // diff: set differences per arch.
    let v = json_of(d, &["profile", "diff", &a_path, &b_path]);
    let b_x86_64: BTreeSet<String> = b_names.iter().map(|s| s.to_string()).collect();
    let strs = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        strs(&v["arches"]["x86_64"]["only_a"]),
        a_x86_64.difference(&b_x86_64).cloned().collect()
    );
    assert_eq!(
        strs(&v["arches"]["x86_64"]["only_b"]),
        b_x86_64.difference(&a_x86_64).cloned().collect()
    );
    assert_eq!(
        strs(&v["arches"]["x86"]["only_a"]),
        names(&json_of(d, &["surface", &a_path]))["x86"]
    );
    assert_eq!(v["arches"]["x86"]["only_b"], json!([]));
    // Text form, and exit 0 with differences.
    let out = pinhole(d, &["profile", "diff", &a_path, &b_path]);
    out.assert_ok();
    assert!(out
        .stdout
        .contains(&format!("x86_64 only in {b_path} (2): close openat")));
}

#[test]
fn check_compile_merge() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = profile(
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        &["read", "socketcall", "arm_fadvise64_64"],
    );
    let good_path = write(d, "good.json", &good);
    let out = pinhole(d, &["profile", "check", &good_path]);
    out.assert_ok();
    assert!(
        out.stdout
            .contains("names not on x86_64 (skipped there): arm_fadvise64_64 socketcall"),
        "{out}"
    );
    assert!(out.stdout.contains(&format!("{good_path}: ok")), "{out}");
    let bad_path = write(d, "bad.json", &profile(&[], &["read", "no_such_syscall"]));
    pinhole(d, &["profile", "check", &bad_path]).assert_error(&[&bad_path, "no_such_syscall"]);
    pinhole(d, &["profile", "check", "default"]).assert_ok();

    // compile: size line, raw BPF file of that size, one dump line per instruction.
    let bpf = d.join("good.bpf");
    let out = pinhole(
        d,
        &[
            "profile",
            "compile",
            &good_path,
            "--dump",
            "-o",
            bpf.to_str().unwrap(),
        ],
    );
    out.assert_ok();
    let head = out.stdout.lines().next().unwrap();
    let words: Vec<&str> = head.split_whitespace().collect();
    let insns: usize = words[words.len() - 4].parse().unwrap();
    let bytes: usize = words[words.len() - 2].parse().unwrap();
    assert_eq!(bytes, 8 * insns, "{out}");
    assert_eq!(fs::metadata(&bpf).unwrap().len() as usize, bytes);
    assert_eq!(out.stdout.lines().count(), 1 + insns, "{out}");
    assert!(
        out.stdout.lines().nth(1).unwrap().contains("; arch"),
        "{out}"
    );
    // The raw program's last instruction is a return (BPF_RET | BPF_K = 0x06).
    let raw = fs::read(&bpf).unwrap();
    assert_eq!(u16::from_le_bytes([raw[bytes - 8], raw[bytes - 7]]), 0x06);

    // merge: sorted union, same default action, union of arches; deterministic.
    let a = profile(&["SCMP_ARCH_X86"], &["write", "read", "getpid"]);
    let mut b = profile(&["SCMP_ARCH_X86_64"], &["close", "read"]);
    seccomp_add_rule(
        &mut b,
        &["kill"],
        "SCMP_ACT_ALLOW",
        None,
        Some(json!([{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}])),
    );
    let (a_path, b_path) = (write(d, "ma.json", &a), write(d, "mb.json", &b));
    let m1 = d.join("m1.json");
    let m2 = d.join("m2.json");
    pinhole(
        d,
        &[
            "profile",
            "merge",
            &a_path,
            &b_path,
            "-o",
            m1.to_str().unwrap(),
        ],
    )
    .assert_ok();
    pinhole(
        d,
        &[
            "profile",
            "merge",
            &b_path,
            &a_path,
            "-o",
            m2.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let merged: Value = serde_json::from_str(&fs::read_to_string(&m1).unwrap()).unwrap();
    let mut union: Vec<&str> = ["write", "read", "getpid", "close"].to_vec();
    union.sort();
    assert_eq!(merged["syscalls"][0]["names"], json!(union));
    assert_eq!(merged["syscalls"][1]["names"], json!(["kill"]));
    assert_eq!(merged["defaultAction"], "SCMP_ACT_ERRNO");
    let mut arches = merged["architectures"].as_array().unwrap().clone();
    arches.sort_by_key(|a| a.to_string());
    assert_eq!(arches, [json!("SCMP_ARCH_X86"), json!("SCMP_ARCH_X86_64")]);
    assert_eq!(
        fs::read_to_string(&m1).unwrap(),
        fs::read_to_string(&m2).unwrap(),
        "merge is order-independent here (no argument rules in both)"
    );
    // The merged profile's surface is the union of the inputs' on the arches both cover; an
    // arch only one input lists gets every merged name (OCI rules are not per arch).
    let (sa, sb, sm) = (
        names(&json_of(d, &["surface", &a_path])),
        names(&json_of(d, &["surface", &b_path])),
        names(&json_of(d, &["surface", m1.to_str().unwrap()])),
    );
    for a in ARCHES {
        let u: BTreeSet<String> = sa[a].union(&sb[a]).cloned().collect();
        assert!(sm[a].is_superset(&u), "{a}");
    }
    let u: BTreeSet<String> = sa["x86_64"].union(&sb["x86_64"]).cloned().collect();
    assert_eq!(sm["x86_64"], u);
    assert!(sm["x32"].is_empty(), "no input lists x32");
    let mut kill = profile(&[], &["read"]);
    kill["defaultAction"] = json!("SCMP_ACT_KILL_PROCESS");
    let k_path = write(d, "kill.json", &kill);
    let out = d.join("never.json");
    pinhole(
        d,
        &[
            "profile",
            "merge",
            &a_path,
            &k_path,
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .assert_error(&[&a_path, &k_path, "default action"]);
    assert!(!out.exists());
}

#[test]
fn bad_input_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pinhole(d, &["surface", "no-such-container"]).assert_error(&["no-such-container"]);
    let missing = d.join("missing.json");
    let missing = missing.to_str().unwrap();
    pinhole(d, &["surface", missing]).assert_error(&[missing]);
    pinhole(d, &["profile", "show", missing]).assert_error(&[missing]);
    let malformed = d.join("malformed.json");
    fs::write(&malformed, "{\"defaultAction\": ").unwrap();
    let malformed = malformed.to_str().unwrap();
    pinhole(d, &["surface", malformed]).assert_error(&[malformed]);
    let wrong = write(d, "wrong.json", &json!({"defaultAction": "SCMP_ACT_NOPE"}));
    pinhole(d, &["surface", &wrong]).assert_error(&[&wrong, "defaultAction"]);
    let bad_policy = d.join("bad.toml");
    fs::write(&bad_policy, "name = 1\n").unwrap();
    let bad_policy = bad_policy.to_str().unwrap();
    pinhole(d, &["surface", bad_policy]).assert_error(&[bad_policy]);
    let garbage_usage = d.join("usage.json");
    fs::write(&garbage_usage, "[]").unwrap();
    pinhole(
        d,
        &[
            "surface",
            "default",
            "--usage",
            garbage_usage.to_str().unwrap(),
        ],
    )
    .assert_error(&[garbage_usage.to_str().unwrap()]);
}

#[test]
fn container_surface_is_spec_profile_and_ceiling_stacked() {
    let c = Ctr::new("surface");
    let mut c = c;
    let spec_profile = seccomp_allowlist();
    c.spec["linux"]["seccomp"] = spec_profile.clone();
    let pol = policy("pinhole");
    c.create_with(&["--policy", pol.to_str().unwrap()])
        .assert_ok();
    let root = c.state_root().to_path_buf();
    let v = json_of(&root, &["surface", &c.id]);
    assert_consistent(&v);
    assert!(v.get("used").is_none(), "not recorded: {v}");
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = write(tmp.path(), "spec-seccomp.json", &spec_profile);
    let spec = names(&json_of(&root, &["surface", &spec_path]));
    let ceiling = names(&json_of(&root, &["surface", pol.to_str().unwrap()]));
    let got = names(&v);
    for a in ARCHES {
        let inter: BTreeSet<String> = spec[a].intersection(&ceiling[a]).cloned().collect();
        assert_eq!(got[a], inter, "{a}");
        assert_eq!(v["allowed"][a].as_u64().unwrap() as usize, inter.len());
    }
    assert!(!got["x86_64"].is_empty());
    // profile show on the container evaluates the same stack.
    let out = c.pinhole(&["profile", "show", &c.id]);
    out.assert_ok();
    let shown = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 6 && f[2] == "x86_64")
        .count();
    assert_eq!(shown, got["x86_64"].len(), "{out}");
    // A container has compiled filters only: merge needs profiles.
    let never = tmp.path().join("never.json");
    c.pinhole(&["profile", "merge", &c.id, "-o", never.to_str().unwrap()])
        .assert_error(&[&c.id, "compiled filters only"]);
    c.delete_ok(true);
    c.assert_clean();
    pinhole(&root, &["surface", &c.id]).assert_error(&[&c.id]);
}
