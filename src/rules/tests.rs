//! Engine-level tests on a small site: compilation (globs, points, zones), dispatch,
//! the state round trip across a restart, and the "never two raises without a clear"
//! property for every rule type (`props`).

use super::*;
use crate::site::*;
use fixture::site;

mod fixture;
mod props;
mod shipped;
mod windows;

/// Which (rule, device, point) instances the site compiles to.
fn compiled(e: &Engine) -> Vec<String> {
    e.insts
        .iter()
        .map(|i| {
            let l = labels(&e.rules, &e.devices, i);
            format!(
                "{}@{}{}",
                l.rule,
                l.device,
                l.point.map(|p| format!(".{p}")).unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn rules_compile_per_device_in_rule_order() {
    let e = Engine::new(&site());
    let expected = [
        "fever@kiosk-1.body_temp",
        "offline@kiosk-1",
        "fever@kiosk-2.body_temp",
        "offline@kiosk-2",
        "offline@gate-n1",
        "entries-sane@gate-n1.entries",
        "forced@gate-n1.forced_entry",
        "cold-water@wl-1.level_m",
        "level-spike@wl-1.level_m",
        "level-flat@wl-1.level_m",
        "offline@wl-1",
        "offline@cam-1",
        "intrusion@cam-1.intrusion",
        "offline@cam-2",
    ];
    assert_eq!(compiled(&e), expected);
    assert_eq!(e.instances(), expected.len() + 1);
}

#[test]
fn a_sample_is_judged_by_its_own_devices_rules_only() {
    let s = site();
    let mut e = Engine::new(&s);
    let mut out = Vec::new();
    // 39.0 on the gate's first point is not a body temperature.
    e.on_sample(&s, 2, 1_000, &[Some(39.0), Some(0.0)], None, &mut out);
    e.on_sample(&s, 0, 1_000, &[Some(39.0), Some(1.0)], None, &mut out);
    // An unknown device index and a short sample are ignored, not a panic.
    e.on_sample(&s, 99, 1_000, &[Some(39.0)], None, &mut out);
    e.on_sample(&s, 1, 1_000, &[], None, &mut out);
    let ids: Vec<_> = out.iter().map(|c| c.alarm.id.as_str()).collect();
    assert_eq!(ids, ["fever:kiosk-1:body_temp:1000"]);
    let a = &out[0].alarm;
    assert_eq!(
        (a.rule.as_str(), a.device.as_str(), a.point.as_deref()),
        ("fever", "kiosk-1", Some("body_temp"))
    );
    assert_eq!(
        (a.severity, a.value, a.limit, a.raised_at),
        (Severity::Critical, 39.0, 37.3, 1_000)
    );
    assert_eq!(a.message, "body_temp 39 above 37.3 on kiosk-1");
    assert_eq!(e.active(), vec![a.clone()]);
}

#[test]
fn camera_events_honour_the_rule_zone() {
    let s = site();
    let mut e = Engine::new(&s);
    let mut out = Vec::new();
    e.on_sample(&s, 5, 0, &[Some(0.99)], None, &mut out);
    assert!(out.is_empty(), "cam-2 is in another zone");
    e.on_sample(&s, 4, 0, &[None, Some(0.5)], None, &mut out);
    e.on_sample(&s, 4, 1, &[Some(12.0), None], None, &mut out);
    assert!(
        out.is_empty(),
        "low confidence and a people count are not intrusions"
    );
    e.on_sample(&s, 4, 2, &[None, Some(0.91)], None, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alarm.message, "intrusion on cam-1 (confidence 0.91)");
}

/// Raises one alarm of most types, from several devices and the zone.
fn raise_a_few(s: &Site, e: &mut Engine, out: &mut Vec<AlarmChange>) {
    e.on_sample(s, 0, 1_000, &[Some(38.4), Some(7.0)], None, out);
    e.on_sample(s, 2, 1_000, &[Some(500.0), Some(1.0)], None, out);
    e.on_sample(s, 2, 2_000, &[Some(3.0), Some(1.0)], None, out);
    e.on_sample(s, 4, 2_000, &[None, Some(0.9)], None, out);
    for ts in [1_000, 2_000, 3_000] {
        e.on_sample(
            s,
            3,
            ts,
            &[None],
            Some(&crate::reading::PollError::Timeout),
            out,
        );
    }
    e.on_zone("north-entrance", 3_000, 1000.0, 1000, 150.0, out);
}

#[test]
fn active_alarms_survive_a_restart_and_are_cleared_once_afterwards() {
    let s = site();
    let mut before = Engine::new(&s);
    let mut raised = Vec::new();
    raise_a_few(&s, &mut before, &mut raised);
    assert_eq!(raised.len(), 8, "{raised:#?}");
    let active = before.active();
    assert_eq!(active.len(), 8);

    let mut after = Engine::new(&s);
    after
        .import_state(&before.export_state())
        .expect("state imports");
    assert_eq!(after.active(), active);
    // Importing the same state twice changes nothing.
    after
        .import_state(&before.export_state())
        .expect("state imports");
    assert_eq!(after.active(), active);

    // Every condition ends; each alarm is cleared exactly once, with its own id.
    let mut out = Vec::new();
    after.on_sample(&s, 0, 10_000, &[Some(36.6), Some(8.0)], None, &mut out);
    after.on_sample(&s, 2, 10_000, &[Some(4.0), Some(0.0)], None, &mut out);
    after.on_sample(&s, 3, 10_000, &[Some(2.0)], None, &mut out);
    after.on_zone("north-entrance", 10_000, 10.0, 1000, 0.0, &mut out);
    after.tick(61_999, &mut out);
    assert_eq!(out.len(), 7, "the intrusion is not quiet yet: {out:#?}");
    after.tick(62_000, &mut out);
    after.tick(100_000, &mut out);
    assert!(out.iter().all(|c| c.state == AlarmState::Cleared));
    let mut cleared: Vec<_> = out.iter().map(|c| c.alarm.id.clone()).collect();
    let mut ids: Vec<_> = active.iter().map(|a| a.id.clone()).collect();
    cleared.sort();
    ids.sort();
    assert_eq!(cleared, ids);
    assert!(after.active().is_empty());
}

/// A kiosk repeats its last scan until the next one, and a restart must not take that
/// repeat for a new visitor: (sample after the restart, expected changes).
#[test]
fn a_per_scan_alarm_restored_after_a_restart_waits_for_the_next_scan() {
    let s = site();
    let check = |after_restart: [Option<f64>; 2], expected: &[(AlarmState, f64)]| {
        let mut before = Engine::new(&s);
        let mut out = Vec::new();
        before.on_sample(&s, 0, 1_000, &[Some(36.5), Some(6.0)], None, &mut out);
        before.on_sample(&s, 0, 2_000, &[Some(38.4), Some(7.0)], None, &mut out);
        assert_eq!(out.len(), 1);
        let raised = out[0].alarm.id.clone();
        let mut after = Engine::new(&s);
        after
            .import_state(&before.export_state())
            .expect("state imports");
        let mut out = Vec::new();
        after.on_sample(&s, 0, 10_000, &after_restart, None, &mut out);
        after.on_sample(&s, 0, 11_000, &after_restart, None, &mut out);
        let got: Vec<_> = out.iter().map(|c| (c.state, c.alarm.value)).collect();
        assert_eq!(got, expected, "after the restart: {after_restart:?}");
        if let Some(c) = out.first() {
            assert_eq!(c.alarm.id, raised, "the restored alarm is the one cleared");
        }
    };
    use AlarmState::{Cleared, Raised};
    // The same scan, still on display: nothing, however often it is polled.
    check([Some(38.4), Some(7.0)], &[]);
    // A normal scan while the daemon was down clears the alarm.
    check([Some(36.6), Some(8.0)], &[(Cleared, 36.6)]);
    // Another fever scan while it was down: that visitor's own alarm.
    check([Some(39.0), Some(8.0)], &[(Cleared, 39.0), (Raised, 39.0)]);
}

#[test]
fn an_alarm_whose_rule_is_gone_is_cleared_on_the_next_tick() {
    let s = site();
    let mut before = Engine::new(&s);
    let mut out = Vec::new();
    raise_a_few(&s, &mut before, &mut out);
    let mut reloaded = s.clone();
    reloaded
        .rules
        .retain(|r| r.name != "fever" && r.name != "crowding");
    let mut after = Engine::new(&reloaded);
    after
        .import_state(&before.export_state())
        .expect("state imports");
    assert_eq!(after.active().len(), 8);
    let mut out = Vec::new();
    after.tick(5_000, &mut out);
    let got: Vec<_> = out
        .iter()
        .map(|c| (c.alarm.rule.as_str(), c.state, c.ts))
        .collect();
    assert_eq!(
        got,
        [
            ("fever", AlarmState::Cleared, 5_000),
            ("crowding", AlarmState::Cleared, 5_000),
            ("crowding", AlarmState::Cleared, 5_000),
            ("crowding", AlarmState::Cleared, 5_000),
        ]
    );
    assert_eq!(
        out[0].alarm.message,
        "rule fever no longer applies to kiosk-1"
    );
    assert_eq!(after.active().len(), 4);
}

#[test]
fn bad_state_is_refused_and_changes_nothing() {
    let mut e = Engine::new(&site());
    let cases: &[(&[u8], bool)] = &[
        (b"", true),
        (b"  \n", true),
        (br#"{"v":1,"alarms":[]}"#, true),
        (b"not json", false),
        (br#"{"v":2,"alarms":[]}"#, false),
        (br#"{"v":1,"alarms":[{"id":"x","rule":"fever","device":"kiosk-1","point":"body_temp","tag":"","severity":"dire","value":1,"limit":1,"message":"","raised_at":0}]}"#, false),
    ];
    for (bytes, ok) in cases {
        assert_eq!(
            e.import_state(bytes).is_ok(),
            *ok,
            "{}",
            String::from_utf8_lossy(bytes)
        );
        assert!(e.active().is_empty());
    }
}
