//! Alarms end to end (issue 4): the test drives real Modbus servers (tokio-modbus's,
//! serving the shipped profiles), the real daemon judges them, and a real Mosquitto
//! subscriber checks exactly which alarm events arrive on `P/alarm/{device}`, in order,
//! and what the retained `P/alarms/active` snapshot says after each change.
//!
//! Every device polls each second and windows last one second, so "polled many times"
//! is measured in summary windows, never in sleeps.

use crate::support::daemon::Daemon;
use crate::support::platform::{Platform, id, lines, ms};
use crate::support::site::SimSite;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const FEVER: &str = r#"
[[rule]]
name = "fever"
type = "threshold"
devices = ["kiosk-*"]
point = "body_temp"
above = 37.3
clear_below = 37.0
trigger = "scans"
severity = "critical"
"#;

const FORCED_ENTRY: &str = r#"
[[rule]]
name = "forced-entry"
type = "event"
devices = ["gate-*"]
point = "forced_entry"
severity = "critical"
"#;

const OFFLINE: &str = r#"
[[rule]]
name = "offline"
type = "offline"
failed_polls = 3
"#;

const FLATLINE: &str = r#"
[[rule]]
name = "river-flatline"
type = "flatline"
devices = ["level-*"]
point = "level_m"
for = "3s"
epsilon = 0.001
"#;

/// A kiosk scan as the device makes it: the temperature first, then the scan count.
fn scan(sim: &SimSite, hundredths: f64, scans: f64) {
    sim.set("kiosk-1", "body_temp", hundredths);
    sim.set("kiosk-1", "scans", scans);
}

/// The keys of every alarm event, raised or cleared (spec: `P/alarm/{device}`).
fn check_event_keys(event: &Value) {
    let keys: BTreeSet<&str> = event
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let expected: BTreeSet<&str> = [
        "v",
        "seq",
        "ts",
        "id",
        "rule",
        "device",
        "point",
        "severity",
        "state",
        "value",
        "limit",
        "message",
        "raised_at",
    ]
    .into();
    assert_eq!(keys, expected, "{event}");
    assert_eq!(event["v"], 1);
}

