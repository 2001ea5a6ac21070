//! The supervisor loop: takes the init's listener, records or audits until the last filtered
//! task is gone.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::seccomp::notify::{describe, evaluate, Verdict};
use crate::seccomp::Filter;

use super::denials::{Denial, Denials, DENIALS_FILE};
use super::notify::{Listener, Notification, Recv};
use super::request::{Mode, Supervision};
use super::usage::{Usage, UsedSyscall, CLONE_NS_FLAGS};

/// How long the supervisor waits for the init to install its listener after start.
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);

/// What a supervised run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Record mode: what the workload used (from its first execve on).
    pub usage: Option<Usage>,
    /// Audit mode: what the ceiling denied.
    pub denials: Option<Denials>,
}

/// Supervises container `id` whose init has host pid `pid` (pid fd `pidfd`, opened before
/// the init was released so that the pid cannot be reused under us). Writes denials to
/// `state_dir` as they happen (audit); calls `on_denial` the first time each syscall is
/// denied. Returns when no filtered task is left.
pub fn supervise(
    pidfd: &OwnedFd,
    pid: i32,
    id: &str,
    sup: &Supervision,
    state_dir: &Path,
    on_denial: &mut dyn FnMut(&Denial),
) -> Result<Outcome, String> {
    let listener = match Listener::take(pidfd, pid, ATTACH_TIMEOUT)
        .map_err(|e| format!("take the seccomp listener of container {id:?}: {e}"))?
    {
        Some(l) => l,
        None => return Ok(Outcome::default()),
    };
    match &sup.mode {
        Mode::Record => record(&listener, pid, id, &sup.name).map(|u| Outcome {
            usage: Some(u),
            denials: None,
        }),
        Mode::Audit { program } => {
            let original = Filter::from_bytes(program)
                .map_err(|e| format!("{}: audit program: {e}", state_dir.display()))?;
            audit(&listener, id, &original, state_dir, on_denial).map(|d| Outcome {
                usage: None,
                denials: Some(d),
            })
        }
    }
}

/// What the recorder needs to know about a syscall entry beyond counting it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exec,
    Socket,
    Clone,
    Other,
}

/// Classifies `(arch, nr)` once per distinct entry (name lookups are not per-syscall work).
fn kind(memo: &mut HashMap<(u32, u32), Kind>, n: &Notification) -> Kind {
    *memo.entry((n.arch, n.nr)).or_insert_with(|| {
        match describe(n.arch, n.nr).map(|(_, name)| name) {
            Some(name) if name == "execve" || name == "execveat" => Kind::Exec,
            Some(name) if name == "socket" || name == "socketpair" => Kind::Socket,
            Some(name) if name == "clone" => Kind::Clone,
            _ => Kind::Other,
        }
    })
}

fn record(listener: &Listener, init: i32, id: &str, name: &str) -> Result<Usage, String> {
    let mut counts: HashMap<(u32, u32), u64> = HashMap::new();
    let mut memo = HashMap::new();
    let mut families = Vec::new();
    let mut ns_flags = 0u64;
    // pinhole's own last steps (with no_new_privs off: setresuid, capset, ...) come before
    // the init's execve of the workload: they are not the workload's.
    let mut started = false;
    loop {
        let n = match listener.recv(Duration::from_secs(3600)) {
            Ok(Some(Recv::Notification(n))) => n,
            Ok(Some(Recv::Gone)) => break,
            Ok(Some(Recv::Again)) | Ok(None) => continue,
            Err(e) => return Err(format!("container {id:?}: receive notification: {e}")),
        };
        let k = kind(&mut memo, &n);
        if !started && n.pid as i32 == init && k == Kind::Exec {
            started = true;
        }
        if started {
            *counts.entry((n.arch, n.nr)).or_default() += 1;
            match k {
                Kind::Socket => {
                    let family = n.args[0] & 0xffff_ffff;
                    if !families.contains(&family) {
                        families.push(family);
                    }
                }
                Kind::Clone => ns_flags |= n.args[0] & CLONE_NS_FLAGS,
                Kind::Exec | Kind::Other => {}
            }
        }
        listener
            .resume(n.id)
            .map_err(|e| format!("container {id:?}: answer notification: {e}"))?;
    }
    let mut usage = Usage::new(name);
    usage.containers.push(id.to_string());
    usage.syscalls = counts
        .into_iter()
        .filter_map(|((arch, nr), count)| {
            describe(arch, nr).map(|(arch, name)| UsedSyscall {
                arch: arch.to_string(),
                name,
                nr,
                count,
            })
        })
        .collect();
    usage.syscalls.sort();
    families.sort_unstable();
    families.dedup();
    usage.socket_families = families;
    usage.clone_namespace_flags = ns_flags;
    Ok(usage)
}

fn audit(
    listener: &Listener,
    id: &str,
    original: &Filter,
    state_dir: &Path,
    on_denial: &mut dyn FnMut(&Denial),
) -> Result<Denials, String> {
    let mut denials = Denials::new(id);
    let mut dirty = false;
    let mut last_write = Instant::now();
    loop {
        let got = listener.recv(Duration::from_secs(1));
        let n = match got {
            Ok(Some(Recv::Notification(n))) => Some(n),
            Ok(Some(Recv::Gone)) => break,
            Ok(Some(Recv::Again)) | Ok(None) => None,
            Err(e) => return Err(format!("container {id:?}: receive notification: {e}")),
        };
        if let Some(n) = n {
            // The ceiling's denials notify, and native execve (so that the init's exec waits
            // for us): answer exactly as the original ceiling does. A denial is never
            // continued; only what the ceiling allows on these register values is.
            let errno = match evaluate(original, n.arch, n.nr, n.ip, n.args) {
                Verdict::Allow => {
                    listener
                        .resume(n.id)
                        .map_err(|e| format!("container {id:?}: answer notification: {e}"))?;
                    continue;
                }
                Verdict::Errno(e) => e,
                Verdict::Other(_) => libc::EPERM,
            };
            listener
                .fail(n.id, errno)
                .map_err(|e| format!("container {id:?}: answer notification: {e}"))?;
            let (arch, name) = describe(n.arch, n.nr)
                .map(|(a, s)| (a.to_string(), s))
                .unwrap_or_else(|| (format!("audit_arch_{:#x}", n.arch), format!("nr_{}", n.nr)));
            let is_new = match denials.add(&arch, &name, n.nr, errno) {
                Some(new) => {
                    on_denial(new);
                    true
                }
                None => false,
            };
            // A new name is written at once; repeated counts at most every 200 ms.
            if is_new {
                denials.save(&state_dir.join(DENIALS_FILE))?;
                last_write = Instant::now();
                continue;
            }
            dirty = true;
        }
        if dirty && last_write.elapsed() >= Duration::from_millis(200) {
            denials.save(&state_dir.join(DENIALS_FILE))?;
            dirty = false;
            last_write = Instant::now();
        }
    }
    denials.save(&state_dir.join(DENIALS_FILE))?;
    Ok(denials)
}
