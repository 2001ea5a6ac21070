//! The compiled filter: a classic-BPF program plus its content hash.

use seccompiler::sock_filter;
use sha2::{Digest, Sha256};

use super::asm::{check_program, MAX_INSTRUCTIONS};
use super::error::SeccompError;

/// Magic prefix of [`Filter::to_bytes`] (format version 1).
const MAGIC: &[u8; 8] = b"PNHBPF01";
/// Size of the serialization header: magic + sha256.
const HEADER_LEN: usize = MAGIC.len() + 32;
/// Size of one encoded instruction.
const INSN_LEN: usize = 8;

/// A compiled seccomp program, ready to install.
///
/// Invariant: the program is 1..=4096 instructions long, uses only the instructions the
/// compiler emits, has all jumps in range and ends with a return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    program: Vec<sock_filter>,
    hash: [u8; 32],
}

impl Filter {
    /// Wraps a program produced by the compiler.
    pub(crate) fn from_program(program: Vec<sock_filter>) -> Filter {
        debug_assert_eq!(check_program(&program), Ok(()));
        let hash = Sha256::digest(encode(&program)).into();
        Filter { program, hash }
    }

    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// The BPF program.
    pub fn program(&self) -> &[sock_filter] {
        &self.program
    }

    /// SHA-256 of the encoded instructions.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The verdict on `execve` and `execveat` of the native architecture when the filter
    /// refuses both whatever their arguments, so that no process could ever start under it
    /// (an SPO "block-all" profile, a recorded profile missing its exec). `None` when either
    /// may run (on some arguments).
    pub fn refuses_exec(&self) -> Option<u32> {
        use super::interp::{run_traced, Data};
        use super::names::TargetArch;
        use super::surface::is_allow;
        let arch = TargetArch::NATIVE;
        let mut verdict = None;
        for name in ["execve", "execveat"] {
            let nr = arch.lookup(name)?;
            let data = Data {
                nr,
                arch: arch.audit_arch(),
                ..Data::default()
            };
            let mut branches = Vec::new();
            let ret = run_traced(&self.program, &data, &mut branches);
            // a verdict that depends on an argument may allow other arguments
            if is_allow(ret) || !branches.is_empty() {
                return None;
            }
            verdict.get_or_insert(ret);
        }
        verdict
    }

    /// Serializes the filter: `PNHBPF01`, sha256 of the program, then 8 bytes per instruction
    /// (`code` u16 LE, `jt`, `jf`, `k` u32 LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + INSN_LEN * self.program.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&encode(&self.program));
        out
    }

    /// Parses [`Filter::to_bytes`] output, checking magic, length, hash and program shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Filter, SeccompError> {
        let corrupt = SeccompError::Corrupt;
        if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let body = &bytes[HEADER_LEN..];
        if body.is_empty() || !body.len().is_multiple_of(INSN_LEN) {
            return Err(corrupt("length is not a positive multiple of 8"));
        }
        if body.len() / INSN_LEN > MAX_INSTRUCTIONS {
            return Err(corrupt("more than 4096 instructions"));
        }
        let hash: [u8; 32] = Sha256::digest(body).into();
        if hash[..] != bytes[MAGIC.len()..HEADER_LEN] {
            return Err(corrupt("hash mismatch"));
        }
        let program: Vec<sock_filter> = body
            .chunks_exact(INSN_LEN)
            .map(|c| sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        check_program(&program).map_err(corrupt)?;
        Ok(Filter { program, hash })
    }
}

/// Encodes instructions as 8 little-endian bytes each.
fn encode(program: &[sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(INSN_LEN * program.len());
    for i in program {
        out.extend_from_slice(&i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_le_bytes());
    }
    out
}
