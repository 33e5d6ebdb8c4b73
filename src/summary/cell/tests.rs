use super::*;
use crate::site::Severity;

/// Three cells: a waterfront one of two meters, a street of a noise meter and a gate
/// (zone north), and an empty residential one.
const SITE: &str = r#"
[gateway]
site = "s"
id = "gw"

[uplink]
broker = "mqtt://127.0.0.1"

[[connection]]
name = "lan"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[device]]
id = "wl-1"
profile = "water-level"
connection = "lan"
unit = 1
cell = "waterfront-1"

[[device]]
id = "wl-2"
profile = "water-level"
connection = "lan"
unit = 2
cell = "waterfront-1"

[[device]]
id = "gate-1"
profile = "turnstile"
connection = "lan"
unit = 3
zone = "north"
cell = "street-1"

[[device]]
id = "th-1"
profile = "rs485-th"
connection = "lan"
unit = 4
cell = "street-1"

[[device]]
id = "th-9"
profile = "rs485-th"
connection = "lan"
unit = 5

[[zone]]
name = "north"
capacity = 100

[[cell]]
name = "waterfront-1"
kind = "waterfront"
owner = "Li Wei"
key_point = true

[[cell]]
name = "street-1"
kind = "commercial-street"

[[cell]]
name = "home-1"
kind = "residential"
"#;

fn site() -> Site {
    crate::config::load_from(SITE, "t.toml", &[], &[]).expect("valid test site")
}

fn alarm(device: &str, severity: Severity) -> Alarm {
    Alarm {
        id: format!("r:{device}:1"),
        rule: "r".into(),
        device: device.into(),
        point: None,
        severity,
        value: 1.0,
        limit: 0.0,
        message: String::new(),
        raised_at: 1,
    }
}

#[test]
fn the_state_table() {
    let cases = [
        // total, failing, [info, warning, critical] → state
        (2, 0, [0, 0, 0], CellState::Ok),
        (2, 0, [3, 0, 0], CellState::Ok),
        (2, 1, [0, 0, 0], CellState::Warning),
        (2, 0, [0, 1, 0], CellState::Warning),
        (2, 0, [0, 1, 1], CellState::Critical),
        (2, 1, [0, 0, 1], CellState::Critical),
        (2, 2, [0, 0, 0], CellState::Blind),
        (2, 2, [0, 0, 5], CellState::Blind),
        (1, 1, [0, 0, 0], CellState::Blind),
        (0, 0, [0, 0, 0], CellState::Ok),
        (0, 0, [0, 0, 1], CellState::Critical),
    ];
    for (total, failing, alarms, want) in cases {
        assert_eq!(
            state_of(total, failing, alarms),
            want,
            "{total} {failing} {alarms:?}"
        );
    }
}

#[test]
fn one_silent_device_warns_all_silent_is_blind() {
    let site = site();
    let occ = |z: &str| (z == "north").then_some(42);
    let r = rollups(&site, &[false, false, false, false, false], &[], occ);
    let states: Vec<CellState> = r.iter().map(|c| c.state).collect();
    assert_eq!(states, [CellState::Ok, CellState::Ok, CellState::Ok]);
    assert_eq!((r[0].ok, r[0].failing), (2, 0));
    assert_eq!(r[1].zones, [("north".to_string(), 42, 100)]);
    assert!(r[0].zones.is_empty());

    let r = rollups(&site, &[true, false, false, false, true], &[], occ);
    assert_eq!(r[0].state, CellState::Warning);
    assert_eq!((r[0].ok, r[0].failing), (1, 1));
    // th-9 stands in no cell: its silence shows nowhere.
    assert_eq!(r[1].state, CellState::Ok);

    let r = rollups(&site, &[true, true, false, false, false], &[], occ);
    assert_eq!(r[0].state, CellState::Blind);
    let kinds = by_kind(&site, &r);
    assert_eq!(kinds["waterfront"], [0, 0, 0, 1]);
    assert_eq!(kinds["commercial-street"], [1, 0, 0, 0]);
    assert_eq!(kinds["residential"], [1, 0, 0, 0]);
}

#[test]
fn alarms_count_in_their_device_s_cell_and_zone_alarms_in_the_zone_s() {
    let site = site();
    let active = [
        alarm("wl-1", Severity::Critical),
        alarm("wl-2", Severity::Info),
        alarm("north", Severity::Warning),
        alarm("th-9", Severity::Critical),
    ];
    let r = rollups(&site, &[false; 5], &active, |_| None);
    assert_eq!(r[0].alarms, [1, 0, 1]);
    assert_eq!(r[0].state, CellState::Critical);
    assert_eq!(r[1].alarms, [0, 1, 0]);
    assert_eq!(r[1].state, CellState::Warning);
    assert_eq!(r[2].alarms, [0, 0, 0]);
    assert_eq!(r[2].state, CellState::Ok);
    let kinds = by_kind(&site, &r);
    assert_eq!(kinds["waterfront"], [0, 0, 1, 0]);
}
