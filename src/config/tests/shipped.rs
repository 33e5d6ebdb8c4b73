//! The files shipped with sitewarden: the example site loads, and the profiles match
//! the spec's register table.

use std::time::Duration;

use super::{EXAMPLE, load_text};
use crate::config::{load_profile, shipped_profiles};
use crate::site::{
    ByteOrder, ConnectionKind, Parity, PointKind, PointSource, PointType, RuleKind, Severity, Table,
};

#[test]
fn the_example_site_loads_with_every_device_rule_and_default() {
    let site = load_text(EXAMPLE, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (site.gateway.site.as_str(), site.gateway.id.as_str()),
        ("xitang", "gw-north")
    );
    assert_eq!(
        site.uplink.broker.to_string(),
        "mqtts://platform.example:8883"
    );
    assert_eq!(site.uplink.summary_interval, Duration::from_secs(60));
    assert_eq!(site.buffer.raw_max_bytes, 256 << 20);
    assert_eq!(site.connections.len(), 7);
    assert_eq!(site.devices.len(), 17);
    assert_eq!(site.zones.len(), 4);
    assert_eq!(site.rules.len(), 12);
    assert_eq!(site.cells.len(), 7);
    let kinds: std::collections::BTreeSet<&str> =
        site.cells.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds.len(), 4, "cells of four kinds: {kinds:?}");
    assert!(
        (0..site.devices.len()).all(|d| site.cell_of(d).is_some()),
        "every example device stands in a cell"
    );
    let night = site
        .rules
        .iter()
        .find(|r| r.name == "bar-noise-night")
        .unwrap();
    let noise = site.device_index("noise-bar-street").unwrap();
    assert!(night.applies_to_device(&site, noise));
    assert!(!night.applies_to_device(&site, site.device_index("th-museum").unwrap()));
    assert!(night.active.is_some());
    // A night patrol over tag readers in three kinds of cell, one of them a handheld.
    assert_eq!(site.patrols.len(), 1);
    let patrol = &site.patrols[0];
    let route: Vec<(&str, &str)> = (patrol.checkpoints.iter())
        .map(|&d| {
            (
                site.devices[d].id.as_str(),
                site.devices[d].profile.as_str(),
            )
        })
        .collect();
    assert_eq!(
        route,
        [
            ("tag-gate-north", "tag-reader"),
            ("tag-bridge", "tag-reader"),
            ("tag-bar-street", "tag-reader"),
            ("tag-old-street", "tag-reader-mqtt")
        ]
    );
    assert_eq!(patrol.schedule.per_day(), 5);
    assert_eq!(
        (patrol.leg, patrol.round),
        (Duration::from_secs(900), Duration::from_secs(3600))
    );
    assert_eq!(patrol.tags, [1001, 1002, 1003]);

    let gate = &site.devices[site.device_index("gate-n2").unwrap()];
    assert_eq!(
        (
            gate.unit,
            gate.poll,
            gate.max_registers_per_read,
            gate.max_gap
        ),
        (2, Duration::from_secs(1), 125, 0)
    );
    assert_eq!(site.connections[gate.connection].name, "gate-lan");
    assert_eq!(gate.points.len(), 7);
    let kiosk = &site.devices[site.device_index("kiosk-s1").unwrap()];
    assert!(matches!(&site.connections[kiosk.connection].kind,
        ConnectionKind::ModbusTcp { address, timeout, .. } if address == "192.168.10.32:502" && *timeout == Duration::from_millis(500)));
    let river = &site.devices[site.device_index("river-level").unwrap()];
    assert!(matches!(&site.connections[river.connection].kind,
        ConnectionKind::ModbusRtu { baud: 19200, parity: Parity::Even, data_bits: 8, stop_bits: 1, timeout, .. } if *timeout == Duration::from_secs(1)));
    let cam = &site.devices[site.device_index("cam-bridge").unwrap()];
    let camera = cam.camera.as_ref().unwrap();
    assert_eq!(camera.events_topic, "cameras/cam-bridge/events");
    assert_eq!(camera.status_topic, "cameras/cam-bridge/status");
    assert_eq!(camera.heartbeat_timeout, Duration::from_secs(90));
    assert_eq!(cam.unit, 0);
    assert!(matches!(
        &site.connections[cam.connection].kind,
        ConnectionKind::Mqtt {
            max_payload_bytes: 65_536,
            ..
        }
    ));

    // Resets are local times of day, read in the site's zone.
    assert_eq!(site.gateway.timezone.name(), "Asia/Shanghai");
    let north = site
        .zones
        .iter()
        .find(|z| z.name == "north-entrance")
        .unwrap();
    assert_eq!(north.daily_reset, Duration::from_secs(4 * 3600));
    let bridge = site.zones.iter().find(|z| z.name == "bridge").unwrap();
    assert_eq!(bridge.daily_reset, Duration::ZERO);

    let fever = site.rules.iter().find(|r| r.name == "fever").unwrap();
    assert_eq!(fever.severity, Severity::Critical);
    assert_eq!(
        fever.kind,
        RuleKind::Threshold {
            above: Some(37.3),
            clear_below: Some(37.0),
            below: None,
            clear_above: None,
            hold: Duration::ZERO,
            trigger: Some("scans".to_string()),
        }
    );
    let south = site
        .rules
        .iter()
        .find(|r| r.name == "south-crowding")
        .unwrap();
    assert_eq!(
        south.kind,
        RuleKind::Capacity {
            zone: "south-entrance".into(),
            warn: 0.8,
            critical: 1.0,
            surge_per_min: None
        }
    );
    assert!(south.devices.is_empty() && south.point.is_none());
    let offline = site.rules.iter().find(|r| r.name == "offline").unwrap();
    assert_eq!(offline.kind, RuleKind::Offline { failed_polls: 3 });
}

