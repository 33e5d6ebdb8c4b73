//! The demo site's layout: which simulated devices exist, which simulated server answers
//! for each, and the `sitewarden.toml` that describes them to the daemon.
//!
//! Owns the tables every other demo part reads (`SERVERS`, `DEVICES`, `ZONES`) and the
//! config text built from them. Pure: ports arrive as a parameter, nothing here binds,
//! reads or writes anything. The scenario (`scenario.rs`) gives the devices their story;
//! this file only says where they are.
//!
//! The site, Xitang Water Town in miniature:
//! - a north entrance with eight turnstiles behind one Modbus TCP-to-RTU converter
//!   (unit ids 1–8 on one socket) and a fever kiosk with its own Modbus TCP port;
//! - a south entrance with four turnstiles, each with its own Modbus TCP port, and a
//!   second kiosk;
//! - four RS485 thermometers on one bus behind a second converter;
//! - a river level meter on its own converter;
//! - two AI cameras publishing JSON to the site broker;
//! - a sound level meter on the bar street, on the thermometers' bus;
//! - four tag readers along the night patrol's route, behind one more converter;
//! - grid cells of four kinds (`CELLS`) that every device stands in.

use crate::sim::config::{DeviceToml, SiteToml};
use std::path::Path;

/// One simulated Modbus TCP server: a `[[connection]]` of type `modbus-tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerDef {
    /// The connection name in the config.
    pub(crate) name: &'static str,
    /// What it stands for on a real site, for the config's comments.
    pub(crate) what: &'static str,
}

pub(crate) const SERVERS: &[ServerDef] = &[
    ServerDef {
        name: "north-gates",
        what: "TCP-to-RTU converter in the north gate cabinet, 8 turnstiles behind it",
    },
    ServerDef {
        name: "gate-s1-lan",
        what: "turnstile with its own Modbus TCP port",
    },
    ServerDef {
        name: "gate-s2-lan",
        what: "turnstile with its own Modbus TCP port",
    },
    ServerDef {
        name: "gate-s3-lan",
        what: "turnstile with its own Modbus TCP port",
    },
    ServerDef {
        name: "gate-s4-lan",
        what: "turnstile with its own Modbus TCP port",
    },
    ServerDef {
        name: "kiosk-n1-lan",
        what: "fever kiosk, Modbus TCP",
    },
    ServerDef {
        name: "kiosk-s1-lan",
        what: "fever kiosk, Modbus TCP",
    },
    ServerDef {
        name: "rs485-bus",
        what: "TCP-to-RTU converter on the thermometers' RS485 bus",
    },
    ServerDef {
        name: "river-gw",
        what: "TCP-to-RTU converter on the river meter's line",
    },
    ServerDef {
        name: "patrol-bus",
        what: "TCP-to-RTU converter on the patrol route's tag readers",
    },
];

/// The connection name of the cameras' broker (the demo's embedded broker).
pub(crate) const CAMERA_CONNECTION: &str = "camera-lan";

/// One simulated device: a `[[device]]` of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceDef {
    pub(crate) id: &'static str,
    pub(crate) profile: &'static str,
    /// A `SERVERS` name, or `CAMERA_CONNECTION`.
    pub(crate) connection: &'static str,
    /// Modbus unit id (0 for cameras).
    pub(crate) unit: u8,
    pub(crate) zone: Option<&'static str>,
    /// Poll period as written in the config (Modbus devices only).
    pub(crate) poll: &'static str,
}

const fn gate(
    id: &'static str,
    connection: &'static str,
    unit: u8,
    zone: &'static str,
) -> DeviceDef {
    DeviceDef {
        id,
        profile: "turnstile",
        connection,
        unit,
        zone: Some(zone),
        poll: "1s",
    }
}

const fn thermometer(id: &'static str, unit: u8) -> DeviceDef {
    DeviceDef {
        id,
        profile: "rs485-th",
        connection: "rs485-bus",
        unit,
        zone: None,
        poll: "2s",
    }
}

const fn reader(id: &'static str, unit: u8) -> DeviceDef {
    DeviceDef {
        id,
        profile: "tag-reader",
        connection: "patrol-bus",
        unit,
        zone: None,
        poll: "1s",
    }
}

pub(crate) const NORTH: &str = "north-entrance";
pub(crate) const SOUTH: &str = "south-entrance";

