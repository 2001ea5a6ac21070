//! `pinhole`: a runc-compatible command line over the pinhole sandbox.

mod profile;
mod surface;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pinhole_sandbox::container::{self, CreateOptions, ExecOptions, Root};

mod denials;
mod policy_arg;
mod record;

#[derive(Parser)]
#[command(
    name = "pinhole",
    version,
    about = "Run OCI containers inside an enforced sandbox"
)]
struct Cli {
    /// State directory for containers.
    #[arg(long, global = true, default_value = "/run/pinhole")]
    root: PathBuf,
    /// Handler policy (TOML) whose ceiling every created container's spec is intersected with,
    /// or `unconfined` for none (default: $PINHOLE_POLICY, else /etc/pinhole/policy.toml, else
    /// the built-in `pinhole` policy). Before or after the verb; only create, run and profile
    /// record read it (exec and update keep the policy recorded at create).
    #[arg(long, global = true, value_name = "FILE")]
    policy: Option<PathBuf>,
    #[command(subcommand)]
    verb: Verb,
}

/// Arguments shared by `create` and `run`.
#[derive(clap::Args)]
struct BundleArgs {
    /// Bundle directory (config.json + rootfs).
    #[arg(long, short, default_value = ".")]
    bundle: PathBuf,
    /// Write the container's init pid to this file.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Container id.
    id: String,
}

impl BundleArgs {
    /// The create options, under the policy `--policy`, the environment or /etc choose.
    fn options(&self, policy: Option<&std::path::Path>) -> Result<CreateOptions> {
        Ok(CreateOptions {
            pid_file: self.pid_file.clone(),
            policy: policy_arg::resolve(policy)?,
            ..Default::default()
        })
    }
}

