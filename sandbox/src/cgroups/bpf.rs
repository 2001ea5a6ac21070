//! cgroup v2 device control: cgroup v2 has no `devices.allow`/`devices.deny` files; device
//! access is decided by a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup with
//! `BPF_CGROUP_DEVICE`. This module compiles validated [`DeviceRule`]s into such a program,
//! attaches it (`BPF_F_ALLOW_MULTI`) and then detaches the programs it replaces, so an update
//! never leaves the cgroup unfiltered.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::devices::{DeviceRule, ACC_ALL};
use super::error::CgroupError;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
/// `bpf_cgroup_dev_ctx.access_type` low half: block device.
const DEV_BLOCK: i32 = 1;
/// `bpf_cgroup_dev_ctx.access_type` low half: char device.
const DEV_CHAR: i32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}
/// `dst = *(u32 *)(src + off)`
fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0)
}
/// `wdst &= imm`
fn and32(dst: u8, imm: i32) -> Insn {
    insn(0x54, dst, 0, 0, imm)
}
/// `wdst >>= imm`
fn rsh32(dst: u8, imm: i32) -> Insn {
    insn(0x74, dst, 0, 0, imm)
}
/// `dst = imm`
fn mov_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm)
}
/// `dst = src`
fn mov_reg(dst: u8, src: u8) -> Insn {
    insn(0xbf, dst, src, 0, 0)
}
/// `if dst != imm goto +off`
fn jne(dst: u8, imm: i32) -> Insn {
    insn(0x55, dst, 0, 0, imm)
}
/// `if dst == imm goto +off`
fn jeq(dst: u8, imm: i32) -> Insn {
    insn(0x15, dst, 0, 0, imm)
}
fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}

/// Compile `rules` (applied in order on top of "deny everything", the last matching rule wins,
/// like v1 `devices.allow`/`devices.deny`) into a cgroup device program.
///
/// Registers: r2 = device type, r3 = requested access bits, r4 = major, r5 = minor. An allow
/// rule matches when it covers every requested access bit; a deny rule matches when it covers
/// any of them.
pub(crate) fn compile(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        ldx_w(2, 1, 0),
        and32(2, 0xffff),
        ldx_w(3, 1, 0),
        rsh32(3, 16),
        ldx_w(4, 1, 4),
        ldx_w(5, 1, 8),
    ];
    for rule in rules.iter().rev() {
        // Jumps in `block` have `off` = -1 as a placeholder for "skip to the next rule".
        let mut block = Vec::new();
        match rule.typ {
            'b' => block.push(jne(2, DEV_BLOCK)),
            'c' => block.push(jne(2, DEV_CHAR)),
            _ => {}
        }
        if let Some(m) = rule.major {
            block.push(jne(4, m as i32));
        }
        if let Some(m) = rule.minor {
            block.push(jne(5, m as i32));
        }
        if rule.access != ACC_ALL {
            block.push(mov_reg(6, 3));
            if rule.allow {
                block.push(and32(6, (!rule.access & ACC_ALL) as i32));
                block.push(jne(6, 0));
            } else {
                block.push(and32(6, rule.access as i32));
                block.push(jeq(6, 0));
            }
        }
        block.push(mov_imm(0, rule.allow as i32));
        block.push(exit());
        let len = block.len();
        let unconditional = len == 2;
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == 0x55 || ins.code == 0x15 {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
        if unconditional {
            // Earlier rules can never be reached (the verifier rejects dead code).
            return prog;
        }
    }
    prog.push(mov_imm(0, 0));
    prog.push(exit());
    prog
}

