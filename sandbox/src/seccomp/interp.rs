//! Classic-BPF interpreter for the seccomp programs pinhole's compiler emits.
//!
//! Used by the tests and fuzz targets (differential checks against `model`) and by
//! [`super::surface`], which computes a filter's attack surface by running it on every syscall
//! number of every architecture. [`run_traced`] also reports each comparison made on an
//! argument word, so the caller can search for arguments that take the other branch.

use std::fmt::Write as _;

use seccompiler::sock_filter;

use super::asm::{ALU_AND_K, JMP_JA, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, JMP_JSET_K, LD_W_ABS, RET_K};

/// Offset of `seccomp_data.nr`.
const OFF_NR: u32 = 0;
/// Offset of `seccomp_data.arch`.
const OFF_ARCH: u32 = 4;
/// Offset of `seccomp_data.instruction_pointer`.
const OFF_IP: u32 = 8;
/// Offset of `seccomp_data.args[0]`.
const OFF_ARGS: u32 = 16;
/// Size of `struct seccomp_data`.
const DATA_LEN: u32 = 64;

/// `struct seccomp_data` as the kernel fills it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Data {
    /// Syscall number.
    pub nr: u32,
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// Instruction pointer.
    pub ip: u64,
    /// Arguments.
    pub args: [u64; 6],
}

impl Data {
    /// Little-endian memory image (64 bytes).
    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_le_bytes());
        b[4..8].copy_from_slice(&self.arch.to_le_bytes());
        b[8..16].copy_from_slice(&self.ip.to_le_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        b
    }
}

/// One conditional jump taken on a value loaded from an argument word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Branch {
    /// Offset in `seccomp_data` of the loaded 32-bit word (16.. for arguments).
    pub offset: u32,
    /// Mask applied to the word before the comparison (`u32::MAX` when none).
    pub mask: u32,
    /// Opcode of the jump (`JMP_JEQ_K`, `JMP_JGT_K`, `JMP_JGE_K`, `JMP_JSET_K`).
    pub code: u16,
    /// The jump's constant.
    pub k: u32,
    /// The compared value (`word & mask`).
    pub value: u32,
}

/// Runs `prog` on `data`; returns the action and the number of executed instructions.
/// Panics on anything the kernel would reject at run time.
pub(crate) fn run(prog: &[sock_filter], data: &Data) -> (u32, usize) {
    exec(prog, data, None)
}

/// Like [`run`], and appends to `branches` every conditional jump made on an argument word.
pub(crate) fn run_traced(prog: &[sock_filter], data: &Data, branches: &mut Vec<Branch>) -> u32 {
    exec(prog, data, Some(branches)).0
}

fn exec(prog: &[sock_filter], data: &Data, mut trace: Option<&mut Vec<Branch>>) -> (u32, usize) {
    let mem = data.bytes();
    let mut a: u32 = 0;
    // Where the accumulator came from: (offset, mask) of an argument word, if it did.
    let mut src: Option<(u32, u32)> = None;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        let i = prog
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} out of program"));
        steps += 1;
        pc += 1;
        let jump = |cond: bool| {
            if cond {
                usize::from(i.jt)
            } else {
                usize::from(i.jf)
            }
        };
        if let (Some(t), Some((offset, mask))) = (trace.as_deref_mut(), src) {
            if matches!(i.code, JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K) {
                t.push(Branch {
                    offset,
                    mask,
                    code: i.code,
                    k: i.k,
                    value: a,
                });
            }
        }
        match i.code {
            LD_W_ABS => {
                let k = i.k as usize;
                assert!(k.is_multiple_of(4) && k + 4 <= 64, "bad load offset {k}");
                a = u32::from_le_bytes(mem[k..k + 4].try_into().unwrap());
                src = (i.k >= OFF_IP).then_some((i.k, u32::MAX));
            }
            ALU_AND_K => {
                a &= i.k;
                src = src.map(|(o, m)| (o, m & i.k));
            }
            RET_K => return (i.k, steps),
            JMP_JA => pc += i.k as usize,
            JMP_JEQ_K => pc += jump(a == i.k),
            JMP_JGT_K => pc += jump(a > i.k),
            JMP_JGE_K => pc += jump(a >= i.k),
            JMP_JSET_K => pc += jump(a & i.k != 0),
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

/// What a load offset reads, for [`dump`].
fn field(off: u32) -> String {
    match off {
        OFF_NR => "nr".into(),
        OFF_ARCH => "arch".into(),
        o if (OFF_IP..OFF_ARGS).contains(&o) => {
            format!("ip.{}", if o == OFF_IP { "lo" } else { "hi" })
        }
        o if (OFF_ARGS..DATA_LEN).contains(&o) => {
            let rel = o - OFF_ARGS;
            format!(
                "args[{}].{}",
                rel / 8,
                if rel.is_multiple_of(8) { "lo" } else { "hi" }
            )
        }
        o => format!("?{o}"),
    }
}

/// Disassembles a program, one instruction a line, with absolute jump targets:
///
/// ```text
/// 0000: ld   [4]            ; arch
/// 0001: jeq  #0xc000003e    jt 0003  jf 0002
/// 0002: ret  #0x80000000
/// ```
pub(crate) fn dump(prog: &[sock_filter]) -> String {
    let mut out = String::new();
    for (pc, i) in prog.iter().enumerate() {
        let target = |off: u8| pc + 1 + usize::from(off);
        let line = match i.code {
            LD_W_ABS => format!("{:<22}; {}", format!("ld   [{}]", i.k), field(i.k)),
            ALU_AND_K => format!("and  #{:#010x}", i.k),
            RET_K => format!("ret  #{:#010x}", i.k),
            JMP_JA => format!("ja   {:04}", pc + 1 + i.k as usize),
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                let op = match i.code {
                    JMP_JEQ_K => "jeq",
                    JMP_JGT_K => "jgt",
                    JMP_JGE_K => "jge",
                    _ => "jset",
                };
                format!(
                    "{op:<4} #{:#010x}    jt {:04}  jf {:04}",
                    i.k,
                    target(i.jt),
                    target(i.jf)
                )
            }
            c => format!("?    code {c:#06x} jt {} jf {} k {:#x}", i.jt, i.jf, i.k),
        };
        let _ = writeln!(out, "{pc:04}: {line}");
    }
    out
}
