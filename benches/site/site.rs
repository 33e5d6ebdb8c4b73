//! The benchmark site: which devices, and the config that points the daemon at them.
//!
//! Both processes build the same device list from `MIX`: the simulator to know which
//! registers to serve, the bench to write the daemon's config. Nothing here runs anything.

use sitewarden::sim::config::{DeviceToml, SiteToml};
use std::path::Path;

/// (id prefix, shipped profile, devices, points per device). 82 × 9 + 150 × 2 + 64 × 2 +
/// 4 × 1 = 1 170 points on 300 devices, the site of the brief.
pub(crate) const MIX: [(&str, &str, usize, usize); 4] = [
    ("gate", "turnstile", 82, 9),
    ("th", "rs485-th", 150, 2),
    ("kiosk", "fever-kiosk", 64, 2),
    ("level", "water-level", 4, 1),
];

/// The device count the mix is scaled to: `SITEWARDEN_BENCH_DEVICES` (100, 300 or 1 000;
/// default 300, the site of the brief). Both processes read it, so they agree.
pub(crate) fn device_count() -> anyhow::Result<usize> {
    match std::env::var("SITEWARDEN_BENCH_DEVICES") {
        Err(_) => Ok(300),
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if (10..=2000).contains(&n) => Ok(n),
            _ => anyhow::bail!("SITEWARDEN_BENCH_DEVICES={v:?}: a device count from 10 to 2000"),
        },
    }
}

/// `MIX` scaled to `total` devices in the same proportions (largest remainder, so the
/// counts add up): (id prefix, profile, devices, points per device).
pub(crate) fn scaled_mix(total: usize) -> Vec<(&'static str, &'static str, usize, usize)> {
    let base: usize = MIX.iter().map(|m| m.2).sum();
    let mut mix: Vec<_> = MIX
        .iter()
        .map(|&(a, b, n, p)| (a, b, n * total / base, p))
        .collect();
    let mut order: Vec<usize> = (0..MIX.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(MIX[i].2 * total % base));
    let short = total - mix.iter().map(|m| m.2).sum::<usize>();
    for &i in order.iter().take(short) {
        mix[i].2 += 1;
    }
    mix
}

/// One simulated device: its id and profile.
#[derive(Debug, Clone)]
pub(crate) struct BenchDevice {
    pub(crate) id: String,
    pub(crate) profile: &'static str,
}

/// The smoke check: each count's mix adds up to it, keeps each profile within one device
/// of its share, is `MIX` itself at 300, and its config loads.
pub(crate) fn check_scaled(counts: impl IntoIterator<Item = usize>) -> anyhow::Result<()> {
    let base: usize = MIX.iter().map(|m| m.2).sum();
    for n in counts {
        let mix = scaled_mix(n);
        let sum: usize = mix.iter().map(|m| m.2).sum();
        anyhow::ensure!(sum == n, "the mix scaled to {n} has {sum} devices");
        for (m, b) in mix.iter().zip(MIX) {
            let share = b.2 as f64 * n as f64 / base as f64;
            anyhow::ensure!(
                (m.2 as f64 - share).abs() < 1.0,
                "{} at {n}: {} for a share of {share:.1}",
                b.1,
                m.2
            );
        }
        if n == base {
            anyhow::ensure!(mix == MIX, "the mix at {base} is not MIX: {mix:?}");
        }
        let devices = devices(n);
        let ports: Vec<u16> = (0..n).map(|i| 1024 + i as u16).collect();
        let text = config_text(
            &devices,
            &ports,
            "mqtt://127.0.0.1:1",
            Path::new("/nonexistent"),
            &Pace::SITE,
        );
        let model = sitewarden::config::load_from(&text, "bench.toml", &[], &[])
            .map_err(|e| anyhow::anyhow!("the {n}-device config is refused:\n{e}"))?;
        anyhow::ensure!(
            model.devices.len() == n,
            "{n} devices configured, {} loaded",
            model.devices.len()
        );
    }
    Ok(())
}

/// Every device of the site, in `MIX` order.
pub(crate) fn devices(total: usize) -> Vec<BenchDevice> {
    scaled_mix(total)
        .into_iter()
        .flat_map(|(prefix, profile, n, _)| {
            (0..n).map(move |i| BenchDevice {
                id: format!("{prefix}-{i:03}"),
                profile,
            })
        })
        .collect()
}

/// Total points of the site.
pub(crate) fn points(total: usize) -> usize {
    scaled_mix(total).iter().map(|&(_, _, n, p)| n * p).sum()
}

/// "82 turnstile + 150 rs485-th + …", for the report.
pub(crate) fn mix_line(total: usize) -> String {
    scaled_mix(total)
        .iter()
        .map(|&(_, profile, n, _)| format!("{n} {profile}"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The clock-dependent settings of the config. The site bench runs at `Pace::SITE`; the
/// soak runs the daemon on a fast clock and stretches each setting by its speed-up, so that
/// in real time the devices are still polled about once a second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Every device's poll interval, in seconds of the daemon's clock.
    pub(crate) poll_s: u64,
    /// The Modbus request timeout, ms; None keeps the default (500 ms).
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) summary_s: u64,
    /// The MQTT keep-alive, s; None keeps the default.
    pub(crate) keep_alive_s: Option<u64>,
    /// `[buffer] raw_max_bytes`; None keeps the default.
    pub(crate) raw_max_bytes: Option<&'static str>,
}

impl Pace {
    /// The site of the brief: 1 s polls, 60 s summaries, default timeouts and buffers.
    pub(crate) const SITE: Pace = Pace {
        poll_s: 1,
        timeout_ms: None,
        summary_s: 60,
        keep_alive_s: None,
        raw_max_bytes: None,
    };
}

/// The daemon's config: one Modbus TCP connection per device (each device has its own
/// address on a site LAN), every device polled at `pace` (every second on the site bench),
/// and the rules a real site of this shape would run.
pub(crate) fn config_text(
    devices: &[BenchDevice],
    ports: &[u16],
    broker: &str,
    data: &Path,
    pace: &Pace,
) -> String {
    let mut t = SiteToml::new(("bench", "gw-1"), data);
    t.uplink(broker, &format!("{}s", pace.summary_s));
    if let Some(k) = pace.keep_alive_s {
        t.push(&format!("keep_alive = \"{k}s\"\n"));
    }
    if let Some(r) = pace.raw_max_bytes {
        t.push(&format!("\n[buffer]\nraw_max_bytes = \"{r}\"\n"));
    }
    let timeout = format!("{}ms", pace.timeout_ms.unwrap_or(500));
    let poll = format!("{}s", pace.poll_s);
    // Half the turnstiles (rounded up) belong to the north zone, the rest to the south.
    let gates = devices.iter().filter(|d| d.profile == "turnstile").count();
    let north = gates.div_ceil(2);
    for (i, (d, port)) in devices.iter().zip(ports).enumerate() {
        let zone = match (d.profile, i < north) {
            ("turnstile", true) => Some("north"),
            ("turnstile", false) => Some("south"),
            _ => None,
        };
        let connection = format!("c-{}", d.id);
        t.modbus_tcp(&connection, *port, &timeout)
            .device(&DeviceToml {
                id: &d.id,
                profile: d.profile,
                connection: &connection,
                unit: Some(1),
                poll: Some(&poll),
                zone,
                cell: None,
            });
    }
    t.push(RULES);
    t.text().to_string()
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
