//! Outbox full during a broker outage with hundreds of alarm changes (issue 10): the
//! summaries overflow a 1 MiB outbox and are dropped, every alarm raise and clear is
//! delivered after reconnect in order, and no clear arrives for a raise never delivered.

use super::restart_broker;
use crate::support::daemon::Daemon;
use crate::support::ledger::{self, seq_of};
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::{Msg, Subscriber};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const GATES: usize = 40;
const SENSORS: usize = 30;
const CYCLES: usize = 10;

fn alarm_events(msgs: &[Msg]) -> Vec<(u64, String, String, String)> {
    let mut seen = HashSet::new();
    let mut out: Vec<(u64, String, String, String)> = msgs
        .iter()
        .filter(|m| m.topic.contains("/alarm/"))
        .filter_map(|m| {
            let v = m.json();
            let seq = seq_of(m)?;
            seen.insert(seq).then(|| {
                (
                    seq,
                    m.topic.clone(),
                    v["state"].as_str().unwrap_or("").to_string(),
                    v["alarm"]["id"].as_str().unwrap_or("").to_string(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_full_outbox_in_an_outage_keeps_every_alarm_raise_and_clear_in_order() {
    let mut broker = Mosquitto::start();
    let mut specs: Vec<String> = (0..GATES)
        .map(|i| format!("gate-{i:02}:turnstile"))
        .collect();
    specs.extend((0..SENSORS).map(|i| format!("th-{i:02}:rs485-th")));
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let sim = SimSite::start(&specs);
    for i in 0..GATES {
        sim.set(&format!("gate-{i:02}"), "entries", 1000.0 + i as f64);
    }
    let sensors: Vec<String> = (0..SENSORS).map(|i| format!("th-{i:02}")).collect();
    for s in &sensors {
        sim.set(s, "humidity", 400.0);
        sim.set(s, "temperature", 200.0);
    }
    let rule = "\n[buffer]\noutbox_max_bytes = \"1MiB\"\n\n[[rule]]\nname = \"hot\"\ntype = \"threshold\"\ndevices = [\"th-*\"]\npoint = \"temperature\"\nabove = 30.0\nclear_below = 29.0\nseverity = \"warning\"\n";
    let site = TestSite::with_extra(&broker, &sim, "1s", rule);
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-flood",
        true,
    );
    broker.stop();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    daemon.wait_log("sitewarden running", Duration::from_secs(15));
    // Every sensor raises and clears CYCLES times while the summaries pile up.
    for _ in 0..CYCLES {
        for (hot, wait) in [(350.0, 2200), (200.0, 2200)] {
            for s in &sensors {
                sim.set(s, "temperature", hot);
            }
            std::thread::sleep(Duration::from_millis(wait));
        }
    }
    let logs = daemon.logs();
    let raised = logs.matches("state=\"raised\"").count();
    let cleared = logs.matches("state=\"cleared\"").count();
    println!("{raised} raises, {cleared} clears judged during the outage");
    assert!(raised >= SENSORS * (CYCLES - 1), "too few raises: {raised}");
    assert!(
        logs.contains("outbox full: dropping the oldest records"),
        "the outbox never filled: the test proves nothing"
    );

    restart_broker(&mut broker, &sub, &site);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let n = alarm_events(&sub.snapshot()).len();
        if n >= raised + cleared {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {} alarm events delivered",
            raised + cleared
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let health = sub.wait_for("health", Duration::from_secs(15), |m| {
        m.topic.ends_with("/health")
    });
    daemon.stop_cleanly();
    let msgs = sub.snapshot();
    let events = alarm_events(&msgs);
    assert_eq!(
        events.len(),
        raised + cleared,
        "every raise and clear, once each"
    );
    // Per device, in seq order: raise, clear, raise, … and each clear names its raise.
    let mut by_topic: BTreeMap<&str, Vec<&(u64, String, String, String)>> = BTreeMap::new();
    for e in &events {
        by_topic.entry(e.1.as_str()).or_default().push(e);
    }
    assert_eq!(by_topic.len(), SENSORS);
    for (topic, evs) in by_topic {
        for pair in evs.chunks(2) {
            assert_eq!(pair[0].2, "raised", "{topic}: {evs:?}");
            if let Some(c) = pair.get(1) {
                assert_eq!((c.2.as_str(), &c.3), ("cleared", &pair[0].3), "{topic}");
            }
        }
    }
    assert_eq!(
        ledger::out_of_order(&msgs),
        Vec::<(String, u64)>::new(),
        "arrivals in seq order"
    );
    let h = health.json();
    assert_eq!(h["dropped"]["alarms"], 0, "{h}");
    assert!(h["dropped"]["summaries"].as_u64() > Some(0), "{h}");
    let snapshots = msgs
        .iter()
        .filter(|m| m.topic.ends_with("/alarms/active"))
        .count();
    println!("{snapshots} snapshots delivered; health {h}");
    assert!(
        snapshots <= 3,
        "the active set is state, not a queue: {snapshots} snapshots"
    );
}
