//! `sitewarden history` (issue 13): the raw ring read offline, while the daemon runs and
//! after a kill -9, against what the simulated device really served.

use crate::support::daemon::{Daemon, run_cli};
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::wait_until;
use std::time::{Duration, Instant};

/// The temperature register's start value: raw 100 reads 10.0 °C, each poll one more.
const START: f64 = 100.0;

/// `history th-1.temperature --csv`: (time, value, quality) per row.
fn history(cfg: &str) -> Vec<(String, f64, String)> {
    let (code, out, err) = run_cli(&[
        "history",
        "th-1.temperature",
        "--since",
        "10m",
        "--csv",
        "-c",
        cfg,
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("time,device,point,value,unit,quality"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(
                (f.len(), f[1], f[2], f[4]),
                (6, "th-1", "temperature", "°C"),
                "{l}"
            );
            let v = f[3].parse().unwrap_or_else(|e| panic!("{e}: {l}"));
            (f[0].to_string(), v, f[5].to_string())
        })
        .collect()
}

/// Asserts the rows are the first `rows.len()` values the device served, in order.
fn assert_served_prefix(rows: &[(String, f64, String)]) {
    for (n, (time, value, quality)) in rows.iter().enumerate() {
        assert_eq!(
            *value,
            (START + n as f64) / 10.0,
            "row {n} at {time}: {rows:?}"
        );
        assert_eq!(quality, "good", "row {n}");
        if n > 0 {
            assert!(
                *time > rows[n - 1].0,
                "time goes forward at row {n}: {rows:?}"
            );
        }
    }
}

#[test]
fn history_returns_what_the_device_served_up_to_the_last_flush_after_kill9() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "humidity", 500.0);
    sim.set("th-1", "temperature", START);
    sim.count_reads("th-1", "temperature");
    let site = TestSite::new(&broker, &sim, "60s");
    let cfg = site.config.to_str().unwrap();
    let served = || (sim.get("th-1", "temperature").unwrap() - START) as usize;

    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_until("three polls served", Duration::from_secs(20), || {
        served() >= 3
    });
    // While the daemon writes: a prefix of what was served, nothing out of order.
    std::thread::sleep(Duration::from_millis(1200));
    let live = history(cfg);
    assert!(live.len() >= 3, "{live:?}");
    assert_served_prefix(&live);
    // The whole device: both points per reading, with units.
    let (code, table, err) = run_cli(&["history", "th-1", "--since", "10m", "-c", cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("50 %RH") && table.contains("10 °C") && table.contains("10.1 °C"),
        "{table}"
    );
    assert!(err.contains("readings of th-1"), "{err}");

    // Note how many reads were served over time, then kill -9 mid-run.
    wait_until("six polls served", Duration::from_secs(20), || {
        served() >= 6
    });
    let mut seen: Vec<(Instant, usize)> = Vec::new();
    let until = Instant::now() + Duration::from_millis(2600);
    while Instant::now() < until {
        seen.push((Instant::now(), served()));
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.kill9();
    let killed = Instant::now();
    let total = served();
    // Ingest flushes the ring at least every second: whatever was served 1.3 s before
    // the kill was flushed before it.
    let flushed = seen
        .iter()
        .filter(|(t, _)| killed.duration_since(*t) >= Duration::from_millis(1300))
        .map(|(_, n)| *n)
        .max()
        .expect("samples 1.3 s before the kill");
    let after = history(cfg);
    assert_served_prefix(&after);
    assert!(
        after.len() >= flushed && after.len() <= total,
        "{} rows; served {total}, {flushed} of them before the last flush: {after:?}",
        after.len()
    );
    assert!(after.len() >= live.len());
    eprintln!(
        "history after kill -9: {} rows of {total} served ({flushed} before the last flush)",
        after.len()
    );

    // A window that ends before the first reading is empty; an RFC 3339 window finds it.
    let first = &after[0].0;
    let (code, out, _) = run_cli(&[
        "history",
        "th-1.temperature",
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2000-01-01T01:00:00Z",
        "--csv",
        "-c",
        cfg,
    ]);
    assert_eq!((code, out.lines().count()), (0, 1), "{out}");
    let (code, out, _) = run_cli(&[
        "history",
        "th-1.temperature",
        "--since",
        first,
        "--until",
        first,
        "--csv",
        "-c",
        cfg,
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().nth(1).map(|l| l.starts_with(first.as_str())),
        Some(true),
        "{out}"
    );

    // Unknown names are spelled out.
    for (target, want) in [
        ("gate-9", "unknown device `gate-9` (known: th-1)"),
        (
            "th-1.pressure",
            "device `th-1` has no point `pressure` (its points: humidity, temperature)",
        ),
    ] {
        let (code, _, err) = run_cli(&["history", target, "-c", cfg]);
        assert_eq!(code, 2);
        assert!(err.contains(want), "{err}");
    }
    let (code, _, err) = run_cli(&["history", "th-1", "--since", "last tuesday", "-c", cfg]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--since") && err.contains("neither a duration"),
        "{err}"
    );
}
