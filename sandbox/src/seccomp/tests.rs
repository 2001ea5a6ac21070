//! Tests of the seccomp compiler (via the BPF interpreter), cache and installer.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompFilterFlag};
use serde_json::{json, Value};

use super::asm::{JMP_JA, MAX_INSTRUCTIONS};
use super::compile::{RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG, RET_TRAP};
use super::interp::{run, Data};
use super::model::OPS;
use super::names::{TargetArch, X32_SYSCALL_BIT};
use super::*;

const X86_64: u32 = 0xc000_003e;
const I386: u32 = 0x4000_0003;
const NR_UNAME: u32 = 63;
const NR_GETPID: u32 = 39;
const NR_PERSONALITY: u32 = 135;
const NR_CLONE: u32 = 56;
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

/// For every operator and value of [`VALUES`], compiles a rule allowing `name` when argument
/// `index(value position)` satisfies it, and checks each of `nrs` (x86_64 audit arch, x32
/// covered) against [`op_holds`] on the argument and the values cut to `width`, the bits the
/// kernel reads.
fn check_arg_ops(name: &str, nrs: &[u32], index: fn(usize) -> usize, width: u64) {
    for op in OPS {
        for (vi, &v) in VALUES.iter().enumerate() {
            let v2 = VALUES[(vi + 3) % VALUES.len()] & v;
            let index = index(vi);
            let f = build(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                "syscalls": [{"names": [name], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": index, "value": v, "valueTwo": v2, "op": op}]}]
            }));
            for &arg in &VALUES {
                for arg in [
                    arg,
                    arg.wrapping_add(1),
                    arg.wrapping_sub(1),
                    arg ^ (1 << 32),
                    arg ^ (1 << 16),
                ] {
                    let mut args = [0x5555_5555_5555_5555; 6];
                    args[index] = arg;
                    let want = if op_holds(op, arg & width, v & width, v2 & width) {
                        RET_ALLOW
                    } else {
                        errno(libc::EPERM)
                    };
                    for &nr in nrs {
                        assert_eq!(
                            eval(&f, X86_64, nr, args),
                            want,
                            "{name} nr {nr:#x} {op} arg {arg:#x} value {v:#x} value2 {v2:#x}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn arg_ops_64bit() {
    check_arg_ops("uname", &[NR_UNAME], |vi| vi % 6, u64::MAX);
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
    // clone (flags are `unsigned long`): allow unless any namespace flag (incl. a high bit)
    // is set.
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x1_7e02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }));
    let call = |a: u64| eval(&f, X86_64, NR_CLONE, [a, 0, 0, 0, 0, 0]);
    assert_eq!(call(0x11), RET_ALLOW);
    assert_eq!(call(0x2_0000_0011), RET_ALLOW);
    assert_eq!(call(0x1_0000_0000), errno(libc::EPERM));
    assert_eq!(call(0x0002_0000), errno(libc::EPERM));
}

const NR_SOCKET: u32 = 41;
const NR_CHMOD: u32 = 90;
const NR_I386_SOCKET: u32 = 359;
const AF_VSOCK: u64 = 40;

#[test]
fn int_args_compare_the_low_32_bits() {
    // The kernel casts `int family` to 32 bits: 0x1_0000_0028 is AF_VSOCK.
    let hi_vsock = 0x1_0000_0000 | AF_VSOCK;
    let allow_style = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]}]
    }));
    let deny_style = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_EQ"}]}]
    }));
    for f in [&allow_style, &deny_style] {
        for nr in [NR_SOCKET, X32_SYSCALL_BIT | NR_SOCKET] {
            let socket = |family: u64| eval(f, X86_64, nr, [family, 1, 0, 0, 0, 0]);
            assert_eq!(socket(AF_VSOCK), errno(libc::EPERM));
            assert_eq!(socket(hi_vsock), errno(libc::EPERM), "nr {nr:#x}");
            assert_eq!(socket(0xffff_ffff_0000_0000 | AF_VSOCK), errno(libc::EPERM));
            // What the kernel sees decides: 0x1_0000_0002 is AF_INET.
            assert_eq!(socket(2), RET_ALLOW);
            assert_eq!(socket(0x1_0000_0002), RET_ALLOW);
        }
    }
    // A value with high bits is cut like the argument (a sign-extended -1 is the int -1).
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": u64::MAX, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert_eq!(
        eval(&f, X86_64, NR_SOCKET, [0xffff_ffff, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        eval(&f, X86_64, NR_SOCKET, [u64::MAX, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        eval(&f, X86_64, NR_SOCKET, [0x7fff_ffff, 0, 0, 0, 0, 0]),
        errno(libc::EPERM)
    );
}

/// Every operator on a narrow argument acts on the bits the kernel reads: argument, value
/// and mask cut to the width, compared unsigned.
#[test]
fn narrow_arg_ops_cut_argument_and_values() {
    // socket's `int type` and chmod's `umode_t mode`, native and x32.
    check_arg_ops(
        "socket",
        &[NR_SOCKET, X32_SYSCALL_BIT | NR_SOCKET],
        |_| 1,
        0xffff_ffff,
    );
    check_arg_ops(
        "chmod",
        &[NR_CHMOD, X32_SYSCALL_BIT | NR_CHMOD],
        |_| 1,
        0xffff,
    );
}

#[test]
fn wide_args_keep_the_high_half() {
    // clone's flags are `unsigned long` on x86_64: bit 32 is a real flag bit to the kernel.
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert_eq!(
        eval(&f, X86_64, NR_CLONE, [0x1_0000_0000, 0, 0, 0, 0, 0]),
        errno(libc::EPERM)
    );
    assert_eq!(eval(&f, X86_64, NR_CLONE, [0, 0, 0, 0, 0, 0]), RET_ALLOW);
    let masks = super::argwidth::arg_masks("clone", TargetArch::X86_64);
    assert_eq!(masks, [u64::MAX; 6]);
    let masks = super::argwidth::arg_masks("clone", TargetArch::X86);
    assert_eq!(masks, [0xffff_ffff; 6]);
    let masks = super::argwidth::arg_masks("chmod", TargetArch::X86);
    assert_eq!(masks[1], 0xffff);
}

/// The width table agrees with the prototypes it quotes: every `int`-like argument of each
/// listed syscall is listed as 32-bit, every `umode_t` as 16-bit, nothing else; every name is
/// a syscall the compiler knows.
#[test]
fn narrow_table_matches_its_prototypes() {
    use super::argwidth::{Width, NARROW};
    let width_of = |ty: &str| match ty {
        "umode_t" => Some(Width::W16),
        "int" | "unsigned int" | "unsigned" | "pid_t" | "u32" | "uid_t" | "gid_t" => {
            Some(Width::W32)
        }
        t if t.contains('*') || t == "unsigned long" || t == "long" || t == "size_t" => None,
        t => panic!("unexpected type {t:?} in the width table's prototypes"),
    };
    let mut seen = Vec::new();
    for n in NARROW {
        assert!(!seen.contains(&n.name), "{} listed twice", n.name);
        seen.push(n.name);
        assert!(
            TargetArch::X86_64.lookup(n.name).is_some() || TargetArch::X86.lookup(n.name).is_some(),
            "{} is not a syscall",
            n.name
        );
        let start = n
            .prototype
            .find("SYSCALL_DEFINE")
            .expect("a SYSCALL_DEFINE prototype");
        let body = &n.prototype[start..];
        let count: usize = body[14..15].parse().expect("SYSCALL_DEFINE<n>");
        let inner = body[16..].strip_suffix(')').expect("prototype ends with )");
        let parts: Vec<&str> = inner.split(", ").collect();
        assert_eq!(parts[0], n.name, "{}", n.prototype);
        assert_eq!(parts.len(), 1 + 2 * count, "{}", n.prototype);
        let derived: Vec<(usize, Width)> = (0..count)
            .filter_map(|i| width_of(parts[1 + 2 * i]).map(|w| (i, w)))
            .collect();
        assert_eq!(derived, n.args, "{}", n.prototype);
    }
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

    // socketcall does not exist on x86_64 but on other architectures (i386, s390x, ppc64):
    // a portable profile may list it, and it is skipped where it does not exist.
    let only64 = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["socketcall", "recv"], "action": "SCMP_ACT_ERRNO"}]});
    assert!(compile(&profile(only64), &[]).is_ok());
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

