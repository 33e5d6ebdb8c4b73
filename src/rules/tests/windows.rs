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

const ZONE_SITE: &str = r#"
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
id = "gate-1"
profile = "turnstile"
connection = "bus"
unit = 1
zone = "north"

[[zone]]
name = "north"
capacity = 100

[[calendar]]
name = "holidays"
dates = ["2026-10-01"]

[[rule]]
name = "crowding-holiday"
type = "capacity"
zone = "north"
warn = 0.5
critical = 0.6
dates = "holidays"

[[rule]]
name = "crowding"
type = "capacity"
zone = "north"
except = "holidays"
"#;

#[test]
fn a_capacity_rule_can_be_stricter_on_holidays() {
    let site = crate::config::load_from(ZONE_SITE, "t.toml", &[], &[]).unwrap();
    let mut e = Engine::new(&site);
    let mut out = Vec::new();
    // 70 of 100 on an ordinary day: below the ordinary 80 %.
    e.on_zone(
        "north",
        at("2026-09-30T12:00:00+08:00"),
        70.0,
        100,
        0.0,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    // The same 70 on the holiday: above the holiday's 60 % critical.
    e.on_zone(
        "north",
        at("2026-10-01T12:00:00+08:00"),
        70.0,
        100,
        0.0,
        &mut out,
    );
    let rules: Vec<&str> = out.iter().map(|c| c.alarm.rule.as_str()).collect();
    assert!(
        !rules.is_empty() && rules.iter().all(|r| *r == "crowding-holiday"),
        "{out:?}"
    );
    assert!(out.iter().all(|c| c.state == AlarmState::Raised));
    let raised = out.len();
    out.clear();
    // Midnight ends the holiday: its alarms clear on the tick, once each.
    e.tick(at("2026-10-02T00:00:00+08:00"), &mut out);
    e.tick(at("2026-10-02T00:00:01+08:00"), &mut out);
    assert_eq!(out.len(), raised, "{out:?}");
    assert!(out.iter().all(|c| c.state == AlarmState::Cleared));
    assert!(e.active().is_empty());
}
