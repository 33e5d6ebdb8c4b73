//! Loading as a technician meets it: the shipped files, one table of error cases (each
//! asserting the key path and the line), the three-typos case, and the env overlay.

mod env;
mod errors;
mod profiles;

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::site::{
    ConnectionKind, Parity, PointKind, PointSource, PointType, RuleKind, Severity, Table, WordOrder,
};

const EXAMPLE: &str = include_str!("../../config/sitewarden.toml");

/// A small valid site; error cases edit it.
const BASE: &str = r#"
[gateway]
site = "s"
id = "gw"

[uplink]
broker = "mqtt://127.0.0.1"

[[connection]]
name = "lan"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[connection]]
name = "cams"
type = "mqtt"
broker = "mqtt://127.0.0.1"

[[device]]
id = "gate-1"
profile = "turnstile"
connection = "lan"
unit = 1
zone = "north"

[[device]]
id = "kiosk-1"
profile = "fever-kiosk"
connection = "lan"
unit = 2

[[device]]
id = "cam-1"
profile = "camera"
connection = "cams"

[[zone]]
name = "north"
capacity = 100

[[rule]]
name = "fever"
type = "threshold"
devices = ["kiosk-*"]
point = "body_temp"
above = 37.3
clear_below = 37.0
trigger = "scans"
"#;

fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Site, ConfigErrors> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load_from(text, "sitewarden.toml", &env, &[])
}

/// `BASE` with each `(from, to)` applied once; an empty `from` appends `to`.
fn edit(edits: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        if from.is_empty() {
            text.push_str(to);
        } else {
            assert!(text.contains(from), "`{from}` not in the base config");
            text = text.replacen(from, to, 1);
        }
    }
    text
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let i = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    text[..i].matches('\n').count() + 1
}

#[test]
fn defaults_fill_every_key_left_out() {
    let text = edit(&[
        ("id = \"gw\"", "id = \"gw\"\nutc_offset = \"-05:00\""),
        ("capacity = 100", "capacity = 100\ndaily_reset = \"22:00\""),
        (
            "",
            "\n[[connection]]\nname = \"bus\"\ntype = \"modbus-rtu\"\nport = \"/dev/ttyUSB0\"\n",
        ),
        (
            "",
            "\n[[rule]]\nname = \"t\"\ntype = \"threshold\"\ndevices = [\"kiosk-1\"]\npoint = \"body_temp\"\nbelow = 30\n",
        ),
        (
            "",
            "\n[[rule]]\nname = \"s\"\ntype = \"spike\"\ndevices = [\"kiosk-1\"]\npoint = \"body_temp\"\n",
        ),
        (
            "",
            "\n[[rule]]\nname = \"f\"\ntype = \"flatline\"\ndevices = [\"kiosk-1\"]\npoint = \"body_temp\"\nfor = \"1h\"\n",
        ),
        ("", "\n[[rule]]\nname = \"o\"\ntype = \"offline\"\n"),
        (
            "",
            "\n[[rule]]\nname = \"c\"\ntype = \"capacity\"\nzone = \"north\"\n",
        ),
        (
            "",
            "\n[[rule]]\nname = \"e\"\ntype = \"event\"\ndevices = [\"gate-*\"]\npoint = \"forced_entry\"\n",
        ),
    ]);
    let site = load_text(&text, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(site.gateway.data_dir, PathBuf::from("/var/lib/sitewarden"));
    let u = &site.uplink;
    assert_eq!(
        (u.broker.tls, u.broker.port, u.topic_prefix.as_str()),
        (false, 1883, "sitewarden")
    );
    assert_eq!(
        (u.summary_interval, u.inflight, u.keep_alive),
        (Duration::from_secs(60), 100, Duration::from_secs(30))
    );
    assert_eq!(
        (
            u.username.as_ref(),
            u.password_file.as_ref(),
            u.ca_file.as_ref()
        ),
        (None, None, None)
    );
    assert_eq!(
        (site.buffer.raw_max_bytes, site.buffer.outbox_max_bytes),
        (256 << 20, 512 << 20)
    );
    assert_eq!(
        site.connections[0].kind,
        ConnectionKind::ModbusTcp {
            address: "127.0.0.1:502".into(),
            timeout: Duration::from_millis(500)
        }
    );
    assert!(matches!(
        site.connections[1].kind,
        ConnectionKind::Mqtt {
            max_payload_bytes: 65_536,
            ..
        }
    ));
    assert_eq!(
        site.connections[2].kind,
        ConnectionKind::ModbusRtu {
            port: PathBuf::from("/dev/ttyUSB0"),
            baud: 9600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
            timeout: Duration::from_secs(1),
        }
    );
    let gate = &site.devices[0];
    assert_eq!(
        (
            gate.poll,
            gate.max_registers_per_read,
            gate.max_gap,
            gate.camera.as_ref()
        ),
        (Duration::from_secs(1), 125, 0, None)
    );
    let p = &gate.points[0];
    assert_eq!(
        (p.scale, p.offset, p.writable, p.unit.as_ref()),
        (1.0, 0.0, false, None)
    );
    // 22:00 at -05:00 is 03:00 UTC the next day.
    assert_eq!(site.zones[0].daily_reset, Duration::from_secs(3 * 3600));

    let kind = |name: &str| &site.rules.iter().find(|r| r.name == name).unwrap().kind;
    let severity = |name: &str| site.rules.iter().find(|r| r.name == name).unwrap().severity;
    assert_eq!(severity("t"), Severity::Warning);
    assert_eq!(
        kind("t"),
        &RuleKind::Threshold {
            above: None,
            clear_below: None,
            below: Some(30.0),
            clear_above: Some(30.0),
            hold: Duration::ZERO,
            trigger: None
        }
    );
    assert_eq!(
        kind("s"),
        &RuleKind::Spike {
            window: 30,
            min_samples: 10,
            threshold: 6.0
        }
    );
    assert_eq!(
        kind("f"),
        &RuleKind::Flatline {
            duration: Duration::from_secs(3600),
            epsilon: 0.0
        }
    );
    assert_eq!(kind("o"), &RuleKind::Offline { failed_polls: 3 });
    assert_eq!(
        site.rules.iter().find(|r| r.name == "o").unwrap().devices,
        ["*"]
    );
    assert_eq!(
        kind("c"),
        &RuleKind::Capacity {
            zone: "north".into(),
            warn: 0.8,
            critical: 1.0,
            surge_per_min: None
        }
    );
    assert_eq!(
        kind("e"),
        &RuleKind::Event {
            event_type: None,
            zone: None,
            min_confidence: None
        }
    );
}

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
    assert_eq!(site.connections.len(), 6);
    assert_eq!(site.devices.len(), 12);
    assert_eq!(site.zones.len(), 4);
    assert_eq!(site.rules.len(), 10);

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
        ConnectionKind::ModbusTcp { address, timeout } if address == "192.168.10.32:502" && *timeout == Duration::from_millis(500)));
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

    // 04:00 at +08:00 is 20:00 UTC.
    let north = site
        .zones
        .iter()
        .find(|z| z.name == "north-entrance")
        .unwrap();
    assert_eq!(north.daily_reset, Duration::from_secs(20 * 3600));
    let bridge = site.zones.iter().find(|z| z.name == "bridge").unwrap();
    assert_eq!(bridge.daily_reset, Duration::from_secs(16 * 3600));

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
    WordOrder,
    f64,
    PointKind,
    bool,
);

