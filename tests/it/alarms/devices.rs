//! One rule type per test, on one simulated device.

use super::{
    FEVER, FLATLINE, FORCED_ENTRY, OFFLINE, SPIKE_AND_COUNTER, check_event_keys, scan, ts,
};
use crate::support::platform::{Platform, id, lines, ms};
use serde_json::Value;
use std::time::{Duration, Instant};

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
    let snapshot = p.seen("alarms/active");
    println!("active snapshot: {}", snapshot[snapshot.len() - 1].json);
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
    // Failures come at the first tick, then 1 s and 2 s of backoff later: the third is
    // at least 3 s after the silence, and at most a tick, 3 s and a timeout after it.
    let after = ev[0].at - silenced;
    assert!(
        after >= Duration::from_secs(3) && after < Duration::from_secs(6),
        "raised after {after:?}"
    );
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

#[test]
fn a_river_jump_is_a_spike_and_a_gate_counter_going_backwards_is_a_reset() {
    let p = Platform::start(
        &["level-1:water-level", "gate-1:turnstile"],
        |sim| {
            sim.set("level-1", "level_m", 1.25);
            sim.set("gate-1", "entries", 100.0);
        },
        SPIKE_AND_COUNTER,
    );
    // Enough values in the window for the spike rule to judge.
    p.wait_polls("level-1", "1970-01-01T00:00:00Z", 6);

    p.sim.set("level-1", "level_m", 2.5);
    let ev = p.wait_events(1, "spike raised");
    p.sim.set("level-1", "level_m", 1.25);
    assert_eq!(lines(&ev), ["raised river-spike level-1 level_m 2.5 1.25"]);
    assert_eq!(
        ev[0].json["message"],
        "level_m 2.5 spike on level-1: beyond 1.25 (median 1.25)"
    );
    check_event_keys(&ev[0].json);
    println!("spike raised: {}", ev[0].json);
    let ev = p.wait_events(2, "spike cleared");
    assert_eq!(
        lines(&ev)[1],
        "cleared river-spike level-1 level_m 1.25 1.25"
    );
    assert_eq!(id(&ev, 1), id(&ev, 0));

    // The gate was reset: its total goes back. Momentary: the next poll clears it.
    p.sim.set("gate-1", "entries", 50.0);
    let ev = p.wait_events(4, "counter reset raised and cleared");
    assert_eq!(
        lines(&ev)[2..],
        [
            "raised gate-counter gate-1 entries 50 100",
            "cleared gate-counter gate-1 entries 50 100",
        ]
    );
    assert_eq!(
        ev[2].json["message"],
        "entries went backwards from 100 to 50 on gate-1 (device reset)"
    );
    assert_eq!(id(&ev, 3), id(&ev, 2));
    check_event_keys(&ev[2].json);
    println!("counter reset raised: {}", ev[2].json);
    println!("counter reset cleared: {}", ev[3].json);
    p.wait_active(&[]);
    assert_eq!(
        p.snapshots(),
        [vec![id(&ev, 0)], vec![], vec![id(&ev, 2)], vec![]]
    );
}