/// The Docker-default-like allowlist shipped in `hack/profiles`.
const DOCKER_DEFAULT: &str = include_str!("../../../hack/profiles/docker-default-allowlist.json");

fn docker_default() -> (LinuxSeccomp, Vec<String>) {
    (
        serde_json::from_str(DOCKER_DEFAULT).expect("valid profile"),
        vec!["recv".to_owned(), "send".to_owned()],
    )
}

/// Checks `f` against [`model::verdict`] for every nr in 0..600 (plus edge numbers) of every
/// ABI, with each of `arg_sets`.
fn check_against_model(f: &Filter, p: &LinuxSeccomp, arg_sets: &[[u64; 6]]) {
    for arch in [TargetArch::X86_64, TargetArch::X32, TargetArch::X86] {
        let base = if arch == TargetArch::X32 {
            X32_SYSCALL_BIT
        } else {
            0
        };
        let edges = [
            1000,
            0x3fff_ffff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_fffe,
            u32::MAX,
        ];
        let nrs = (base..base + 600).chain(edges.iter().map(|e| {
            if arch == TargetArch::X32 {
                e | X32_SYSCALL_BIT
            } else {
                *e
            }
        }));
        for nr in nrs {
            for args in arg_sets {
                let got = eval(f, arch.audit_arch(), nr, *args);
                let want = model::verdict(p, arch.audit_arch(), nr, *args);
                assert_eq!(got, want, "{arch:?} nr {nr:#x} args {args:x?}");
            }
        }
    }
}

