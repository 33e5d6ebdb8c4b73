//! One soak run: the site, the daemon on the fast clock, the timeline of samples and
//! faults carried out at their simulated times, and what the platform received.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sitewarden::clock::now_ms;

use crate::broker::{Mosquitto, Platform, Tally};
use crate::fastclock::{self, FastClock};
use crate::faults::{self, Fault, Planned};
use crate::proc::{self, Kid};
use crate::sample::{self, Sample};
use crate::{Settings, chart, report, site};

const PREFIX: &str = "sitewarden/bench/gw-1";
const HOUR_MS: i64 = 3_600_000;

/// The rule the reload adds (the running config plus this one).
const RELOAD_RULE: &str = "\n[[rule]]\nname = \"gates-offline\"\ntype = \"offline\"\n\
                           devices = [\"gate-*\"]\nfailed_polls = 5\n";

/// What a run measured.
pub(crate) struct Outcome {
    pub(crate) samples: Vec<Sample>,
    pub(crate) plan: Vec<Planned>,
    /// Distinct summaries received, by the simulated hour their window ended in.
    pub(crate) delivered_by_hour: Vec<usize>,
    pub(crate) reloaded: bool,
    /// The simulated hour the daemon was back online after the kill -9.
    pub(crate) restarted: Option<f64>,
    pub(crate) clean_stop: bool,
}

impl Outcome {
    /// Whether the daemon was down (killed) at simulated hour `h`.
    pub(crate) fn down(&self, h: f64) -> bool {
        self.plan
            .iter()
            .any(|p| p.fault == Fault::Kill9 && h >= p.at_h && h < p.end_h())
    }

    /// Summaries of windows that ended after simulated hour `h`.
    pub(crate) fn delivered_after(&self, h: f64) -> usize {
        let first = h.ceil() as usize;
        self.delivered_by_hour.iter().skip(first).sum()
    }
}

/// Something to do at a simulated hour.
#[derive(Debug, Clone, Copy)]
enum Event {
    Sample,
    Start(Planned),
    End(Planned),
}

/// The daemon under the fast clock, started again after a kill.
struct Daemon<'a> {
    kid: Option<Kid>,
    bin: &'a Path,
    config: &'a Path,
    log: &'a Path,
    lib: PathBuf,
    clock: FastClock,
}

impl Daemon<'_> {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let mut cmd = proc::daemon_command(self.bin, self.config, self.log)?;
        let child = cmd
            .env("LD_PRELOAD", &self.lib)
            .env("FAKETIME", self.clock.faketime_at(now_ms()))
            // Our clock starts afresh in each process; the offset carries the time over.
            .env_remove("FAKETIME_DONT_RESET")
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.kid = Some(Kid(child));
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.kid.as_ref().map(|k| k.0.id())
    }

    fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill has no memory preconditions; pid is our unreaped child's.
            unsafe {
                libc::kill(pid as i32, sig);
            }
        }
    }

    /// Errs when the daemon exited without being told to.
    fn check_alive(&mut self, h: f64) -> anyhow::Result<()> {
        if let Some(k) = self.kid.as_mut()
            && let Ok(Some(status)) = k.0.try_wait()
        {
            bail!(
                "the daemon exited ({status}) by simulated hour {h:.1}; log:\n{}",
                proc::tail(self.log)
            );
        }
        Ok(())
    }
}