#[test]
fn shipped_profiles_match_the_spec_register_table() {
    use PointKind::*;
    use PointType::*;
    use Table::*;
    use WordOrder::*;
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
                    word_order,
                } => (
                    leak(&p.name),
                    *table,
                    *address,
                    *ty,
                    *word_order,
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
            "camera"
        ]
    );
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

#[test]
fn load_reads_the_file_and_prefers_a_profile_next_to_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("profiles")).unwrap();
    let own = "[[point]]\nname = \"entries\"\ntable = \"holding\"\naddress = 7\ntype = \"u16\"\nkind = \"counter\"\n";
    std::fs::write(dir.path().join("profiles/turnstile.toml"), own).unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        BASE.replace("devices = [\"kiosk-*\"]", "devices = [\"kiosk-1\"]"),
    )
    .unwrap();
    let site = load(&config).unwrap_or_else(|e| panic!("{e}"));
    let gate = &site.devices[site.device_index("gate-1").unwrap()];
    assert_eq!(gate.points.len(), 1);
    assert!(matches!(
        gate.points[0].source,
        PointSource::Modbus { address: 7, .. }
    ));
    assert_eq!(profile_dirs(&config)[0], dir.path().join("profiles"));

    let missing = load(&dir.path().join("absent.toml")).unwrap_err();
    assert_eq!(missing.0.len(), 1);
    assert!(
        missing.0[0].message.starts_with("cannot read config file"),
        "{missing}"
    );
}

#[test]
fn errors_display_as_file_line_column_key_and_message() {
    let e = ConfigError {
        file: "sitewarden.toml".into(),
        line: Some(23),
        column: Some(8),
        key: "device[3].unit".into(),
        message: "300 is out of range 1..=247".into(),
    };
    assert_eq!(
        e.to_string(),
        "sitewarden.toml:23:8: device[3].unit: 300 is out of range 1..=247"
    );
    let env = ConfigError {
        line: None,
        column: None,
        file: "$SITEWARDEN_X".into(),
        key: String::new(),
        ..e.clone()
    };
    assert_eq!(
        env.to_string(),
        "$SITEWARDEN_X: 300 is out of range 1..=247"
    );
    let both = ConfigErrors(vec![e.clone(), e]);
    assert_eq!(both.to_string().lines().count(), 2);
}
