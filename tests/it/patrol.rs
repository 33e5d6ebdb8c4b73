//! Patrol rounds end to end (issue 12): the real daemon, a real Mosquitto, two tag
//! readers on Modbus TCP (`sim::modbus` serving the shipped `tag-reader` profile: a tap
//! is the counter moving, with the tag id beside it) and one publishing JSON on the site
//! broker (the `tag-reader-mqtt` profile: each message is a tap). Rounds start every
//! 15 s; the test taps right after a scheduled start, as a guard would.

use crate::support::daemon::Daemon;
use crate::support::platform::{Platform, Seen, WAIT, lines};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EVERY_S: u64 = 15;
const STAFF: u32 = 1001;

fn extra(port: u16) -> String {
    format!(
        r#"
[[connection]]
name = "reader-lan"
type = "mqtt"
broker = "mqtt://127.0.0.1:{port}"

[[device]]
id = "cp-bridge"
profile = "tag-reader-mqtt"
connection = "reader-lan"
cell = "bridge"

[[cell]]
name = "bridge"
kind = "waterfront"
owner = "Li Wei"

[[patrol]]
name = "night"
checkpoints = ["cp-gate", "cp-bridge", "cp-bar"]
schedule = "every {EVERY_S}s from 00:00 to 24:00"
leg = "6s"
round = "12s"
tags = [{STAFF}, 1002]
"#
    )
}

/// Wall-clock milliseconds now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sleeps until half a second after the next scheduled start (UTC, every 15 s) that is
/// at least a second away, and returns it.
fn after_next_start() -> u64 {
    after_next(EVERY_S)
}

/// As `after_next_start`, for rounds every `every_s` seconds.
fn after_next(every_s: u64) -> u64 {
    let every = every_s * 1000;
    let start = (now_ms() + 1000).div_ceil(every) * every;
    std::thread::sleep(Duration::from_millis(start + 500 - now_ms()));
    start
}

/// The guard and the readers.
struct Route<'a> {
    p: &'a Platform,
    taps: std::cell::Cell<f64>,
}

impl Route<'_> {
    /// A tap at a Modbus reader: the tag id, then the counter one up.
    fn modbus(&self, reader: &str, tag: u32) {
        self.p.sim.set(reader, "tag", f64::from(tag));
        self.taps.set(self.taps.get() + 1.0);
        self.p.sim.set(reader, "taps", self.taps.get());
        // Polled every second: wait past the next poll, as walking to the next one does.
        std::thread::sleep(Duration::from_millis(1500));
    }

    /// A tap at the JSON reader: one message.
    fn mqtt(&self, reader: &str, tag: u32) {
        let topic = format!("readers/{reader}/taps");
        self.p
            .sub
            .publish(&topic, format!(r#"{{"tag":{tag}}}"#).as_bytes());
        std::thread::sleep(Duration::from_millis(1500));
    }
}

/// Patrol alarm events about missed checkpoints.
fn missed(p: &Platform) -> Vec<Seen> {
    (p.events().into_iter())
        .filter(|e| e.json["point"] == "missed")
        .collect()
}

/// Rounds published on `P/patrol/night` with this scheduled start.
fn round(p: &Platform, start: u64) -> Option<Value> {
    let scheduled = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(start));
    (p.seen("patrol/night").into_iter())
        .map(|s| s.json)
        .find(|j| j["scheduled"] == scheduled.to_string())
}