pub(crate) fn run(s: &Settings) -> anyhow::Result<Outcome> {
    let lib = fastclock::library()?;
    proc::raise_nofile();
    let mut dir = tempfile::tempdir().context("temp dir")?;
    // `SITEWARDEN_SOAK_KEEP=1`: keep the daemon's data, config and log for a look after.
    if std::env::var_os("SITEWARDEN_SOAK_KEEP").is_some() {
        dir.disable_cleanup(true);
        eprintln!("soak: keeping {}", dir.path().display());
    }
    let broker = Mosquitto::start();
    let (sim, ports, _sim_out) = proc::start_sim(s.devices)?;
    let devices = site::devices(s.devices);
    let data = dir.path().join("data");
    let config = dir.path().join("sitewarden.toml");
    let text = site::config_text(&devices, &ports, &broker.url(), &data, &s.pace());
    std::fs::write(&config, &text)?;
    let platform = Platform::subscribe(broker.port, PREFIX)?;
    let log = dir.path().join("daemon.log");
    let clock = FastClock::starting_now(s.speedup, now_ms());
    let mut soak = Soak {
        broker,
        platform,
        daemon: Daemon {
            kid: None,
            bin: &s.bin,
            config: &config,
            log: &log,
            lib,
            clock,
        },
        data: &data,
        text,
        restarted: None,
    };
    soak.daemon.spawn()?;
    if !soak.platform.wait(Duration::from_secs(30), |t| t.online) {
        bail!(
            "the daemon did not come online in 30 s; log:\n{}",
            proc::tail(&log)
        );
    }
    eprintln!(
        "soak: {} devices, {:.0} simulated hours at x{} ({:.1} real minutes), daemon {}, data {}",
        devices.len(),
        s.hours,
        s.speedup,
        s.hours * 3600.0 / s.speedup as f64 / 60.0,
        s.bin.display(),
        data.display()
    );
    // Outages of at least 2 real seconds, a downtime of at least 1.
    let plan = faults::plan(s.hours, s.warmup_h, s.speedup as f64 / 3600.0);
    let mut samples = Vec::new();
    for (h, ev) in timeline(s.hours, &plan) {
        sleep_until(clock.real_ms(clock.start_ms() + (h * HOUR_MS as f64) as i64));
        soak.daemon.check_alive(h)?;
        match ev {
            Event::Sample => {
                let x = soak.sample(h, &plan)?;
                print_progress(&x);
                samples.push(x);
            }
            Event::Start(p) => soak.begin(h, p.fault)?,
            Event::End(p) => soak.end(h, p.fault)?,
        }
    }
    let delivered_by_hour = settle(&soak.platform, &clock, s, &plan);
    soak.daemon.signal(libc::SIGTERM);
    let clean_stop = (soak.daemon.kid.as_mut())
        .is_some_and(|k| proc::wait_exit(&mut k.0, Duration::from_secs(20)));
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let outcome = Outcome {
        samples,
        plan,
        delivered_by_hour,
        reloaded: log_text.contains("configuration reloaded"),
        restarted: soak.restarted,
        clean_stop,
    };
    let svg = chart_path(s)?;
    std::fs::write(&svg, chart::svg(&outcome, s)).context("writing the chart")?;
    report::print(&outcome, s, &svg);
    drop(sim);
    drop(soak);
    Ok(outcome)
}

/// Where in each simulated hour the sample is taken: well after the window's close, which
/// under the fast clock comes with the first poll round past its end and grace (10
/// simulated minutes at x600, half an hour at x1800; see `fastclock`).
const SAMPLE_AT: f64 = 0.75;

/// A sample in every simulated hour, and the faults' starts and ends, in time order.
fn timeline(hours: f64, plan: &[Planned]) -> Vec<(f64, Event)> {
    let mut t: Vec<(f64, Event)> = (0..hours as usize)
        .map(|h| (h as f64 + SAMPLE_AT, Event::Sample))
        .collect();
    for p in plan {
        t.push((p.at_h, Event::Start(*p)));
        if p.hours > 0.0 {
            t.push((p.end_h(), Event::End(*p)));
        }
    }
    t.sort_by(|a, b| a.0.total_cmp(&b.0));
    t
}

fn sleep_until(real_ms: i64) {
    let wait = real_ms - now_ms();
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
}

/// What the faults act on and the samples read.
struct Soak<'a> {
    broker: Mosquitto,
    platform: Platform,
    daemon: Daemon<'a>,
    data: &'a Path,
    /// The config as first written; the reload adds `RELOAD_RULE`.
    text: String,
    /// The simulated hour the daemon was back online after the kill -9.
    restarted: Option<f64>,
}

