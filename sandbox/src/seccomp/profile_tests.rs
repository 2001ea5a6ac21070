//! Tests of the profile loader and of the shipped profiles, judged by evaluating the compiled
//! BPF program (test interpreter) for every syscall number of each ABI.

use std::collections::BTreeSet;

use oci_spec::runtime::LinuxSeccomp;

use super::super::compile::{RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS};
use super::super::interp::{run, Data};
use super::super::names::{TargetArch, X32_SYSCALL_BIT};
use super::super::{compile, model, risk, Filter};
use super::*;

/// moby's default profile allows this many syscalls on x86_64 (with Docker's default
/// capabilities): `default` must not allow more.
const MOBY_X86_64_ALLOWED: usize = 309;
/// The most syscalls `strict` may allow on x86_64.
const STRICT_MAX_ALLOWED: usize = 250;
/// Syscall numbers probed per ABI: well above every table's last entry (x86_64 ends near 470,
/// i386 near 470 too).
const PROBED: u32 = 4096;

const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

/// Argument vectors a number is tried with: "allowed" means allowed for one of them (a0 covers
/// the families, personas, clone flags and socketcall subcalls the shipped rules allow).
const ARG_SETS: [[u64; 6]; 6] = [
    [0; 6],
    [1, 1, 0, 0, 0, 0],
    [2, 1, 0, 0, 0, 0],
    [10, 1, 0, 0, 0, 0],
    [16, 1, 0, 0, 0, 0],
    [0x11, 0, 0, 0, 0, 0],
];

fn builtin_filter(name: &str) -> (LinuxSeccomp, Filter) {
    let p = builtin(name).unwrap_or_else(|| panic!("no built-in {name}"));
    let f = compile(&p, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
    (p, f)
}

fn eval(f: &Filter, arch: TargetArch, nr: u32, args: [u64; 6]) -> u32 {
    run(
        f.program(),
        &Data {
            nr,
            arch: arch.audit_arch(),
            ip: 0,
            args,
        },
    )
    .0
}

/// The numbers of `arch` (its `seccomp_data.nr` domain, first [`PROBED`]) the filter allows
/// for some argument vector of [`ARG_SETS`].
fn allowed(f: &Filter, arch: TargetArch) -> BTreeSet<u32> {
    let base = if arch == TargetArch::X32 {
        X32_SYSCALL_BIT
    } else {
        0
    };
    (base..base + PROBED)
        .filter(|nr| {
            ARG_SETS
                .iter()
                .any(|a| model::allows(eval(f, arch, *nr, *a)))
        })
        .collect()
}

fn nr(arch: TargetArch, name: &str) -> u32 {
    arch.lookup(name)
        .unwrap_or_else(|| panic!("{name} on {arch:?}"))
}

const ARCHES: [TargetArch; 3] = [TargetArch::X86_64, TargetArch::X32, TargetArch::X86];

#[test]
fn every_shipped_rule_has_a_reason() {
    for (name, file, text) in BUILTIN {
        let rules = rule_sources(text, file).unwrap();
        assert!(!rules.is_empty(), "{name}: no rules");
        for r in &rules {
            assert!(
                !r.reason.trim().is_empty() && !r.reason.contains('\n'),
                "{name}: {:?} has no one-line reason",
                r.names
            );
            for w in &r.whys {
                assert!(
                    !w.trim().is_empty(),
                    "{name}: {:?}: an arg without why",
                    r.names
                );
            }
        }
        // The raw file: every [[rule]] and [[remove]] table carries a `reason` key.
        let raw: toml::Table = text.parse().unwrap();
        for key in ["rule", "remove"] {
            for t in raw
                .get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                assert!(
                    t.get("reason").is_some(),
                    "{name}: {key} without reason: {t}"
                );
            }
        }
    }
}

#[test]
fn shipped_profiles_match_the_model() {
    for (name, _, _) in BUILTIN {
        let p = builtin(name).unwrap();
        match model::check(&p, &[], 0x9e37_79b9) {
            Ok(compiled) => assert!(compiled, "{name} does not compile"),
            Err(m) => panic!("{name}: {m}"),
        }
    }
}

