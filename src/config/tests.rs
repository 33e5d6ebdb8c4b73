//! Loading as a technician meets it: the shipped files, one table of error cases (each
//! asserting the key path and the line), the three-typos case, and the env overlay.

mod env;
mod errors;
mod profiles;
mod shipped;
mod warnings;

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::site::{ConnectionKind, Parity, PointSource, RuleKind, Severity};

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
fn an_rtu_over_tcp_connection_takes_an_address_and_the_far_line_settings() {
    let text = edit(&[(
        "",
        "\n[[connection]]\nname = \"dtu\"\ntype = \"modbus-rtu-over-tcp\"\naddress = \"10.0.0.7:4001\"\n\
         baud = 19200\nparity = \"even\"\n",
    )]);
    let site = load_text(&text, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        site.connections[2].kind,
        ConnectionKind::ModbusRtuOverTcp {
            address: "10.0.0.7:4001".into(),
            baud: 19_200,
            parity: Parity::Even,
            data_bits: 8,
            stop_bits: 1,
            timeout: Duration::from_secs(1),
            min_gap: Duration::ZERO,
        }
    );
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
            timeout: Duration::from_millis(500),
            min_gap: Duration::ZERO,
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
            min_gap: Duration::ZERO,
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
    // 22:00 local, read at a fixed -05:00.
    assert_eq!(site.zones[0].daily_reset, Duration::from_secs(22 * 3600));
    assert_eq!(site.gateway.timezone.name(), "UTC-05:00");
    assert_eq!(site.gateway.timezone.offset_secs(0), -5 * 3600);

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
            min_confidence: None,
            clear_after: None,
        }
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

#[test]
fn commands_take_their_defaults_or_what_is_written() {
    let site = load_text(BASE, &[]).expect("valid");
    assert_eq!(site.uplink.commands, crate::site::CommandPolicy::default());
    assert_eq!(site.uplink.commands.max_expiry, Duration::from_secs(300));
    let text = format!(
        "{BASE}\n[commands]\nmax_expiry = \"90s\"\nrate = 0.5\nburst = 3\nkey_file = \"/etc/sitewarden/commands.key\"\n"
    );
    let c = load_text(&text, &[]).expect("valid").uplink.commands;
    assert_eq!(c.max_expiry, Duration::from_secs(90));
    assert_eq!((c.rate, c.burst), (0.5, 3));
    assert_eq!(
        c.key_file,
        Some(PathBuf::from("/etc/sitewarden/commands.key"))
    );
}

#[test]
fn live_values_are_off_unless_a_device_asks_and_take_defaults() {
    let site = load_text(BASE, &[]).expect("valid");
    assert!(site.devices.iter().all(|d| d.live.is_none()));
    let text = BASE
        .replacen("unit = 1\n", "unit = 1\nlive = { deadband = 0.5 }\n", 1)
        .replacen(
            "unit = 2\n",
            "unit = 2\nlive = { deadband = 2, min_interval = \"250ms\", max_interval = \"30s\" }\n",
            1,
        );
    let site = load_text(&text, &[]).expect("valid");
    let live = |id: &str| site.devices[site.device_index(id).unwrap()].live;
    assert_eq!(
        live("gate-1"),
        Some(crate::site::Live {
            deadband: 0.5,
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(60),
        })
    );
    assert_eq!(
        live("kiosk-1"),
        Some(crate::site::Live {
            deadband: 2.0,
            min_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(30),
        })
    );
    assert_eq!(live("cam-1"), None);
}
