//! A tiny classic-BPF assembler with symbolic labels and long-jump relaxation.
//!
//! Conditional jumps in classic BPF have 8-bit forward offsets. Code is emitted with symbolic
//! targets; [`Asm::finish`] lays it out and, for every conditional branch whose target is more
//! than 255 instructions away, inserts a `BPF_JA` (32-bit offset) trampoline right after the
//! branch. Since inserting trampolines only ever lengthens distances, the layout is iterated
//! until no new trampoline is needed.

use seccompiler::sock_filter;

use super::error::SeccompError;

/// `BPF_LD | BPF_W | BPF_ABS`: `A = *(u32 *)(seccomp_data + k)`.
pub(crate) const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`: `A &= k`.
pub(crate) const ALU_AND_K: u16 = 0x54;
/// `BPF_RET | BPF_K`: return `k`.
pub(crate) const RET_K: u16 = 0x06;
/// `BPF_JMP | BPF_JA`: `pc += k`.
pub(crate) const JMP_JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub(crate) const JMP_JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
pub(crate) const JMP_JGT_K: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub(crate) const JMP_JGE_K: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`.
pub(crate) const JMP_JSET_K: u16 = 0x45;

/// The kernel's limit on the length of a classic BPF program (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// A position in the program, bound once with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The next item (after any trampolines of this jump).
    Next,
    /// A label, which must be bound after the jump (classic BPF only jumps forward).
    To(Label),
}

/// Comparison of a conditional jump against the accumulator (unsigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    /// `A == k`.
    Eq,
    /// `A > k`.
    Gt,
    /// `A >= k`.
    Ge,
}

/// One symbolic instruction.
#[derive(Clone, Copy, Debug)]
enum Item {
    Ld(u32),
    And(u32),
    Ret(u32),
    Jmp {
        cmp: Cmp,
        k: u32,
        jt: Target,
        jf: Target,
        long_t: bool,
        long_f: bool,
    },
    Bind(Label),
}

impl Item {
    /// Number of real instructions this item occupies in the current layout.
    fn size(&self) -> usize {
        match self {
            Item::Bind(_) => 0,
            Item::Jmp { long_t, long_f, .. } => 1 + usize::from(*long_t) + usize::from(*long_f),
            _ => 1,
        }
    }
}

