//! The benchmark site: which devices, and the config that points the daemon at them.
//!
//! Both processes build the same device list from `MIX`: the simulator to know which
//! registers to serve, the bench to write the daemon's config. Nothing here runs anything.

use std::path::Path;

/// (id prefix, shipped profile, devices, points per device). 82 × 9 + 150 × 2 + 64 × 2 +
/// 4 × 1 = 1 170 points on 300 devices, the site of the brief.
pub(crate) const MIX: [(&str, &str, usize, usize); 4] = [
    ("gate", "turnstile", 82, 9),
    ("th", "rs485-th", 150, 2),
    ("kiosk", "fever-kiosk", 64, 2),
    ("level", "water-level", 4, 1),
];

/// Turnstiles below this index belong to the north zone, the rest to the south.
const NORTH_GATES: usize = 41;

/// One simulated device: its id and profile.
#[derive(Debug, Clone)]
pub(crate) struct BenchDevice {
    pub(crate) id: String,
    pub(crate) profile: &'static str,
}

/// Every device of the site, in `MIX` order.
pub(crate) fn devices() -> Vec<BenchDevice> {
    MIX.iter()
        .flat_map(|&(prefix, profile, n, _)| {
            (0..n).map(move |i| BenchDevice {
                id: format!("{prefix}-{i:03}"),
                profile,
            })
        })
        .collect()
}

/// Total points of the site.
pub(crate) fn points() -> usize {
    MIX.iter().map(|&(_, _, n, p)| n * p).sum()
}

/// "82 turnstile + 150 rs485-th + …", for the report.
pub(crate) fn mix_line() -> String {
    MIX.iter()
        .map(|&(_, profile, n, _)| format!("{n} {profile}"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The daemon's config: one Modbus TCP connection per device (each device has its own
/// address on a site LAN), everything polled every second, 60 s summaries, default
/// buffers, and the rules a real site of this shape would run.
pub(crate) fn config_text(
    devices: &[BenchDevice],
    ports: &[u16],
    broker: &str,
    data: &Path,
) -> String {
    let mut t = format!(
        "[gateway]\nsite = \"bench\"\nid = \"gw-1\"\ndata_dir = \"{}\"\n\n\
         [uplink]\nbroker = \"{broker}\"\nsummary_interval = \"60s\"\n\n",
        data.display()
    );
    for (i, (d, port)) in devices.iter().zip(ports).enumerate() {
        let zone = match (d.profile, i < NORTH_GATES) {
            ("turnstile", true) => "zone = \"north\"\n",
            ("turnstile", false) => "zone = \"south\"\n",
            _ => "",
        };
        t.push_str(&format!(
            "[[connection]]\nname = \"c-{id}\"\ntype = \"modbus-tcp\"\n\
             address = \"127.0.0.1:{port}\"\n\n\
             [[device]]\nid = \"{id}\"\nprofile = \"{profile}\"\nconnection = \"c-{id}\"\n\
             unit = 1\npoll = \"1s\"\n{zone}\n",
            id = d.id,
            profile = d.profile,
        ));
    }
    t.push_str(RULES);
    t
}

/// Zones and rules: every rule kind that applies to Modbus devices.
const RULES: &str = r#"
[[zone]]
name = "north"
capacity = 5000

[[zone]]
name = "south"
capacity = 3000

[[rule]]
name = "fever"
type = "threshold"
devices = ["kiosk-*"]
point = "body_temp"
above = 37.3
clear_below = 37.0
trigger = "scans"
severity = "critical"

[[rule]]
name = "hot-room"
type = "threshold"
devices = ["th-*"]
point = "temperature"
above = 35.0
clear_below = 33.0
for = "30s"

[[rule]]
name = "north-crowding"
type = "capacity"
zone = "north"
surge_per_min = 600

[[rule]]
name = "south-crowding"
type = "capacity"
zone = "south"

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
name = "gate-counter"
type = "counter"
devices = ["gate-*"]
point = "entries"
max_rate = 5

[[rule]]
name = "offline"
type = "offline"
devices = ["*"]
failed_polls = 3

[[rule]]
name = "level-spike"
type = "spike"
devices = ["level-*"]
point = "level_m"

[[rule]]
name = "level-flatline"
type = "flatline"
devices = ["level-*"]
point = "level_m"
for = "2h"
epsilon = 0.001
"#;