/// One row of the spec's register table.
type Row = (
    &'static str,
    Table,
    u16,
    PointType,
    ByteOrder,
    f64,
    PointKind,
    bool,
);

#[test]
fn shipped_profiles_match_the_spec_register_table() {
    use PointKind::*;
    use PointType::*;
    use Table::*;
    #[allow(non_upper_case_globals)]
    const HiFirst: ByteOrder = ByteOrder::ABCD;
    #[allow(non_upper_case_globals)]
    const LoFirst: ByteOrder = ByteOrder::CDAB;
    let spec: [(&str, &[Row]); 4] = [
        (
            "turnstile",
            &[
                ("entries", Input, 0, U32, HiFirst, 1.0, Counter, false),
                ("exits", Input, 2, U32, HiFirst, 1.0, Counter, false),
                ("status", Input, 4, U16, HiFirst, 1.0, State, false),
                (
                    "forced_entry",
                    Discrete,
                    0,
                    Bool,
                    HiFirst,
                    1.0,
                    Event,
                    false,
                ),
                ("tailgating", Discrete, 1, Bool, HiFirst, 1.0, Event, false),
                ("open", Coil, 0, Bool, HiFirst, 1.0, Command, true),
                ("locked", Coil, 1, Bool, HiFirst, 1.0, Command, true),
            ],
        ),
        (
            "rs485-th",
            &[
                ("humidity", Holding, 0, U16, HiFirst, 0.1, Gauge, false),
                ("temperature", Holding, 1, I16, HiFirst, 0.1, Gauge, false),
            ],
        ),
        (
            "fever-kiosk",
            &[
                ("body_temp", Input, 0, U16, HiFirst, 0.01, Gauge, false),
                ("scans", Input, 1, U32, HiFirst, 1.0, Counter, false),
            ],
        ),
        (
            "water-level",
            &[("level_m", Holding, 0, F32, LoFirst, 1.0, Gauge, false)],
        ),
    ];
    for (profile, rows) in spec {
        let points = load_profile(profile, &[]).unwrap_or_else(|e| panic!("{profile}: {e}"));
        let got: Vec<Row> = points
            .iter()
            .map(|p| match &p.source {
                PointSource::Modbus {
                    table,
                    address,
                    ty,
                    order,
                } => (
                    leak(&p.name),
                    *table,
                    *address,
                    *ty,
                    *order,
                    p.scale,
                    p.kind,
                    p.writable,
                ),
                PointSource::Json { .. } => panic!("{profile}: json point {}", p.name),
            })
            .collect();
        assert_eq!(got, rows, "{profile}");
    }
}

#[test]
fn the_turnstile_labels_its_status_codes() {
    let points = load_profile("turnstile", &[]).unwrap();
    let status = points.iter().find(|p| p.name == "status").unwrap();
    let labels: Vec<(i64, &str)> = status
        .labels
        .iter()
        .map(|(c, l)| (*c, l.as_str()))
        .collect();
    assert_eq!(
        labels,
        [(0, "idle"), (1, "passing"), (2, "held-open"), (3, "fault")]
    );
    assert!(
        points
            .iter()
            .filter(|p| p.name != "status")
            .all(|p| p.labels.is_empty())
    );
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

#[test]
fn every_shipped_profile_loads_and_the_camera_reads_json() {
    let names: Vec<&str> = shipped_profiles().collect();
    assert_eq!(
        names,
        [
            "turnstile",
            "rs485-th",
            "fever-kiosk",
            "water-level",
            "camera",
            "sound-level",
            "tag-reader",
            "tag-reader-mqtt"
        ]
    );
    let noise = load_profile("sound-level", &[]).unwrap();
    assert_eq!(noise[0].name, "noise_dba");
    assert_eq!(noise[0].engineering(623.0), 62.3);
    for name in names {
        assert!(load_profile(name, &[]).is_ok(), "{name}");
    }
    let camera = load_profile("camera", &[]).unwrap();
    let got: Vec<(&str, &PointSource, PointKind)> = camera
        .iter()
        .map(|p| (p.name.as_str(), &p.source, p.kind))
        .collect();
    let json = |pointer: &str, ty: &str| PointSource::Json {
        pointer: pointer.into(),
        filter: vec![("/type".into(), ty.into())],
    };
    assert_eq!(
        got,
        [
            (
                "people_count",
                &json("/count", "people_count"),
                PointKind::Gauge
            ),
            (
                "intrusion",
                &json("/confidence", "intrusion"),
                PointKind::Event
            ),
        ]
    );
}
