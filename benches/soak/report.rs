//! The soak's report: a table per simulated day, and per curve whether it is flat.
//!
//! Flat means: every sample after the curve's warm-up, outside the faults and the hour
//! after each, lies within ±5 % of those samples' median. The fault hours are left out of
//! the verdict (an outbox grows during an outage by design) but not out of the table or
//! the chart; a leak a fault leaves behind shows in the hours after it.
//!
//! The outbox depth is the exception: between windows it is 0 or the last window's
//! records, whose deletes wait for the next acknowledgement under the fast clock (see
//! `fastclock`), so a median means nothing; it is flat when no steady sample exceeds one
//! window's summaries (N) by more than 5 %, i.e. nothing accumulates.

use std::path::Path;

use crate::Settings;
use crate::run::Outcome;

const FLAT_WITHIN: f64 = 0.05;

/// One sampled quantity over the run.
pub(crate) struct Curve {
    pub(crate) name: &'static str,
    pub(crate) unit: &'static str,
    /// (simulated hour, value in `unit`); None when the daemon was not running.
    pub(crate) points: Vec<(f64, Option<f64>)>,
    /// The hour its verdict starts from.
    pub(crate) from_h: f64,
    pub(crate) verdict: Verdict,
}

/// A curve's steady samples, judged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Verdict {
    pub(crate) samples: usize,
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// A ceiling instead of the band around the median (the outbox depth's).
    pub(crate) ceiling: Option<f64>,
}

impl Verdict {
    /// The spread for the table: "-" for a curve judged against a ceiling.
    pub(crate) fn spread_text(&self) -> String {
        match self.ceiling {
            Some(_) => "-".into(),
            None => format!("{:.1} %", self.spread() * 100.0),
        }
    }

    /// The largest distance from the median, as a share of it (0 when all are 0).
    pub(crate) fn spread(&self) -> f64 {
        let d = (self.max - self.median).max(self.median - self.min);
        if d == 0.0 {
            0.0
        } else {
            d / self.median.abs().max(f64::MIN_POSITIVE)
        }
    }

    pub(crate) fn flat(&self) -> bool {
        self.samples > 0
            && match self.ceiling {
                Some(c) => self.max <= c,
                None => self.spread() <= FLAT_WITHIN,
            }
    }

    /// The rule it was judged by, for the table.
    pub(crate) fn rule(&self) -> String {
        match self.ceiling {
            Some(c) => format!("≤ {c:.0}"),
            None => format!("±{:.0} % of median", FLAT_WITHIN * 100.0),
        }
    }
}

/// The four curves: RSS, open fds, store bytes, outbox depth.
pub(crate) fn curves(o: &Outcome, s: &Settings) -> Vec<Curve> {
    let xs = &o.samples;
    // The store's warm-up lasts until the raw ring first reaches its bound (90 % of the
    // largest size it had), if that is after the first day.
    let raw_peak = xs.iter().map(|x| x.raw_bytes).max().unwrap_or(0);
    let ring_full_h = xs
        .iter()
        .find(|x| x.raw_bytes as f64 >= raw_peak as f64 * 0.9)
        .map_or(0.0, |x| x.hour.floor());
    let mk = |name,
              unit,
              from_h: f64,
              ceiling: Option<f64>,
              f: &dyn Fn(&crate::sample::Sample) -> Option<f64>| {
        let points: Vec<(f64, Option<f64>)> = xs.iter().map(|x| (x.hour, f(x))).collect();
        let steady: Vec<f64> = xs
            .iter()
            .filter(|x| x.hour >= from_h && !x.faulted)
            .filter_map(f)
            .collect();
        Curve {
            name,
            unit,
            points,
            from_h,
            verdict: judge(steady, ceiling),
        }
    };
    vec![
        mk("RSS", "MB", s.warmup_h, None, &|x| {
            x.rss_kb.map(|k| k as f64 / 1024.0)
        }),
        mk("open fds", "", s.warmup_h, None, &|x| {
            x.fds.map(|f| f as f64)
        }),
        mk(
            "store size",
            "MB",
            s.warmup_h.max(ring_full_h),
            None,
            &|x| Some(x.store_bytes as f64 / 1e6),
        ),
        mk(
            "outbox depth",
            "records",
            s.warmup_h,
            Some(s.devices as f64 * (1.0 + FLAT_WITHIN)),
            &|x| x.outbox_depth.map(|d| d as f64),
        ),
    ]
}

