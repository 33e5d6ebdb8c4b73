//! The test site: a few devices of the shipped profiles and one rule of every type.

use crate::site::*;
use std::time::Duration;

fn modbus(
    name: &str,
    table: Table,
    address: u16,
    ty: PointType,
    scale: f64,
    kind: PointKind,
) -> Point {
    Point {
        name: name.into(),
        source: PointSource::Modbus {
            table,
            address,
            ty,
            order: ByteOrder::ABCD,
        },
        scale,
        offset: 0.0,
        unit: None,
        kind,
        writable: false,
        labels: Vec::new(),
    }
}

fn json(name: &str, pointer: &str, ty: &str, kind: PointKind) -> Point {
    Point {
        name: name.into(),
        source: PointSource::Json {
            pointer: pointer.into(),
            filter: vec![("/type".into(), ty.into())],
        },
        scale: 1.0,
        offset: 0.0,
        unit: None,
        kind,
        writable: false,
        labels: Vec::new(),
    }
}

fn device(id: &str, zone: Option<&str>, points: Vec<Point>) -> Device {
    Device {
        id: id.into(),
        profile: "test".into(),
        connection: 0,
        unit: 1,
        poll: Duration::from_secs(1),
        zone: zone.map(Into::into),
        max_registers_per_read: 125,
        max_gap: 0,
        points: points.into(),
        camera: None,
        live: None,
    }
}

fn kiosk(id: &str) -> Device {
    use PointKind::*;
    device(
        id,
        None,
        vec![
            modbus("body_temp", Table::Input, 0, PointType::U16, 0.01, Gauge),
            modbus("scans", Table::Input, 1, PointType::U32, 1.0, Counter),
        ],
    )
}

pub(crate) fn rule(name: &str, devices: &[&str], point: Option<&str>, kind: RuleKind) -> RuleDef {
    RuleDef {
        name: name.into(),
        devices: devices.iter().map(|d| d.to_string()).collect(),
        cells: Vec::new(),
        cell_kinds: Vec::new(),
        point: point.map(Into::into),
        severity: Severity::Critical,
        kind,
        active: None,
    }
}

/// Devices: kiosk-1, kiosk-2 (0, 1), gate-n1 (2), wl-1 (3), cam-1 in river-bank (4),
/// cam-2 in bridge (5). One rule of every type.
pub(crate) fn site() -> Site {
    use PointKind::*;
    let devices = vec![
        kiosk("kiosk-1"),
        kiosk("kiosk-2"),
        device(
            "gate-n1",
            Some("north-entrance"),
            vec![
                modbus("entries", Table::Input, 0, PointType::U32, 1.0, Counter),
                modbus(
                    "forced_entry",
                    Table::Discrete,
                    0,
                    PointType::Bool,
                    1.0,
                    Event,
                ),
            ],
        ),
        device(
            "wl-1",
            None,
            vec![modbus(
                "level_m",
                Table::Holding,
                0,
                PointType::F32,
                1.0,
                Gauge,
            )],
        ),
        device(
            "cam-1",
            Some("river-bank"),
            vec![
                json("people", "/count", "people_count", Gauge),
                json("intrusion", "/confidence", "intrusion", Event),
            ],
        ),
        device(
            "cam-2",
            Some("bridge"),
            vec![json("intrusion", "/confidence", "intrusion", Event)],
        ),
    ];
    let rules = vec![
        rule(
            "fever",
            &["kiosk-*"],
            Some("body_temp"),
            RuleKind::Threshold {
                above: Some(37.3),
                clear_below: Some(37.0),
                below: None,
                clear_above: None,
                hold: Duration::ZERO,
                trigger: Some("scans".into()),
            },
        ),
        rule(
            "cold-water",
            &["wl-*"],
            Some("level_m"),
            RuleKind::Threshold {
                above: Some(4.0),
                clear_below: Some(3.5),
                below: Some(0.5),
                clear_above: Some(0.8),
                hold: Duration::from_secs(30),
                trigger: None,
            },
        ),
        rule(
            "level-spike",
            &["wl-1"],
            Some("level_m"),
            RuleKind::Spike {
                window: 20,
                min_samples: 5,
                threshold: 4.0,
            },
        ),
        rule(
            "level-flat",
            &["wl-?"],
            Some("level_m"),
            RuleKind::Flatline {
                duration: Duration::from_secs(600),
                epsilon: 0.001,
            },
        ),
        rule(
            "offline",
            &["*"],
            None,
            RuleKind::Offline { failed_polls: 3 },
        ),
        rule(
            "entries-sane",
            &["gate-*"],
            Some("entries"),
            RuleKind::Counter { max_rate: 10.0 },
        ),
        rule(
            "crowding",
            &[],
            None,
            RuleKind::Capacity {
                zone: "north-entrance".into(),
                warn: 0.8,
                critical: 1.0,
                surge_per_min: Some(100.0),
            },
        ),
        rule(
            "forced",
            &["gate-*"],
            Some("forced_entry"),
            RuleKind::Event {
                event_type: None,
                zone: None,
                min_confidence: None,
                clear_after: None,
            },
        ),
        rule(
            "intrusion",
            &["cam-*"],
            None,
            RuleKind::Event {
                event_type: Some("intrusion".into()),
                zone: Some("river-bank".into()),
                min_confidence: Some(0.8),
                clear_after: None,
            },
        ),
    ];
    Site {
        devices,
        zones: vec![Zone {
            name: "north-entrance".into(),
            capacity: 1000,
            daily_reset: Duration::ZERO,
        }],
        rules,
        ..Site::bare("xitang", "gw-north")
    }
}
