//! Which handler policy the CLI puts over a container (`create`, `run`, `profile record`).
//!
//! Engines that drive the CLI (podman, Docker's `--add-runtime`) pass no policy of their own,
//! so the CLI never falls back to "no ceiling". The first of these that is set wins:
//!
//! 1. `--policy FILE` (a global flag: before the verb, as podman's `--runtime-flag policy=F`
//!    and Docker's `runtimeArgs` put it, or after it, as `create/run --policy F` always did);
//! 2. `PINHOLE_POLICY=FILE` in the environment (an empty value counts as unset);
//! 3. [`DEFAULT_FILE`], `/etc/pinhole/policy.toml` (`hack/install.sh` installs a copy of the
//!    `pinhole` handler policy there);
//! 4. the built-in `pinhole` handler policy (what the shim applies to a handler without a
//!    file), when that file does not exist.
//!
//! [`UNCONFINED`] as the flag's or the variable's value opts out: no ceiling at all (the spec
//! alone decides capabilities, seccomp and no_new_privs), and the CLI says so on stderr. A
//! file literally named `unconfined` is `./unconfined`. A policy that does not load is an
//! error naming the file and the field, never a fallback; so is a [`DEFAULT_FILE`] that exists
//! but cannot be read.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pinhole_sandbox::policy::Policy;

/// The policy file the CLI applies when neither `--policy` nor [`ENV`] names one.
pub const DEFAULT_FILE: &str = "/etc/pinhole/policy.toml";
/// The environment variable naming the policy file (after `--policy`).
pub const ENV: &str = "PINHOLE_POLICY";
/// The value of `--policy` or [`ENV`] that opts out of every ceiling.
pub const UNCONFINED: &str = "unconfined";

/// Where a choice came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `--policy` flag.
    Flag,
    /// The [`ENV`] variable.
    Env,
    /// [`DEFAULT_FILE`].
    DefaultFile,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => write!(f, "--policy"),
            Source::Env => write!(f, "{ENV}"),
            Source::DefaultFile => write!(f, "{DEFAULT_FILE}"),
        }
    }
}

/// The policy to apply, before it is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// A policy file.
    File(PathBuf, Source),
    /// The built-in `pinhole` handler policy ([`Policy::builtin_default`]).
    Builtin,
    /// No ceiling, asked for by the flag or the variable.
    Unconfined(Source),
}

/// Picks the policy from the flag, the variable's value and whether `default_file` exists
/// (see the module docs for the order). Fails only when `default_file` cannot be looked at.
pub fn choose(flag: Option<&Path>, env: Option<OsString>, default_file: &Path) -> Result<Choice> {
    let given = flag.map(|p| (p.to_path_buf(), Source::Flag)).or_else(|| {
        env.filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), Source::Env))
    });
    if let Some((path, source)) = given {
        if path.as_os_str() == UNCONFINED {
            return Ok(Choice::Unconfined(source));
        }
        return Ok(Choice::File(path, source));
    }
    match std::fs::metadata(default_file) {
        Ok(_) => Ok(Choice::File(
            default_file.to_path_buf(),
            Source::DefaultFile,
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Choice::Builtin),
        // Something is there that we cannot look at: refuse rather than run without it.
        Err(e) => Err(e).with_context(|| format!("default policy {}", default_file.display())),
    }
}

/// A loaded choice: the policy (`None`: unconfined) and what the CLI says about it.
pub struct Loaded {
    /// The ceiling, if any.
    pub policy: Option<Policy>,
    /// A line for stderr (the opt-out), without the `pinhole: warning: ` prefix.
    pub warning: Option<String>,
}

impl Choice {
    /// Loads the chosen policy.
    pub fn load(self) -> Result<Loaded> {
        match self {
            Choice::File(path, source) => {
                let policy =
                    Policy::load(&path).with_context(|| format!("policy from {source}"))?;
                Ok(Loaded {
                    policy: Some(policy),
                    warning: None,
                })
            }
            Choice::Builtin => Ok(Loaded {
                policy: Some(Policy::builtin_default()),
                warning: None,
            }),
            Choice::Unconfined(source) => Ok(Loaded {
                policy: None,
                warning: Some(format!(
                    "{source} {UNCONFINED}: no handler ceiling; capabilities, seccomp and no_new_privs are as the spec says"
                )),
            }),
        }
    }
}

