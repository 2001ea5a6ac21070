//! Tests of the seccomp compiler (via the BPF interpreter), cache and installer.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompFilterFlag};
use serde_json::{json, Value};

use super::asm::{JMP_JA, MAX_INSTRUCTIONS};
use super::compile::{RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG, RET_TRAP};
use super::interp::{run, Data};
use super::names::{TargetArch, X32_SYSCALL_BIT};
use super::*;

const X86_64: u32 = 0xc000_003e;
const I386: u32 = 0x4000_0003;
const NR_UNAME: u32 = 63;
const NR_GETPID: u32 = 39;
const NR_PERSONALITY: u32 = 135;
const NR_I386_UNAME: u32 = 122;
const NR_I386_SOCKETCALL: u32 = 102;

fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("valid profile json")
}

fn build(v: Value) -> Filter {
    compile(&profile(v), &[]).expect("profile compiles")
}

fn eval(f: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run(
        f.program(),
        &Data {
            nr,
            arch,
            ip: 0,
            args,
        },
    )
    .0
}

fn native(f: &Filter, nr: u32) -> u32 {
    eval(f, X86_64, nr, [0; 6])
}

fn errno(e: i32) -> u32 {
    RET_ERRNO | e as u32
}

#[test]
fn default_actions() {
    let cases = [
        (json!({"defaultAction": "SCMP_ACT_ALLOW"}), RET_ALLOW),
        (json!({"defaultAction": "SCMP_ACT_LOG"}), RET_LOG),
        (json!({"defaultAction": "SCMP_ACT_KILL"}), RET_KILL_THREAD),
        (
            json!({"defaultAction": "SCMP_ACT_KILL_THREAD"}),
            RET_KILL_THREAD,
        ),
        (
            json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}),
            RET_KILL_PROCESS,
        ),
        (json!({"defaultAction": "SCMP_ACT_TRAP"}), RET_TRAP),
        (
            json!({"defaultAction": "SCMP_ACT_ERRNO"}),
            errno(libc::EPERM),
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}),
            errno(libc::ENOSYS),
        ),
    ];
    for (p, want) in cases {
        let f = build(p.clone());
        for nr in [0, 1, NR_UNAME, 500, 0x3fff_ffff, u32::MAX] {
            assert_eq!(native(&f, nr), want, "{p} nr {nr}");
        }
        // Foreign arch → bad-arch action; x32 not listed → KILL_PROCESS.
        assert_eq!(eval(&f, 0xc000_00b7, NR_UNAME, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(native(&f, X32_SYSCALL_BIT | NR_UNAME), RET_KILL_PROCESS);
        assert_eq!(eval(&f, I386, NR_I386_UNAME, [0; 6]), RET_KILL_PROCESS);
    }
}

#[test]
fn errno_values_and_actions() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getppid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["getuid"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getgid"], "action": "SCMP_ACT_LOG"},
            {"names": ["gettid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}
        ]
    }));
    assert_eq!(native(&f, NR_UNAME), errno(libc::EXDEV));
    assert_eq!(native(&f, NR_GETPID), errno(libc::EPERM));
    assert_eq!(native(&f, 110), RET_TRAP);
    assert_eq!(native(&f, 102), RET_KILL_PROCESS);
    assert_eq!(native(&f, 104), RET_LOG);
    assert_eq!(native(&f, 186), RET_ERRNO);
    assert_eq!(native(&f, 0), RET_ALLOW);
}

#[test]
fn bad_actions_and_values_are_rejected() {
    for action in ["SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE"] {
        let err = compile(
            &profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                             {"names": ["uname"], "action": action}]})),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("unsupported action {action} in linux.seccomp.syscalls[1].action")
        );
        let err = compile(&profile(json!({"defaultAction": action})), &[]).unwrap_err();
        assert!(
            err.to_string().contains("linux.seccomp.defaultAction"),
            "{err}"
        );
    }
    let err = compile(
        &profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000})),
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("linux.seccomp.defaultErrnoRet"),
        "{err}"
    );
    let err = compile(
        &profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["uname"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "argument index 6 out of range (must be < 6) in linux.seccomp.syscalls[0].args[1].index"
    );
    let err = compile(
        &profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, SeccompError::UnsupportedFlag(_)), "{err}");
}