#[test]
fn docker_default_matches_model_and_is_small() {
    let (p, optional) = docker_default();
    let f = compile(&p, &optional).unwrap();
    eprintln!(
        "docker-default allowlist: {} instructions",
        f.instructions()
    );
    // Range compression: 2085 instructions with per-number leaves, 390 with runs.
    assert!(f.instructions() < 450, "{}", f.instructions());
    // Every lookup stays O(log runs) (plus rule conditions).
    for nr in 0..600 {
        let (_, steps) = run(
            f.program(),
            &Data {
                nr,
                arch: X86_64,
                ..Default::default()
            },
        );
        assert!(steps <= 20, "nr {nr}: {steps} steps");
    }
    let arg_sets = [
        [0; 6],
        [8, 0, 0, 0, 0, 0],
        [40, 0, 0, 0, 0, 0],
        [0xffff_ffff, 0, 0, 0, 0, 0],
        [0x1_0000_0000, 1, 2, 3, 4, 5],
        [0x2_0000, 0, 0, 0, 0, 0],
        [0x1000_0000, 0, 0, 0, 0, 0],
    ];
    check_against_model(&f, &p, &arg_sets);
}

/// Deterministic xorshift for generated profiles.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn generated_profiles_match_model() {
    let actions = [
        json!({"action": "SCMP_ACT_ALLOW"}),
        json!({"action": "SCMP_ACT_ERRNO"}),
        json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 38}),
        json!({"action": "SCMP_ACT_TRAP"}),
        json!({"action": "SCMP_ACT_LOG"}),
        json!({"action": "SCMP_ACT_KILL_PROCESS"}),
    ];
    let names: Vec<&'static str> = (0..470)
        .filter_map(|nr| syscalls::x86::Sysno::new(nr as usize))
        .map(|s| s.name().trim_start_matches("r#"))
        .chain(
            (0..470)
                .filter_map(|nr| syscalls::x86_64::Sysno::new(nr as usize))
                .map(|s| s.name().trim_start_matches("r#")),
        )
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..40 {
        let mut syscalls = Vec::new();
        let rules = 1 + rng(&mut state) % 12;
        for _ in 0..rules {
            let mut rule = actions[(rng(&mut state) % actions.len() as u64) as usize].clone();
            // Mostly long, contiguous-ish name lists so ranges form.
            let start = (rng(&mut state) % names.len() as u64) as usize;
            let len = (rng(&mut state) % 200) as usize;
            let step = 1 + (rng(&mut state) % 3) as usize;
            let picked: Vec<&str> = names
                .iter()
                .skip(start)
                .step_by(step)
                .take(len)
                .copied()
                .collect();
            rule["names"] = json!(picked);
            if rng(&mut state).is_multiple_of(4) {
                rule["names"] = json!(picked.iter().take(3).collect::<Vec<_>>());
                rule["args"] = json!([{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]);
            }
            syscalls.push(rule);
        }
        let mut p = actions[(rng(&mut state) % actions.len() as u64) as usize].clone();
        p["defaultAction"] = p["action"].take();
        if let Some(e) = p.as_object_mut().unwrap().remove("errnoRet") {
            p["defaultErrnoRet"] = e;
        }
        p["syscalls"] = json!(syscalls);
        let arch_sets = [
            json!([]),
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            json!(["SCMP_ARCH_X86"]),
            json!(["SCMP_ARCH_X32"]),
        ];
        p["architectures"] = arch_sets[round % arch_sets.len()].clone();
        let p = profile(p);
        let f = compile(&p, &["*".to_owned()]).unwrap();
        check_against_model(&f, &p, &[[0; 6], [8, 0, 0, 0, 0, 0]]);
    }
}

