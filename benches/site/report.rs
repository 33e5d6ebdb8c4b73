//! The bench's table: our figures beside the targets and the peers' figures on the same
//! site (ThingsBoard IoT Gateway and Node-RED, measured on this 2-core machine).
//!
//! Only formats; every number comes from `main`.

use std::path::Path;

use crate::procfs::{Delta, Snapshot};
use crate::site;

/// Flash written per minute, the aim at up to 300 devices (issue 15); none above.
const TARGET_WRITE_MB_MIN: f64 = 0.45;
const TARGET_ON_TIME_PCT: f64 = 99.9;
const TARGET_P99_JITTER_MS: i64 = 20;

/// CPU (% of one core) and RSS (MB) targets: those of 300 devices up to 300, of 1 000 above.
fn targets(devices: usize) -> (f64, f64) {
    if devices <= 300 {
        (1.5, 7.0)
    } else {
        (5.0, 12.0)
    }
}

/// Poll timing as the simulator saw it (see `arrivals`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Device-seconds in the window: each one a poll deadline.
    pub(crate) expected: u64,
    /// Device-seconds in which a request arrived.
    pub(crate) on_time: u64,
    /// Offset of the first request of a second from the whole second, ms.
    pub(crate) p50_ms: i64,
    pub(crate) p99_ms: i64,
    pub(crate) max_ms: i64,
    /// The first request of all, ms since the epoch.
    pub(crate) first_ms: i64,
}

/// Everything one run measured.
pub(crate) struct Report<'a> {
    pub(crate) devices: usize,
    pub(crate) timing: Timing,
    /// From spawning the daemon to its first request at any device.
    pub(crate) first_poll_ms: i64,
    pub(crate) text_bytes: Option<u64>,
    pub(crate) summaries_per_s: f64,
    pub(crate) warmup: u64,
    pub(crate) bin: &'a Path,
    /// The daemon over the window.
    pub(crate) daemon: Delta,
    /// The daemon at the end of the window.
    pub(crate) end: Snapshot,
    pub(crate) sim: Delta,
    pub(crate) sim_rss_kb: u64,
    pub(crate) rss_by_minute: Vec<u64>,
    pub(crate) delivered: usize,
    pub(crate) expected: usize,
    pub(crate) polls_per_s: f64,
    pub(crate) errors: u64,
    /// Summary payloads per window, as published.
    pub(crate) summary_kb_per_min: f64,
    pub(crate) alarms_per_min: f64,
    pub(crate) alarm_kb_per_min: f64,
    pub(crate) store_bytes: u64,
    pub(crate) clean_stop: bool,
}

