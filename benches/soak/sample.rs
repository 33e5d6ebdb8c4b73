//! One sample of the daemon, taken every simulated hour from outside it: memory and file
//! descriptors from `/proc/<pid>`, the store's bytes on disk, the outbox depth as
//! `sitewarden outbox` reads it, and what the platform has received.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;

use crate::procfs;

/// What one simulated hour looked like. `None`: the daemon was not running (kill -9); the
/// outbox then awaits the repair its next start runs, and is not read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// Simulated hours since the start (the sample is taken at three quarters past).
    pub(crate) hour: f64,
    pub(crate) rss_kb: Option<u64>,
    pub(crate) fds: Option<u64>,
    /// Bytes under the data directory (raw ring, outbox, command log, floor files).
    pub(crate) store_bytes: u64,
    /// The raw ring's share of it.
    pub(crate) raw_bytes: u64,
    /// Records pending in the outbox (`sitewarden outbox`'s `pending`).
    pub(crate) outbox_depth: Option<u64>,
    /// Distinct summaries the platform has received so far.
    pub(crate) delivered: usize,
    /// Inside a fault or the hour after it.
    pub(crate) faulted: bool,
}

/// The process's readings, or None when it is gone.
pub(crate) fn process(pid: u32) -> (Option<u64>, Option<u64>) {
    let rss = procfs::snapshot(pid).ok().map(|s| s.rss_kb);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64);
    (rss, fds)
}

/// `sitewarden outbox -c <config>` (read-only, beside the running daemon, on the real
/// clock): the total of its `pending` line.
pub(crate) fn outbox_depth(bin: &Path, config: &Path) -> anyhow::Result<u64> {
    let out = crate::proc::clean_env(Command::new(bin))
        .args(["outbox", "-c"])
        .arg(config)
        .output()
        .context("running sitewarden outbox")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("pending"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| {
            format!(
                "sitewarden outbox ({}) printed no pending count:\n{text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
}
