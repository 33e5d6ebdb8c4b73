//! The site benchmark: what the release daemon costs on the site of the brief, at 100,
//! 300 or 1 000 devices.
//!
//! `cargo bench --bench site` (a benchmark, never a test). It starts a real Mosquitto on a
//! free loopback port, N simulated Modbus TCP devices (`SITEWARDEN_BENCH_DEVICES`, default
//! 300 = 1 170 points; `site::MIX` scaled to N) in a process of their own (this binary again, with `SITEWARDEN_BENCH_ROLE=sim`), and the
//! release `sitewarden run` (built as shipped, see `release_binary`) with 1 s polls, 60 s
//! summaries and default buffers. After a warm-up it measures the daemon over a window
//! from `/proc/<pid>`: CPU (utime + stime), RSS (VmRSS at the end, VmHWM), bytes written to
//! storage per minute, context switches; and from a platform subscriber: polls per second
//! achieved (the summaries' own `quality.polls`) and every summary of every window that
//! closed inside it; and from the simulator (`arrivals`): missed poll deadlines, p50/p99
//! poll jitter and the time from the daemon's start to its first poll. Then it prints one
//! table with the targets and the peers' figures on the same site.
//! `scripts/bench-scale.sh` runs N = 100, 300, 1 000 in a row and joins the tables.
//!
//! Knobs: `SITEWARDEN_BENCH_SECS` (window, default 300: the RSS target is "after 5
//! minutes"; 60 for a quick run), `SITEWARDEN_BENCH_WARMUP_SECS` (default 30),
//! `SITEWARDEN_BENCH_DEVICES` (100, 300, 1 000), `SITEWARDEN_BENCH_BIN` (measure another build of `sitewarden` instead).
//! It owns nothing of the daemon and changes nothing in it.

mod arrivals;
mod broker;
mod proc;
mod procfs;
mod report;
mod sim;
mod site;

use std::collections::HashSet;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sitewarden::clock::{now_ms, rfc3339};

use broker::{Mosquitto, Platform, Tally};
use proc::{Kid, SimOut, env_secs, raise_nofile, release_binary, start_sim, tail, wait_exit};

const PREFIX: &str = "sitewarden/bench/gw-1";
const WINDOW_MS: i64 = 60_000;

