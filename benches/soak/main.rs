//! The compressed-week soak: the site bench's 300 devices for a simulated week on a fast
//! clock, with broker outages, a reload and a kill -9 sprinkled in; does the footprint
//! stay flat?
//!
//! `cargo bench --bench soak` (a benchmark; minutes). The site bench's pieces, shared with
//! it (`#[path]`, `benches/site/`): the simulated devices in a process of their own (this
//! binary again, `SITEWARDEN_BENCH_ROLE=sim`), a real Mosquitto and a platform subscriber,
//! `/proc` readings, the site generator and the daemon as the .deb ships it. What is the
//! soak's own: only the daemon runs on a fast clock, libfaketime's (`fastclock`, which
//! says why and what was measured of it), 600 times real time by default, so a simulated
//! week is 16.8 real minutes. The config is stretched by the same factor (`site::Pace`):
//! polls every 600 simulated seconds (about once a real second, as on the site bench),
//! Modbus timeouts and the MQTT keep-alive likewise; summary windows of one simulated hour
//! (every 6 real seconds), the zones' daily reset at midnight, and a 1 MiB raw ring (the
//! smallest bound accepted) so it reaches its bound early and recycles all week.
//!
//! Faults (`faults`): two broker outages (Mosquitto stopped, then restarted on the same
//! port and persistence), a reload (one rule more, SIGHUP), a kill -9 with a restart on the
//! same data (continuing the simulated time). Every simulated hour (at three quarters past,
//! between window closes) it samples RSS, open file descriptors, the data directory's
//! bytes, the outbox depth (`sitewarden outbox`) and the summaries the platform has
//! received. The report (`report`) prints a table per simulated day and, per curve,
//! whether it is flat within ±5 % after the warm-up (the first simulated day; for the
//! store, until the raw ring first reaches its bound if that is later), the fault hours
//! and the hour after each left out; it writes an SVG chart (`chart`) under
//! `target/soak/` and prints its path.
//!
//! Knobs: `SITEWARDEN_BENCH_DEVICES` (default 300), `SITEWARDEN_SOAK_DAYS` (7),
//! `SITEWARDEN_SOAK_SPEEDUP` (600, at most 1 800; polls stay once a real second at any),
//! `SITEWARDEN_BENCH_BIN` (another build), `SITEWARDEN_SOAK_LIBFAKETIME` (the library),
//! `SITEWARDEN_SOAK_KEEP=1` (keep the daemon's data, config and log).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it is a smoke run of the same
//! machinery: 60 devices (the fewest with a water level), 16 simulated hours at 1 800
//! times real time (32 real seconds), the debug daemon, every fault; it fails unless every
//! hour was sampled, the daemon survived the faults (reloaded, back online after the
//! kill, still running, stopped cleanly) and summaries kept arriving after the last fault.

// The site bench's modules, shared rather than copied; the soak uses part of each.
#[allow(dead_code)]
#[path = "../site/arrivals.rs"]
mod arrivals;
#[allow(dead_code)]
#[path = "../site/broker.rs"]
mod broker;
#[allow(dead_code)]
#[path = "../site/proc.rs"]
mod proc;
#[allow(dead_code)]
#[path = "../site/procfs.rs"]
mod procfs;
#[allow(dead_code)]
#[path = "../site/sim.rs"]
mod sim;
#[allow(dead_code)]
#[path = "../site/site.rs"]
mod site;

mod chart;
mod fastclock;
mod faults;
mod report;
mod run;
mod sample;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::ensure;

/// What one run is: its size, its clock and the daemon it runs.
pub(crate) struct Settings {
    pub(crate) devices: usize,
    pub(crate) speedup: i64,
    pub(crate) hours: f64,
    pub(crate) warmup_h: f64,
    pub(crate) bin: PathBuf,
    pub(crate) smoke: bool,
}