impl Report<'_> {
    pub(crate) fn print(&self) {
        let d = &self.daemon;
        let rss_mb = mb(self.end.rss_kb);
        println!();
        println!(
            "sitewarden site bench: {} = {} devices, {} points, polled every 1 s, 60 s summaries",
            site::mix_line(self.devices),
            self.devices,
            site::points(self.devices)
        );
        println!(
            "window {:.0} s after {} s warm-up; binary {}",
            d.secs,
            self.warmup,
            self.bin.display()
        );
        println!();
        println!(
            "| {:<32} | {:>12} | {:>7} | {:>6} | {:>9} | {:>8} |",
            "measure", "sitewarden", "target", "", "TB IoT GW", "Node-RED"
        );
        println!(
            "|{:-<34}|{:->14}|{:->9}|{:->8}|{:->11}|{:->10}|",
            "", "", "", "", "", ""
        );
        let (cpu_target, rss_target) = targets(self.devices);
        // The peers were measured at 300 devices only.
        let at_300 =
            |p: (&'static str, &'static str)| if self.devices == 300 { p } else { ("", "") };
        row(
            "CPU, % of one core",
            format!("{:.2}", d.cpu_pct),
            &format!("≤ {cpu_target}"),
            Some(d.cpu_pct <= cpu_target),
            at_300(("28", "22")),
        );
        row(
            "RSS at end (VmRSS), MB",
            format!("{rss_mb:.1}"),
            &format!("≤ {rss_target}"),
            Some(rss_mb <= rss_target),
            at_300(("80", "197")),
        );
        row(
            "peak RSS (VmHWM), MB",
            format!("{:.1}", mb(self.end.hwm_kb)),
            "",
            None,
            ("", ""),
        );
        row(
            "written to storage, MB/min",
            format!("{:.3}", d.write_mb_per_min),
            if self.devices <= 300 { "≤ 0.45" } else { "" },
            (self.devices <= 300).then_some(d.write_mb_per_min <= TARGET_WRITE_MB_MIN),
            ("", ""),
        );
        row(
            "polls/s achieved / expected",
            format!("{:.1} / {}", self.polls_per_s, self.devices),
            "",
            Some(self.polls_per_s >= self.devices as f64 * 0.99),
            ("", ""),
        );
        self.timing_rows();
        row(
            "summaries/s at the broker",
            format!("{:.2}", self.summaries_per_s),
            "",
            None,
            ("", ""),
        );
        row(
            "summaries delivered / expected",
            format!("{} / {}", self.delivered, self.expected),
            "all",
            Some(self.delivered == self.expected),
            ("", ""),
        );
        row(
            "poll errors in those windows",
            self.errors.to_string(),
            "0",
            Some(self.errors == 0),
            ("", ""),
        );
        row(
            "context switches/s",
            format!("{:.0}", d.ctxt_per_s),
            "",
            None,
            ("", ""),
        );
        row("threads", self.end.threads.to_string(), "", None, ("", ""));
        row(
            "first poll after start, ms",
            self.first_poll_ms.to_string(),
            "",
            None,
            ("", ""),
        );
        row(
            "binary text size, MB",
            self.text_bytes
                .map_or("?".into(), |b| format!("{:.2}", b as f64 / 1e6)),
            "",
            None,
            ("", ""),
        );
        println!();
        let rss: Vec<String> = self
            .rss_by_minute
            .iter()
            .map(|kb| format!("{:.1}", mb(*kb)))
            .collect();
        println!("RSS by minute of the window, MB: {}", rss.join(" "));
        println!(
            "published: summaries {:.1} KB/min, alarms {:.1}/min ({:.1} KB/min); \
             store on disk {:.1} MB; clean stop: {}",
            self.summary_kb_per_min,
            self.alarms_per_min,
            self.alarm_kb_per_min,
            self.store_bytes as f64 / 1e6,
            if self.clean_stop { "yes" } else { "NO" }
        );
        println!(
            "simulator (separate process, not counted): {:.1} % CPU, {:.1} MB RSS",
            self.sim.cpu_pct,
            mb(self.sim_rss_kb)
        );
    }
}

impl Report<'_> {
    /// Missed deadlines and jitter, measured at the simulator.
    fn timing_rows(&self) {
        let t = &self.timing;
        let missed = t.expected.saturating_sub(t.on_time);
        let on_time_pct = t.on_time as f64 * 100.0 / t.expected.max(1) as f64;
        row(
            "missed poll deadlines",
            format!("{missed} / {}", t.expected),
            "",
            None,
            ("", ""),
        );
        row(
            "polls on time, %",
            format!("{on_time_pct:.3}"),
            "≥ 99.9",
            Some(on_time_pct >= TARGET_ON_TIME_PCT),
            ("", ""),
        );
        row(
            "poll jitter p50 / p99, ms",
            format!("{} / {}", t.p50_ms, t.p99_ms),
            "p99 ≤ 20",
            Some((0..=TARGET_P99_JITTER_MS).contains(&t.p99_ms)),
            ("", ""),
        );
        row(
            "poll jitter max, ms",
            t.max_ms.to_string(),
            "",
            None,
            ("", ""),
        );
    }
}

fn row(name: &str, ours: String, target: &str, ok: Option<bool>, peers: (&str, &str)) {
    let verdict = match ok {
        Some(true) => "ok",
        Some(false) => "MISSED",
        None => "",
    };
    let (tb, nr) = peers;
    println!("| {name:<32} | {ours:>12} | {target:>7} | {verdict:>6} | {tb:>9} | {nr:>8} |");
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