#[test]
fn default_profile_is_no_wider_than_moby() {
    let (_, f) = builtin_filter("default");
    let counts: Vec<(TargetArch, usize)> =
        ARCHES.iter().map(|a| (*a, allowed(&f, *a).len())).collect();
    eprintln!(
        "default: allowed syscalls per ABI {counts:?}, {} instructions",
        f.instructions()
    );
    let x86_64 = allowed(&f, TargetArch::X86_64);
    assert!(
        x86_64.len() <= MOBY_X86_64_ALLOWED,
        "default allows {} syscalls on x86_64, moby {MOBY_X86_64_ALLOWED}",
        x86_64.len()
    );
    // Nothing allowed that the tables do not name (no stray ranges).
    for a in ARCHES {
        let stray: Vec<u32> = allowed(&f, a)
            .difference(&named_numbers(a))
            .copied()
            .collect();
        assert!(
            stray.is_empty(),
            "default allows {a:?} numbers without a name: {stray:x?}"
        );
    }
}

/// Every number of `arch` that some syscall name has (via the `syscalls` crate's tables and
/// pinhole's lookup, which knows the x32-specific numbers).
fn named_numbers(arch: TargetArch) -> BTreeSet<u32> {
    (0..PROBED as usize)
        .flat_map(|id| {
            [
                syscalls::x86_64::Sysno::new(id).map(|s| s.name()),
                syscalls::x86::Sysno::new(id).map(|s| s.name()),
            ]
        })
        .flatten()
        .filter_map(|n| arch.lookup(n.trim_start_matches("r#")))
        .collect()
}

#[test]
fn default_profile_refusals() {
    let (_, f) = builtin_filter("default");
    for a in ARCHES {
        for name in [
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "chroot",
        ] {
            assert_eq!(eval(&f, a, nr(a, name), [0; 6]), EPERM, "{a:?} {name}");
        }
        assert_eq!(eval(&f, a, nr(a, "clone3"), [0; 6]), ENOSYS, "{a:?} clone3");
        for name in ["socket", "socketpair"] {
            for fam in [38u64, 40] {
                for a0 in [fam, fam | 0x1_0000_0000, fam | 0xffff_ffff_0000_0000] {
                    let got = eval(&f, a, nr(a, name), [a0, 1, 0, 0, 0, 0]);
                    assert_eq!(got, EPERM, "{a:?} {name}({a0:#x})");
                }
            }
            for fam in [1u64, 2, 10, 16, 17] {
                assert_eq!(eval(&f, a, nr(a, name), [fam, 1, 0, 0, 0, 0]), RET_ALLOW);
            }
        }
        // clone: namespace flags refused, threads allowed.
        let clone = nr(a, "clone");
        assert_eq!(eval(&f, a, clone, [0x003d_0f00, 0, 0, 0, 0, 0]), RET_ALLOW);
        for flag in [0x0002_0000u64, 0x1000_0000, 0x4000_0000, 0x0200_0000] {
            assert_eq!(eval(&f, a, clone, [flag | 0x11, 0, 0, 0, 0, 0]), EPERM);
        }
        // personality: moby's values only.
        let pers = nr(a, "personality");
        for v in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(eval(&f, a, pers, [v, 0, 0, 0, 0, 0]), RET_ALLOW, "{v:#x}");
        }
        for v in [0x0040_0000u64, 0x0004_0000, 1] {
            assert_eq!(eval(&f, a, pers, [v, 0, 0, 0, 0, 0]), EPERM, "{v:#x}");
        }
    }
    // i386 socketcall: SYS_SOCKET and SYS_SOCKETPAIR refused, other subcalls allowed.
    let sc = nr(TargetArch::X86, "socketcall");
    for (sub, want) in [(1u64, EPERM), (8, EPERM), (3, RET_ALLOW), (6, RET_ALLOW)] {
        assert_eq!(
            eval(&f, TargetArch::X86, sc, [sub, 0x1000, 0, 0, 0, 0]),
            want,
            "{sub}"
        );
    }
}