/// A zeroed `union bpf_attr` buffer, larger than any kernel's, so that fields the kernel
/// writes back (e.g. the query revision) stay inside it.
#[repr(C, align(8))]
struct Attr([u8; 160]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 160])
    }
    fn u32(mut self, off: usize, v: u32) -> Attr {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(mut self, off: usize, v: u64) -> Attr {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, writable, zero-initialised buffer of the size we pass; every
    // pointer stored in it refers to memory that outlives this call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut Attr,
            std::mem::size_of::<Attr>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd_from(r: libc::c_long) -> OwnedFd {
    // SAFETY: `r` is a new file descriptor returned by bpf(2) that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

fn load(prog: &[Insn]) -> Result<OwnedFd, (io::Error, String)> {
    let license = b"Apache-2.0\0";
    let attr = |log: &mut Vec<u8>| {
        Attr::new()
            .u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32(4, prog.len() as u32)
            .u64(8, prog.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64)
            .u32(24, if log.is_empty() { 0 } else { 1 })
            .u32(28, log.len() as u32)
            .u64(
                32,
                if log.is_empty() {
                    0
                } else {
                    log.as_mut_ptr() as u64
                },
            )
    };
    // The kernel may answer a valid program with a transient EAGAIN (seen in CI: the
    // verifier log of the retry showed it accepted); libbpf retries it too.
    let mut first = bpf(BPF_PROG_LOAD, &mut attr(&mut Vec::new()));
    for _ in 0..4 {
        match &first {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                first = bpf(BPF_PROG_LOAD, &mut attr(&mut Vec::new()));
            }
            _ => break,
        }
    }
    match first {
        Ok(fd) => Ok(fd_from(fd)),
        Err(e) => {
            // Retry with the verifier log to explain the failure.
            let mut log = vec![0u8; 1 << 16];
            let _ = bpf(BPF_PROG_LOAD, &mut attr(&mut log)).map(fd_from);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let tail: String = text.lines().rev().take(3).collect::<Vec<_>>().join("; ");
            Err((e, tail))
        }
    }
}

fn prog_id(fd: &OwnedFd) -> io::Result<u32> {
    let mut info = [0u8; 256];
    let mut attr = Attr::new()
        .u32(0, fd.as_raw_fd() as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    // struct bpf_prog_info { __u32 type; __u32 id; ... }
    Ok(u32::from_ne_bytes(info[4..8].try_into().expect("4 bytes")))
}

/// IDs of the device programs attached directly to the cgroup `dir_fd`.
fn attached(dir_fd: &File) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = Attr::new()
        .u32(0, dir_fd.as_raw_fd() as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut attr)?;
    let n = (attr.get_u32(24) as usize).min(ids.len());
    ids.truncate(n);
    Ok(ids)
}

/// Install `rules` as the device filter of the v2 cgroup `dir`, replacing earlier filters.
pub(crate) fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let fail = |op: &str, e: io::Error| CgroupError::Bpf {
        path: dir.to_path_buf(),
        op: op.to_string(),
        err: e.into(),
    };
    let cg = File::open(dir).map_err(|e| fail("open cgroup directory", e))?;
    let prog = compile(rules);
    let fd = load(&prog).map_err(|(e, log)| {
        fail(
            &format!(
                "load program ({} instructions, verifier: {log})",
                prog.len()
            ),
            e,
        )
    })?;
    let new_id = prog_id(&fd).map_err(|e| fail("get program id", e))?;
    let old = attached(&cg).map_err(|e| fail("query attached programs", e))?;
    let mut attr = Attr::new()
        .u32(0, cg.as_raw_fd() as u32)
        .u32(4, fd.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE)
        .u32(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| fail("attach program", e))?;
    for id in old.into_iter().filter(|id| *id != new_id) {
        let mut attr = Attr::new().u32(0, id);
        let old_fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
            Ok(fd) => fd_from(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(fail(&format!("open old program {id}"), e)),
        };
        let mut attr = Attr::new()
            .u32(0, cg.as_raw_fd() as u32)
            .u32(4, old_fd.as_raw_fd() as u32)
            .u32(8, BPF_CGROUP_DEVICE);
        match bpf(BPF_PROG_DETACH, &mut attr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail(&format!("detach old program {id}"), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{ACC_READ, ACC_WRITE};

    #[test]
    fn compiles_jumps_to_next_rule() {
        let rule = DeviceRule {
            allow: true,
            typ: 'c',
            major: Some(1),
            minor: Some(3),
            access: ACC_READ | ACC_WRITE,
        };
        let p = compile(&[rule]);
        // header(6) + type, major, minor, mov, and, jne, mov r0, exit (8) + default(2)
        assert_eq!(p.len(), 16);
        assert_eq!(
            p[6],
            Insn {
                off: 7,
                ..jne(2, DEV_CHAR)
            }
        );
        assert_eq!(
            p[11],
            Insn {
                off: 2,
                ..jne(6, 0)
            }
        );
        assert_eq!(p[14], mov_imm(0, 0));
    }
}