fn judge(mut v: Vec<f64>, ceiling: Option<f64>) -> Verdict {
    v.sort_by(f64::total_cmp);
    let median = if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    };
    Verdict {
        samples: v.len(),
        median,
        min: v.first().copied().unwrap_or(f64::NAN),
        max: v.last().copied().unwrap_or(f64::NAN),
        ceiling,
    }
}

pub(crate) fn print(o: &Outcome, s: &Settings, svg: &Path) {
    println!();
    println!(
        "sitewarden soak: {} devices, {:.0} simulated hours at x{} (polls about once a real \
         second), daemon {}",
        s.devices,
        s.hours,
        s.speedup,
        s.bin.display()
    );
    for p in &o.plan {
        println!(
            "  fault at h {:.1}: {}{}",
            p.at_h,
            p.fault.name(),
            if p.hours > 0.0 {
                format!(" for {:.1} simulated hours", p.hours)
            } else {
                String::new()
            }
        );
    }
    println!();
    print_days(o, s);
    println!();
    println!("| curve | from hour | median | min | max | spread | flat when | flat |");
    println!("|---|---|---|---|---|---|---|---|");
    for c in curves(o, s) {
        let v = c.verdict;
        println!(
            "| {} {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            c.name,
            if c.unit.is_empty() {
                String::new()
            } else {
                format!("({})", c.unit)
            },
            c.from_h,
            num(v.median),
            num(v.min),
            num(v.max),
            v.spread_text(),
            v.rule(),
            if v.flat() { "yes" } else { "NO" }
        );
    }
    let short: Vec<String> = o
        .delivered_by_hour
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n < s.devices)
        .map(|(h, n)| {
            let killed = o.plan.iter().any(|p| {
                p.fault == crate::faults::Fault::Kill9
                    && p.at_h < h as f64 + 1.0
                    && p.end_h() > h as f64
            });
            format!("h {h}: {n}{}", if killed { " (kill -9)" } else { "" })
        })
        .collect();
    if !short.is_empty() {
        // A window in which no poll was made (the daemon was down from before its first
        // poll round to after its last) is not published, by design.
        println!(
            "hours whose window has fewer than {} summaries: {}",
            s.devices,
            short.join(", ")
        );
    }
    println!();
    println!(
        "reload logged: {}; back online after the kill -9: {}; clean stop at the end: {}",
        yes(o.reloaded),
        o.restarted
            .map_or("NO".into(), |h| format!("yes (h {h:.1})")),
        yes(o.clean_stop)
    );
    println!("chart: {}", svg.display());
}

fn print_days(o: &Outcome, s: &Settings) {
    println!(
        "| day | RSS MB (median, max) | open fds (median, max) | store MB (end of day) | \
         raw ring MB | outbox depth (median, max) | summaries delivered / expected | faults |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let days = (s.hours / 24.0).ceil() as usize;
    for d in 0..days {
        let (lo, hi) = (d as f64 * 24.0, (d as f64 + 1.0) * 24.0);
        let xs: Vec<_> = o
            .samples
            .iter()
            .filter(|x| x.hour >= lo && x.hour < hi)
            .collect();
        let Some(last) = xs.last() else { continue };
        let med_max = |f: &dyn Fn(&&crate::sample::Sample) -> Option<f64>, digits: usize| {
            let mut v: Vec<f64> = xs.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            match (v.get(v.len() / 2), v.last()) {
                (Some(m), Some(x)) => format!("{m:.digits$}, {x:.digits$}"),
                _ => "-".into(),
            }
        };
        let delivered: usize = o.delivered_by_hour.iter().skip(d * 24).take(24).sum();
        let hours_in_day = (hi.min(s.hours) - lo) as usize;
        let faults: Vec<&str> = o
            .plan
            .iter()
            .filter(|p| p.at_h >= lo && p.at_h < hi)
            .map(|p| p.fault.name())
            .collect();
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {} | {} / {} | {} |",
            d + 1,
            med_max(&|x| x.rss_kb.map(|k| k as f64 / 1024.0), 2),
            med_max(&|x| x.fds.map(|f| f as f64), 0),
            last.store_bytes as f64 / 1e6,
            last.raw_bytes as f64 / 1e6,
            med_max(&|x| x.outbox_depth.map(|d| d as f64), 0),
            delivered,
            hours_in_day * s.devices,
            if faults.is_empty() {
                "-".into()
            } else {
                faults.join(", ")
            }
        );
    }
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}