impl Soak<'_> {
    fn begin(&mut self, h: f64, fault: Fault) -> anyhow::Result<()> {
        eprintln!("  h {h:>6.1}  {} begins", fault.name());
        match fault {
            Fault::BrokerOutage => self.broker.stop(),
            Fault::Reload => {
                std::fs::write(self.daemon.config, format!("{}{RELOAD_RULE}", self.text))?;
                self.daemon.signal(libc::SIGHUP);
            }
            Fault::Kill9 => {
                self.daemon.signal(libc::SIGKILL);
                if let Some(mut k) = self.daemon.kid.take() {
                    k.0.wait().ok();
                }
                // The broker publishes the daemon's will when its socket closes; wait for
                // it, so that "online" again below is the restarted daemon's.
                self.platform.wait(Duration::from_secs(5), |t| !t.online);
            }
        }
        Ok(())
    }

    fn end(&mut self, h: f64, fault: Fault) -> anyhow::Result<()> {
        eprintln!("  h {h:>6.1}  {} ends", fault.name());
        match fault {
            Fault::BrokerOutage => self.broker.restart(),
            Fault::Reload => {}
            Fault::Kill9 => {
                self.daemon.spawn()?;
                self.restarted = (self.platform)
                    .wait(Duration::from_secs(10), |t| t.online)
                    .then_some(h);
            }
        }
        Ok(())
    }

    fn sample(&self, h: f64, plan: &[Planned]) -> anyhow::Result<Sample> {
        let daemon = &self.daemon;
        let (rss_kb, fds) = daemon.pid().map_or((None, None), sample::process);
        Ok(Sample {
            hour: h,
            rss_kb,
            fds,
            store_bytes: crate::procfs::dir_bytes(self.data),
            raw_bytes: crate::procfs::dir_bytes(&self.data.join("raw")),
            outbox_depth: match sample::outbox_depth(daemon.bin, daemon.config) {
                Ok(d) => Some(d),
                // After a kill -9 the outbox needs the repair the daemon runs at its start,
                // and `sitewarden outbox` says so rather than guess.
                Err(_) if daemon.pid().is_none() => None,
                Err(e) => return Err(e),
            },
            delivered: self.platform.with(|t| distinct(t).len()),
            faulted: plan.iter().any(|p| p.covers(h)),
        })
    }
}

fn print_progress(x: &Sample) {
    eprintln!(
        "  h {:>6.1}  RSS {:>6}  fds {:>5}  store {:>7.2} MB  outbox {:>5}  summaries {:>7}{}",
        x.hour,
        x.rss_kb
            .map_or("-".into(), |k| format!("{:.2} MB", k as f64 / 1024.0)),
        x.fds.map_or("-".into(), |f| f.to_string()),
        x.store_bytes as f64 / 1e6,
        x.outbox_depth.map_or("-".into(), |d| d.to_string()),
        x.delivered,
        if x.faulted { "  (fault)" } else { "" }
    );
}

/// Distinct (device, window end) summaries received.
fn distinct(t: &Tally) -> HashSet<(&str, &str)> {
    t.summaries
        .iter()
        .map(|s| (s.device.as_str(), s.end.as_str()))
        .collect()
}

/// Waits (a little) for the last windows' summaries, then counts every one received by
/// the simulated hour its window ended in.
fn settle(platform: &Platform, clock: &FastClock, s: &Settings, plan: &[Planned]) -> Vec<usize> {
    let hours = s.hours as usize;
    let by_hour = |t: &Tally| {
        let mut v = vec![0usize; hours];
        for (_, end) in distinct(t) {
            let Ok(end) = humantime::parse_rfc3339(end) else {
                continue;
            };
            let end_ms = end
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            // A window ending at hour h+1 is hour h's.
            let h = (end_ms - clock.start_ms() - 1).div_euclid(HOUR_MS);
            if let Some(n) = usize::try_from(h).ok().and_then(|h| v.get_mut(h)) {
                *n += 1;
            }
        }
        v
    };
    // Hours whose windows the daemon was up to close (not the killed ones).
    let expected = |v: &[usize]| {
        v.iter().enumerate().all(|(h, &n)| {
            n >= s.devices
                || plan
                    .iter()
                    .any(|p| p.fault == Fault::Kill9 && p.covers(h as f64))
        })
    };
    platform.wait(Duration::from_secs(10), |t| expected(&by_hour(t)));
    platform.with(by_hour)
}

/// `target/soak/soak-<N>.svg` (`target/soak/smoke.svg` for the smoke run).
fn chart_path(s: &Settings) -> anyhow::Result<PathBuf> {
    // We run as <target>/<profile>/deps/soak-<hash>.
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .context("the bench runs from outside a target directory")?;
    let dir = target.join("soak");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(if s.smoke {
        "smoke.svg".to_string()
    } else {
        format!("soak-{}.svg", s.devices)
    }))
}
