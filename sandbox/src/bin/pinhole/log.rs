//! The global `--log FILE` and `--log-format text|json` that engines pass (containerd's runc
//! shim reads the error of a failed command from a `log.json` it names this way): errors and
//! warnings are written there too, one line each, besides stderr.

use std::io::Write;
use std::path::PathBuf;

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `time="..." level=error msg="..."`.
    #[default]
    Text,
    /// `{"level":"error","msg":"...","time":"..."}`, as runc writes it.
    Json,
}

/// Where the CLI says its errors besides stderr.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// `--log FILE`.
    pub file: Option<PathBuf>,
    /// `--log-format`.
    pub format: Format,
}

impl Log {
    /// Appends one `level` line to the log file (stderr is the caller's matter).
    pub fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else {
            return;
        };
        let time = pinhole_sandbox::container::now_rfc3339();
        let line = match self.format {
            Format::Json => {
                serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
            }
            Format::Text => format!("time={time:?} level={level} msg={msg:?}"),
        };
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut f) = opened {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}
