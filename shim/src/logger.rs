//! The shim's log: logrus-style lines into a bundle's `log` FIFO, which containerd reads and
//! copies into its own log (one reader per task it started through this shim).
//!
//! The crate's logger writes, blocking, to the FIFO of the bundle the shim was started in for
//! ever: once that container is deleted containerd closes the reader and every line fails
//! with EPIPE (and a reader that stops reading would block the shim). Here the sink is the
//! newest task's FIFO ([`follow`] on every Create), written without blocking: a line that does
//! not fit is dropped, and a sink that fails is dropped until the next Create gives a new one.
//! Logging never waits for, nor retries on, containerd.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use log::{LevelFilter, Metadata, Record};

/// The level variable the crate's logger reads too.
const LOG_ENV: &str = "RUST_LOG";

struct FifoSink {
    sink: Mutex<Option<File>>,
}

static LOGGER: OnceLock<FifoSink> = OnceLock::new();

/// Opens `fifo` for writing without blocking (ENXIO when nobody reads it).
fn open_fifo(fifo: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(fifo)
}

/// Installs the logger on `./log` (the bundle containerd started the shim in), at info, or
/// debug with `-debug` (`RUST_LOG` overrides).
pub fn init(debug: bool) -> Result<(), String> {
    let sink = open_fifo(Path::new("log")).map_err(|e| format!("open the log fifo: {e}"))?;
    let logger = LOGGER.get_or_init(|| FifoSink {
        sink: Mutex::new(None),
    });
    *lock(&logger.sink) = Some(sink);
    log::set_logger(logger).map_err(|e| format!("install the logger: {e}"))?;
    let level = std::env::var(LOG_ENV)
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Info);
    // -debug raises the level to debug at least
    log::set_max_level(if debug {
        level.max(LevelFilter::Debug)
    } else {
        level
    });
    Ok(())
}

/// Makes `bundle/log` the sink: a new task's FIFO, which containerd reads now.
pub fn follow(bundle: &Path) {
    let Some(logger) = LOGGER.get() else {
        return;
    };
    if let Ok(f) = open_fifo(&bundle.join("log")) {
        *lock(&logger.sink) = Some(f);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl log::Log for FifoSink {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string().replace('"', "\\\"");
        let line = format!(
            "time=\"{}\" level={} msg=\"{msg}\"\n",
            pinhole_sandbox::container::now_rfc3339(),
            record.level().as_str().to_lowercase()
        );
        let mut sink = lock(&self.sink);
        let Some(f) = sink.as_mut() else {
            return;
        };
        match f.write(line.as_bytes()) {
            Ok(_) => {}
            // full: this line is lost, the reader is slow but there
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // EPIPE (the reader is gone) or worse: drop the sink until the next Create
            Err(_) => *sink = None,
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_that_goes_away_is_dropped_and_replaced() {
        use log::Log;
        log::set_max_level(LevelFilter::Trace);
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("log");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let logger = FifoSink {
            sink: Mutex::new(Some(open_fifo(&fifo).unwrap())),
        };
        let rec = |msg: &str| {
            logger.log(
                &Record::builder()
                    .args(format_args!("{msg}"))
                    .level(log::Level::Error)
                    .build(),
            )
        };
        rec("one");
        drop(reader);
        // EPIPE: dropped at once, nothing retried
        rec("two");
        assert!(lock(&logger.sink).is_none());
        rec("three");
        assert!(lock(&logger.sink).is_none());
    }
}
