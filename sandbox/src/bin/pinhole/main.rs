//! `pinhole`: a runc-compatible command line over the pinhole sandbox.

mod profile;
mod surface;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use pinhole_sandbox::container::{self, CreateOptions, Root};

mod console;
mod denials;
mod events;
mod exec;
mod log;
mod pause;
mod policy_arg;
mod ps;
mod record;
mod update;

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
    /// Also write errors and warnings to this file (as runc does for engines).
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, global = true, default_value = "text")]
    log_format: log::Format,
    /// Use systemd to manage cgroups: not supported (pinhole writes cgroupfs itself).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
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
    /// Unix socket that receives the pty master of the container's terminal (SCM_RIGHTS),
    /// for a spec with `process.terminal`.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Container id.
    id: String,
}

/// Arguments of `run`.
#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Start the container and exit, leaving it running (no wait, no delete).
    #[arg(long, short)]
    detach: bool,
}

impl BundleArgs {
    /// The create options, under the policy `--policy`, the environment or /etc choose.
    fn options(&self, policy: Option<&std::path::Path>) -> Result<CreateOptions> {
        Ok(CreateOptions {
            pid_file: self.pid_file.clone(),
            policy: policy_arg::resolve(policy)?,
            console: self.console_socket.is_some(),
            ..Default::default()
        })
    }

    /// Creates the container and hands its terminal to `--console-socket`; on failure to
    /// hand it over the container goes again.
    fn create(&self, root: &Root, policy: Option<&std::path::Path>) -> Result<container::Created> {
        let created = container::create(root, &self.id, &self.bundle, self.options(policy)?)?;
        container::print_warnings(&created.warnings);
        if let (Some(socket), Some(master)) = (&self.console_socket, &created.console) {
            if let Err(e) = console::send(socket, master) {
                let _ = container::delete(root, &self.id, true);
                return Err(e);
            }
        }
        Ok(created)
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
    /// Create, start, wait for and delete a container; exit with its status (or, with
    /// --detach, leave it running).
    Run(RunArgs),
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
    Exec(exec::ExecArgs),
    /// Freeze every process of a running container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// List a container's processes.
    Ps {
        /// `table` (ps(1)'s) or `json` (an array of pids).
        #[arg(long, short, default_value = "table")]
        format: ps::Format,
        /// Container id.
        id: String,
        /// Arguments for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change a container's resources (bounded by its policy).
    Update(update::UpdateArgs),
    /// Print a container's resource usage as runc's stats events (JSON lines).
    Events {
        /// One stats event, then exit.
        #[arg(long)]
        stats: bool,
        /// Seconds between events.
        #[arg(long, default_value = "5")]
        interval: u64,
        /// Container id.
        id: String,
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
    let log = log::Log {
        file: cli.log.clone(),
        format: cli.log_format,
    };
    let result = if cli.systemd_cgroup {
        Err(anyhow::anyhow!(
            "--systemd-cgroup: pinhole does not drive systemd; it manages cgroupfs itself (podman: --cgroup-manager cgroupfs, Docker: native.cgroupdriver=cgroupfs)"
        ))
    } else {
        dispatch(cli)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let msg = chain.join(": ");
            log.write("error", &msg);
            eprintln!("pinhole: error: {msg}");
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
            args.create(&root, cli.policy.as_deref())?;
            Ok(0)
        }
        Verb::Start { id } => {
            container::start(&root, &id)?;
            Ok(0)
        }
        Verb::Run(RunArgs { bundle, detach }) => {
            if detach {
                bundle.create(&root, cli.policy.as_deref())?;
                container::start(&root, &bundle.id)?;
                return Ok(0);
            }
            container::become_subreaper()?;
            let created = bundle.create(&root, cli.policy.as_deref())?;
            let (code, _) = container::run_created(&root, &bundle.id, created.state)?;
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
        Verb::Exec(args) => exec::exec(&root, args),
        Verb::Pause { id } => pause::pause(&root, &id),
        Verb::Resume { id } => pause::resume(&root, &id),
        Verb::Ps {
            format,
            id,
            ps_args,
        } => ps::ps(&root, &id, format, &ps_args),
        Verb::Update(args) => update::update(&root, args),
        Verb::Events {
            stats,
            interval,
            id,
        } => events::events(
            &root,
            &id,
            stats,
            std::time::Duration::from_secs(interval.max(1)),
        ),
        Verb::Denials { json, id } => denials::denials(&root, &id, json),
        Verb::Init => unreachable!("handled before parsing"),
        Verb::Surface(_) | Verb::Profile(_) | Verb::Features => unreachable!("handled above"),
    }
}