/// The policy for a container: `--policy`'s value `flag`, else [`ENV`], else [`DEFAULT_FILE`],
/// else the built-in one; the opt-out's warning is printed here.
pub fn resolve(flag: Option<&Path>) -> Result<Option<Policy>> {
    let loaded = choose(flag, std::env::var_os(ENV), Path::new(DEFAULT_FILE))?.load()?;
    if let Some(w) = &loaded.warning {
        eprintln!("pinhole: warning: {w}");
    }
    Ok(loaded.policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("policy.toml");
        std::fs::write(&f, "name = \"x\"\n").unwrap();
        (dir, f)
    }

    #[test]
    fn flag_beats_env_beats_default_file_beats_builtin() {
        let (_d, etc) = tmp_file();
        let missing = etc.with_file_name("absent.toml");
        let flag = Path::new("/f.toml");
        let env = || Some(OsString::from("/e.toml"));
        assert_eq!(
            choose(Some(flag), env(), &etc).unwrap(),
            Choice::File(flag.into(), Source::Flag)
        );
        assert_eq!(
            choose(None, env(), &etc).unwrap(),
            Choice::File("/e.toml".into(), Source::Env)
        );
        assert_eq!(
            choose(None, None, &etc).unwrap(),
            Choice::File(etc.clone(), Source::DefaultFile)
        );
        assert_eq!(choose(None, None, &missing).unwrap(), Choice::Builtin);
        // an empty variable is unset
        assert_eq!(
            choose(None, Some(OsString::new()), &missing).unwrap(),
            Choice::Builtin
        );
    }

    #[test]
    fn unconfined_is_an_explicit_opt_out_with_a_warning() {
        let (_d, etc) = tmp_file();
        let c = choose(Some(Path::new("unconfined")), None, &etc).unwrap();
        assert_eq!(c, Choice::Unconfined(Source::Flag));
        let l = c.load().unwrap();
        assert!(l.policy.is_none());
        assert!(l
            .warning
            .unwrap()
            .starts_with("--policy unconfined: no handler ceiling"));
        let c = choose(None, Some("unconfined".into()), &etc).unwrap();
        assert_eq!(c, Choice::Unconfined(Source::Env));
        // the flag wins over an unconfined environment
        assert_eq!(
            choose(Some(&etc), Some("unconfined".into()), &etc).unwrap(),
            Choice::File(etc.clone(), Source::Flag)
        );
        // ./unconfined is a file
        assert_eq!(
            choose(Some(Path::new("./unconfined")), None, &etc).unwrap(),
            Choice::File("./unconfined".into(), Source::Flag)
        );
    }

    #[test]
    fn a_default_file_that_cannot_be_looked_at_is_an_error() {
        let (_d, etc) = tmp_file();
        // ENOTDIR: a path through a regular file
        let bad = etc.join("policy.toml");
        let e = choose(None, None, &bad).unwrap_err();
        assert!(format!("{e:#}").contains("default policy"), "{e:#}");
    }

    #[test]
    fn the_builtin_is_the_pinhole_handler_policy() {
        let l = Choice::Builtin.load().unwrap();
        assert_eq!(l.policy.unwrap().name(), "pinhole");
        assert!(l.warning.is_none());
    }

    #[test]
    fn a_bad_file_names_file_and_field() {
        let (_d, f) = tmp_file();
        std::fs::write(&f, "name = \"x\"\n[rootfs]\nreadonyl = true\n").unwrap();
        let e = Choice::File(f.clone(), Source::Env)
            .load()
            .err()
            .expect("a typo is an error");
        let text = format!("{e:#}");
        assert!(text.contains(&f.display().to_string()), "{text}");
        assert!(text.contains("readonyl"), "{text}");
        assert!(text.starts_with("policy from PINHOLE_POLICY: "), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}
