//! Rules that know the time of day and the cells they judge.

use super::*;

const SITE: &str = r#"
[gateway]
site = "s"
id = "gw"
timezone = "Asia/Shanghai"

[uplink]
broker = "mqtt://127.0.0.1"

[[connection]]
name = "bus"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[device]]
id = "noise-bar"
profile = "sound-level"
connection = "bus"
unit = 1
cell = "bar-street"

[[device]]
id = "noise-home"
profile = "sound-level"
connection = "bus"
unit = 2
cell = "old-town"

[[cell]]
name = "bar-street"
kind = "commercial-street"

[[cell]]
name = "old-town"
kind = "residential"

[[rule]]
name = "night"
type = "threshold"
cell_kinds = ["commercial-street"]
point = "noise_dba"
above = 55
active = ["22:00-06:00"]

[[rule]]
name = "day"
type = "threshold"
cells = ["bar-*"]
point = "noise_dba"
above = 70
active = ["06:00-22:00"]
"#;

fn at(s: &str) -> Ms {
    s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn load() -> Site {
    crate::config::load_from(SITE, "t.toml", &[], &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cell_targets_pick_their_devices_only() {
    let site = load();
    let e = Engine::new(&site);
    assert_eq!(
        compiled(&e),
        ["night@noise-bar.noise_dba", "day@noise-bar.noise_dba"]
    );
}

#[test]
fn the_same_noise_raises_at_22_30_and_not_at_21_30_local() {
    let site = load();
    let mut e = Engine::new(&site);
    let mut out = Vec::new();
    let loud = [Some(60.0)];
    e.on_sample(
        &site,
        0,
        at("2026-12-03T21:30:00+08:00"),
        &loud,
        None,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    e.on_sample(
        &site,
        0,
        at("2026-12-03T22:30:00+08:00"),
        &loud,
        None,
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].alarm.rule.as_str(), out[0].state),
        ("night", AlarmState::Raised)
    );
    out.clear();
    // Still loud at midnight: nothing new.
    e.on_sample(
        &site,
        0,
        at("2026-12-04T00:00:00+08:00"),
        &loud,
        None,
        &mut out,
    );
    e.tick(at("2026-12-04T00:00:01+08:00"), &mut out);
    assert!(out.is_empty(), "{out:?}");
    // 06:00: the night rule's window closes and its alarm clears once, with no sample.
    e.tick(at("2026-12-04T06:00:00+08:00"), &mut out);
    e.tick(at("2026-12-04T06:00:01+08:00"), &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].state, AlarmState::Cleared);
    assert!(out[0].alarm.message.contains("outside its active hours"));
    out.clear();
    // 60 dB in the day is within the day limit of 70.
    e.on_sample(
        &site,
        0,
        at("2026-12-04T10:00:00+08:00"),
        &loud,
        None,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    e.on_sample(
        &site,
        0,
        at("2026-12-04T10:00:05+08:00"),
        &[Some(75.0)],
        None,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alarm.rule, "day");
    // The residential meter is judged by neither rule.
    out.clear();
    e.on_sample(
        &site,
        1,
        at("2026-12-04T23:00:00+08:00"),
        &[Some(90.0)],
        None,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn an_alarm_restored_after_its_window_closed_is_cleared_once() {
    let site = load();
    let mut e = Engine::new(&site);
    let mut out = Vec::new();
    e.on_sample(
        &site,
        0,
        at("2026-12-03T23:00:00+08:00"),
        &[Some(60.0)],
        None,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    let saved = e.export_state();
    out.clear();
    // The daemon comes back in the morning.
    let mut e = Engine::new(&site);
    e.import_state(&saved).unwrap();
    assert_eq!(e.active().len(), 1);
    e.tick(at("2026-12-04T08:00:00+08:00"), &mut out);
    e.tick(at("2026-12-04T08:00:01+08:00"), &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].state, AlarmState::Cleared);
    assert!(e.active().is_empty());
}
