//! Recording what a workload uses (seccomp user notification) and turning it into profiles.

mod usage;

pub use usage::{Usage, UsedSyscall, USAGE_FILE, USAGE_VERSION};