#[test]
fn strict_profile_bounds() {
    let (p, f) = builtin_filter("strict");
    let native = allowed(&f, TargetArch::X86_64);
    eprintln!(
        "strict: {} syscalls allowed on x86_64, {} instructions",
        native.len(),
        f.instructions()
    );
    assert!(
        native.len() <= STRICT_MAX_ALLOWED,
        "strict allows {} syscalls on x86_64",
        native.len()
    );
    let (_, default) = builtin_filter("default");
    assert!(native.is_subset(&allowed(&default, TargetArch::X86_64)));
    // None of the high-risk list, on any ABI, for any argument vector.
    for r in risk::high_risk() {
        for a in ARCHES {
            if let Some(n) = a.lookup(&r.name) {
                for args in ARG_SETS.iter().chain([[u64::MAX; 6]].iter()) {
                    let got = eval(&f, a, n, *args);
                    assert!(!model::allows(got), "strict allows {} on {a:?}", r.name);
                }
            }
        }
    }
    // Every i386 and x32 number is killed (nr -1 is not an x32 call: default action).
    for n in (0..PROBED).chain([0x7fff_ffff, 0x8000_0000, u32::MAX]) {
        assert_eq!(
            eval(&f, TargetArch::X86, n, [0; 6]),
            RET_KILL_PROCESS,
            "i386 {n:#x}"
        );
    }
    for n in (X32_SYSCALL_BIT..X32_SYSCALL_BIT + PROBED).chain([0x7fff_ffff, 0xffff_fffe]) {
        assert_eq!(
            eval(&f, TargetArch::X32, n, [0; 6]),
            RET_KILL_PROCESS,
            "x32 {n:#x}"
        );
    }
    assert_eq!(eval(&f, TargetArch::X86_64, u32::MAX, [0; 6]), EPERM);
    assert_eq!(
        p.architectures().as_deref(),
        Some(&[oci_spec::runtime::Arch::ScmpArchNative][..])
    );
    // Four socket families, compared on the int's low 32 bits.
    for name in ["socket", "socketpair"] {
        let n = nr(TargetArch::X86_64, name);
        for fam in [1u64, 2, 10, 16] {
            assert_eq!(
                eval(&f, TargetArch::X86_64, n, [fam, 1, 0, 0, 0, 0]),
                RET_ALLOW
            );
        }
        for a0 in [0u64, 17, 38, 40, 0x1_0000_0028, 0x1_0000_0011, 44] {
            assert_eq!(
                eval(&f, TargetArch::X86_64, n, [a0, 1, 0, 0, 0, 0]),
                EPERM,
                "{a0:#x}"
            );
        }
    }
    let x = TargetArch::X86_64;
    assert_eq!(eval(&f, x, nr(x, "clone3"), [0; 6]), ENOSYS);
    assert_eq!(eval(&f, x, nr(x, "io_uring_setup"), [0; 6]), EPERM);
    assert_eq!(eval(&f, x, nr(x, "read"), [0; 6]), RET_ALLOW);
}

/// Parses `text` and returns the error's text.
fn err(text: &str) -> String {
    match parse(text, "t.toml") {
        Ok(p) => panic!("parsed: {p:?}"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "default_action = \"errno\"\n";

#[test]
fn bad_inputs_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "[[rule]]\nnames = [\"read\", \"no_such_call\"]\naction = \"allow\"\nreason = \"r\"\n",
            "t.toml:3:18: rule[0].names[1]: unknown syscall \"no_such_call\"",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allw\"\nreason = \"r\"\n",
            "t.toml:4:10: rule[0].action: unknown variant `allw`",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"errno\"\nerrno = \"EWHAT\"\nreason = \"r\"\n",
            "t.toml:5:9: rule[0].errno (read): unknown errno \"EWHAT\"",
        ),
        (
            "[[rule]]\nnames = [\"socket\"]\naction = \"allow\"\nreason = \"r\"\nargs = [{ index = 0, op = \"ne\", value = \"AF_INET|AF_NOPE\", why = \"w\" }]\n",
            "rule[0].args[0].value (socket): unknown constant \"AF_NOPE\"",
        ),
        (
            "[[rule]]\nnames = [\"socket\"]\naction = \"allow\"\nreason = \"r\"\nargs = [{ index = \"zero\", op = \"ne\", value = 1, why = \"w\" }]\n",
            "rule[0].args[0].index: invalid type: string \"zero\"",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\n",
            "rule[0]: missing field `reason`",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nreason = \" \"\n",
            "t.toml:5:10: rule[0].reason: must be one non-empty line",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nreason = \"r\"\ncomment = \"c\"\n",
            "unknown field `comment`",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nerrno = 1\nreason = \"r\"\n",
            "rule[0].errno (read): only with action = \"errno\"",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"errno\"\nerrno = 5000\nreason = \"r\"\n",
            "rule[0].errno (read): errno 5000 is above 4095",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nreason = \"r\"\nargs = [{ index = 6, op = \"eq\", value = 1, why = \"w\" }]\n",
            "rule[0].args[0].index (read): 6: must be below 6",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nreason = \"r\"\nargs = [{ index = 0, op = \"eq\", value = 1, value_two = 2, why = \"w\" }]\n",
            "rule[0].args[0].value_two (read): only with op = \"masked_eq\"",
        ),
        (
            "[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nreason = \"r\"\nargs = [{ index = 0, op = \"eq\", value = 1 }]\n",
            "missing field `why`",
        ),
        (
            "[[rule]]\nnames = []\naction = \"allow\"\nreason = \"r\"\n",
            "rule[0].names: must name at least one syscall",
        ),
        ("default_errno = \"EWHAT\"\n", "t.toml:2:17: default_errno: unknown errno \"EWHAT\""),
        ("[[rule]\n", "t.toml:2:"),
    ];
    for (body, want) in cases {
        let e = err(&format!("{HEAD}{body}"));
        assert!(e.contains(want), "want {want:?} in\n  {e}");
        assert!(e.starts_with("t.toml:"), "{e}");
    }
    // Without a head line.
    let e = err("[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nreason = \"r\"\n");
    assert!(e.contains("default_action: required without `base`"), "{e}");
    let e = err("base = \"nope\"\n");
    assert!(
        e.contains("t.toml:1:8: base: \"nope\" is not a built-in profile"),
        "{e}"
    );
    let e = err("default_action = \"allow\"\ndefault_errno = \"EPERM\"\n");
    assert!(
        e.contains("default_errno: only with default_action = \"errno\""),
        "{e}"
    );
    let e = err("default_action = \"errno\"\nremove_high_risk = true\n");
    assert!(
        e.contains("remove_high_risk: removes names from a base: needs `base`"),
        "{e}"
    );
    let e = err("base = \"default\"\n[[remove]]\nnames = [\"nope\"]\nreason = \"r\"\n");
    assert!(
        e.contains("t.toml:3:10: remove[0].names[0]: unknown syscall \"nope\""),
        "{e}"
    );
    let e = err("default_action = \"notify\"\n");
    assert!(
        e.contains("default_action: unknown variant `notify`"),
        "{e}"
    );
}