#[test]
fn a_round_with_a_missed_checkpoint_raises_once_and_the_next_complete_round_clears_it() {
    let p = Platform::start_with(
        &["cp-gate:tag-reader", "cp-bar:tag-reader"],
        |sim| {
            sim.set("cp-gate", "taps", 0.0);
            sim.set("cp-bar", "taps", 0.0);
        },
        extra,
        &[],
    );
    p.daemon
        .wait_log("site broker connected", Duration::from_secs(10));
    // Both Modbus readers polled once: their counters' starting points are known.
    p.wait_polls("cp-gate", "1970-01-01T00:00:00Z", 1);
    p.wait_polls("cp-bar", "1970-01-01T00:00:00Z", 1);
    let route = Route {
        p: &p,
        taps: std::cell::Cell::new(0.0),
    };
    // A handheld sending a tag that is no tag id: counted and skipped, nothing else.
    p.sub.publish("readers/cp-bridge/taps", br#"{"tag":12.5}"#);
    p.until("the bad tag counted", || {
        p.seen("health")
            .last()
            .is_some_and(|h| h.json["errors"]["camera_rejected"] == 1)
    });
    assert!(
        p.daemon
            .logs()
            .contains("tag reader sent a tag that is not a tag id")
    );

    // Round 1: the gate, then straight to the bar street; the bridge is left out.
    let first = after_next_start();
    route.modbus("cp-gate", STAFF);
    route.modbus("cp-bar", STAFF);
    p.until("round 1 published", || round(&p, first).is_some());
    let r1 = round(&p, first).unwrap();
    assert_eq!(r1["status"], "incomplete", "{r1}");
    assert_eq!(
        r1["route"],
        serde_json::json!(["cp-gate", "cp-bridge", "cp-bar"])
    );
    assert_eq!(r1["skipped"], serde_json::json!(["cp-bridge"]), "{r1}");
    let tapped: Vec<&str> = (r1["checkpoints"].as_array().unwrap().iter())
        .map(|c| c["checkpoint"].as_str().unwrap())
        .collect();
    assert_eq!(tapped, ["cp-gate", "cp-bar"]);
    p.until("missed alarm raised", || !missed(&p).is_empty());
    let raised = &missed(&p)[0].json;
    assert_eq!(raised["state"], "raised");
    assert_eq!(raised["rule"], "patrol:night");
    assert_eq!(raised["device"], "cp-bridge");
    assert_eq!(
        (&raised["cell"], &raised["cell_kind"], &raised["owner"]),
        (
            &Value::from("bridge"),
            &Value::from("waterfront"),
            &Value::from("Li Wei")
        ),
        "{raised}"
    );
    let id = raised["id"].as_str().unwrap().to_string();
    p.until("the active snapshot holds it", || {
        p.snapshots().last().is_some_and(|s| s.contains(&id))
    });

    // Round 2: every checkpoint in order, the bridge by JSON over MQTT.
    let second = after_next_start();
    route.modbus("cp-gate", STAFF);
    route.mqtt("cp-bridge", STAFF);
    route.modbus("cp-bar", STAFF);
    p.until("round 2 published", || round(&p, second).is_some());
    let r2 = round(&p, second).unwrap();
    assert_eq!(r2["status"], "completed", "{r2}");
    assert_eq!(r2["skipped"], serde_json::json!([]));
    let bridge = &r2["checkpoints"][1];
    assert_eq!(
        (&bridge["checkpoint"], &bridge["cell"]),
        (&Value::from("cp-bridge"), &Value::from("bridge"))
    );
    assert_eq!(bridge["in_order"], true);
    assert!(
        bridge["leg_s"].as_f64().is_some_and(|l| l > 0.5 && l < 6.0),
        "{r2}"
    );
    p.until("missed alarm cleared", || missed(&p).len() >= 2);
    p.until("the active snapshot lets it go", || {
        p.snapshots().last().is_some_and(|s| !s.contains(&id))
    });

    // Raised once, cleared once, the same id; nothing more about it.
    std::thread::sleep(Duration::from_secs(1));
    let events: Vec<(String, String)> = (missed(&p).iter())
        .map(|e| {
            (
                e.json["state"].as_str().unwrap().into(),
                e.json["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("raised".to_string(), id.clone()),
            ("cleared".to_string(), id)
        ]
    );
    assert!(WAIT > Duration::from_secs(EVERY_S));
    p.sub.assert_contract();
}

/// Two Modbus checkpoints, rounds every 20 s with time for a restart inside one.
const RESTART: &str = r#"
[[patrol]]
name = "night"
checkpoints = ["cp-gate", "cp-bar"]
schedule = "every 20s from 00:00 to 24:00"
leg = "12s"
round = "18s"
tags = [1001]
"#;

#[test]
fn a_round_goes_on_across_a_kill_9_and_nothing_is_raised_twice() {
    let mut p = Platform::start(
        &["cp-gate:tag-reader", "cp-bar:tag-reader"],
        |_| {},
        RESTART,
    );
    p.wait_polls("cp-gate", "1970-01-01T00:00:00Z", 1);
    p.wait_polls("cp-bar", "1970-01-01T00:00:00Z", 1);
    let start = after_next(20);
    // The guard taps the gate, then a visitor's card is held to it: an unknown tag. Its
    // alarm is committed with the round's state, so once it arrives both are on disk.
    {
        let route = Route {
            p: &p,
            taps: std::cell::Cell::new(0.0),
        };
        route.modbus("cp-gate", STAFF);
        route.modbus("cp-gate", 4242);
    }
    p.until("unknown tag raised", || {
        p.events().iter().any(|e| e.json["point"] == "unknown-tag")
    });
    p.daemon.kill9();

    let mark = p.sub.snapshot().len();
    p.daemon = Daemon::start(&p.site.config, p.site.dir.path());
    p.wait_online(mark);
    // The readers' counters did not move while the daemon was down: no tap is seen in
    // them; then the guard reaches the bar street.
    p.sim.set("cp-bar", "tag", f64::from(STAFF));
    p.sim.set("cp-bar", "taps", 9.0);
    p.until("the round published", || round(&p, start).is_some());
    let r = round(&p, start).unwrap();
    assert_eq!(r["status"], "completed", "{r}");
    let tapped: Vec<&str> = (r["checkpoints"].as_array().unwrap().iter())
        .map(|c| c["checkpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        tapped,
        ["cp-gate", "cp-bar"],
        "the tap before the kill counts: {r}"
    );
    assert_eq!(r["start"], r["checkpoints"][0]["at"]);
    // One raise of the unknown tag, before the restart, and no other alarm of the round.
    std::thread::sleep(Duration::from_secs(1));
    let events: Vec<String> = lines(&p.events());
    let unknown: Vec<&String> = events
        .iter()
        .filter(|l| l.contains("unknown-tag"))
        .collect();
    assert_eq!(
        unknown,
        ["raised patrol:night cp-gate unknown-tag 4242 0"],
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|l| l.contains(" missed ") || l.contains(" late ")),
        "{events:?}"
    );
}