fn op_holds(op: &str, arg: u64, v: u64, v2: u64) -> bool {
    match op {
        "SCMP_CMP_EQ" => arg == v,
        "SCMP_CMP_NE" => arg != v,
        "SCMP_CMP_LT" => arg < v,
        "SCMP_CMP_LE" => arg <= v,
        "SCMP_CMP_GT" => arg > v,
        "SCMP_CMP_GE" => arg >= v,
        "SCMP_CMP_MASKED_EQ" => arg & v == v2,
        _ => unreachable!(),
    }
}

const OPS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];

const VALUES: [u64; 10] = [
    0,
    1,
    5,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0005,
    0x2_0000_0000,
    0x8000_0000_0000_0000,
    u64::MAX,
];

#[test]
fn arg_ops_64bit() {
    for op in OPS {
        for (vi, &v) in VALUES.iter().enumerate() {
            let v2 = VALUES[(vi + 3) % VALUES.len()] & v;
            let index = vi % 6;
            let f = build(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": index, "value": v, "valueTwo": v2, "op": op}]}]
            }));
            for &arg in &VALUES {
                for arg in [
                    arg,
                    arg.wrapping_add(1),
                    arg.wrapping_sub(1),
                    arg ^ (1 << 32),
                ] {
                    let mut args = [0x5555_5555_5555_5555; 6];
                    args[index] = arg;
                    let want = if op_holds(op, arg, v, v2) {
                        RET_ALLOW
                    } else {
                        errno(libc::EPERM)
                    };
                    assert_eq!(
                        eval(&f, X86_64, NR_UNAME, args),
                        want,
                        "{op} arg {arg:#x} value {v:#x} value2 {v2:#x}"
                    );
                }
            }
        }
    }
}

#[test]
fn arg_ops_i386_compare_low_half() {
    for op in OPS {
        for &v in &VALUES {
            let v2 = v & 0xff;
            let f = build(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86"],
                "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 1, "value": v, "valueTwo": v2, "op": op}]}]
            }));
            for &arg in &VALUES {
                let arg = arg & 0xffff_ffff;
                let want = if op_holds(op, arg, v & 0xffff_ffff, v2 & 0xffff_ffff) {
                    RET_ALLOW
                } else {
                    errno(libc::EPERM)
                };
                let args = [0, arg, 0, 0, 0, 0];
                assert_eq!(
                    eval(&f, I386, NR_I386_UNAME, args),
                    want,
                    "{op} {arg:#x} {v:#x}"
                );
            }
        }
    }
}

#[test]
fn masked_eq_with_high_bits() {
    // clone: allow unless any namespace flag (incl. a high bit) is set.
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x1_7e02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }));
    let call = |a: u64| eval(&f, X86_64, NR_PERSONALITY, [a, 0, 0, 0, 0, 0]);
    assert_eq!(call(0x11), RET_ALLOW);
    assert_eq!(call(0x2_0000_0011), RET_ALLOW);
    assert_eq!(call(0x1_0000_0000), errno(libc::EPERM));
    assert_eq!(call(0x0002_0000), errno(libc::EPERM));
}

#[test]
fn rule_order_and_and_semantics() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18,
             "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_GE"},
                      {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_GE"}]},
            {"names": ["personality", "uname"], "action": "SCMP_ACT_TRAP"},
            {"names": ["personality", "uname"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}
        ]
    }));
    let p = |a0: u64, a1: u64| eval(&f, X86_64, NR_PERSONALITY, [a0, a1, 0, 0, 0, 0]);
    assert_eq!(p(12, 7), errno(libc::EXDEV)); // first rule: both args match
    assert_eq!(p(12, 8), RET_ALLOW); // AND fails → second rule
    assert_eq!(p(6, 7), RET_ALLOW);
    assert_eq!(p(1, 7), RET_TRAP); // unconditional third rule
    assert_eq!(native(&f, NR_UNAME), RET_TRAP); // first unconditional wins over later ALLOW
    assert_eq!(eval(&f, X86_64, NR_GETPID, [1, 0, 0, 0, 0, 0]), RET_ALLOW);
    // Trailing rule equal to the default is dropped, result unchanged.
    assert_eq!(native(&f, NR_GETPID), errno(libc::EPERM));
}