#[test]
fn values_errnos_and_base_semantics() {
    assert_eq!(
        resolve_value("CLONE_NEWUSER|CLONE_NEWNS").unwrap(),
        0x1002_0000
    );
    assert_eq!(resolve_value(" AF_VSOCK | 0x100 ").unwrap(), 0x128);
    assert_eq!(resolve_value("1_000").unwrap(), 1000);
    assert!(matches!(
        resolve_value("AF_VSOCK|"),
        Err(ProfileProblem::UnknownConstant(t)) if t.is_empty()
    ));
    let p = parse(
        "default_action = \"errno\"\ndefault_errno = 38\n[[rule]]\nnames = [\"clone\"]\naction = \"allow\"\nreason = \"r\"\nargs = [{ index = 0, op = \"masked_eq\", value = \"CLONE_NEWUSER\", why = \"w\" }]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(p.default_errno_ret(), Some(38));
    let arg = p.syscalls().as_ref().unwrap()[0].args().as_ref().unwrap()[0];
    assert_eq!((arg.value(), arg.value_two()), (0x1000_0000, Some(0)));

    // A rule of a derived file replaces the base's rules for its names; removals only touch
    // allowing rules (clone3's ENOSYS stays).
    let p = parse(
        "base = \"default\"\n[[remove]]\nnames = [\"read\", \"clone3\"]\nreason = \"r\"\n[[rule]]\nnames = [\"personality\"]\naction = \"errno\"\nreason = \"r\"\n",
        "t.toml",
    )
    .unwrap();
    let f = compile(&p, &[]).unwrap();
    let x = TargetArch::X86_64;
    assert_eq!(eval(&f, x, nr(x, "read"), [0; 6]), EPERM);
    assert_eq!(eval(&f, x, nr(x, "write"), [0; 6]), RET_ALLOW);
    assert_eq!(eval(&f, x, nr(x, "clone3"), [0; 6]), ENOSYS);
    assert_eq!(eval(&f, x, nr(x, "personality"), [0; 6]), EPERM);
    let personality_rules = p
        .syscalls()
        .iter()
        .flatten()
        .filter(|r| r.names().iter().any(|n| n == "personality"))
        .count();
    assert_eq!(personality_rules, 1);
    // The base's architectures stay unless given.
    assert_eq!(
        p.architectures(),
        builtin("default").unwrap().architectures()
    );
}

#[test]
fn load_reads_files_and_names_them() {
    let dir = std::env::temp_dir().join(format!("pinhole-profile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("p.toml");
    std::fs::write(
        &good,
        format!("{HEAD}[[rule]]\nnames = [\"read\"]\naction = \"allow\"\nreason = \"r\"\n"),
    )
    .unwrap();
    let p = load(&good).unwrap();
    assert_eq!(p.syscalls().as_ref().unwrap()[0].names(), &["read"]);
    let missing = dir.join("missing.toml");
    let e = load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&missing.display().to_string()) && e.contains("read:"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