impl Settings {
    fn full() -> anyhow::Result<Settings> {
        let days = proc::env_secs("SITEWARDEN_SOAK_DAYS", 7)?;
        ensure!(
            (2..=60).contains(&days),
            "SITEWARDEN_SOAK_DAYS={days}: from 2 to 60"
        );
        let speedup = proc::env_secs("SITEWARDEN_SOAK_SPEEDUP", 600)?;
        ensure!(
            (10..=1800).contains(&speedup),
            "SITEWARDEN_SOAK_SPEEDUP={speedup}: from 10 to 1800 (two poll rounds a window)"
        );
        let bin = match std::env::var_os("SITEWARDEN_BENCH_BIN") {
            Some(b) => PathBuf::from(b),
            None => proc::release_binary()?,
        };
        Ok(Settings {
            devices: site::device_count()?,
            speedup: speedup as i64,
            hours: days as f64 * 24.0,
            warmup_h: 24.0,
            bin,
            smoke: false,
        })
    }

    /// The smoke run under `cargo test`: small and quick, every fault.
    fn smoke() -> Settings {
        Settings {
            devices: 60,
            // Two poll rounds a window at least: under libfaketime ingest wakes only
            // when samples arrive (see `fastclock`), so a window closes at the first
            // round after its end and grace; with one round a window, every other one
            // would close a round late and two windows would merge.
            speedup: 1800,
            hours: 16.0,
            warmup_h: 4.0,
            bin: PathBuf::from(env!("CARGO_BIN_EXE_sitewarden")),
            smoke: true,
        }
    }

    /// The config's clock-dependent settings, stretched by the speed-up: one poll a real
    /// second, the 500 ms Modbus timeout and the 30 s keep-alive in real time too;
    /// windows of one simulated hour; the smallest raw ring.
    pub(crate) fn pace(&self) -> site::Pace {
        let s = self.speedup as u64;
        site::Pace {
            poll_s: s,
            timeout_ms: Some(500 * s),
            summary_s: 3600,
            keep_alive_s: Some((30 * s).min(u64::from(u16::MAX))),
            raw_max_bytes: Some("1MiB"),
        }
    }
}

fn main() -> ExitCode {
    if std::env::var("SITEWARDEN_BENCH_ROLE").as_deref() == Ok("sim") {
        return exit(sim::main(), "soak simulator");
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let result = if smoke {
        run_smoke()
    } else {
        Settings::full().and_then(|s| run::run(&s).map(|_| ()))
    };
    exit(result, "soak")
}

fn exit(result: anyhow::Result<()>, what: &str) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what} failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The smoke run and what it must show.
fn run_smoke() -> anyhow::Result<()> {
    println!("soak: a smoke run (16 simulated hours); `cargo bench --bench soak` runs the week");
    let s = Settings::smoke();
    let o = run::run(&s)?;
    let hours = s.hours as usize;
    ensure!(
        o.samples.len() == hours,
        "{} samples for {hours} simulated hours",
        o.samples.len()
    );
    let missing: Vec<f64> = o
        .samples
        .iter()
        .filter(|x| !o.down(x.hour) && (x.rss_kb.is_none() || x.fds.is_none()))
        .map(|x| x.hour)
        .collect();
    ensure!(
        missing.is_empty(),
        "no process readings at simulated hours {missing:?} although the daemon should run"
    );
    ensure!(
        o.samples
            .iter()
            .all(|x| o.down(x.hour) || x.outbox_depth.is_some()),
        "an outbox depth is missing although the daemon should run"
    );
    ensure!(o.reloaded, "the daemon did not log the reload");
    ensure!(
        o.restarted.is_some(),
        "the daemon did not come back online after the kill -9"
    );
    ensure!(o.clean_stop, "the daemon did not stop cleanly at the end");
    let last_fault = o
        .plan
        .iter()
        .map(faults::Planned::end_h)
        .fold(0.0, f64::max);
    let after = o.delivered_after(last_fault);
    ensure!(
        after >= s.devices,
        "summaries stopped after the faults: {after} of windows after the last one \
         (h {last_fault:.1}) reached the platform"
    );
    Ok(())
}
