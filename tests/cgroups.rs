//! cgroups (v1 hybrid host): memory and pids limits are applied and enforced; cgroupsPath
//! default; cgroup directories are removed on delete.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::path::Path;
use std::time::Duration;

const MIB: u64 = 1 << 20;

/// Sets linux.resources.memory.limit (and swap = limit when swap accounting exists, so the
/// workload cannot escape into swap).
fn set_memory_limit(c: &mut Ctr, bytes: u64) {
    let mut mem = json!({ "limit": bytes });
    if Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        mem["swap"] = json!(bytes);
    }
    c.spec["linux"]["resources"]["memory"] = mem;
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let mut c = Ctr::new("oom");
    set_memory_limit(&mut c, 32 * MIB);
    c.args(&["/bin/alloc", "128"]);
    let out = c.run();
    out.assert_code(137);
    assert!(!out.stdout.contains("allocated"), "{out}");
    c.assert_clean();
}

/// Control for the OOM test: a small allocation fits under the same limit.
#[test]
fn memory_limit_allows_small_allocation() {
    let mut c = Ctr::new("oom-ok");
    set_memory_limit(&mut c, 32 * MIB);
    c.args(&["/bin/alloc", "8"]);
    let out = c.run();
    out.assert_ok();
    assert_eq!(out.stdout, "allocated 8 MiB\n", "{out}");
    c.assert_clean();
}

/// pids.limit 16 stops a shell spawning 50 background sleeps; the container still exits
/// (PID 1 exits, the kernel kills the rest of the PID namespace).
#[test]
fn pids_limit_stops_fork_bomb() {
    let mut c = Ctr::new("pids");
    c.spec["linux"]["resources"]["pids"] = json!({ "limit": 16 });
    c.sh("i=0; while [ $i -lt 50 ]; do sleep 20 & i=$((i+1)); done; echo spawned-all");
    let out = c.run();
    assert!(
        out.stderr.contains("can't fork")
            || out.stderr.contains("Resource temporarily unavailable"),
        "fork did not fail\n{out}"
    );
    assert!(!out.stdout.contains("spawned-all"), "{out}");
    c.assert_clean();
}

/// After create the limits are in the container's cgroup (cgroupsPath `/pinhole-test/<id>`) and
/// the init is a member; delete removes the directories.
#[test]
fn limits_applied_after_create() {
    let mut c = Ctr::new("cglimits");
    set_memory_limit(&mut c, 32 * MIB);
    c.spec["linux"]["resources"]["pids"] = json!({ "limit": 16 });
    c.args(&["/bin/sleep", "30"]);
    let pid = c.create_ok();
    let cg = |ctrl: &str, file: &str| {
        let p = Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(CGROUP_PARENT)
            .join(&c.id)
            .join(file);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    assert_eq!(
        cg("memory", "memory.limit_in_bytes").trim(),
        (32 * MIB).to_string()
    );
    assert_eq!(cg("pids", "pids.max").trim(), "16");
    for ctrl in CHECKED_CONTROLLERS {
        let procs = cg(ctrl, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "init {pid} not in {ctrl} cgroup: {procs:?}"
        );
    }
    c.delete_ok(true);
    c.assert_clean();
}

/// Without linux.cgroupsPath the cgroup is `/pinhole/<id>`.
#[test]
fn default_cgroups_path() {
    let mut c = Ctr::new("cgdefault");
    c.spec["linux"]
        .as_object_mut()
        .unwrap()
        .remove("cgroupsPath");
    c.spec["linux"]["resources"]["pids"] = json!({ "limit": 20 });
    c.args(&["/bin/sleep", "30"]);
    let dir = Path::new("/sys/fs/cgroup/pids/pinhole").join(&c.id);
    let cleanup = scopeguard(&dir);
    let pid = c.create_ok();
    let procs = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "{procs:?}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("pids.max")).unwrap().trim(),
        "20"
    );
    c.delete_ok(true);
    assert!(
        wait_until(Duration::from_secs(3), || !dir.exists()),
        "{} left after delete",
        dir.display()
    );
    c.assert_clean();
    drop(cleanup);
}

/// Removes the default-path cgroup dirs of a test container on drop (they are outside the
/// `pinhole-test` parent that `Ctr`'s cleanup handles).
struct CgGuard(Vec<std::path::PathBuf>);

fn scopeguard(pids_dir: &Path) -> CgGuard {
    let id = pids_dir.file_name().unwrap();
    CgGuard(
        fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("pinhole").join(id))
            .collect(),
    )
}

impl Drop for CgGuard {
    fn drop(&mut self) {
        for d in &self.0 {
            // only this test's container can be in there: kill it by pid, then remove the dir
            for pid in fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    // SAFETY: kill(2) takes plain integers; no memory is involved.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            wait_until(Duration::from_secs(2), || {
                !d.exists() || rmdir_tree(d).is_ok()
            });
        }
    }
}
