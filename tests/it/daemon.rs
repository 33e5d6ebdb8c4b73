//! The daemon end to end (issue 2): real Mosquitto, real Modbus TCP servers (tokio-modbus's
//! server, serving the shipped profiles), the real binary, a real subscriber.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::{Msg, Subscriber};
use serde_json::Value;
use std::time::Duration;

fn summary_of(msgs: &[Msg], topic: &str, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    msgs.iter()
        .filter(|m| m.topic == topic)
        .map(Msg::json)
        .find(|v| pred(v))
}

#[test]
fn summaries_status_and_offline_reach_the_platform() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&[
        "gate-1:turnstile",
        "th-1:rs485-th",
        "kiosk-1:fever-kiosk",
        "level-1:water-level",
    ]);
    sim.set("gate-1", "entries", 1000.0);
    sim.set("gate-1", "exits", 400.0);
    sim.set("gate-1", "status", 1.0);
    sim.set("th-1", "humidity", 553.0);
    sim.set("th-1", "temperature", -52.0);
    sim.set("kiosk-1", "body_temp", 3650.0);
    sim.set("kiosk-1", "scans", 10.0);
    sim.set("level-1", "level_m", 1.25);
    let site = TestSite::new(&broker, &sim, "1s");
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-e2e",
        false,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());

    let status = sub.wait_for("retained online status", Duration::from_secs(15), |m| {
        m.topic == format!("{}/status", site.prefix) && m.json()["state"] == "online"
    });
    let st = status.json();
    assert_eq!(st["v"], 1);
    assert!(st["seq"].as_u64().is_some(), "status carries a seq: {st}");
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));

    // Every device's values, decoded and scaled, in a full window.
    let t = |d: &str| format!("{}/summary/{d}", site.prefix);
    sub.wait_until(
        "a summary of every device",
        Duration::from_secs(15),
        |msgs| {
            ["gate-1", "th-1", "kiosk-1", "level-1"].iter().all(|d| {
                summary_of(msgs, &t(d), |v| v["quality"]["polls"].as_u64() >= Some(1)).is_some()
            })
        },
    );
    let msgs = sub.snapshot();
    let th = summary_of(&msgs, &t("th-1"), |v| {
        v["points"]["temperature"]["count"].as_u64() >= Some(1)
    })
    .unwrap();
    assert_eq!(th["points"]["temperature"]["last"], -5.2, "{th}");
    assert_eq!(th["points"]["temperature"]["min"], -5.2);
    assert_eq!(th["points"]["humidity"]["mean"], 55.3);
    assert_eq!(th["quality"]["errors"], 0);
    let gate = summary_of(&msgs, &t("gate-1"), |v| {
        !v["points"]["entries"]["last"].is_null()
    })
    .unwrap();
    assert_eq!(gate["points"]["entries"]["last"], 1000.0, "{gate}");
    assert_eq!(gate["points"]["exits"]["last"], 400.0);
    assert_eq!(gate["points"]["status"]["last"], 1.0);
    assert_eq!(gate["points"]["forced_entry"]["count"], 0);
    let kiosk = summary_of(&msgs, &t("kiosk-1"), |v| {
        !v["points"]["body_temp"]["last"].is_null()
    })
    .unwrap();
    assert_eq!(kiosk["points"]["body_temp"]["last"], 36.5, "{kiosk}");
    let level = summary_of(&msgs, &t("level-1"), |v| {
        !v["points"]["level_m"]["last"].is_null()
    })
    .unwrap();
    assert_eq!(level["points"]["level_m"]["last"], 1.25, "{level}");
    for v in [&th, &gate, &kiosk, &level] {
        assert_eq!(v["v"], 1);
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        let (s, e) = (v["start"].as_str().unwrap(), v["end"].as_str().unwrap());
        let s = humantime::parse_rfc3339(s).unwrap();
        let e = humantime::parse_rfc3339(e).unwrap();
        assert_eq!(
            e.duration_since(s).unwrap(),
            Duration::from_secs(1),
            "windows last the interval"
        );
    }

    // Visitors pass: the counter delta shows in a later window.
    sim.set("gate-1", "entries", 1012.0);
    sub.wait_for("a window with 12 entries", Duration::from_secs(10), |m| {
        m.topic == t("gate-1") && m.json()["points"]["entries"]["delta"] == 12.0
    });

    // Seqs are unique across everything the gateway published.
    let msgs = sub.snapshot();
    let mut seqs: Vec<u64> = msgs
        .iter()
        .filter_map(|m| m.json()["seq"].as_u64())
        .collect();
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "no seq reused");

    let status = daemon.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit 0 after SIGTERM; log:\n{}",
        daemon.logs()
    );
    sub.wait_for("offline status", Duration::from_secs(5), |m| {
        m.topic == format!("{}/status", site.prefix) && m.json()["state"] == "offline"
    });
    // And it is what a newcomer sees, retained.
    let late = Subscriber::start(
        broker.port,
        &format!("{}/status", site.prefix),
        "platform-late",
        false,
    );
    let m = late.wait_for("retained status", Duration::from_secs(5), |m| m.retain);
    assert_eq!(m.json()["state"], "offline");
}

#[test]
fn dead_device_does_not_delay_other_connections() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th", "th-2:rs485-th"]);
    for (d, t) in [("th-1", 215.0), ("th-2", 180.0)] {
        sim.set(d, "temperature", t);
        sim.set(d, "humidity", 400.0);
    }
    let site = TestSite::new(&broker, &sim, "1s");
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/summary/#", site.prefix),
        "platform-dead",
        false,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let t = |d: &str| format!("{}/summary/{d}", site.prefix);
    sub.wait_for("th-2 polled", Duration::from_secs(15), |m| {
        m.topic == t("th-2") && m.json()["quality"]["polls"].as_u64() >= Some(1)
    });

    // th-2's server goes silent: it accepts nothing and answers nothing.
    sim.silence("th-2");
    let before = sub.snapshot().len();
    sub.wait_until(
        "th-2 failing for 3 windows",
        Duration::from_secs(15),
        |msgs| {
            msgs[before..]
                .iter()
                .filter(|m| {
                    m.topic == t("th-2") && m.json()["quality"]["errors"].as_u64() >= Some(1)
                })
                .count()
                >= 3
        },
    );
    // Meanwhile th-1 was polled every second, on time: full windows, no errors.
    let msgs = sub.snapshot();
    let th1: Vec<Value> = msgs[before..]
        .iter()
        .filter(|m| m.topic == t("th-1"))
        .map(Msg::json)
        .collect();
    assert!(th1.len() >= 3, "th-1 kept publishing: {}", th1.len());
    for v in &th1[1..] {
        assert_eq!(v["quality"]["errors"], 0, "{v}");
        assert_eq!(v["quality"]["polls"], 1, "one poll per 1 s window: {v}");
        assert_eq!(v["points"]["temperature"]["last"], 21.5);
    }
    let dead = msgs[before..]
        .iter()
        .rev()
        .find(|m| m.topic == t("th-2"))
        .map(Msg::json)
        .unwrap();
    let err = dead["quality"]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.contains("timeout") || err.contains("transport"),
        "dead device's last_error: {dead}"
    );
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}
