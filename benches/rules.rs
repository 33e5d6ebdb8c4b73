//! Rule evaluation throughput (issue 4): 200 rules over 2 000 points, on one thread.
//!
//! The site: 1 000 `rs485-th` sensors (temperature and humidity: 2 000 points) in 100
//! groups of 10; each group has two rules of its own (`devices = ["th-007-*"]`), so 200
//! rules compile to one instance per point (offline rules: one per device). The
//! readings are engineering values as ingest hands them to `Engine::on_sample`: noise
//! around a level, excursions past the thresholds (so alarms raise and clear), lone
//! spikes, and 1 % failed polls. A reading is one point's value in a sample.
//!
//! `cargo bench --bench rules` prints one row per workload; the target is the `mixed`
//! row at ≥ 1 000 000 readings/s. Under `cargo test` (no `--bench` argument) each
//! workload runs once, briefly: a smoke test of the bench, not a measurement.

use sitewarden::reading::PollError;
use sitewarden::rules::{AlarmChange, Engine};
use sitewarden::sim::rng::Rng;
use sitewarden::site::Site;
use std::hint::black_box;
use std::time::{Duration, Instant};

const GROUPS: usize = 100;
const PER_GROUP: usize = 10;
const DEVICES: usize = GROUPS * PER_GROUP;
/// Distinct samples per device, replayed in a loop (values are not generated while timed).
const STEPS: usize = 256;
/// Units per Modbus TCP connection (unit ids 1..=247).
const UNITS_PER_CONNECTION: usize = 200;
/// How long each timed run lasts, and how many runs make a row (the median is shown).
const RUN: Duration = Duration::from_millis(600);
const RUNS: usize = 5;
/// The same under `cargo test`.
const QUICK_RUN: Duration = Duration::from_millis(50);
const QUICK_RUNS: usize = 1;
const TARGET: f64 = 1_000_000.0;