/// Forks; the child installs `filter` and runs `body`, exiting with its result.
fn in_filtered_child(filter: &Filter, body: fn() -> i32) -> i32 {
    // SAFETY: the child only calls prctl, `install` (no allocation), `body` (raw syscalls)
    // and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain prctl/_exit calls in the forked child.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(100);
            }
            if install(filter, &[]).is_err() {
                libc::_exit(101);
            }
            libc::_exit(body());
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    libc::WEXITSTATUS(status)
}

/// Raw syscall returning `Err(errno)` on failure.
fn raw(nr: libc::c_long, a: [libc::c_long; 4]) -> Result<libc::c_long, i32> {
    // SAFETY: only called with syscalls and arguments that touch no caller memory.
    let rc = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3]) };
    if rc < 0 {
        // SAFETY: reading errno of the calling thread.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(rc)
    }
}

#[test]
fn kernel_enforces_docker_default() {
    let (p, optional) = docker_default();
    let f = compile(&p, &optional).unwrap();
    let code = in_filtered_child(&f, || {
        // Allowed: getpid, personality(0xffffffff) (query, arg rule).
        if raw(libc::SYS_getpid, [0; 4]).is_err() {
            return 10;
        }
        if raw(libc::SYS_personality, [0xffff_ffff, 0, 0, 0]).is_err() {
            return 11;
        }
        // Denied with EPERM: reboot with a bad magic (EINVAL even for root without the
        // filter), kexec_load with bad flags, personality with an unlisted persona.
        if raw(libc::SYS_reboot, [0, 0, 0, 0]) != Err(libc::EPERM) {
            return 12;
        }
        if raw(libc::SYS_kexec_load, [0, 0, 0, -1]) != Err(libc::EPERM) {
            return 13;
        }
        if raw(libc::SYS_personality, [0x1234, 0, 0, 0]) != Err(libc::EPERM) {
            return 14;
        }
        // Numbers far above the table: default action.
        if raw(1000, [0; 4]) != Err(libc::EPERM) {
            return 15;
        }
        0
    });
    assert_eq!(code, 0);
    // Without the filter reboot(0, …) is EINVAL (root) or EPERM (no CAP_SYS_BOOT); the
    // former proves the EPERM above came from the filter.
    let unfiltered = raw(libc::SYS_reboot, [0, 0, 0, 0]);
    assert!(
        matches!(unfiltered, Err(libc::EINVAL | libc::EPERM)),
        "{unfiltered:?}"
    );
}

/// Median wall time of `seccomp(SECCOMP_SET_MODE_FILTER)` for `filter`, each sample in a
/// fresh forked child (filters stack, so one install per process).
fn install_time_ns(filter: &Filter, samples: usize) -> u64 {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let mut fds = [0; 2];
        // SAFETY: valid array for the two pipe fds.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child calls only prctl, clock_gettime, `install`, write and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: raw calls on valid arguments in the forked child.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let t0 = std::time::Instant::now();
                let ok = install(filter, &[]).is_ok();
                let ns: u64 = if ok {
                    t0.elapsed().as_nanos() as u64
                } else {
                    0
                };
                libc::write(fds[1], (&ns as *const u64).cast(), 8);
                libc::_exit(0);
            }
        }
        let mut ns = 0u64;
        // SAFETY: reading 8 bytes into a u64, closing our fds, waiting for our child.
        unsafe {
            libc::close(fds[1]);
            assert_eq!(libc::read(fds[0], (&mut ns as *mut u64).cast(), 8), 8);
            libc::close(fds[0]);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        assert!(ns > 0, "install failed");
        times.push(ns);
    }
    times.sort_unstable();
    times[times.len() / 2]
}