pub(crate) const DEVICES: &[DeviceDef] = &[
    gate("gate-n1", "north-gates", 1, NORTH),
    gate("gate-n2", "north-gates", 2, NORTH),
    gate("gate-n3", "north-gates", 3, NORTH),
    gate("gate-n4", "north-gates", 4, NORTH),
    gate("gate-n5", "north-gates", 5, NORTH),
    gate("gate-n6", "north-gates", 6, NORTH),
    gate("gate-n7", "north-gates", 7, NORTH),
    gate("gate-n8", "north-gates", 8, NORTH),
    gate("gate-s1", "gate-s1-lan", 1, SOUTH),
    gate("gate-s2", "gate-s2-lan", 1, SOUTH),
    gate("gate-s3", "gate-s3-lan", 1, SOUTH),
    gate("gate-s4", "gate-s4-lan", 1, SOUTH),
    DeviceDef {
        id: "kiosk-n1",
        profile: "fever-kiosk",
        connection: "kiosk-n1-lan",
        unit: 1,
        zone: Some(NORTH),
        poll: "500ms",
    },
    DeviceDef {
        id: "kiosk-s1",
        profile: "fever-kiosk",
        connection: "kiosk-s1-lan",
        unit: 1,
        zone: Some(SOUTH),
        poll: "500ms",
    },
    thermometer("th-ticket-hall", 1),
    thermometer("th-visitor-centre", 2),
    thermometer("th-museum", 3),
    thermometer("th-tea-house", 4),
    DeviceDef {
        id: "river-level",
        profile: "water-level",
        connection: "river-gw",
        unit: 10,
        zone: None,
        poll: "1s",
    },
    DeviceDef {
        id: "cam-bridge",
        profile: "camera",
        connection: CAMERA_CONNECTION,
        unit: 0,
        zone: Some(NORTH),
        poll: "",
    },
    DeviceDef {
        id: "cam-river-bank",
        profile: "camera",
        connection: CAMERA_CONNECTION,
        unit: 0,
        zone: Some(SOUTH),
        poll: "",
    },
    DeviceDef {
        id: "noise-bar-street",
        profile: "sound-level",
        connection: "rs485-bus",
        unit: 5,
        zone: None,
        poll: "1s",
    },
    reader("tag-gate", 1),
    reader("tag-bridge", 2),
    reader("tag-bar-street", 3),
    reader("tag-old-street", 4),
];

/// The grid cells: (name, kind, owner, the devices standing in it).
pub(crate) const CELLS: &[(&str, &str, &str, &[&str])] = &[
    (
        "north-gate",
        "scenic-core",
        "Zhang Min",
        &[
            "gate-n1",
            "gate-n2",
            "gate-n3",
            "gate-n4",
            "gate-n5",
            "gate-n6",
            "gate-n7",
            "gate-n8",
            "kiosk-n1",
            "th-ticket-hall",
            "tag-gate",
        ],
    ),
    (
        "south-gate",
        "scenic-core",
        "Zhang Min",
        &[
            "gate-s1",
            "gate-s2",
            "gate-s3",
            "gate-s4",
            "kiosk-s1",
            "th-museum",
        ],
    ),
    (
        "waterfront",
        "waterfront",
        "Li Wei",
        &["river-level", "cam-bridge", "cam-river-bank", "tag-bridge"],
    ),
    (
        "bar-street",
        "commercial-street",
        "Chen Jing",
        &["noise-bar-street", "th-tea-house", "tag-bar-street"],
    ),
    (
        "old-street",
        "residential",
        "Chen Jing",
        &["th-visitor-centre", "tag-old-street"],
    ),
];

/// The UTC offset that makes the gateway's local time 21:59 when the night begins,
/// `DAY_MS` after `start_ms` (to the minute): the night rules and the patrol then play
/// while the demo runs. Seconds east of UTC, within ±12 h.
pub(crate) fn night_offset(start_ms: i64) -> i64 {
    let night_utc = (start_ms / 1000 + super::scenario::DAY_MS as i64 / 1000).rem_euclid(86_400);
    let want = (21 * 60 + 59) * 60;
    let diff = (want - night_utc).rem_euclid(86_400);
    let diff = if diff > 43_200 { diff - 86_400 } else { diff };
    (diff as f64 / 60.0).round() as i64 * 60
}

/// `+05:17`, `-03:00`.
fn offset_text(secs: i64) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)
}

/// One zone: the turnstiles with `zone = name` count its visitors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ZoneDef {
    pub(crate) name: &'static str,
    pub(crate) capacity: u64,
}

pub(crate) const ZONES: &[ZoneDef] = &[
    ZoneDef {
        name: NORTH,
        capacity: 1200,
    },
    ZoneDef {
        name: SOUTH,
        capacity: 400,
    },
];

/// Windows are this long, so a 20 s run already shows a few of them.
pub(crate) const SUMMARY_INTERVAL_S: u64 = 5;

/// The rules: every kind the daemon has, with limits that fit the compressed day.
const RULES: &str = r#"
[[rule]]
name = "fever"
type = "threshold"
devices = ["kiosk-*"]
point = "body_temp"
above = 37.3
clear_below = 37.0
trigger = "scans"                # one judgement per person screened
severity = "critical"

[[rule]]
name = "north-crowding"
type = "capacity"
zone = "north-entrance"
warn = 0.8
critical = 1.0

[[rule]]
name = "south-crowding"
type = "capacity"
zone = "south-entrance"
warn = 0.8
critical = 1.0

[[rule]]
name = "forced-entry"
type = "event"
devices = ["gate-*"]
point = "forced_entry"
severity = "critical"

[[rule]]
name = "tailgating"
type = "event"
devices = ["gate-*"]
point = "tailgating"
severity = "info"

