//! Alarms end to end (issue 4): the test drives real Modbus servers (tokio-modbus's,
//! serving the shipped profiles), the real daemon judges them, and a real Mosquitto
//! subscriber checks exactly which alarm events arrive on `P/alarm/{device}`, in order,
//! and what the retained `P/alarms/active` snapshot says after each change.
//!
//! Every device polls each second and windows last one second, so "polled many times"
//! is measured in summary windows, never in sleeps.
//!
//! `devices.rs`: one rule type per test, on one device. `zone.rs`: gates filling a zone.
//! `restart.rs`: alarms across a daemon restart.

mod camera;
mod devices;
mod restart;
mod zone;

use crate::support::platform::Seen;
use crate::support::site::SimSite;
use serde_json::Value;
use std::collections::BTreeSet;

pub(super) const FEVER: &str = r#"
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

pub(super) const FORCED_ENTRY: &str = r#"
[[rule]]
name = "forced-entry"
type = "event"
devices = ["gate-*"]
point = "forced_entry"
severity = "critical"
"#;

pub(super) const OFFLINE: &str = r#"
[[rule]]
name = "offline"
type = "offline"
failed_polls = 3
"#;

pub(super) const FLATLINE: &str = r#"
[[rule]]
name = "river-flatline"
type = "flatline"
devices = ["level-*"]
point = "level_m"
for = "3s"
epsilon = 0.001
"#;

pub(super) const SPIKE_AND_COUNTER: &str = r#"
[[rule]]
name = "river-spike"
type = "spike"
devices = ["level-*"]
point = "level_m"
window = 30
min_samples = 5
threshold = 6.0

[[rule]]
name = "gate-counter"
type = "counter"
devices = ["gate-*"]
point = "entries"
max_rate = 5
"#;

/// A kiosk scan as the device makes it: the temperature first, then the scan count.
pub(super) fn scan(sim: &SimSite, hundredths: f64, scans: f64) {
    sim.set("kiosk-1", "body_temp", hundredths);
    sim.set("kiosk-1", "scans", scans);
}

/// The keys of every alarm event, raised or cleared (spec: `P/alarm/{device}`).
pub(super) fn check_event_keys(event: &Value) {
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
        "cell",
        "cell_kind",
        "owner",
    ]
    .into();
    assert_eq!(keys, expected, "{event}");
    assert_eq!(event["v"], 1);
}

/// The `ts` of an event, for `wait_polls`.
pub(super) fn ts(events: &[Seen], i: usize) -> String {
    events[i].json["ts"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