#[test]
fn unknown_and_optional_names() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["uname", "no_such_call"], "action": "SCMP_ACT_ALLOW"}
        ]
    }));
    let err = compile(&p, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown syscall \"no_such_call\" in linux.seccomp.syscalls[1].names"
    );
    for optional in [vec!["no_such_call".to_owned()], vec!["*".to_owned()]] {
        let f = compile(&p, &optional).unwrap();
        assert_eq!(native(&f, NR_UNAME), RET_ALLOW);
        assert_eq!(native(&f, 0), RET_ALLOW);
    }
    assert!(validate(&p, &["other".to_owned()]).is_err());

    // socketcall exists only on i386: unknown unless that arch is covered.
    let only64 = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["socketcall"], "action": "SCMP_ACT_ERRNO"}]});
    assert!(matches!(
        compile(&profile(only64), &[]),
        Err(SeccompError::UnknownSyscall { index: 0, .. })
    ));
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": ["socketcall", "uname"], "action": "SCMP_ACT_ERRNO"}]}));
    assert_eq!(
        eval(&f, I386, NR_I386_SOCKETCALL, [0; 6]),
        errno(libc::EPERM)
    );
    assert_eq!(eval(&f, I386, NR_I386_UNAME, [0; 6]), errno(libc::EPERM));
    assert_eq!(native(&f, NR_UNAME), errno(libc::EPERM));
    assert_eq!(native(&f, NR_I386_SOCKETCALL), RET_ALLOW);
}