[[rule]]
name = "offline"
type = "offline"
devices = ["*"]
failed_polls = 3
severity = "warning"

[[rule]]
name = "river-spike"
type = "spike"
devices = ["river-level"]
point = "level_m"
window = 60                      # a minute of readings
min_samples = 10
threshold = 6.0

[[rule]]
name = "river-flatline"
type = "flatline"
devices = ["river-level"]
point = "level_m"
for = "12s"                      # 42 minutes of the compressed day
epsilon = 0.001

[[rule]]
name = "intrusion"
type = "event"
devices = ["cam-*"]
point = "intrusion"
event_type = "intrusion"
min_confidence = 0.8
severity = "critical"

# The bar street: 55 dB(A) after 22:00, 70 in the day, local time.
[[rule]]
name = "bar-noise-night"
type = "threshold"
devices = ["noise-*"]
cell_kinds = ["commercial-street"]
point = "noise_dba"
above = 55
clear_below = 52
for = "10s"
active = ["22:00-06:00"]

[[rule]]
name = "bar-noise-day"
type = "threshold"
devices = ["noise-*"]
cells = ["bar-*"]
point = "noise_dba"
above = 70
clear_below = 67
for = "10s"
active = ["06:00-22:00"]

# The night patrol: three rounds, a minute apart, 20 s a leg.
[[patrol]]
name = "night"
checkpoints = ["tag-gate", "tag-bridge", "tag-bar-street", "tag-old-street"]
schedule = ["22:00", "22:01", "22:02"]
leg = "20s"
round = "50s"
tags = [1001, 1002]
"#;

/// The config of the demo site: the daemon talks to the simulated servers on
/// `127.0.0.1:port_of(server name)` and to the embedded broker on `broker_port`, for
/// both its uplink and the cameras.
pub(crate) fn config_toml(
    broker_port: u16,
    port_of: impl Fn(&str) -> u16,
    data_dir: &Path,
    utc_offset_s: i64,
) -> String {
    let broker = format!("mqtt://127.0.0.1:{broker_port}");
    let mut t = SiteToml::new(("xitang-demo", "gw-demo"), data_dir);
    t.push(&format!(
        "utc_offset = \"{}\"              # the night begins at 21:59 here\n",
        offset_text(utc_offset_s)
    ))
    .uplink(&broker, &format!("{SUMMARY_INTERVAL_S}s"))
    .push("keep_alive = \"10s\"\n\n[buffer]\nraw_max_bytes = \"8MiB\"\noutbox_max_bytes = \"16MiB\"\n");
    for s in SERVERS {
        t.push(&format!("\n# {}", s.what));
        t.modbus_tcp(s.name, port_of(s.name), "300ms");
    }
    t.push(&format!(
        "\n[[connection]]                   # the site broker the cameras publish to\nname = \"{CAMERA_CONNECTION}\"\ntype = \"mqtt\"\nbroker = \"{broker}\"\n"
    ));
    for d in DEVICES {
        let modbus = d.connection != CAMERA_CONNECTION;
        t.device(&DeviceToml {
            id: d.id,
            profile: d.profile,
            connection: d.connection,
            unit: modbus.then_some(d.unit),
            poll: modbus.then_some(d.poll),
            zone: d.zone,
            cell: CELLS.iter().find(|c| c.3.contains(&d.id)).map(|c| c.0),
        });
    }
    for (name, kind, owner, _) in CELLS {
        t.push(&format!(
            "\n[[cell]]\nname = \"{name}\"\nkind = \"{kind}\"\nowner = \"{owner}\"\n"
        ));
    }
    for z in ZONES {
        t.push(&format!(
            "\n[[zone]]\nname = \"{}\"\ncapacity = {}\n",
            z.name, z.capacity
        ));
    }
    t.push(RULES);
    format!(
        "# The demo site, generated by `sitewarden demo`. Check it with\n\
         #     sitewarden check -c <this file>\n\n{}",
        t.text()
    )
}

/// The devices served by the simulated server `name`.
#[cfg(test)]
fn devices_on(name: &str) -> impl Iterator<Item = &'static DeviceDef> + '_ {
    DEVICES.iter().filter(move |d| d.connection == name)
}

/// The offset of the tests' demo site: a demo started at 08:00 UTC (`story.rs`'s T0)
/// has its night at 08:04 UTC, which is 21:59 at UTC-10:05.
#[cfg(test)]
pub(super) const TEST_OFFSET_S: i64 = -(10 * 3600 + 5 * 60);

/// The demo site as the daemon sees it, for the other parts' tests.
#[cfg(test)]
pub(super) fn site_for_tests() -> crate::site::Site {
    let text = config_toml(
        1883,
        |_| 1502,
        Path::new("/tmp/sitewarden-demo-test"),
        TEST_OFFSET_S,
    );
    match crate::config::load_from(&text, "demo.toml", &[], &[]) {
        Ok(site) => site,
        Err(e) => panic!("the demo config is refused:\n{e}\n{text}"),
    }
}

#[cfg(test)]
mod tests;