/// Symbolic program under construction.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    /// Allocates a fresh, unbound label.
    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Binds `label` to the next emitted instruction.
    pub(crate) fn bind(&mut self, label: Label) {
        self.items.push(Item::Bind(label));
    }

    /// `A = seccomp_data[offset..offset + 4]`.
    pub(crate) fn ld(&mut self, offset: u32) {
        self.items.push(Item::Ld(offset));
    }

    /// `A &= k`.
    pub(crate) fn and(&mut self, k: u32) {
        self.items.push(Item::And(k));
    }

    /// Returns the seccomp action `k`.
    pub(crate) fn ret(&mut self, k: u32) {
        self.items.push(Item::Ret(k));
    }

    /// `if A <cmp> k goto jt else goto jf`.
    pub(crate) fn jmp(&mut self, cmp: Cmp, k: u32, jt: Target, jf: Target) {
        self.items.push(Item::Jmp {
            cmp,
            k,
            jt,
            jf,
            long_t: false,
            long_f: false,
        });
    }

    /// Lower bound of the final program size (before trampolines).
    pub(crate) fn min_len(&self) -> usize {
        self.items.iter().map(Item::size).sum()
    }

    /// Computes instruction positions of items and labels for the current layout.
    fn layout(&self) -> Result<(Vec<usize>, Vec<usize>, usize), SeccompError> {
        let mut item_pos = Vec::with_capacity(self.items.len());
        let mut label_pos = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for item in &self.items {
            item_pos.push(pc);
            if let Item::Bind(Label(l)) = item {
                if label_pos[*l] != usize::MAX {
                    return Err(SeccompError::Internal("label bound twice"));
                }
                label_pos[*l] = pc;
            }
            pc += item.size();
        }
        Ok((item_pos, label_pos, pc))
    }

    /// Lays out the program, inserting long-jump trampolines, and encodes it.
    pub(crate) fn finish(mut self) -> Result<Vec<sock_filter>, SeccompError> {
        let too_large = |instructions| SeccompError::TooLarge {
            instructions,
            limit: MAX_INSTRUCTIONS,
        };
        if self.min_len() > MAX_INSTRUCTIONS {
            return Err(too_large(self.min_len()));
        }
        // Relaxation: each pass may only turn short branches into long ones, so it terminates.
        let (item_pos, label_pos, len) = loop {
            let (item_pos, label_pos, len) = self.layout()?;
            if len > MAX_INSTRUCTIONS {
                return Err(too_large(len));
            }
            let mut changed = false;
            for (i, item) in self.items.iter_mut().enumerate() {
                if let Item::Jmp {
                    jt,
                    jf,
                    long_t,
                    long_f,
                    ..
                } = item
                {
                    let from = item_pos[i] + 1;
                    for (target, long) in [(*jt, long_t), (*jf, long_f)] {
                        if let Target::To(l) = target {
                            let dist = distance(&label_pos, l, from)?;
                            if !*long && dist > usize::from(u8::MAX) {
                                *long = true;
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                break (item_pos, label_pos, len);
            }
        };

        let mut out = Vec::with_capacity(len);
        for (i, item) in self.items.iter().enumerate() {
            let pc = item_pos[i];
            debug_assert_eq!(pc, out.len());
            match *item {
                Item::Bind(_) => {}
                Item::Ld(k) => out.push(insn(LD_W_ABS, 0, 0, k)),
                Item::And(k) => out.push(insn(ALU_AND_K, 0, 0, k)),
                Item::Ret(k) => out.push(insn(RET_K, 0, 0, k)),
                Item::Jmp {
                    cmp,
                    k,
                    jt,
                    jf,
                    long_t,
                    long_f,
                } => {
                    let code = match cmp {
                        Cmp::Eq => JMP_JEQ_K,
                        Cmp::Gt => JMP_JGT_K,
                        Cmp::Ge => JMP_JGE_K,
                    };
                    // Trampolines follow the branch: [jmp][ja T if long_t][ja F if long_f].
                    // `Next` is the instruction after the trampolines.
                    let after = u8::from(long_t) + u8::from(long_f);
                    let short = |t: Target, from: usize| -> Result<u8, SeccompError> {
                        match t {
                            Target::Next => Ok(after),
                            Target::To(l) => u8::try_from(distance(&label_pos, l, from)?)
                                .map_err(|_| SeccompError::Internal("short jump out of range")),
                        }
                    };
                    let jt_off = if long_t { 0 } else { short(jt, pc + 1)? };
                    let jf_off = if long_f {
                        u8::from(long_t)
                    } else {
                        short(jf, pc + 1)?
                    };
                    out.push(insn(code, jt_off, jf_off, k));
                    for (target, long) in [(jt, long_t), (jf, long_f)] {
                        if long {
                            let Target::To(l) = target else {
                                return Err(SeccompError::Internal("long jump to next"));
                            };
                            let from = out.len() + 1;
                            let k = distance(&label_pos, l, from)?;
                            out.push(insn(JMP_JA, 0, 0, k as u32));
                        }
                    }
                }
            }
        }
        if out.len() != len {
            return Err(SeccompError::Internal("layout size mismatch"));
        }
        Ok(out)
    }
}

/// Forward distance from instruction `from` to `label`; errors on unbound or backward labels.
fn distance(label_pos: &[usize], label: Label, from: usize) -> Result<usize, SeccompError> {
    let to = label_pos[label.0];
    if to == usize::MAX {
        return Err(SeccompError::Internal("jump to unbound label"));
    }
    to.checked_sub(from)
        .ok_or(SeccompError::Internal("backward jump"))
}

/// Builds one instruction.
pub(crate) fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Checks that `program` only uses the instructions this compiler emits, that every jump stays
/// inside the program and that execution cannot fall off its end.
pub(crate) fn check_program(program: &[sock_filter]) -> Result<(), &'static str> {
    if program.is_empty() || program.len() > MAX_INSTRUCTIONS {
        return Err("program length out of range");
    }
    let len = program.len();
    for (pc, i) in program.iter().enumerate() {
        let in_range = |off: usize| pc + 1 + off < len;
        match i.code {
            LD_W_ABS => {
                // struct seccomp_data is 64 bytes, loads are 4-byte aligned.
                if !i.k.is_multiple_of(4) || i.k > 60 {
                    return Err("load offset out of range");
                }
            }
            ALU_AND_K | RET_K => {}
            JMP_JA => {
                if !in_range(i.k as usize) {
                    return Err("jump out of range");
                }
            }
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                if !in_range(usize::from(i.jt)) || !in_range(usize::from(i.jf)) {
                    return Err("jump out of range");
                }
            }
            _ => return Err("unexpected opcode"),
        }
    }
    if program[len - 1].code != RET_K {
        return Err("program does not end with a return");
    }
    Ok(())
}