#[test]
#[ignore = "timing measurement; run with --ignored --nocapture"]
fn install_time_docker_default() {
    let (p, optional) = docker_default();
    let f = compile(&p, &optional).unwrap();
    let tiny = build(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    // PINHOLE_SECCOMP_COMPARE=<file>: the first run stores this build's program there, later
    // runs (e.g. after a compiler change) also time the stored one.
    if let Ok(path) = std::env::var("PINHOLE_SECCOMP_COMPARE") {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let old = Filter::from_bytes(&bytes).unwrap();
                for _ in 0..3 {
                    eprintln!(
                        "seccomp() install, median of 300: stored ({} insns) {} ns; \
                         current ({} insns) {} ns",
                        old.instructions(),
                        install_time_ns(&old, 300),
                        f.instructions(),
                        install_time_ns(&f, 300)
                    );
                }
            }
            Err(_) => std::fs::write(&path, f.to_bytes()).unwrap(),
        }
    }
    for _ in 0..3 {
        eprintln!(
            "seccomp() install, median of 300: docker-default ({} insns) {} ns; \
             allow-all ({} insns) {} ns",
            f.instructions(),
            install_time_ns(&f, 300),
            tiny.instructions(),
            install_time_ns(&tiny, 300)
        );
    }
}

/// i386 `socketcall` subcalls (`SYS_*` of `linux/net.h`).
const SYS_SOCKET: u64 = 1;
const SYS_CONNECT: u64 = 3;
const SYS_GETSOCKNAME: u64 = 6;
const SYS_SOCKETPAIR: u64 = 8;

/// The number of `name` on `arch`.
fn nr_of(arch: TargetArch, name: &str) -> u32 {
    arch.lookup(name)
        .unwrap_or_else(|| panic!("{name} on {arch:?}"))
}

#[test]
fn shipped_allowlist_refuses_vsock_on_every_abi() {
    let f = compile(&crate::policy::default_allowlist(), &[]).unwrap();
    let call = |arch: TargetArch, name: &str, a0: u64| {
        eval(
            &f,
            arch.audit_arch(),
            nr_of(arch, name),
            [a0, 1, 0, 0, 0, 0],
        )
    };
    for arch in [TargetArch::X86_64, TargetArch::X32, TargetArch::X86] {
        for name in ["socket", "socketpair"] {
            assert_eq!(
                call(arch, name, AF_VSOCK),
                errno(libc::EPERM),
                "{arch:?} {name}"
            );
            assert_eq!(call(arch, name, 2), RET_ALLOW, "{arch:?} {name}");
            assert_eq!(call(arch, name, 1), RET_ALLOW, "{arch:?} {name}");
            // i386 registers are 32 bits: the high half never reaches the kernel there.
            let hi = 0x1_0000_0000 | AF_VSOCK;
            assert_eq!(call(arch, name, hi), errno(libc::EPERM), "{arch:?} {name}");
        }
    }
    // The direct i386 calls are 359/360.
    assert_eq!(nr_of(TargetArch::X86, "socket"), NR_I386_SOCKET);
    // socketcall: SYS_SOCKET and SYS_SOCKETPAIR refused (their family is in memory), other
    // subcalls allowed.
    let socketcall = |a0: u64| eval(&f, I386, NR_I386_SOCKETCALL, [a0, 0x1000, 0, 0, 0, 0]);
    assert_eq!(socketcall(SYS_SOCKET), errno(libc::EPERM));
    assert_eq!(socketcall(SYS_SOCKETPAIR), errno(libc::EPERM));
    assert_eq!(socketcall(SYS_CONNECT), RET_ALLOW);
    assert_eq!(socketcall(SYS_GETSOCKNAME), RET_ALLOW);
}

#[test]
fn shipped_allowlist_refuses_io_uring() {
    let f = compile(&crate::policy::default_allowlist(), &[]).unwrap();
    for arch in [TargetArch::X86_64, TargetArch::X32, TargetArch::X86] {
        for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            let got = eval(&f, arch.audit_arch(), nr_of(arch, name), [0; 6]);
            assert_eq!(got, errno(libc::EPERM), "{arch:?} {name}");
        }
    }
}