/// Output format of `list`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Verb {
    /// Create a container: set up and blocked right before its execve.
    Create(BundleArgs),
    /// Start a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Create, start, wait for and delete a container; exit with its status.
    Run(BundleArgs),
    /// Print a container's state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// List containers.
    List {
        /// `table` or `json` (runc's list JSON: an array of the containers' states).
        #[arg(long, short, default_value = "table")]
        format: ListFormat,
    },
    /// Send a signal to a container's init (or to all its processes).
    Kill {
        /// Signal every process in the container's cgroup.
        #[arg(long, short)]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name or number.
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        /// Kill it first if it still runs.
        #[arg(long, short)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Run a process inside a running container; exit with its status.
    Exec {
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
        /// Container id.
        id: String,
        /// Command and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Show the syscalls an audited container's ceiling denied (name, arch, errno, count).
    Denials {
        /// Print the JSON record instead of a table.
        #[arg(long)]
        json: bool,
        /// Container id.
        id: String,
    },
    /// Syscalls a profile, policy or container's filters allow, per arch, by evaluation.
    Surface(surface::SurfaceArgs),
    /// Show, diff, check, compile and merge seccomp profiles.
    #[command(subcommand)]
    Profile(profile::ProfileCmd),
    /// Print the OCI runtime features document (runtime-spec features.md) as JSON.
    Features,
    /// Internal: the container init role.
    #[command(hide = true)]
    Init,
}

fn main() -> ExitCode {
    // The init role skips argument parsing entirely: it is exec'ed by pinhole itself.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init") {
        pinhole_sandbox::init::main();
    }
    // The containerd shim's setup helper role (see pinhole_sandbox::setup).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == pinhole_sandbox::setup::ROLE)
    {
        pinhole_sandbox::setup::main();
    }
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("pinhole: error: {}", chain.join(": "));
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    // Profile verbs need no state root unless they name a container.
    match cli.verb {
        Verb::Surface(args) => return surface::run(args, &cli.root),
        Verb::Profile(cmd) => return profile::run(cmd, &cli.root, cli.policy.as_deref()),
        Verb::Features => {
            let doc = pinhole_sandbox::features::features();
            println!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(0);
        }
        _ => {}
    }
    let root = Root::new(&cli.root)?;
    match cli.verb {
        Verb::Create(args) => {
            let created = container::create(
                &root,
                &args.id,
                &args.bundle,
                args.options(cli.policy.as_deref())?,
            )?;
            container::print_warnings(&created.warnings);
            Ok(0)
        }
        Verb::Start { id } => {
            container::start(&root, &id)?;
            Ok(0)
        }
        Verb::Run(args) => {
            let opts = args.options(cli.policy.as_deref())?;
            let code = container::run(&root, &args.id, &args.bundle, opts)?;
            Ok(code.clamp(0, 255) as u8)
        }
        Verb::State { id } => {
            let st = container::State::load(&root, &id)?;
            println!("{}", serde_json::to_string_pretty(&st.oci_json())?);
            Ok(0)
        }
        Verb::List {
            format: ListFormat::Json,
        } => {
            let states: Vec<serde_json::Value> = root
                .list()
                .iter()
                .filter_map(|id| container::State::load(&root, id).ok())
                .map(|st| st.oci_json())
                .collect();
            println!("{}", serde_json::to_string(&states)?);
            Ok(0)
        }
        Verb::List {
            format: ListFormat::Table,
        } => {
            println!("{:<32} {:<8} {:<10} BUNDLE", "ID", "PID", "STATUS");
            for id in root.list() {
                if let Ok(st) = container::State::load(&root, &id) {
                    println!(
                        "{:<32} {:<8} {:<10} {}",
                        st.id,
                        st.pid,
                        st.status.to_string(),
                        st.bundle.display()
                    );
                }
            }
            Ok(0)
        }
        Verb::Kill { all, id, signal } => {
            let sig = container::parse_signal(&signal)?;
            container::kill(&root, &id, sig, all)?;
            Ok(0)
        }
        Verb::Delete { force, id } => match container::delete(&root, &id, force) {
            // as runc: deleting by force what does not exist is done
            Err(container::Error::NotFound(_)) if force => Ok(0),
            r => r.map(|()| 0).map_err(Into::into),
        },
        Verb::Exec {
            process,
            cwd,
            env,
            user,
            id,
            command,
        } => exec(&root, &id, process, cwd, env, user, command),
        Verb::Denials { json, id } => denials::denials(&root, &id, json),
        Verb::Init => unreachable!("handled before parsing"),
        Verb::Surface(_) | Verb::Profile(_) | Verb::Features => unreachable!("handled above"),
    }
}

fn exec(
    root: &Root,
    id: &str,
    process_file: Option<PathBuf>,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    user: Option<String>,
    command: Vec<String>,
) -> Result<u8> {
    let mut process = match &process_file {
        Some(f) => {
            let text = std::fs::read(f).with_context(|| format!("read {}", f.display()))?;
            let de = &mut serde_json::Deserializer::from_slice(&text);
            serde_path_to_error::deserialize(de)
                .map_err(|e| anyhow::anyhow!("{}: {}: {}", f.display(), e.path(), e.inner()))?
        }
        None => container::State::load(root, id).and_then(|_| container_process(root, id))?,
    };
    if !command.is_empty() {
        process.set_args(Some(command));
    } else if process_file.is_none() {
        anyhow::bail!("exec: no command given (use -- CMD ARGS or --process FILE)");
    }
    if let Some(cwd) = cwd {
        process.set_cwd(cwd);
    }
    if !env.is_empty() {
        let mut all = process.env().clone().unwrap_or_default();
        for e in env {
            let key = e.split('=').next().unwrap_or_default().to_string();
            all.retain(|x| x.split('=').next() != Some(key.as_str()));
            all.push(e);
        }
        process.set_env(Some(all));
    }
    if let Some(u) = user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a.parse::<u32>(), b.parse::<u32>()),
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
    process.set_terminal(Some(false));
    container::become_subreaper()?;
    let set = container::block_signals()?;
    let execed = container::exec(root, id, process, ExecOptions::default())?;
    container::print_warnings(&execed.warnings);
    let pid = execed.pid;
    let code = container::wait_forwarding(pid, &set)?;
    Ok(code.clamp(0, 255) as u8)
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
