//! Test-only classic-BPF interpreter for seccomp programs.

use seccompiler::sock_filter;

use super::asm::{ALU_AND_K, JMP_JA, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, JMP_JSET_K, LD_W_ABS, RET_K};

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

/// Runs `prog` on `data`; returns the action and the number of executed instructions.
/// Panics on anything the kernel would reject at run time.
pub(crate) fn run(prog: &[sock_filter], data: &Data) -> (u32, usize) {
    let mem = data.bytes();
    let mut a: u32 = 0;
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
        match i.code {
            LD_W_ABS => {
                let k = i.k as usize;
                assert!(k.is_multiple_of(4) && k + 4 <= 64, "bad load offset {k}");
                a = u32::from_le_bytes(mem[k..k + 4].try_into().unwrap());
            }
            ALU_AND_K => a &= i.k,
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
