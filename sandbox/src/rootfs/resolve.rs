//! Race-safe resolution of a container path inside the rootfs.
//!
//! The walk is done one component at a time with `openat(O_PATH|O_NOFOLLOW)` relative to fds
//! we hold, so nothing the container image controls (symlinks, renamed directories) can make
//! the result point outside the rootfs:
//!
//! * symlinks are read with `readlinkat(fd, "")` on the very fd that was opened, and their
//!   targets are spliced into the remaining path; absolute targets restart at the rootfs (as
//!   if chrooted);
//! * `..` pops our own stack of directory fds; we never `openat(fd, "..")`, which escapes when
//!   a directory is moved out of the rootfs concurrently;
//! * a `..` that would climb above the rootfs is refused, not clamped;
//! * missing components are created with `mkdirat`/`openat(O_CREAT|O_EXCL)` relative to the
//!   parent fd, then re-opened like any other component;
//! * the result is cross-checked against the kernel's own `openat2(RESOLVE_IN_ROOT |
//!   RESOLVE_NO_MAGICLINKS)` lookup when available.
//!
//! Callers act on the returned `O_PATH` fd (e.g. `move_mount` onto it), never on the path
//! again, so a symlink swapped in after resolution (CVE-2021-30465) has no effect.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};

use super::error::{ResolveError, RootfsError, MAX_SYMLINKS};
use super::sys;

/// What to do with path components that do not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// Fail with [`ResolveError::NotFound`].
    No,
    /// Create every missing component as a directory (mode 0755).
    Dir,
    /// Create missing intermediate directories (mode 0755) and the final component as an
    /// empty regular file (mode 0644).
    File,
}

/// The result of a resolution.
#[derive(Debug)]
pub struct Resolved {
    /// `O_PATH` fd of the final file (symlinks followed).
    pub fd: OwnedFd,
    /// Path of the final file as seen from inside the container (absolute, no symlinks).
    pub path: PathBuf,
}

/// Resolves `path` (absolute or relative, both taken relative to `root`) inside `root`, an
/// `O_PATH` directory fd of the rootfs, following symlinks as if `root` were `/`, and returns
/// an `O_PATH|O_CLOEXEC` fd of the result. Fails if a `..` would climb above the rootfs.
pub fn resolve_in_root(
    root: &OwnedFd,
    path: &Path,
    create: Create,
) -> Result<OwnedFd, RootfsError> {
    resolve(root.as_fd(), path, create)
        .map(|r| r.fd)
        .map_err(|e| RootfsError::resolve(format!("path {path:?}"), e))
}

/// The symlink a pending component came from, for error messages.
#[derive(Debug)]
struct Origin {
    link: PathBuf,
    target: PathBuf,
}

/// A path component still to be walked.
struct Pending {
    name: OsString,
    via: Option<Rc<Origin>>,
}

/// Splits a path into its non-empty, non-`.` components.
fn split(path: &OsStr, via: Option<Rc<Origin>>) -> impl DoubleEndedIterator<Item = Pending> + '_ {
    path.as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(move |c| Pending {
            name: OsStr::from_bytes(c).to_owned(),
            via: via.clone(),
        })
}

/// The in-container path of the directory stack.
fn display(stack: &[(OwnedFd, OsString)]) -> PathBuf {
    let mut p = PathBuf::from("/");
    for (_, name) in stack {
        p.push(name);
    }
    p
}

/// How many times a missing component may be (re)created before giving up; only exceeded when
/// something keeps deleting what we create.
const MAX_CREATE_RETRIES: usize = 16;

