//! The 300-device site benchmark: what the release daemon costs on the site of the brief.
//!
//! `cargo bench --bench site` (a benchmark, never a test). It starts a real Mosquitto on a
//! free loopback port, 300 simulated Modbus TCP devices (1 170 points, `site::MIX`) in a
//! process of their own (this binary again, with `SITEWARDEN_BENCH_ROLE=sim`), and the
//! release `sitewarden run` with 1 s polls, 60 s summaries and default buffers. After a
//! warm-up it measures the daemon over a window from `/proc/<pid>`: CPU (utime + stime),
//! RSS (VmRSS at the end, VmHWM), bytes written to storage per minute, context switches;
//! and from a platform subscriber: polls per second achieved (the summaries' own
//! `quality.polls`) and every summary of every window that closed inside it. Then it
//! prints one table with the targets and the peers' figures on the same site.
//!
//! Knobs: `SITEWARDEN_BENCH_SECS` (window, default 300: the RSS target is "after 5
//! minutes"; 60 for a quick run), `SITEWARDEN_BENCH_WARMUP_SECS` (default 30).
//! It owns nothing of the daemon and changes nothing in it.

mod broker;
mod procfs;
mod sim;
mod site;

use std::collections::HashSet;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sitewarden::clock::{now_ms, rfc3339};

use broker::{Mosquitto, Platform, Tally};

const PREFIX: &str = "sitewarden/bench/gw-1";
const WINDOW_MS: i64 = 60_000;
/// Target and peers (brief: ThingsBoard IoT Gateway and Node-RED on this site).
const TARGET_CPU_PCT: f64 = 1.5;
const TARGET_RSS_MB: f64 = 7.0;
const TARGET_WRITE_MB_MIN: f64 = 0.5;

