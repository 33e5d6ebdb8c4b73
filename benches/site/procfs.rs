//! What the kernel says a process costs: CPU time, memory, bytes written, context switches.
//!
//! Reads `/proc/<pid>/{stat,status,io,task/*/status}` of a child of ours; never writes.

use std::io;
use std::time::Instant;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    pub(crate) at: Instant,
    /// utime + stime, in seconds.
    pub(crate) cpu_s: f64,
    /// Bytes the process caused to be written to storage (`write_bytes`).
    pub(crate) write_bytes: u64,
    pub(crate) rss_kb: u64,
    pub(crate) hwm_kb: u64,
    /// Voluntary and involuntary, summed over the live threads.
    pub(crate) ctxt_switches: u64,
    pub(crate) threads: u64,
}

pub(crate) fn snapshot(pid: u32) -> io::Result<Snapshot> {
    let at = Instant::now();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    Ok(Snapshot {
        at,
        cpu_s: cpu_seconds(&stat)?,
        write_bytes: field(&io, "write_bytes:")?,
        rss_kb: field(&status, "VmRSS:")?,
        hwm_kb: field(&status, "VmHWM:")?,
        ctxt_switches: ctxt_switches(pid)?,
        threads: field(&status, "Threads:")?,
    })
}

/// Per-window figures between two snapshots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delta {
    pub(crate) secs: f64,
    /// Percent of one core.
    pub(crate) cpu_pct: f64,
    pub(crate) write_mb_per_min: f64,
    pub(crate) ctxt_per_s: f64,
}

pub(crate) fn delta(a: &Snapshot, b: &Snapshot) -> Delta {
    let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    Delta {
        secs,
        cpu_pct: (b.cpu_s - a.cpu_s) / secs * 100.0,
        write_mb_per_min: b.write_bytes.saturating_sub(a.write_bytes) as f64 / 1e6 / secs * 60.0,
        ctxt_per_s: b.ctxt_switches.saturating_sub(a.ctxt_switches) as f64 / secs,
    }
}

/// utime and stime (fields 14 and 15), counted after the `)` that ends the command name,
/// which may itself hold spaces.
fn cpu_seconds(stat: &str) -> io::Result<f64> {
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| bad("stat without a command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad("stat too short"))
    };
    // Field 3 (state) is index 0 here.
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(total as f64 / hz.max(1) as f64)
}

/// The number after `name` on its line (`VmRSS:   5900 kB` → 5900).
fn field(text: &str, name: &str) -> io::Result<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad(name))
}

fn ctxt_switches(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread may end between the listing and the read.
        let Ok(s) = std::fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        total += field(&s, "voluntary_ctxt_switches:")?;
        total += field(&s, "nonvoluntary_ctxt_switches:")?;
    }
    Ok(total)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected /proc format: {what}"),
    )
}

/// Bytes under `dir`, recursively (the daemon's store on disk).
pub(crate) fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