/// Like [`resolve_in_root`] but also returns the resolved in-container path and a bare
/// [`ResolveError`] so callers can add their own context.
pub fn resolve(
    root: BorrowedFd<'_>,
    path: &Path,
    create: Create,
) -> Result<Resolved, ResolveError> {
    let mut stack: Vec<(OwnedFd, OsString)> = Vec::new();
    let mut queue: VecDeque<Pending> = split(path.as_os_str(), None).collect();
    let mut links = 0usize;
    let mut retries = 0usize;

    while let Some(p) = queue.pop_front() {
        if p.name.as_bytes() == b".." {
            if stack.pop().is_none() {
                return Err(match p.via {
                    Some(o) => ResolveError::SymlinkEscape {
                        link: o.link.clone(),
                        target: o.target.clone(),
                    },
                    None => ResolveError::DotDotEscape {
                        at: PathBuf::from("/"),
                    },
                });
            }
            continue;
        }
        let parent = stack.last().map_or(root, |(fd, _)| fd.as_fd());
        let at = display(&stack).join(&p.name);
        let is_last = queue.is_empty();
        let sys_err = |op: &'static str, errno: Errno| ResolveError::Sys {
            op,
            at: at.clone(),
            errno,
        };
        let cname =
            CString::new(p.name.clone().into_vec()).map_err(|_| sys_err("open", Errno::EINVAL))?;

        match sys::openat(parent, &cname, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => {
                let st = fstat(fd.as_raw_fd()).map_err(|e| sys_err("fstat", e))?;
                let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
                if kind == SFlag::S_IFLNK {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(ResolveError::TooManySymlinks { at });
                    }
                    let target = nix::fcntl::readlinkat(Some(fd.as_raw_fd()), c"")
                        .map_err(|e| sys_err("readlink", e))?;
                    if target.is_empty() {
                        return Err(sys_err("readlink", Errno::ENOENT));
                    }
                    if target.as_bytes().starts_with(b"/") {
                        stack.clear();
                    }
                    let via = Rc::new(Origin {
                        link: at,
                        target: PathBuf::from(&target),
                    });
                    for c in split(&target, Some(via)).rev() {
                        queue.push_front(c);
                    }
                    continue;
                }
                if !is_last && kind != SFlag::S_IFDIR {
                    return Err(ResolveError::NotADirectory { at });
                }
                stack.push((fd, p.name));
            }
            Err(Errno::ENOENT) if create != Create::No => {
                retries += 1;
                if retries > MAX_CREATE_RETRIES {
                    return Err(sys_err("create", Errno::EAGAIN));
                }
                if is_last && create == Create::File {
                    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
                    match sys::openat(parent, &cname, flags, 0o644) {
                        Ok(_) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(sys_err("create file", e)),
                    }
                } else {
                    match mkdirat(
                        Some(parent.as_raw_fd()),
                        cname.as_c_str(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(sys_err("mkdir", e)),
                    }
                }
                // Re-walk the component: whatever is there now (ours, or something that raced
                // us) goes through the same checks.
                queue.push_front(p);
            }
            Err(Errno::ENOENT) => return Err(ResolveError::NotFound { at }),
            Err(Errno::ENOTDIR) => {
                return Err(ResolveError::NotADirectory {
                    at: display(&stack),
                })
            }
            Err(e) => return Err(sys_err("open", e)),
        }
    }

    let resolved_path = display(&stack);
    let fd = match stack.pop() {
        Some((fd, _)) => fd,
        None => root.try_clone_to_owned().map_err(|e| ResolveError::Sys {
            op: "dup",
            at: resolved_path.clone(),
            errno: io_errno(&e),
        })?,
    };
    cross_check(root, path, &fd, &resolved_path)?;
    Ok(Resolved {
        fd,
        path: resolved_path,
    })
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Re-resolves `path` with the kernel's `openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)` and
/// checks it lands on the same inode as our walk. Skipped when `openat2` is unavailable.
fn cross_check(
    root: BorrowedFd<'_>,
    path: &Path,
    ours: &OwnedFd,
    resolved: &Path,
) -> Result<(), ResolveError> {
    let raced = |detail: String| ResolveError::Raced {
        ours: resolved.to_owned(),
        detail,
    };
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return Ok(());
    };
    let cpath = if cpath.as_bytes().is_empty() {
        CString::from(c".")
    } else {
        cpath
    };
    let theirs = match sys::openat2(
        root,
        &cpath,
        libc::O_PATH,
        sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOSYS) | Err(Errno::EPERM) => return Ok(()),
        Err(e) => return Err(raced(format!("it failed with {e}"))),
    };
    let (a, b) = match (fstat(ours.as_raw_fd()), fstat(theirs.as_raw_fd())) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Ok(()),
    };
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(raced(format!(
            "device/inode {}/{} vs {}/{}",
            a.st_dev, a.st_ino, b.st_dev, b.st_ino
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt};

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = std::env::temp_dir()
                .join(format!("pinhole-resolve-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(p.join("root")).unwrap();
            Scratch(p)
        }
        fn root(&self) -> PathBuf {
            self.0.join("root")
        }
        fn root_fd(&self) -> OwnedFd {
            let c = CString::new(self.root().into_os_string().into_vec()).unwrap();
            let cwd = libc::AT_FDCWD;
            // SAFETY: AT_FDCWD is a valid dirfd for the whole call.
            let cwd = unsafe { BorrowedFd::borrow_raw(cwd) };
            sys::openat(cwd, &c, libc::O_PATH | libc::O_DIRECTORY, 0).unwrap()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn ino(fd: &OwnedFd) -> u64 {
        fstat(fd.as_raw_fd()).unwrap().st_ino
    }

    fn res(s: &Scratch, p: &str, c: Create) -> Result<Resolved, ResolveError> {
        resolve(s.root_fd().as_fd(), Path::new(p), c)
    }

    #[test]
    fn plain_and_relative_symlink() {
        let s = Scratch::new("rel");
        fs::create_dir_all(s.root().join("a/b")).unwrap();
        symlink("a/b", s.root().join("l")).unwrap();
        let want = fs::metadata(s.root().join("a/b")).unwrap().ino();
        let r = res(&s, "/l", Create::No).unwrap();
        assert_eq!(ino(&r.fd), want);
        assert_eq!(r.path, Path::new("/a/b"));
        assert_eq!(ino(&res(&s, "a/./b/", Create::No).unwrap().fd), want);
        assert_eq!(res(&s, "/", Create::No).unwrap().path, Path::new("/"));
    }

    #[test]
    fn absolute_symlink_is_relative_to_root() {
        let s = Scratch::new("abs");
        fs::create_dir_all(s.root().join("etc")).unwrap();
        fs::write(s.root().join("etc/passwd"), "x").unwrap();
        symlink("/etc/passwd", s.root().join("pw")).unwrap();
        symlink("/", s.root().join("etc/rootlink")).unwrap();
        let r = res(&s, "/pw", Create::No).unwrap();
        assert_eq!(
            ino(&r.fd),
            fs::metadata(s.root().join("etc/passwd")).unwrap().ino()
        );
        let r = res(&s, "/etc/rootlink/etc/rootlink/etc", Create::No).unwrap();
        assert_eq!(r.path, Path::new("/etc"));
    }

    #[test]
    fn dotdot_inside_root_is_fine() {
        let s = Scratch::new("dotdot");
        fs::create_dir_all(s.root().join("a/b/c")).unwrap();
        symlink("../../b", s.root().join("a/b/c/up")).unwrap();
        assert_eq!(
            res(&s, "/a/b/../b/c", Create::No).unwrap().path,
            Path::new("/a/b/c")
        );
        assert_eq!(
            res(&s, "/a/b/c/up/c", Create::No).unwrap().path,
            Path::new("/a/b/c")
        );
        assert_eq!(res(&s, "/a/..", Create::No).unwrap().path, Path::new("/"));
    }

    #[test]
    fn dotdot_escape_refused() {
        let s = Scratch::new("escape");
        fs::create_dir_all(s.root().join("a")).unwrap();
        let e = res(&s, "/a/../../etc", Create::Dir).unwrap_err();
        assert!(matches!(e, ResolveError::DotDotEscape { .. }), "{e}");
        assert!(!s.0.join("etc").exists());
        assert!(matches!(
            res(&s, "..", Create::No).unwrap_err(),
            ResolveError::DotDotEscape { .. }
        ));
    }

    #[test]
    fn symlink_escape_refused() {
        let s = Scratch::new("symesc");
        fs::create_dir_all(s.root().join("a")).unwrap();
        symlink("../../..", s.root().join("etc")).unwrap();
        symlink("../../outside", s.root().join("a/out")).unwrap();
        let e = res(&s, "/etc/x", Create::Dir).unwrap_err();
        let msg = RootfsError::resolve("mount destination \"/etc/x\" (mounts[4])", e).to_string();
        assert_eq!(
            msg,
            "mount destination \"/etc/x\" (mounts[4]): resolves outside the rootfs via symlink \"/etc\" -> \"../../..\""
        );
        // Final component pointing out.
        let e = res(&s, "/a/out", Create::File).unwrap_err();
        assert!(matches!(e, ResolveError::SymlinkEscape { .. }), "{e}");
        assert!(!s.0.join("outside").exists());
    }

    #[test]
    fn symlink_loop_refused() {
        let s = Scratch::new("loop");
        symlink("l2", s.root().join("l1")).unwrap();
        symlink("/l1", s.root().join("l2")).unwrap();
        symlink("self/x", s.root().join("self")).unwrap();
        assert!(matches!(
            res(&s, "/l1", Create::No).unwrap_err(),
            ResolveError::TooManySymlinks { .. }
        ));
        assert!(matches!(
            res(&s, "/self", Create::Dir).unwrap_err(),
            ResolveError::TooManySymlinks { .. }
        ));
    }

    #[test]
    fn creates_missing_dirs_and_files() {
        let s = Scratch::new("create");
        let r = res(&s, "/x/y/z", Create::Dir).unwrap();
        assert!(s.root().join("x/y/z").is_dir());
        assert_eq!(
            ino(&r.fd),
            fs::metadata(s.root().join("x/y/z")).unwrap().ino()
        );
        let r = res(&s, "/f/g", Create::File).unwrap();
        assert!(s.root().join("f").is_dir());
        assert!(s.root().join("f/g").is_file());
        assert_eq!(r.path, Path::new("/f/g"));
        // A dangling absolute final symlink gets its target created inside the root.
        symlink("/target/file", s.root().join("dangling")).unwrap();
        res(&s, "/dangling", Create::File).unwrap();
        assert!(s.root().join("target/file").is_file());
        // Existing things are left alone.
        res(&s, "/f/g", Create::File).unwrap();
        assert!(matches!(
            res(&s, "/nope", Create::No).unwrap_err(),
            ResolveError::NotFound { .. }
        ));
    }

    #[test]
    fn file_in_the_middle_is_not_a_directory() {
        let s = Scratch::new("notdir");
        fs::write(s.root().join("file"), "").unwrap();
        let e = res(&s, "/file/x", Create::Dir).unwrap_err();
        assert!(matches!(e, ResolveError::NotADirectory { .. }), "{e}");
    }
}
