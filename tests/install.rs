//! Tests for `hack/install.sh`: real runs of the script against temporary directories. Every
//! run passes `--prefix`, `--config`, `--policy-dir` (all in a temp dir) and `--bin-dir` with
//! dummy executables, so nothing is built and nothing outside the temp dir is touched.
//! `containerd config dump` is used when containerd is installed (hack/test.sh installs it).
//! The node's containerd is the one of `PINHOLE_CONTAINERD` (1.6, the system's, by default; 1.7
//! and 2.1 extracted under the target dir by hack/test.sh), passed as `--containerd`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

const BEGIN: &str = "# BEGIN pinhole (managed by hack/install.sh)";
const END: &str = "# END pinhole";
const SHIM: &str = "containerd-shim-pinhole-v2";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// A v2 config with content of its own (comments, top-level keys, several tables, runc).
const V2_CONFIG: &str = r#"# node config, hand-written
version = 2
oom_score = -999

[grpc]
  max_recv_message_size = 16777216

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.9"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = true
"#;

/// The containerd binary of the version under test (`PINHOLE_CONTAINERD`).
fn containerd_bin() -> PathBuf {
    match std::env::var("PINHOLE_CONTAINERD").as_deref() {
        Err(_) | Ok("1.6") => PathBuf::from("containerd"),
        Ok(v) => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            let bin = target.join("containerd").join(v).join("usr/bin/containerd");
            assert!(
                bin.is_file(),
                "{}: run `bash -c '. hack/lib.sh; ensure_containerd {v}'` first",
                bin.display()
            );
            bin
        }
    }
}