/// The two rule bodies (everything but `name` and `devices`) of group `g`.
type Rules = fn(usize) -> [&'static str; 2];

const THRESHOLD_TEMP: &str = "type = \"threshold\"\npoint = \"temperature\"\nabove = 30.0\nclear_below = 28.0\nbelow = 0.0\n";
const THRESHOLD_HUM_HOLD: &str =
    "type = \"threshold\"\npoint = \"humidity\"\nabove = 90.0\nfor = \"5s\"\n";
const SPIKE_TEMP: &str = "type = \"spike\"\npoint = \"temperature\"\nwindow = 30\n";
const SPIKE_HUM: &str = "type = \"spike\"\npoint = \"humidity\"\nwindow = 30\n";
const FLATLINE_HUM: &str =
    "type = \"flatline\"\npoint = \"humidity\"\nfor = \"10m\"\nepsilon = 0.05\n";
const OFFLINE: &str = "type = \"offline\"\nfailed_polls = 3\n";

fn mixed(g: usize) -> [&'static str; 2] {
    let b = [SPIKE_HUM, FLATLINE_HUM, THRESHOLD_HUM_HOLD, OFFLINE];
    [THRESHOLD_TEMP, b[g % b.len()]]
}

fn thresholds(_: usize) -> [&'static str; 2] {
    [THRESHOLD_TEMP, THRESHOLD_HUM_HOLD]
}

fn spikes(_: usize) -> [&'static str; 2] {
    [SPIKE_TEMP, SPIKE_HUM]
}

fn config(rules: Rules) -> String {
    let mut t = String::from(
        "[gateway]\nsite = \"bench\"\nid = \"gw-1\"\ndata_dir = \"/tmp/unused\"\n\n\
         [uplink]\nbroker = \"mqtt://127.0.0.1:1\"\n\n",
    );
    for c in 0..DEVICES.div_ceil(UNITS_PER_CONNECTION) {
        t.push_str(&format!(
            "[[connection]]\nname = \"lan-{c}\"\ntype = \"modbus-tcp\"\naddress = \"127.0.0.1:{}\"\n\n",
            1502 + c
        ));
    }
    for d in 0..DEVICES {
        t.push_str(&format!(
            "[[device]]\nid = \"th-{:03}-{}\"\nprofile = \"rs485-th\"\nconnection = \"lan-{}\"\nunit = {}\n\n",
            d / PER_GROUP,
            d % PER_GROUP,
            d / UNITS_PER_CONNECTION,
            d % UNITS_PER_CONNECTION + 1
        ));
    }
    for g in 0..GROUPS {
        for (i, body) in rules(g).iter().enumerate() {
            t.push_str(&format!(
                "[[rule]]\nname = \"r{g}-{i}\"\ndevices = [\"th-{g:03}-*\"]\n{body}\n"
            ));
        }
    }
    t
}

type Step = (Vec<Option<f64>>, Option<PollError>);

/// `STEPS` samples per device: (humidity, temperature) in profile order.
fn readings() -> Vec<Vec<Step>> {
    let mut rng = Rng::new(1);
    (0..DEVICES)
        .map(|d| {
            (0..STEPS)
                .map(|s| {
                    if rng.unit() < 0.01 {
                        return (vec![None, None], Some(PollError::Timeout));
                    }
                    // A hot spell on every seventh device, a quarter of the time.
                    let hot = d % 7 == 0 && (s / 32) % 4 == 1;
                    let temp = if hot { 31.0 } else { 20.0 } + 2.0 * rng.unit();
                    let hum = if rng.unit() < 0.005 {
                        97.0
                    } else {
                        60.0 + 4.0 * rng.unit()
                    };
                    ((vec![Some(hum), Some(temp)]), None)
                })
                .collect()
        })
        .collect()
}

struct Row {
    name: &'static str,
    instances: usize,
    samples_per_s: f64,
    changes: u64,
}

fn run(
    name: &'static str,
    rules: Rules,
    data: &[Vec<Step>],
    (run, runs): (Duration, usize),
) -> Row {
    let text = config(rules);
    let site: Site = sitewarden::config::load_from(&text, "bench.toml", &[], &[])
        .unwrap_or_else(|e| panic!("bench config invalid:\n{e}"));
    assert_eq!(site.rules.len(), 2 * GROUPS);
    assert_eq!(
        site.devices.iter().map(|d| d.points.len()).sum::<usize>(),
        2 * DEVICES
    );
    let mut engine = Engine::new(&site);
    let instances = engine.instances();
    let mut out: Vec<AlarmChange> = Vec::new();
    let mut ts: i64 = 1_700_000_000_000;
    let mut step = 0usize;
    let mut changes = 0u64;
    // One sweep: every device polled once, then the ingest's housekeeping tick.
    let mut sweep = |engine: &mut Engine| {
        for (d, steps) in data.iter().enumerate() {
            let (values, error) = &steps[step % STEPS];
            engine.on_sample(&site, d, ts, values, error.as_ref(), &mut out);
        }
        engine.tick(ts, &mut out);
        changes += out.len() as u64;
        out.clear();
        step += 1;
        ts += 1_000;
    };
    // Warm up: windows fill, first alarms raise.
    for _ in 0..STEPS {
        sweep(&mut engine);
    }
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let mut sweeps = 0u64;
        while start.elapsed() < run {
            for _ in 0..16 {
                sweep(black_box(&mut engine));
            }
            sweeps += 16;
        }
        rates.push((sweeps * DEVICES as u64) as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Row {
        name,
        instances,
        samples_per_s: rates[runs / 2],
        changes,
    }
}

fn main() {
    let timing = if std::env::args().any(|a| a == "--bench") {
        (RUN, RUNS)
    } else {
        (QUICK_RUN, QUICK_RUNS)
    };
    let data = readings();
    let workloads: [(&'static str, Rules); 3] = [
        ("mixed", mixed),
        ("threshold only", thresholds),
        ("spike only", spikes),
    ];
    println!(
        "rules: {DEVICES} devices, {} points, {} rules, one thread; median of {} runs of {:?}",
        2 * DEVICES,
        2 * GROUPS,
        timing.1,
        timing.0
    );
    println!(
        "{:<16} {:>9} {:>12} {:>14} {:>11} {:>9}",
        "workload", "instances", "samples/s", "readings/s", "ns/reading", "changes"
    );
    let mut mixed_rate = 0.0;
    for (name, rules) in workloads {
        let r = run(name, rules, &data, timing);
        let readings = r.samples_per_s * 2.0;
        if name == "mixed" {
            mixed_rate = readings;
        }
        println!(
            "{:<16} {:>9} {:>12.0} {:>14.0} {:>11.1} {:>9}",
            r.name,
            r.instances,
            r.samples_per_s,
            readings,
            1e9 / readings,
            r.changes
        );
    }
    let verdict = match (timing.1 == RUNS, mixed_rate >= TARGET) {
        (false, _) => "not judged (a smoke run under cargo test)",
        (true, true) => "met",
        (true, false) => "MISSED",
    };
    println!("target: mixed >= {TARGET:.0} readings/s: {verdict}");
}