#[test]
fn x32_dispatch() {
    let rules = json!([{"names": ["uname", "ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]);
    let without = build(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    assert_eq!(native(&without, NR_UNAME), errno(libc::EXDEV));
    assert_eq!(
        native(&without, X32_SYSCALL_BIT | NR_UNAME),
        RET_KILL_PROCESS
    );
    assert_eq!(native(&without, u32::MAX), RET_ALLOW); // nr -1 is not x32

    let with = build(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"], "syscalls": rules}));
    assert_eq!(
        native(&with, X32_SYSCALL_BIT | NR_UNAME),
        errno(libc::EXDEV)
    );
    assert_eq!(native(&with, X32_SYSCALL_BIT | 514), errno(libc::EXDEV)); // x32 ioctl
    assert_eq!(native(&with, X32_SYSCALL_BIT | 16), RET_ALLOW); // 64-bit ioctl nr on x32
    assert_eq!(native(&with, X32_SYSCALL_BIT), RET_ALLOW);
    assert_eq!(native(&with, 16), errno(libc::EXDEV)); // native ioctl
    assert_eq!(native(&with, u32::MAX), RET_ALLOW);
}

/// A Docker-like profile: default ERRNO, every x86_64 syscall allowed, some with arg rules.
fn big_profile(arg_rules: usize) -> (Value, Vec<&'static str>) {
    let names: Vec<&'static str> = (0..=u32::MAX)
        .take(470)
        .filter_map(|nr| syscalls::x86_64::Sysno::new(nr as usize))
        .map(|s| s.name())
        .filter(|n| !n.starts_with("r#"))
        .collect();
    let (cond, plain) = names.split_at(arg_rules);
    let mut syscalls = vec![json!({"names": plain, "action": "SCMP_ACT_ALLOW"})];
    for (i, n) in cond.iter().enumerate() {
        syscalls.push(json!({"names": [n], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": i % 6, "value": (i as u64) << 32 | 7, "op": "SCMP_CMP_EQ"}]}));
        syscalls.push(
            json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": 18,
            "args": [{"index": 0, "value": 0xff, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}),
        );
    }
    let p = json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    });
    (p, names)
}

#[test]
fn big_profile_uses_long_jumps_and_stays_correct() {
    let (p, names) = big_profile(40);
    assert!(names.len() > 350, "{}", names.len());
    let f = build(p);
    assert!(f.instructions() < MAX_INSTRUCTIONS, "{}", f.instructions());
    assert!(
        f.program().iter().any(|i| i.code == JMP_JA),
        "expected trampolines"
    );
    let enosys = errno(libc::ENOSYS);
    for (arch, audit) in [
        (TargetArch::X86_64, X86_64),
        (TargetArch::X32, X86_64),
        (TargetArch::X86, I386),
    ] {
        let mut max_denied_steps = 0;
        let base = if arch == TargetArch::X32 {
            X32_SYSCALL_BIT
        } else {
            0
        };
        for nr in base..base + 600 {
            let name = names.iter().position(|n| arch.lookup(n) == Some(nr));
            let (got, steps) = run(
                f.program(),
                &Data {
                    nr,
                    arch: audit,
                    ..Default::default()
                },
            );
            match name {
                Some(i) if i < 40 => {
                    let mut args = [0u64; 6];
                    args[i % 6] = (i as u64) << 32 | 7;
                    let d = Data {
                        nr,
                        arch: audit,
                        ip: 0,
                        args,
                    };
                    let (hit, _) = run(f.program(), &d);
                    // On i386 only the low half (7) is compared.
                    assert_eq!(hit, RET_ALLOW, "{arch:?} nr {nr} conditional allow");
                    let d = Data {
                        nr,
                        arch: audit,
                        ip: 0,
                        args: [0x103, 0, 0, 0, 0, 0],
                    };
                    // Rule 1 fails (arg != i<<32|7), rule 2 matches (0x103 & 0xff == 3).
                    let want = errno(libc::EXDEV);
                    assert_eq!(run(f.program(), &d).0, want, "{arch:?} nr {nr} masked");
                    assert_eq!(got, enosys, "{arch:?} nr {nr} no rule matches");
                }
                Some(_) => assert_eq!(got, RET_ALLOW, "{arch:?} nr {nr}"),
                None => {
                    assert_eq!(got, enosys, "{arch:?} nr {nr}");
                    max_denied_steps = max_denied_steps.max(steps);
                }
            }
        }
        // Arch dispatch + O(log n) tree + a 4-entry leaf, far below a linear scan.
        assert!(max_denied_steps <= 20, "{arch:?}: {max_denied_steps} steps");
    }
}

#[test]
fn too_large_is_rejected() {
    let (p, _) = big_profile(300);
    match compile(&profile(p), &[]) {
        Err(SeccompError::TooLarge {
            instructions,
            limit,
        }) => {
            assert!(instructions > limit);
            assert_eq!(limit, 4096);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn bytes_roundtrip_and_corruption() {
    let (p, _) = big_profile(10);
    let f = build(p);
    let bytes = f.to_bytes();
    assert_eq!(Filter::from_bytes(&bytes).unwrap(), f);
    let mut bad = bytes.clone();
    let last = bad.len() - 3;
    bad[last] ^= 1;
    assert!(Filter::from_bytes(&bad).is_err());
    assert!(Filter::from_bytes(&bytes[..bytes.len() - 4]).is_err());
    assert!(Filter::from_bytes(&bytes[..40]).is_err());
    assert!(Filter::from_bytes(b"garbage").is_err());
}

#[test]
fn cache_reuses_and_repairs_entries() {
    let dir = std::env::temp_dir().join(format!("pinhole-seccomp-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (p, _) = big_profile(10);
    let p = profile(p);
    let key = cache_key(&p, &[]).unwrap();
    assert_ne!(key, cache_key(&p, &["*".to_owned()]).unwrap());
    let path = dir.join(format!("{key}.bpf"));

    let f1 = compile_cached(&dir, &p, &[]).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), f1.to_bytes());
    let f2 = compile_cached(&dir, &p, &[]).unwrap();
    assert_eq!(f1, f2);

    // A loaded entry is used as is: prove it by planting a different valid filter.
    let other = build(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    std::fs::write(&path, other.to_bytes()).unwrap();
    assert_eq!(compile_cached(&dir, &p, &[]).unwrap(), other);

    // Corrupt → recompiled and rewritten.
    std::fs::write(&path, b"PNHBPF01 not really").unwrap();
    assert_eq!(compile_cached(&dir, &p, &[]).unwrap(), f1);
    assert_eq!(std::fs::read(&path).unwrap(), f1.to_bytes());

    // Group/world-writable entries are not trusted.
    std::fs::write(&path, other.to_bytes()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(compile_cached(&dir, &p, &[]).unwrap(), f1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Forks; the child sets no_new_privs, installs `filter`, calls uname and exits with
/// 0 if uname failed with `want_errno`, 1 if it succeeded, 2 + errno otherwise (capped).
fn run_uname_in_child(filter: &Filter, flags: &[LinuxSeccompFilterFlag], want_errno: i32) -> i32 {
    // SAFETY: the child only calls async-signal-safe functions (prctl, seccomp, uname,
    // _exit) and `install`, which does not allocate.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain prctl/uname/_exit calls on valid arguments in the forked child.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(100);
            }
            if install(filter, flags).is_err() {
                libc::_exit(101);
            }
            let mut uts: libc::utsname = std::mem::zeroed();
            let rc = libc::uname(&mut uts);
            let e = *libc::__errno_location();
            let code = if rc == 0 {
                1
            } else if e == want_errno {
                0
            } else {
                2 + e.min(90)
            };
            libc::_exit(code);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid);
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: {status:#x}"
    );
    libc::WEXITSTATUS(status)
}

#[test]
fn installed_filter_denies_uname_in_child() {
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]}));
    assert_eq!(run_uname_in_child(&f, &[], libc::EXDEV), 0);
    let flags = [
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    ];
    assert_eq!(run_uname_in_child(&f, &flags, libc::EXDEV), 0);
}

#[test]
fn kernel_accepts_big_filter() {
    // Allow everything except uname, with many arg rules and trampolines in the program.
    let (p, _) = big_profile(60);
    let mut p = profile(p);
    p.set_default_action(oci_spec::runtime::LinuxSeccompAction::ScmpActAllow);
    let mut rules = p.syscalls().clone().unwrap();
    rules.insert(
        0,
        serde_json::from_value(
            json!({"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}),
        )
        .unwrap(),
    );
    p.set_syscalls(Some(rules));
    let f = compile(&p, &[]).unwrap();
    assert!(f.program().iter().any(|i| i.code == JMP_JA));
    assert_eq!(run_uname_in_child(&f, &[], libc::EXDEV), 0);
}

#[test]
fn asm_relaxes_far_branches_in_both_directions() {
    use super::asm::{Asm, Cmp, Target};
    // For each (a == 1, a == 2) combination, check the branch lands on the right return
    // across > 255 filler instructions, with Next targets surviving trampolines.
    for (far_t, far_f) in [(true, false), (false, true), (true, true)] {
        let mut asm = Asm::default();
        let t = asm.label();
        let f = asm.label();
        asm.ld(16);
        let jt = if far_t { Target::To(t) } else { Target::Next };
        let jf = if far_f { Target::To(f) } else { Target::Next };
        asm.jmp(Cmp::Eq, 1, jt, jf);
        asm.ret(100); // "next"
        for _ in 0..300 {
            asm.ret(0);
        }
        asm.bind(t);
        asm.ret(1);
        for _ in 0..300 {
            asm.ret(0);
        }
        asm.bind(f);
        asm.ret(2);
        let prog = asm.finish().unwrap();
        let go = |a: u64| {
            run(
                &prog,
                &Data {
                    args: [a, 0, 0, 0, 0, 0],
                    ..Default::default()
                },
            )
            .0
        };
        assert_eq!(go(1), if far_t { 1 } else { 100 }, "{far_t} {far_f}");
        assert_eq!(go(7), if far_f { 2 } else { 100 }, "{far_t} {far_f}");
    }
}

#[test]
fn docker_like_profile_size() {
    let (p, names) = big_profile(40);
    let start = std::time::Instant::now();
    let f = build(p);
    eprintln!(
        "{} syscalls, 40 with arg rules, 3 arches: {} instructions, compiled in {:?}",
        names.len(),
        f.instructions(),
        start.elapsed()
    );
}