fn main() -> ExitCode {
    let result = match std::env::var("SITEWARDEN_BENCH_ROLE").as_deref() {
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

/// A child process killed on drop (the bench may end early on an error).
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn run() -> anyhow::Result<()> {
    let secs = env_secs("SITEWARDEN_BENCH_SECS", 300)?;
    let warmup = env_secs("SITEWARDEN_BENCH_WARMUP_SECS", 30)?;
    // Cargo builds the binary with the bench profile (= release) next to us.
    let bin = Path::new(env!("CARGO_BIN_EXE_sitewarden"));
    let dir = tempfile::tempdir().context("temp dir")?;
    let broker = Mosquitto::start(dir.path())?;
    let (sim, ports) = start_sim()?;
    let devices = site::devices();
    let data = dir.path().join("data");
    let config = dir.path().join("sitewarden.toml");
    std::fs::write(
        &config,
        site::config_text(&devices, &ports, &broker.url(), &data),
    )?;
    let platform = Platform::subscribe(broker.port, PREFIX)?;

    let log = dir.path().join("daemon.log");
    let mut cmd = Command::new(bin);
    // The daemon refuses unknown SITEWARDEN_* variables, and ours are not its.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SITEWARDEN") {
            cmd.env_remove(name);
        }
    }
    let mut daemon = Kid(cmd
        .args(["run", "-c"])
        .arg(&config)
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?);
    let pid = daemon.0.id();
    if !platform.wait(Duration::from_secs(30), |t| t.online) {
        bail!(
            "the daemon did not come online in 30 s; log:\n{}",
            tail(&log)
        );
    }
    eprintln!(
        "site bench: {} devices online; warm-up {warmup} s, then a {secs} s window",
        devices.len()
    );
    std::thread::sleep(Duration::from_secs(warmup));

    let a = procfs::snapshot(pid)?;
    let sim_a = procfs::snapshot(sim.0.id())?;
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
    let t1 = now_ms();

    // Every window that closed inside the measurement, and its summaries.
    let ends: HashSet<String> = window_ends(t0, t1).map(rfc3339).collect();
    let expected = ends.len() * devices.len();
    let complete = |t: &Tally| delivered(t, &ends).0 >= expected;
    if !platform.wait(Duration::from_secs(30), complete) {
        eprintln!("site bench: summaries still missing 30 s after the window");
    }
    let store_bytes = procfs::dir_bytes(&data);
    unsafe {
        // SAFETY: kill has no memory preconditions; pid is our child.
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let stopped = wait_exit(&mut daemon.0, Duration::from_secs(20));

    let tally = platform.tally.lock().unwrap_or_else(|e| e.into_inner());
    let (got, polls, errors) = delivered(&tally, &ends);
    let polls_per_s = if ends.is_empty() {
        f64::NAN
    } else {
        polls as f64 / (ends.len() as f64 * WINDOW_MS as f64 / 1000.0)
    };
    let d = procfs::delta(&a, &b);
    let sim_d = procfs::delta(&sim_a, &sim_b);
    let rss_mb = b.rss_kb as f64 / 1024.0;
    let hwm_mb = b.hwm_kb as f64 / 1024.0;

    println!();
    println!(
        "sitewarden site bench: {} = {} devices, {} points, polled every 1 s, 60 s summaries",
        site::mix_line(),
        devices.len(),
        site::points()
    );
    println!(
        "window {:.0} s after {warmup} s warm-up; binary {}",
        d.secs,
        bin.display()
    );
    println!();
    println!(
        "| {:<34} | {:>12} | {:>8} | {:>6} | {:>9} | {:>8} |",
        "measure", "sitewarden", "target", "", "TB IoT GW", "Node-RED"
    );
    println!(
        "|{:-<36}|{:->14}|{:->10}|{:->8}|{:->11}|{:->10}|",
        "", "", "", "", "", ""
    );
    let row = |name: &str, ours: String, target: &str, ok: Option<bool>, tb: &str, nr: &str| {
        let verdict = match ok {
            Some(true) => "ok",
            Some(false) => "MISSED",
            None => "",
        };
        println!("| {name:<34} | {ours:>12} | {target:>8} | {verdict:>6} | {tb:>9} | {nr:>8} |");
    };
    row(
        "CPU, % of one core",
        format!("{:.2}", d.cpu_pct),
        "≤ 1.5",
        Some(d.cpu_pct <= TARGET_CPU_PCT),
        "28",
        "22",
    );
    row(
        "RSS at end (VmRSS), MB",
        format!("{rss_mb:.1}"),
        "≤ 7",
        Some(rss_mb <= TARGET_RSS_MB),
        "80",
        "197",
    );
    row(
        "peak RSS (VmHWM), MB",
        format!("{hwm_mb:.1}"),
        "",
        None,
        "",
        "",
    );
    row(
        "written to storage, MB/min",
        format!("{:.3}", d.write_mb_per_min),
        "≤ 0.5",
        Some(d.write_mb_per_min <= TARGET_WRITE_MB_MIN),
        "",
        "",
    );
    row(
        "polls/s achieved / expected",
        format!("{polls_per_s:.1} / {}", devices.len()),
        "",
        Some(polls_per_s >= devices.len() as f64 * 0.99),
        "",
        "",
    );
    row(
        "summaries delivered / expected",
        format!("{got} / {expected}"),
        "all",
        Some(got == expected),
        "",
        "",
    );
    row(
        "poll errors in those windows",
        errors.to_string(),
        "0",
        Some(errors == 0),
        "",
        "",
    );
    row(
        "context switches/s",
        format!("{:.0}", d.ctxt_per_s),
        "",
        None,
        "",
        "",
    );
    row("threads", b.threads.to_string(), "", None, "", "");
    println!();
    let rss: Vec<String> = rss_by_minute
        .iter()
        .map(|kb| format!("{:.1}", *kb as f64 / 1024.0))
        .collect();
    println!("RSS by minute of the window, MB: {}", rss.join(" "));
    println!(
        "alarms {}, zone summaries {}, store on disk {:.1} MB, clean stop: {}",
        tally.alarms,
        tally.zones,
        store_bytes as f64 / 1e6,
        if stopped { "yes" } else { "NO" }
    );
    println!(
        "simulator (separate process, not counted): {:.1} % CPU, {:.1} MB RSS",
        sim_d.cpu_pct,
        sim_b.rss_kb as f64 / 1024.0
    );
    drop(sim);
    drop(broker);
    Ok(())
}

/// (distinct summaries of those windows, their polls, their poll errors).
fn delivered(t: &Tally, ends: &HashSet<String>) -> (usize, u64, u64) {
    let mut seen = HashSet::new();
    let (mut polls, mut errors) = (0, 0);
    for s in t.summaries.iter().filter(|s| ends.contains(&s.end)) {
        if seen.insert((s.device.as_str(), s.end.as_str())) {
            polls += s.polls;
            errors += s.errors;
        }
    }
    (seen.len(), polls, errors)
}

/// Window ends (multiples of the interval) in (t0, t1].
fn window_ends(t0: i64, t1: i64) -> impl Iterator<Item = i64> {
    let first = (t0 / WINDOW_MS + 1) * WINDOW_MS;
    (0..)
        .map(move |i| first + i * WINDOW_MS)
        .take_while(move |&e| e <= t1)
}

/// Re-executes this binary as the simulator and reads its ports.
fn start_sim() -> anyhow::Result<(Kid, Vec<u16>)> {
    let mut child = Kid(Command::new(std::env::current_exe()?)
        .env("SITEWARDEN_BENCH_ROLE", "sim")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the simulator")?);
    let out = child.0.stdout.take().context("simulator stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line)?;
    let Some(ports) = line.trim().strip_prefix("ports ") else {
        bail!("the simulator did not start: {line:?}");
    };
    let ports = ports
        .split(' ')
        .map(str::parse)
        .collect::<Result<Vec<u16>, _>>()?;
    Ok((child, ports))
}

fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return st.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn env_secs(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not whole seconds")),
        Err(_) => Ok(default),
    }
}

/// The last lines of a log, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