/// A temp dir holding the install targets and the dummy binaries.
struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("pinhole-install-")
            .tempdir()
            .expect("temp dir");
        let bin = dir.path().join("dist");
        fs::create_dir(&bin).unwrap();
        for name in [SHIM, "pinhole"] {
            let p = bin.join(name);
            fs::write(&p, format!("#!/bin/sh\necho dummy {name}\n")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Env { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn config(&self) -> PathBuf {
        self.path("etc/containerd/config.toml")
    }

    fn policy_dir(&self) -> PathBuf {
        self.path("etc/pinhole")
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.path("prefix/bin").join(name)
    }

    fn write_config(&self, content: &str) {
        fs::create_dir_all(self.config().parent().unwrap()).unwrap();
        fs::write(self.config(), content).unwrap();
    }

    fn read_config(&self) -> String {
        fs::read_to_string(self.config()).expect("config file")
    }

    /// Runs hack/install.sh with the temp-dir options plus `extra`.
    fn run(&self, extra: &[&str]) -> Output {
        let out = Command::new("bash")
            .arg(repo_root().join("hack/install.sh"))
            .arg("--prefix")
            .arg(self.path("prefix"))
            .arg("--config")
            .arg(self.config())
            .arg("--policy-dir")
            .arg(self.policy_dir())
            .arg("--bin-dir")
            .arg(self.path("dist"))
            .arg("--containerd")
            .arg(containerd_bin())
            .args(extra)
            .output()
            .expect("run hack/install.sh");
        eprintln!(
            "install.sh {extra:?}: {}\n--- stdout\n{}--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn run_ok(&self, extra: &[&str]) -> Output {
        let out = self.run(extra);
        assert!(out.status.success(), "install.sh {extra:?} failed");
        out
    }

    /// Names of the config backups (`config.toml.pinhole-bak.*`).
    fn backups(&self) -> Vec<PathBuf> {
        let dir = self.config().parent().unwrap().to_path_buf();
        let mut v: Vec<PathBuf> = fs::read_dir(&dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().path())
                    .filter(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("config.toml.pinhole-bak.")
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every file below the temp dir except the dummy binaries, with its content.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    out.push((p.clone(), Vec::new()));
                    walk(&p, out);
                } else {
                    out.push((p.clone(), fs::read(&p).unwrap()));
                }
            }
        }
        let mut v = Vec::new();
        walk(self.dir.path(), &mut v);
        v.sort();
        v
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The installed containerd's major version, None without containerd.
fn containerd_major() -> Option<u32> {
    let out = Command::new(containerd_bin())
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text.split_whitespace().nth(2)?.trim_start_matches('v');
    version.split('.').next()?.parse().ok()
}

/// `containerd --config FILE config dump`; panics when containerd is missing or fails.
fn containerd_dump(config: &Path) -> String {
    let out = Command::new(containerd_bin())
        .arg("--config")
        .arg(config)
        .args(["config", "dump"])
        .output()
        .expect("containerd not found (hack/test.sh installs it: apt-get install containerd)");
    assert!(
        out.status.success(),
        "containerd config dump failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// The marked block of a config, markers included.
fn block(config: &str) -> &str {
    let b = config.find(BEGIN).expect("BEGIN marker");
    let e = config.find(END).expect("END marker") + END.len();
    &config[b..e]
}

#[test]
fn missing_config_is_created_as_v2_and_uninstall_deletes_it() {
    let env = Env::new();
    let out = env.run_ok(&[]);
    let config = env.read_config();
    let expected_version = match containerd_major() {
        Some(m) if m >= 2 => "version = 3\n",
        _ => "version = 2\n",
    };
    assert!(config.starts_with(expected_version), "{config}");
    assert_eq!(count(&config, BEGIN), 1);
    assert_eq!(count(&config, END), 1);
    assert!(config.contains("io.containerd.pinhole.v2"));
    // ConfigPath follows --policy-dir.
    let policy = env.policy_dir().join("pinhole-strict.toml");
    assert!(config.contains(&format!("ConfigPath = \"{}\"", policy.display())));
    assert!(!config.contains("\"/etc/pinhole/"), "{config}");
    // Binaries: executable copies of --bin-dir's.
    for name in [SHIM, "pinhole"] {
        let meta = fs::metadata(env.bin(name)).expect("installed binary");
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(
            fs::read(env.bin(name)).unwrap(),
            fs::read(env.path("dist").join(name)).unwrap()
        );
    }
    // Policies: the shipped files, and the CLI's default (policy.toml) = the pinhole handler's.
    for (installed, shipped) in [
        ("pinhole.toml", "pinhole.toml"),
        ("pinhole-strict.toml", "pinhole-strict.toml"),
        ("policy.toml", "pinhole.toml"),
    ] {
        assert_eq!(
            fs::read(env.policy_dir().join(installed)).unwrap(),
            fs::read(repo_root().join("runtimeclass/policies").join(shipped)).unwrap(),
            "{installed}"
        );
    }
    // The CLI reads /etc/pinhole/policy.toml only: another --policy-dir is said.
    assert!(
        stderr(&out).contains("the pinhole CLI reads /etc/pinhole/policy.toml"),
        "{}",
        stderr(&out)
    );
    // Nodes are not labelled, but the commands are printed.
    let text = stdout(&out);
    assert!(text.contains("kubectl label node <node> pinhole.dev/runtime=true"));
    assert!(text.contains("runtimeclass/kubernetes/"));

    env.run_ok(&["--uninstall"]);
    assert!(
        !env.config().exists(),
        "the created config is deleted again"
    );
    assert!(!env.bin(SHIM).exists() && !env.bin("pinhole").exists());
    assert!(!env.policy_dir().exists());
}

#[test]
fn existing_v2_config_is_preserved_idempotent_and_restored() {
    let env = Env::new();
    env.write_config(V2_CONFIG);
    env.run_ok(&[]);
    let first = env.read_config();
    // The original content is untouched; the block is appended.
    assert!(first.starts_with(V2_CONFIG), "{first}");
    assert!(first.ends_with(&format!("{END}\n")));
    let b = block(&first);
    assert!(b.contains(r#"[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pinhole]"#));
    assert!(
        b.contains(r#"[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pinhole-strict]"#)
    );
    assert!(
        !b.contains("runtimes.runc"),
        "runc is defined by the file itself"
    );
    // A backup of the original.
    let backups = env.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(fs::read_to_string(&backups[0]).unwrap(), V2_CONFIG);

    // containerd loads it, with the file's own settings and both handlers.
    let dump = containerd_dump(&env.config());
    assert!(dump.contains("io.containerd.pinhole.v2"), "{dump}");
    assert!(dump.contains("runtimes.pinhole-strict.options]"), "{dump}");
    assert!(dump.contains("registry.k8s.io/pause:3.9"), "{dump}");
    assert!(dump.contains("SystemdCgroup = true"), "{dump}");
    let policy = env.policy_dir().join("pinhole.toml");
    // 1.x dumps "double", 2.x 'single' quotes
    let path = policy.display();
    assert!(
        dump.contains(&format!("ConfigPath = \"{path}\""))
            || dump.contains(&format!("ConfigPath = '{path}'")),
        "{dump}"
    );

    // Second run: identical file, no new backup.
    env.run_ok(&[]);
    assert_eq!(env.read_config(), first);
    assert_eq!(env.backups().len(), 1);

    // Uninstall: the original bytes.
    env.run_ok(&["--uninstall"]);
    assert_eq!(env.read_config(), V2_CONFIG);
    assert!(!env.bin(SHIM).exists());
}

#[test]
fn config_without_runtimes_keeps_containerds_default_runc() {
    // containerd 1.6 replaces its built-in runtimes map (runc) as soon as the config defines a
    // runtime; the CRI plugin then fails to load (default_runtime_name "runc" has no runtime).
    let env = Env::new();
    let original = "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/usr/lib/cni\"\n";
    env.write_config(original);
    env.run_ok(&[]);
    let config = env.read_config();
    assert!(block(&config).contains("runtimes.runc]"), "{config}");
    if containerd_major().is_some_and(|m| m < 2) {
        let dump = containerd_dump(&env.config());
        assert!(dump.contains("containerd.runtimes.runc]"), "{dump}");
        assert!(dump.contains("containerd.runtimes.pinhole]"), "{dump}");
    }
    env.run_ok(&["--uninstall"]);
    assert_eq!(env.read_config(), original);
}

#[test]
fn v3_config_gets_the_v3_fragment() {
    let env = Env::new();
    let original =
        "version = 3\n\n[plugins.\"io.containerd.cri.v1.images\"]\n  snapshotter = \"overlayfs\"\n";
    env.write_config(original);
    if containerd_major().is_some_and(|m| m < 2) {
        // containerd 1.x cannot read it: refused before anything changes
        let out = env.run(&[]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("version 3") && err.contains("containerd 2.x"),
            "{err}"
        );
        assert_eq!(env.read_config(), original);
        assert!(!env.bin(SHIM).exists());
        return;
    }
    env.run_ok(&[]);
    let config = env.read_config();
    assert!(config.starts_with(original));
    let b = block(&config);
    assert!(b.contains(r#"[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.pinhole]"#));
    assert!(b.contains("io.containerd.pinhole.v2"));
    assert!(!b.contains("io.containerd.grpc.v1.cri"), "{b}");
    assert!(
        !b.contains("version"),
        "the fragment's version line is left out: {b}"
    );
    if containerd_major().is_some_and(|m| m >= 2) {
        let dump = containerd_dump(&env.config());
        assert!(dump.contains("runtimes.pinhole-strict.options]"), "{dump}");
        assert!(dump.contains("io.containerd.pinhole.v2"), "{dump}");
    }
    env.run_ok(&[]);
    assert_eq!(env.read_config(), config);
    env.run_ok(&["--uninstall"]);
    assert_eq!(env.read_config(), original);
}

#[test]
fn pinhole_runtime_outside_the_markers_is_refused() {
    let env = Env::new();
    let original = format!(
        "{V2_CONFIG}      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.pinhole]\n        runtime_type = \"io.containerd.pinhole.v2\"\n"
    );
    env.write_config(&original);
    let out = env.run(&[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(r#"[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pinhole]"#),
        "the error names the table: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    assert_eq!(env.read_config(), original, "left unchanged");
    assert!(env.backups().is_empty());
    assert!(
        !env.bin(SHIM).exists(),
        "refused before installing anything"
    );
    assert!(!env.policy_dir().exists());
}

#[test]
fn config_that_would_not_load_is_refused_unchanged() {
    // An inline `runtimes` table cannot be extended by [..runtimes.pinhole]: containerd's TOML
    // parser rejects the merge, so the install stops before changing anything.
    let env = Env::new();
    let original =
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  runtimes = {}\n";
    env.write_config(original);
    if containerd_major().is_none() {
        eprintln!("containerd not installed: skipping");
        return;
    }
    let out = env.run(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("would not validate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.read_config(), original);
    assert!(env.backups().is_empty());
    assert!(!env.bin(SHIM).exists());
}

#[test]
fn unversioned_config_with_tables_is_refused() {
    // No `version`: containerd reads it as version 1, where our tables would be ignored.
    let env = Env::new();
    let original = "[plugins.cri]\n  sandbox_image = \"pause:3.9\"\n";
    env.write_config(original);
    let out = env.run(&[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("version"), "{}", stderr(&out));
    assert_eq!(env.read_config(), original);
}

#[test]
fn uninstall_restores_a_file_without_final_newline() {
    let env = Env::new();
    let original = "# comment only, no newline at the end";
    env.write_config(original);
    env.run_ok(&[]);
    let config = env.read_config();
    assert!(
        config.starts_with(&format!("{original}\n{BEGIN}\n")),
        "{config}"
    );
    assert!(block(&config).contains("\nversion = "), "{config}");
    env.run_ok(&[]);
    assert_eq!(env.read_config(), config);
    env.run_ok(&["--uninstall"]);
    assert_eq!(fs::read(env.config()).unwrap(), original.as_bytes());
}

#[test]
fn dry_run_changes_nothing() {
    let env = Env::new();
    env.write_config(V2_CONFIG);
    let before = env.snapshot();
    let out = env.run_ok(&["--dry-run"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("+{BEGIN}")),
        "prints the diff: {text}"
    );
    assert!(
        text.contains("+  runtime_type = \"io.containerd.pinhole.v2\""),
        "{text}"
    );
    assert_eq!(env.snapshot(), before);

    // Nor does a dry-run uninstall, or a dry run into a missing config.
    env.run_ok(&[]);
    let installed = env.snapshot();
    env.run_ok(&["--uninstall", "--dry-run"]);
    assert_eq!(env.snapshot(), installed);

    let fresh = Env::new();
    let before = fresh.snapshot();
    fresh.run_ok(&["--dry-run"]);
    assert_eq!(fresh.snapshot(), before);
}

#[test]
fn modified_policies_are_kept_as_bak() {
    let env = Env::new();
    env.run_ok(&[]);
    let policy = env.policy_dir().join("pinhole.toml");
    let shipped = fs::read_to_string(&policy).unwrap();
    let modified = format!("{shipped}# local change\n");
    fs::write(&policy, &modified).unwrap();

    // Reinstall: the shipped policy again, the local one as .bak.
    env.run_ok(&[]);
    assert_eq!(fs::read_to_string(&policy).unwrap(), shipped);
    let bak = env.policy_dir().join("pinhole.toml.bak");
    assert_eq!(fs::read_to_string(&bak).unwrap(), modified);

    // The CLI's default is a policy like the others: a local change is kept too.
    let cli = env.policy_dir().join("policy.toml");
    fs::write(&cli, format!("{shipped}# site default\n")).unwrap();
    env.run_ok(&[]);
    assert_eq!(fs::read_to_string(&cli).unwrap(), shipped);
    assert!(fs::read_to_string(env.policy_dir().join("policy.toml.bak"))
        .unwrap()
        .ends_with("# site default\n"));

    // Uninstall: unmodified policies go, a modified one stays as .bak (the older .bak too).
    let strict = env.policy_dir().join("pinhole-strict.toml");
    fs::write(&strict, "# mine\n").unwrap();
    env.run_ok(&["--uninstall"]);
    assert!(!policy.exists() && !strict.exists() && !cli.exists());
    assert_eq!(fs::read_to_string(&bak).unwrap(), modified);
    let strict_bak = env.policy_dir().join("pinhole-strict.toml.bak");
    assert_eq!(fs::read_to_string(strict_bak).unwrap(), "# mine\n");
}

#[test]
fn reinstall_replaces_binaries_with_a_new_inode() {
    // A running shim keeps executing its old inode; install(1) never writes into it.
    let env = Env::new();
    env.run_ok(&[]);
    let ino = fs::metadata(env.bin(SHIM)).unwrap().ino();
    let keep = fs::File::open(env.bin(SHIM)).unwrap(); // keeps the old inode alive
    env.run_ok(&[]);
    assert_ne!(fs::metadata(env.bin(SHIM)).unwrap().ino(), ino);
    assert_eq!(keep.metadata().unwrap().ino(), ino);
}

#[test]
fn bad_arguments_print_usage() {
    for args in [&["--bogus"][..], &["--prefix"][..]] {
        let out = Command::new("bash")
            .arg(repo_root().join("hack/install.sh"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains("usage:"), "{args:?}");
    }
}

/// Issue 9 item 7: a new config is written in the version the node's containerd reads natively
/// (2 for 1.x, 3 for 2.x) and validated by that containerd; `--config-version` overrides it,
/// and asking a 1.x containerd for version 3 is refused naming both.
#[test]
fn new_config_version_follows_the_node_and_the_override() {
    let Some(major) = containerd_major() else {
        return eprintln!("containerd not installed: skipping");
    };
    let env = Env::new();
    env.run_ok(&[]);
    let native = if major >= 2 { 3 } else { 2 };
    assert!(
        env.read_config()
            .starts_with(&format!("version = {native}\n")),
        "{}",
        env.read_config()
    );
    let dump = containerd_dump(&env.config());
    assert!(dump.contains("io.containerd.pinhole.v2"), "{dump}");
    env.run_ok(&["--uninstall"]);

    env.run_ok(&["--config-version", "2"]);
    let config = env.read_config();
    assert!(config.starts_with("version = 2\n"), "{config}");
    assert!(
        block(&config).contains("io.containerd.grpc.v1.cri"),
        "{config}"
    );
    let dump = containerd_dump(&env.config());
    assert!(dump.contains("io.containerd.pinhole.v2"), "{dump}");
    env.run_ok(&["--uninstall"]);

    let out = env.run(&["--config-version", "3"]);
    if major >= 2 {
        assert!(out.status.success());
        assert!(env.read_config().starts_with("version = 3\n"));
        env.run_ok(&["--uninstall"]);
    } else {
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("--config-version 3") && err.contains("version 2 only"),
            "{err}"
        );
        assert!(!env.config().exists(), "refused before writing anything");
    }
    let out = env.run(&["--config-version", "4"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("must be 2 or 3"), "{}", stderr(&out));
}
