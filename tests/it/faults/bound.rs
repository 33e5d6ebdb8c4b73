//! A tiny outbox with the broker down (test 4): drops are the oldest summaries, alarms
//! survive, and the dropped counts (`sitewarden outbox`, `P/health`) name exactly the seqs
//! that never arrive. Also `sitewarden outbox` itself: on a running daemon, and without
//! a store.

use super::{ledger_of, restart_broker, wait_delivered, wait_logs};
use crate::support::daemon::{Daemon, run_cli};
use crate::support::ledger::{self, seq_of};
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Devices enough to fill the smallest outbox (1 MiB: half of it for records) in ~20 s
/// of 1 s windows.
const GATES: usize = 48;
/// Summaries to lose before the test has seen enough dropping.
const DROPS_WANTED: u64 = 200;

/// The counts of one line of `sitewarden outbox` (`pending` or `dropped`), by kind, with
/// the total under "total".
fn counts(out: &str, line: &str) -> HashMap<String, u64> {
    let text = out
        .lines()
        .find_map(|l| l.strip_prefix(line))
        .unwrap_or_else(|| panic!("no `{line}` line in:\n{out}"));
    let (total, kinds) = text.trim().split_once(' ').expect("total (kinds)");
    let mut c: HashMap<String, u64> = kinds
        .trim_matches(|c| c == '(' || c == ')')
        .split(", ")
        .filter_map(|kv| kv.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a count")))
        .collect();
    c.insert("total".into(), total.parse().expect("a total"));
    c
}

fn outbox_cli(site: &TestSite) -> String {
    let config = site.config.to_str().expect("utf-8 path");
    let (code, out, err) = run_cli(&["outbox", "-c", config]);
    assert_eq!(code, 0, "sitewarden outbox failed: {err}");
    out
}

#[test]
fn a_full_outbox_drops_the_oldest_summaries_counts_them_and_keeps_every_alarm() {
    let mut broker = Mosquitto::start();
    let mut specs: Vec<String> = (0..GATES)
        .map(|i| format!("gate-{i:02}:turnstile"))
        .collect();
    specs.push("th-1:rs485-th".into());
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let sim = SimSite::start(&specs);
    for i in 0..GATES {
        let gate = format!("gate-{i:02}");
        for (point, v) in [
            ("entries", 1000.0 + i as f64),
            ("exits", 10.0),
            ("status", 1.0),
        ] {
            sim.set(&gate, point, v);
        }
    }
    sim.set("th-1", "humidity", 400.0);
    sim.set("th-1", "temperature", 200.0);
    let rule = "\n[buffer]\noutbox_max_bytes = \"1MiB\"\n\n[[rule]]\nname = \"hot\"\ntype = \"threshold\"\ndevices = [\"th-1\"]\npoint = \"temperature\"\nabove = 30.0\nclear_below = 29.0\nseverity = \"warning\"\n";
    let site = TestSite::with_extra(&broker, &sim, "1s", rule);
    let all = format!("{}/#", site.prefix);
    let sub = Subscriber::start(broker.port, &all, "platform-bound", true);
    broker.stop();

    // The broker is down from the daemon's first breath: everything it accepts waits.
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    daemon.wait_log("sitewarden running", Duration::from_secs(15));
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut hot = false;
    let running = loop {
        // Alarms come and go while the summaries pile up.
        hot = !hot;
        sim.set("th-1", "temperature", if hot { 350.0 } else { 200.0 });
        let out = outbox_cli(&site);
        if counts(&out, "dropped").get("summary").copied().unwrap_or(0) >= DROPS_WANTED {
            break out;
        }
        assert!(Instant::now() < deadline, "no drops within 90 s:\n{out}");
        std::thread::sleep(Duration::from_millis(1500));
    };
    // Shown working on a running daemon, read-only.
    for line in [
        "outbox ",
        "pending ",
        "oldest ",
        "disk ",
        "dropped ",
        "next seq ",
    ] {
        assert!(running.contains(line), "`{line}` missing:\n{running}");
    }
    assert!(
        !running.contains("oldest       -"),
        "a backlog has an oldest:\n{running}"
    );
    sim.set("th-1", "temperature", 200.0);
    wait_logs(
        &site,
        "the last alarm cleared",
        Duration::from_secs(10),
        |l| l.accepted_as("alarm").len() >= 4 && hot_cleared(&daemon),
    );
    daemon.stop_cleanly();

    // Stopped, the counts are exact against the ledger.
    let l = ledger_of(&site);
    let out = outbox_cli(&site);
    eprintln!("while running:\n{running}\nstopped:\n{out}");
    let (pending, dropped) = (counts(&out, "pending"), counts(&out, "dropped"));
    let windows = l.accepted_as("window");
    let alarms = l.accepted_as("alarm");
    assert_eq!(dropped["alarm"], 0, "no alarm dropped:\n{out}");
    assert_eq!(pending["alarm"], alarms.len() as u64, "{out}");
    assert_eq!(
        pending["summary"] + dropped["summary"],
        windows.len() as u64,
        "every accepted summary is pending or counted as dropped:\n{out}"
    );
    let k = dropped["summary"] as usize;
    let oldest: BTreeSet<u64> = windows.iter().take(k).copied().collect();

    // The broker returns; a daemon with room to spare (no drop while it drains) delivers
    // everything that survived, alarms first.
    restart_broker(&mut broker, &sub, &site);
    let mut daemon = Daemon::start_with_env(
        &site.config,
        site.dir.path(),
        &[("SITEWARDEN__BUFFER__OUTBOX_MAX_BYTES", "64MiB")],
    );
    // The active-alarm snapshot is state: only the latest one pending is kept, each
    // replacing the one before, so the earlier ones are never published (and not drops).
    let snapshots = l.accepted_as("snapshot");
    let superseded: BTreeSet<u64> = snapshots
        .iter()
        .copied()
        .filter(|s| Some(s) != snapshots.last())
        .collect();
    let survivors: BTreeSet<u64> = l
        .accepted
        .keys()
        .copied()
        .filter(|s| !oldest.contains(s) && !superseded.contains(s))
        .collect();
    wait_delivered(&sub, &site, &survivors, Duration::from_secs(60));
    let health = sub.wait_for("health", Duration::from_secs(15), |m| {
        m.topic.ends_with("/health")
    });
    daemon.stop_cleanly();

    let msgs = sub.snapshot();
    let accepted: BTreeSet<u64> = l
        .accepted
        .keys()
        .copied()
        .filter(|s| !superseded.contains(s))
        .collect();
    assert_eq!(
        ledger::missing(&accepted, &msgs),
        oldest.iter().copied().collect::<Vec<_>>(),
        "what never arrived is exactly the {k} oldest summaries"
    );
    assert_eq!(
        health.json()["dropped"]["summaries"],
        k as u64,
        "P/health: {}",
        health.json()
    );
    assert_eq!(health.json()["dropped"]["alarms"], 0);
    let after = counts(&outbox_cli(&site), "dropped");
    assert_eq!(after["total"], k as u64, "nothing dropped while draining");

    // Alarms first: every backlog alarm arrived before the first backlog summary.
    let first_arrival = |wanted: &BTreeSet<u64>| -> Vec<usize> {
        let mut seen = BTreeSet::new();
        msgs.iter()
            .enumerate()
            .filter_map(|(i, m)| {
                seq_of(m)
                    .filter(|s| wanted.contains(s) && seen.insert(*s))
                    .map(|_| i)
            })
            .collect()
    };
    let last_alarm = first_arrival(&alarms)
        .into_iter()
        .max()
        .expect("alarms delivered");
    let first_summary = first_arrival(&windows)
        .into_iter()
        .min()
        .expect("summaries delivered");
    assert!(
        last_alarm < first_summary,
        "alarms replay before the backlog: last alarm at {last_alarm}, first summary at {first_summary}"
    );
}

/// The daemon logged the `hot` alarm's clearing after its last raise.
fn hot_cleared(daemon: &Daemon) -> bool {
    let log = daemon.logs();
    let raised = log
        .rfind("state=\"raised\"")
        .or_else(|| log.rfind("state=raised"));
    let cleared = log
        .rfind("state=\"cleared\"")
        .or_else(|| log.rfind("state=cleared"));
    matches!((raised, cleared), (Some(r), Some(c)) if c > r)
}

#[test]
fn the_outbox_command_says_clearly_when_there_is_no_store() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(&broker, &sim, "1s");
    let config = site.config.to_str().expect("utf-8 path");
    let (code, out, err) = run_cli(&["outbox", "-c", config]);
    assert_eq!((code, out.as_str()), (2, ""), "stderr: {err}");
    let path = site.data_dir().join("outbox");
    assert_eq!(
        err.trim(),
        format!(
            "error: reading the outbox {p}: outbox unavailable: no outbox at {p}",
            p = path.display()
        )
    );
    assert!(
        !site.data_dir().exists(),
        "a read-only command creates nothing"
    );
}

