use super::*;
use crate::site::{ConnectionKind, RuleKind};

#[test]
fn the_generated_config_loads_with_every_device_zone_and_rule() {
    let site = site_for_tests();
    let ids: Vec<&str> = site.devices.iter().map(|d| d.id.as_str()).collect();
    let expected: Vec<&str> = DEVICES.iter().map(|d| d.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(site.zones.len(), ZONES.len());
    assert_eq!(site.uplink.summary_interval.as_secs(), SUMMARY_INTERVAL_S);
    assert_eq!(site.uplink.broker.to_string(), "mqtt://127.0.0.1:1883");
    let kinds: Vec<&str> = site
        .rules
        .iter()
        .map(|r| match r.kind {
            RuleKind::Threshold { .. } => "threshold",
            RuleKind::Spike { .. } => "spike",
            RuleKind::Flatline { .. } => "flatline",
            RuleKind::Offline { .. } => "offline",
            RuleKind::Counter { .. } => "counter",
            RuleKind::Capacity { .. } => "capacity",
            RuleKind::Event { .. } => "event",
        })
        .collect();
    for kind in [
        "threshold",
        "spike",
        "flatline",
        "offline",
        "capacity",
        "event",
    ] {
        assert!(kinds.contains(&kind), "no {kind} rule");
    }
    for c in &site.connections {
        match &c.kind {
            ConnectionKind::ModbusTcp { address, .. } => assert_eq!(address, "127.0.0.1:1502"),
            ConnectionKind::Mqtt { broker, .. } => assert_eq!(broker.port, 1883),
            ConnectionKind::ModbusRtu { .. } | ConnectionKind::ModbusRtuOverTcp { .. } => {
                panic!("the demo has no serial line")
            }
        }
    }
}

#[test]
fn every_device_sits_on_a_declared_server_with_a_unique_unit() {
    for d in DEVICES {
        if d.connection == CAMERA_CONNECTION {
            continue;
        }
        assert!(
            SERVERS.iter().any(|s| s.name == d.connection),
            "{} on unknown server {}",
            d.id,
            d.connection
        );
        let same_unit = devices_on(d.connection)
            .filter(|o| o.unit == d.unit)
            .count();
        assert_eq!(
            same_unit, 1,
            "{} shares unit {} on {}",
            d.id, d.unit, d.connection
        );
    }
    for s in SERVERS {
        assert!(
            devices_on(s.name).next().is_some(),
            "{} serves nothing",
            s.name
        );
    }
}

#[test]
fn the_site_has_a_dozen_turnstiles_some_behind_one_converter() {
    let gates: Vec<_> = DEVICES
        .iter()
        .filter(|d| d.profile == "turnstile")
        .collect();
    assert_eq!(gates.len(), 12);
    assert_eq!(devices_on("north-gates").count(), 8);
    assert!(
        gates
            .iter()
            .all(|g| ZONES.iter().any(|z| Some(z.name) == g.zone))
    );
}

#[test]
fn the_night_offset_makes_the_night_begin_at_21_59_local() {
    // 2027-01-15 08:00:00 UTC: the night begins 4 minutes later, 08:04 UTC.
    assert_eq!(night_offset(1_800_000_000_000), TEST_OFFSET_S);
    for start in [0, 1_800_000_000_000, 1_800_000_017_345, 1_800_043_200_000] {
        let off = night_offset(start);
        assert!(off.abs() <= 12 * 3600 && off % 60 == 0, "{off}");
        let night = start / 1000 + 240 + off;
        let local = night.rem_euclid(86_400);
        assert!(
            (local - (21 * 3600 + 59 * 60)).abs() <= 30,
            "{start}: {local}"
        );
    }
    assert_eq!(offset_text(-36_300), "-10:05");
    assert_eq!(offset_text(19_020), "+05:17");
}

#[test]
fn every_device_stands_in_one_cell_of_four_kinds() {
    let site = site_for_tests();
    assert!((0..site.devices.len()).all(|d| site.cell_of(d).is_some()));
    let kinds: std::collections::BTreeSet<&str> = CELLS.iter().map(|c| c.1).collect();
    assert_eq!(kinds.len(), 4);
    let patrol = &site.patrols[0];
    assert_eq!(patrol.checkpoints.len(), 4);
    assert_eq!(patrol.schedule.describe(), "at 22:00, 22:01, 22:02");
}
