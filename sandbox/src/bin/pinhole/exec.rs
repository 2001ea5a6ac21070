//! `exec`: run a process inside a running container; exit with its status, or with
//! `--detach` leave it running.

use std::path::PathBuf;

use anyhow::{Context, Result};
use pinhole_sandbox::container::{self, ExecOptions, Root};

/// What `exec` runs and how.
#[derive(clap::Args)]
pub struct ExecArgs {
    /// JSON file holding an OCI process object.
    #[arg(long, short)]
    process: Option<PathBuf>,
    /// Working directory.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(long, short)]
    env: Vec<String>,
    /// User as UID[:GID].
    #[arg(long, short)]
    user: Option<String>,
    /// Give the process a terminal (its pty master goes to --console-socket).
    #[arg(long, short)]
    tty: bool,
    /// Unix socket that receives the terminal's pty master (SCM_RIGHTS).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Do not wait for the process: exit once it runs.
    #[arg(long, short)]
    detach: bool,
    /// Write the process's host pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Container id.
    id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Runs the exec.
pub fn exec(root: &Root, a: ExecArgs) -> Result<u8> {
    let mut process = match &a.process {
        Some(f) => {
            let text = std::fs::read(f).with_context(|| format!("read {}", f.display()))?;
            pinhole_sandbox::spec::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
        }
        None => {
            let mut p =
                container::State::load(root, &a.id).and_then(|_| container_process(root, &a.id))?;
            // the container's own terminal is not the exec's
            p.set_terminal(Some(false));
            p
        }
    };
    if !a.command.is_empty() {
        process.set_args(Some(a.command.clone()));
    } else if a.process.is_none() {
        anyhow::bail!("exec: no command given (use -- CMD ARGS or --process FILE)");
    }
    if let Some(cwd) = &a.cwd {
        process.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut all = process.env().clone().unwrap_or_default();
        for e in &a.env {
            let key = e.split('=').next().unwrap_or_default().to_string();
            all.retain(|x| x.split('=').next() != Some(key.as_str()));
            all.push(e.clone());
        }
        process.set_env(Some(all));
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((x, y)) => (x.parse::<u32>(), y.parse::<u32>()),
            None => (u.parse::<u32>(), u.parse::<u32>()),
        };
        let (uid, gid) = (
            uid.with_context(|| format!("--user {u:?}: not UID[:GID]"))?,
            gid.with_context(|| format!("--user {u:?}: not UID[:GID]"))?,
        );
        let mut usr = process.user().clone();
        usr.set_uid(uid);
        usr.set_gid(gid);
        process.set_user(usr);
    }
    if a.tty {
        process.set_terminal(Some(true));
    }
    let terminal = process.terminal() == Some(true);
    if terminal && a.console_socket.is_none() {
        anyhow::bail!(
            "exec: a terminal (--tty or process.terminal) needs --console-socket: pinhole does not proxy terminals"
        );
    }
    if !a.detach {
        container::become_subreaper()?;
    }
    let set = if a.detach {
        None
    } else {
        Some(container::block_signals()?)
    };
    let opts = ExecOptions {
        console: terminal,
        ..Default::default()
    };
    let execed = container::exec(root, &a.id, process, opts)?;
    container::print_warnings(&execed.warnings);
    if let (Some(socket), Some(master)) = (&a.console_socket, &execed.console) {
        super::console::send(socket, master)?;
    }
    drop(execed.console);
    if let Some(p) = &a.pid_file {
        std::fs::write(p, execed.pid.to_string())
            .with_context(|| format!("write pid file {}", p.display()))?;
    }
    match set {
        None => Ok(0),
        Some(set) => {
            let code = container::wait_forwarding(execed.pid, &set)?;
            Ok(code.clamp(0, 255) as u8)
        }
    }
}

/// The container's own process section, the base of an exec without --process.
fn container_process(
    root: &Root,
    id: &str,
) -> Result<oci_spec::runtime::Process, container::Error> {
    let spec = container::saved_spec(root, id)?;
    spec.process()
        .clone()
        .ok_or_else(|| container::Error::Other(format!("container {id:?} has no process")))
}