fn main() -> ExitCode {
    // `cargo test --all-targets` runs bench binaries without `--bench`: this one builds a
    // release daemon and measures for minutes, so it only says how to run it then.
    let role = std::env::var("SITEWARDEN_BENCH_ROLE");
    if role.is_err() && !std::env::args().any(|a| a == "--bench") {
        println!(
            "site bench: run with `cargo bench --bench site` (SITEWARDEN_BENCH_SECS=60 for a quick run)"
        );
        // The quick part that keeps working under `cargo test`: every scaled site is
        // the mix's proportions, adds up, and is a config the daemon accepts.
        return match site::check_scaled([100, 300, 1000]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("site bench smoke failed: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = match role.as_deref() {
        Ok("sim") => sim::main(),
        _ => run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("site bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let secs = env_secs("SITEWARDEN_BENCH_SECS", 300)?;
    let warmup = env_secs("SITEWARDEN_BENCH_WARMUP_SECS", 30)?;
    let bin = match std::env::var_os("SITEWARDEN_BENCH_BIN") {
        Some(b) => PathBuf::from(b),
        None => release_binary()?,
    };
    let bin = bin.as_path();
    let count = site::device_count()?;
    // 1 000 devices are 1 000 sockets in the daemon and 5 000 in the simulator; both
    // inherit our limit.
    raise_nofile();
    let dir = tempfile::tempdir().context("temp dir")?;
    let broker = Mosquitto::start();
    let (mut sim, ports, mut sim_out) = start_sim(count)?;
    let devices = site::devices(count);
    let data = dir.path().join("data");
    let config = dir.path().join("sitewarden.toml");
    std::fs::write(
        &config,
        site::config_text(&devices, &ports, &broker.url(), &data, &site::Pace::SITE),
    )?;
    let platform = Platform::subscribe(broker.port, PREFIX)?;

    let log = dir.path().join("daemon.log");
    let spawn_ms = now_ms();
    let mut daemon = Kid(proc::daemon_command(bin, &config, &log)?
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?);
    let pid = daemon.0.id();
    if !platform.wait(Duration::from_secs(30), |t| t.online) {
        bail!(
            "the daemon did not come online in 30 s; log:\n{}",
            tail(&log)
        );
    }
    let online_ms = now_ms();
    eprintln!(
        "site bench: {} devices online (daemon pid {pid}, data {}); \
         warm-up {warmup} s, then a {secs} s window",
        devices.len(),
        data.display()
    );
    std::thread::sleep(Duration::from_secs(warmup));

    let a = procfs::snapshot(pid)?;
    let sim_a = procfs::snapshot(sim.0.id())?;
    let alarms_a = platform.with(|t| (t.alarms, t.alarm_bytes));
    let t0 = now_ms();
    let mut rss_by_minute = Vec::new();
    let mut elapsed = 0;
    while elapsed < secs {
        let step = (secs - elapsed).min(60);
        std::thread::sleep(Duration::from_secs(step));
        elapsed += step;
        let s = procfs::snapshot(pid).with_context(|| {
            format!("the daemon is gone after {elapsed} s; log:\n{}", tail(&log))
        })?;
        rss_by_minute.push(s.rss_kb);
        eprintln!("  {elapsed:>4} s  RSS {:.1} MB", s.rss_kb as f64 / 1024.0);
    }
    let b = procfs::snapshot(pid)?;
    let sim_b = procfs::snapshot(sim.0.id())?;
    let alarms_b = platform.with(|t| (t.alarms, t.alarm_bytes));
    let t1 = now_ms();
    let timing = sim_stats(&mut sim, &mut sim_out, t0, t1)?;

    // Every window that closed inside the measurement, and its summaries.
    let ends: HashSet<String> = window_ends(t0, t1).map(rfc3339).collect();
    let expected = ends.len() * devices.len();
    let complete = |t: &Tally| windows(t, &ends, online_ms).delivered >= expected;
    if !platform.wait(Duration::from_secs(30), complete) {
        eprintln!("site bench: summaries still missing 30 s after the window");
    }
    let store_bytes = procfs::dir_bytes(&data);
    // SAFETY: kill has no memory preconditions; pid is our child's.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let clean_stop = wait_exit(&mut daemon.0, Duration::from_secs(20));

    let w = platform.with(|t| windows(t, &ends, online_ms));
    let d = procfs::delta(&a, &b);
    let minutes = d.secs / 60.0;
    report::Report {
        devices: devices.len(),
        timing,
        first_poll_ms: timing.first_ms - spawn_ms,
        text_bytes: text_size(bin),
        summaries_per_s: w.delivered as f64 / (ends.len().max(1) as f64 * WINDOW_MS as f64 / 1e3),
        warmup,
        bin,
        daemon: d,
        end: b,
        sim: procfs::delta(&sim_a, &sim_b),
        sim_rss_kb: sim_b.rss_kb,
        rss_by_minute,
        delivered: w.delivered,
        expected,
        polls_per_s: w.polls_per_s,
        errors: w.errors,
        summary_kb_per_min: w.bytes as f64 / 1e3 / (ends.len().max(1) as f64),
        alarms_per_min: (alarms_b.0 - alarms_a.0) as f64 / minutes,
        alarm_kb_per_min: (alarms_b.1 - alarms_a.1) as f64 / 1e3 / minutes,
        store_bytes,
        clean_stop,
    }
    .print();
    drop(sim);
    drop(broker);
    Ok(())
}

/// What the platform received of the windows that closed inside the measurement.
struct Windows {
    /// Distinct (device, window) summaries.
    delivered: usize,
    /// Polls per second over the windows that began after the daemon came online (the
    /// summaries' own `quality.polls`); NaN when the window held none.
    polls_per_s: f64,
    errors: u64,
    bytes: usize,
}

fn windows(t: &Tally, ends: &HashSet<String>, online_ms: i64) -> Windows {
    let full: HashSet<String> = ends
        .iter()
        .filter(|e| {
            humantime::parse_rfc3339(e).is_ok_and(|end| {
                let end_ms = end
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                end_ms - WINDOW_MS >= online_ms
            })
        })
        .cloned()
        .collect();
    let mut seen = HashSet::new();
    let (mut polls, mut errors, mut bytes) = (0, 0, 0);
    for s in t.summaries.iter().filter(|s| ends.contains(&s.end)) {
        if seen.insert((s.device.as_str(), s.end.as_str())) {
            errors += s.errors;
            bytes += s.bytes;
            if full.contains(&s.end) {
                polls += s.polls;
            }
        }
    }
    Windows {
        delivered: seen.len(),
        polls_per_s: polls as f64 / (full.len() as f64 * WINDOW_MS as f64 / 1000.0),
        errors,
        bytes,
    }
}

/// Window ends (multiples of the interval) in (t0, t1].
fn window_ends(t0: i64, t1: i64) -> impl Iterator<Item = i64> {
    let first = (t0 / WINDOW_MS + 1) * WINDOW_MS;
    (0..)
        .map(move |i| first + i * WINDOW_MS)
        .take_while(move |&e| e <= t1)
}

/// Asks the simulator for the poll timing it saw over [t0, t1).
fn sim_stats(sim: &mut Kid, out: &mut SimOut, t0: i64, t1: i64) -> anyhow::Result<report::Timing> {
    let stdin = sim.0.stdin.as_mut().context("simulator stdin")?;
    writeln!(stdin, "stats {t0} {t1}")?;
    stdin.flush()?;
    let mut line = String::new();
    out.read_line(&mut line)?;
    let field = |name: &str| -> anyhow::Result<i64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("simulator stats without {name}: {line:?}"))
    };
    Ok(report::Timing {
        expected: field("expected")? as u64,
        on_time: field("on_time")? as u64,
        p50_ms: field("p50_ms")?,
        p99_ms: field("p99_ms")?,
        max_ms: field("max_ms")?,
        first_ms: field("first_ms")?,
    })
}

/// The binary's text size (`size`, Berkeley format), or None without binutils.
fn text_size(bin: &Path) -> Option<u64> {
    let out = Command::new("size").arg(bin).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1)?.split_whitespace().next()?.parse().ok()
}