#[test]
fn the_outbox_command_says_when_the_file_is_corrupt_and_exits_1() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(&broker, &sim, "1s");
    let config = site.config.to_str().expect("utf-8 path");
    let path = site.data_dir().join("outbox");
    {
        use sitewarden::store::{Kind, NewRecord};
        let ob = sitewarden::store::Outbox::open(&path, 1 << 20).expect("outbox");
        for i in 0..50 {
            let rec = NewRecord::new(Kind::Alarm, "p/alarm/x", false, 0, move |s| {
                format!("{{\"seq\":{s},\"n\":{i}}}").into_bytes()
            });
            ob.append(vec![rec], &[]).expect("append");
        }
    }
    let (code, out, err) = run_cli(&["outbox", "-c", config]);
    assert_eq!(code, 0, "an intact outbox: {out}{err}");
    assert!(!out.contains("CORRUPT"), "{out}");
    let segment = std::fs::read_dir(&path)
        .expect("outbox dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment");
    let bytes = std::fs::read(&segment).expect("segment bytes");
    for (what, damaged) in [
        ("a frame in the middle altered", {
            let mut b = bytes.clone();
            b[bytes.len() / 3] ^= 0x5A;
            b
        }),
        ("overwritten", {
            let mut b = bytes.clone();
            let n = b.len().min(4096);
            b[..n].fill(0xA5);
            b
        }),
    ] {
        std::fs::write(&segment, &damaged).expect("damage");
        let (code, out, err) = run_cli(&["outbox", "-c", config]);
        eprintln!("{what}:\n{out}{err}");
        assert_eq!(code, 1, "{what}: a corrupt outbox exits 1:\n{out}{err}");
        assert!(out.contains("state        CORRUPT: "), "{what}: {out}");
        assert!(err.contains("is damaged"), "{what}: {err}");
    }
}