#[test]
fn strict_ceiling_kills_the_compat_abis() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtimeclass/policies");
    let strict = crate::policy::Policy::load(&dir.join("pinhole-strict.toml")).unwrap();
    let f = compile(strict.seccomp_ceiling().unwrap(), &[]).unwrap();
    assert_eq!(native(&f, NR_GETPID), RET_ALLOW);
    assert_eq!(native(&f, NR_UNAME), RET_ALLOW);
    // Every i386 and x32 number, allowed natively or not, kills the process.
    for nr in [
        0,
        20,
        NR_I386_UNAME,
        NR_I386_SOCKETCALL,
        NR_I386_SOCKET,
        1000,
        u32::MAX,
    ] {
        assert_eq!(eval(&f, I386, nr, [0; 6]), RET_KILL_PROCESS, "i386 {nr}");
    }
    for nr in [0, NR_GETPID, NR_UNAME, 514, 0x3fff_ffff] {
        assert_eq!(
            native(&f, X32_SYSCALL_BIT | nr),
            RET_KILL_PROCESS,
            "x32 {nr}"
        );
    }
    // nr -1 (a tracer skipping a syscall) is not an x32 call: default action.
    assert_eq!(native(&f, u32::MAX), errno(libc::EPERM));
    // The `pinhole` ceiling keeps both ABIs.
    let pinhole = crate::policy::Policy::load(&dir.join("pinhole.toml")).unwrap();
    let f = compile(pinhole.seccomp_ceiling().unwrap(), &[]).unwrap();
    assert_eq!(eval(&f, I386, 20, [0; 6]), RET_ALLOW);
    assert_eq!(native(&f, X32_SYSCALL_BIT | NR_GETPID), RET_ALLOW);
}

/// The committed differential corpus (`src/seccomp/corpus/*.json`, also the seed corpus of
/// the `seccomp_compile` fuzz target), with the shipped profiles.
fn differential_corpus() -> Vec<(String, LinuxSeccomp)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/seccomp/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "corpus too small: {files:?}");
    let mut out: Vec<(String, LinuxSeccomp)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read(f).unwrap();
            let p = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            (f.file_name().unwrap().to_string_lossy().into_owned(), p)
        })
        .collect();
    out.push(("docker-default-allowlist".into(), docker_default().0));
    out.push((
        "default-allowlist".into(),
        crate::policy::Policy::builtin_default()
            .seccomp_ceiling()
            .unwrap()
            .clone(),
    ));
    let policies =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtimeclass/policies");
    for f in ["pinhole.toml", "pinhole-strict.toml"] {
        let policy = crate::policy::Policy::load(&policies.join(f)).unwrap();
        out.push((f.to_owned(), policy.seccomp_ceiling().unwrap().clone()));
    }
    out
}

#[test]
fn compiled_programs_match_the_model_on_the_fixed_corpus() {
    for (i, (name, p)) in differential_corpus().into_iter().enumerate() {
        // Files named `*.reject.json` are profiles the compiler must refuse.
        let want = !name.contains(".reject.");
        match model::check(&p, &["*".to_owned()], 0x5eed + i as u64) {
            Ok(compiled) => assert_eq!(compiled, want, "{name}: compiled {compiled}"),
            Err(m) => panic!("{name}: {m}"),
        }
    }
}

#[test]
fn compiled_programs_match_the_model_on_generated_profiles() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let (mut compiled, cases) = (0u64, 3000u64);
    for case in 0..cases {
        let bytes: Vec<u8> = (0..8 + rng(&mut state) % 120)
            .map(|_| rng(&mut state) as u8)
            .collect();
        let (p, optional) = model::profile_from_bytes(&bytes);
        match model::check(&p, &optional, case) {
            Ok(ok) => compiled += u64::from(ok),
            Err(m) => panic!("case {case} (bytes {}): {m}", hex::encode(&bytes)),
        }
    }
    // The generator must mostly produce profiles that compile, or the check checks little.
    assert!(compiled > cases / 3, "only {compiled} of {cases} compiled");
}

#[test]
fn refuses_exec_only_when_no_exec_can_run() {
    let f = |v: serde_json::Value| compile(&serde_json::from_value(v).unwrap(), &[]).unwrap();
    let block_all = f(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(block_all.refuses_exec(), Some(errno(1)));
    let kill = f(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(kill.refuses_exec(), Some(RET_KILL_PROCESS));
    for allowed in [
        json!({"defaultAction": "SCMP_ACT_ALLOW"}),
        json!({"defaultAction": "SCMP_ACT_LOG"}),
        json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ALLOW"}]}),
        // allowed for some arguments only: not refused outright
        json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 2, "value": 7, "op": "SCMP_CMP_EQ"}]}]}),
    ] {
        assert_eq!(f(allowed.clone()).refuses_exec(), None, "{allowed}");
    }
}