/// The `ts` of an event, for `wait_polls`.
fn ts(events: &[crate::support::platform::Seen], i: usize) -> String {
    events[i].json["ts"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_fever_scan_raises_once_and_the_next_scan_clears_it() {
    let p = Platform::start(
        &["kiosk-1:fever-kiosk"],
        |sim| scan(sim, 3650.0, 10.0),
        FEVER,
    );
    p.wait_polls("kiosk-1", "1970-01-01T00:00:00Z", 1);

    scan(&p.sim, 3810.0, 11.0);
    let ev = p.wait_events(1, "fever raised");
    assert_eq!(lines(&ev), ["raised fever kiosk-1 body_temp 38.1 37.3"]);
    let raised = &ev[0].json;
    check_event_keys(raised);
    assert_eq!(raised["severity"], "critical");
    assert_eq!(raised["message"], "body_temp 38.1 above 37.3 on kiosk-1");
    println!("fever raised: {raised}");
    p.wait_active(&[id(&ev, 0)]);

    // The kiosk keeps showing 38.1 until the next scan: polled again and again, still
    // one alarm.
    p.wait_polls("kiosk-1", &ts(&ev, 0), 3);
    assert_eq!(p.events().len(), 1, "{:?}", lines(&p.events()));

    scan(&p.sim, 3650.0, 12.0);
    let ev = p.wait_events(2, "fever cleared by a normal scan");
    assert_eq!(lines(&ev)[1], "cleared fever kiosk-1 body_temp 36.5 37.3");
    assert_eq!(id(&ev, 1), id(&ev, 0), "a clear carries its raise's id");
    check_event_keys(&ev[1].json);
    assert_eq!(ev[1].json["raised_at"], ev[0].json["raised_at"]);
    println!("fever cleared: {}", ev[1].json);
    p.wait_active(&[]);

    // Two fever scans in a row: two visitors, two alarms.
    scan(&p.sim, 3850.0, 13.0);
    p.wait_events(3, "the first of two fever scans");
    scan(&p.sim, 3900.0, 14.0);
    let ev = p.wait_events(5, "the second of two fever scans");
    assert_eq!(
        lines(&ev),
        [
            "raised fever kiosk-1 body_temp 38.1 37.3",
            "cleared fever kiosk-1 body_temp 36.5 37.3",
            "raised fever kiosk-1 body_temp 38.5 37.3",
            "cleared fever kiosk-1 body_temp 39 37.3",
            "raised fever kiosk-1 body_temp 39 37.3",
        ]
    );
    assert_eq!(id(&ev, 3), id(&ev, 2));
    assert_ne!(id(&ev, 4), id(&ev, 2), "a new scan is a new alarm");
    assert_ne!(id(&ev, 4), id(&ev, 0));
    p.wait_active(&[id(&ev, 4)]);
    assert_eq!(
        p.snapshots(),
        [vec![id(&ev, 0)], vec![], vec![id(&ev, 2)], vec![id(&ev, 4)]],
        "one snapshot per change; the clear and raise of one scan share one"
    );
    assert_eq!(p.retained_active("platform-late-fever"), [id(&ev, 4)]);
}

#[test]
fn a_forced_entry_bit_raises_while_set_and_clears_when_it_falls() {
    let p = Platform::start(&["gate-1:turnstile"], |_| {}, FORCED_ENTRY);
    p.wait_polls("gate-1", "1970-01-01T00:00:00Z", 1);

    p.sim.set("gate-1", "forced_entry", 1.0);
    let ev = p.wait_events(1, "forced entry raised");
    assert_eq!(lines(&ev), ["raised forced-entry gate-1 forced_entry 1 1"]);
    check_event_keys(&ev[0].json);
    assert_eq!(ev[0].json["message"], "forced_entry on gate-1");
    println!("forced entry raised: {}", ev[0].json);
    p.wait_active(&[id(&ev, 0)]);
    p.wait_polls("gate-1", &ts(&ev, 0), 2);

    p.sim.set("gate-1", "forced_entry", 0.0);
    let ev = p.wait_events(2, "forced entry cleared");
    assert_eq!(
        lines(&ev)[1],
        "cleared forced-entry gate-1 forced_entry 0 1"
    );
    assert_eq!(id(&ev, 1), id(&ev, 0));
    println!("forced entry cleared: {}", ev[1].json);
    p.wait_active(&[]);
    assert_eq!(p.snapshots(), [vec![id(&ev, 0)], vec![]]);
    assert_eq!(p.events().len(), 2);
}

#[test]
fn a_silent_device_is_offline_after_three_failed_polls_and_back_on_its_first_answer() {
    let p = Platform::start(
        &["th-1:rs485-th"],
        |sim| sim.set("th-1", "temperature", 215.0),
        OFFLINE,
    );
    p.wait_polls("th-1", "1970-01-01T00:00:00Z", 1);

    let silenced = Instant::now();
    p.sim.silence("th-1");
    let ev = p.wait_events(1, "offline raised");
    // Failures come at the first tick, then 1 s and 2 s of backoff later.
    let after = ev[0].at - silenced;
    assert!(after >= Duration::from_secs(3), "raised after {after:?}");
    assert_eq!(lines(&ev), ["raised offline th-1 - 3 3"]);
    check_event_keys(&ev[0].json);
    assert_eq!(ev[0].json["point"], Value::Null);
    assert_eq!(
        ev[0].json["message"],
        "th-1 offline: 3 failed polls in a row (timeout)"
    );
    println!("offline raised: {}", ev[0].json);
    p.wait_active(&[id(&ev, 0)]);

    p.sim.answer("th-1");
    let ev = p.wait_events(2, "offline cleared");
    assert_eq!(lines(&ev)[1], "cleared offline th-1 - 0 3");
    assert_eq!(id(&ev, 1), id(&ev, 0));
    assert_eq!(ev[1].json["message"], "th-1 answering again");
    println!("offline cleared: {}", ev[1].json);
    p.wait_active(&[]);
    p.wait_polls("th-1", &ts(&ev, 1), 2);
    assert_eq!(p.events().len(), 2, "{:?}", lines(&p.events()));
    assert_eq!(p.snapshots(), [vec![id(&ev, 0)], vec![]]);
}

#[test]
fn a_frozen_level_is_flat_after_its_duration_and_clears_when_it_moves() {
    let p = Platform::start(
        &["level-1:water-level"],
        |sim| sim.set("level-1", "level_m", 1.25),
        FLATLINE,
    );
    let ev = p.wait_events(1, "flatline raised");
    assert_eq!(lines(&ev), ["raised river-flatline level-1 level_m 1.25 3"]);
    assert_eq!(
        ev[0].json["message"],
        "level_m stuck at 1.25 for 3s on level-1"
    );
    check_event_keys(&ev[0].json);
    println!("flatline raised: {}", ev[0].json);
    // Not before three seconds of the same value: the first poll was at or after the
    // start of the first polled window.
    let first_window = p
        .seen("summary/level-1")
        .iter()
        .filter(|s| s.json["quality"]["polls"].as_u64() >= Some(1))
        .map(|s| ms(s.json["start"].as_str().unwrap_or_default()))
        .min();
    if let Some(first) = first_window {
        assert!(ms(&ts(&ev, 0)) >= first + 3000, "raised too early");
    }
    p.wait_active(&[id(&ev, 0)]);
    p.wait_polls("level-1", &ts(&ev, 0), 2);
    assert_eq!(p.events().len(), 1);

    p.sim.set("level-1", "level_m", 1.5);
    let ev = p.wait_events(2, "flatline cleared");
    assert_eq!(
        lines(&ev)[1],
        "cleared river-flatline level-1 level_m 1.5 3"
    );
    assert_eq!(id(&ev, 1), id(&ev, 0));
    assert_eq!(
        ev[1].json["message"],
        "level_m moving again on level-1: 1.5"
    );
    println!("flatline cleared: {}", ev[1].json);

    // Frozen again at the new value: a new alarm, three seconds after the change.
    let ev = p.wait_events(3, "flatline raised again");
    assert_eq!(lines(&ev)[2], "raised river-flatline level-1 level_m 1.5 3");
    assert!(ms(&ts(&ev, 2)) >= ms(&ts(&ev, 1)) + 3000);
    assert_ne!(id(&ev, 2), id(&ev, 0));
    p.wait_active(&[id(&ev, 2)]);
    assert_eq!(p.snapshots(), [vec![id(&ev, 0)], vec![], vec![id(&ev, 2)]]);
}

/// A daily reset twelve hours from now, so no test run crosses it.
fn far_reset() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{:02}:00", (secs / 3600 + 12) % 24)
}

#[test]
fn gates_filling_a_zone_raise_warn_then_critical_and_clear_as_visitors_leave() {
    let extra = format!(
        r#"
[[zone]]
name = "north"
capacity = 10
daily_reset = "{}"

[[rule]]
name = "crowding"
type = "capacity"
zone = "north"
warn = 0.8
critical = 1.0
"#,
        far_reset()
    );
    let p = Platform::start(
        &["gate-1:turnstile@north", "gate-2:turnstile@north"],
        |sim| {
            for (gate, entries, exits) in [("gate-1", 100.0, 40.0), ("gate-2", 500.0, 500.0)] {
                sim.set(gate, "entries", entries);
                sim.set(gate, "exits", exits);
            }
        },
        &extra,
    );
    // Each gate's first reading is its baseline: today's visitors start from there.
    p.wait_polls("gate-1", "1970-01-01T00:00:00Z", 1);
    p.wait_polls("gate-2", "1970-01-01T00:00:00Z", 1);

    // Gate, point, raw value, the alarm event it brings, and which of the events so far
    // are active after it.
    type Step = (
        &'static str,
        &'static str,
        f64,
        &'static str,
        &'static [usize],
    );
    let steps: [Step; 4] = [
        (
            "gate-1",
            "entries",
            108.0,
            "raised crowding north occupancy 8 8",
            &[0],
        ),
        (
            "gate-2",
            "entries",
            502.0,
            "raised crowding north occupancy 10 10",
            &[0, 1],
        ),
        (
            "gate-1",
            "exits",
            42.0,
            "cleared crowding north occupancy 8 10",
            &[0],
        ),
        (
            "gate-2",
            "exits",
            505.0,
            "cleared crowding north occupancy 3 8",
            &[],
        ),
    ];
    let mut expected: Vec<&str> = Vec::new();
    for (gate, point, raw, event, active) in steps {
        p.sim.set(gate, point, raw);
        expected.push(event);
        let ev = p.wait_events(expected.len(), &format!("{gate} {point} {raw}"));
        assert_eq!(lines(&ev), expected);
        let active: Vec<String> = active.iter().map(|&i| id(&ev, i)).collect();
        p.wait_active(&active);
    }
    let ev = p.events();
    assert_eq!(ev.len(), 4);
    let severities: Vec<&str> = ev
        .iter()
        .map(|e| e.json["severity"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(severities, ["warning", "critical", "critical", "warning"]);
    assert_eq!(id(&ev, 2), id(&ev, 1), "critical raised and cleared");
    assert_eq!(id(&ev, 3), id(&ev, 0), "warn raised and cleared");
    assert_eq!(
        ev[0].json["message"],
        "north occupancy 8 at 80% of capacity 10 (warning level 80%)"
    );
    for e in &ev {
        check_event_keys(&e.json);
    }
    println!("capacity raised: {}", ev[1].json);
    println!("capacity cleared: {}", ev[3].json);

    // The zone windows on P/zone/north add up to the visitors who passed.
    let zone = p.topic("zone/north");
    p.until("zone windows with every entry and exit", || {
        let w = p.seen("zone/north");
        let sum = |k: &str| w.iter().filter_map(|s| s.json[k].as_u64()).sum::<u64>();
        sum("entries") == 10 && sum("exits") == 7
    });
    let windows = p.seen("zone/north");
    assert!(windows.iter().all(|w| w.topic == zone));
    // Each window's occupancy is the one before it plus its own entries minus exits:
    // visitors of the next window are not in it yet.
    let mut inside = 0;
    for w in &windows {
        let n = |k: &str| {
            w.json[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {}", w.json))
        };
        inside = inside + n("entries") - n("exits");
        assert_eq!(n("occupancy"), inside, "{}", w.json);
    }
    let full = windows
        .iter()
        .find(|w| w.json["occupancy"] == 10)
        .expect("a window with the zone full");
    assert_eq!(full.json["capacity"], 10);
    assert_eq!(full.json["utilisation"], 1.0);
    println!("zone window: {}", full.json);
    let last = &windows.last().expect("zone windows").json;
    assert_eq!(last["occupancy"], 3, "{last}");
    assert_eq!(last["utilisation"], 0.3);
}

#[test]
fn an_alarm_raised_before_a_restart_is_still_active_after_it_and_cleared_once() {
    let mut p = Platform::start(
        &["kiosk-1:fever-kiosk", "gate-1:turnstile"],
        |sim| scan(sim, 3650.0, 10.0),
        &format!("{FEVER}{FORCED_ENTRY}"),
    );
    p.wait_polls("kiosk-1", "1970-01-01T00:00:00Z", 1);
    scan(&p.sim, 3810.0, 11.0);
    p.wait_events(1, "fever raised");
    p.sim.set("gate-1", "forced_entry", 1.0);
    let ev = p.wait_events(2, "forced entry raised");
    let (fever, forced) = (id(&ev, 0), id(&ev, 1));
    p.wait_active(&[fever.clone(), forced.clone()]);

    assert!(p.daemon.terminate(Duration::from_secs(20)).success());
    assert_eq!(
        p.retained_active("platform-late-1"),
        [fever.clone(), forced.clone()]
    );

    let mark = p.sub.snapshot().len();
    p.daemon = Daemon::start(&p.site.config, p.site.dir.path());
    p.wait_online(mark);
    let restarted = sitewarden::clock::rfc3339(sitewarden::clock::now_ms());
    // The same scan and the same bit, judged again and again after the restart: nothing.
    p.wait_polls("kiosk-1", &restarted, 3);
    p.wait_polls("gate-1", &restarted, 3);
    assert_eq!(p.events().len(), 2, "{:?}", lines(&p.events()));
    assert_eq!(
        p.retained_active("platform-late-2"),
        [fever.clone(), forced.clone()]
    );

    scan(&p.sim, 3650.0, 12.0);
    p.sim.set("gate-1", "forced_entry", 0.0);
    let ev = p.wait_events(4, "both cleared after the restart");
    let mut cleared: Vec<(String, String)> = ev[2..]
        .iter()
        .map(|e| {
            (
                crate::support::platform::line(e),
                e.json["id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    cleared.sort();
    assert_eq!(
        cleared,
        [
            (
                "cleared fever kiosk-1 body_temp 36.5 37.3".to_string(),
                fever
            ),
            (
                "cleared forced-entry gate-1 forced_entry 0 1".to_string(),
                forced
            ),
        ]
    );
    p.wait_active(&[]);
    assert!(p.daemon.terminate(Duration::from_secs(20)).success());
}
