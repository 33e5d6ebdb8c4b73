//! `sitewarden check`: a plain-text listing of a validated site, for a technician to
//! compare with the cabinet: connections, devices with their points, zones and rules.
//!
//! Pure formatting of a `Site`; loading, error printing and exit codes are the CLI's.

use std::time::Duration;

use super::table::plural;
use crate::site::{ConnectionKind, Device, Point, PointSource, RuleDef, RuleKind, Site};

/// The whole listing, ending with a newline.
pub fn render(site: &Site) -> String {
    render_at(site, crate::clock::now_ms())
}

/// The listing as of `now` (local time, the patrols' next rounds).
fn render_at(site: &Site, now: crate::reading::Ms) -> String {
    let mut out = String::new();
    let g = &site.gateway;
    let u = &site.uplink;
    out.push_str(&format!(
        "site {}, gateway {}, data in {}\n",
        g.site,
        g.id,
        g.data_dir.display()
    ));
    out.push_str(&format!(
        "local time {}, now {}\n",
        g.timezone.name(),
        g.timezone.format(now)
    ));
    let mut uplink = format!("uplink {}", u.broker);
    if let Some(user) = &u.username {
        uplink.push_str(&format!(" as {user}"));
    }
    let topics = match u.format {
        crate::site::UplinkFormat::Sitewarden => {
            format!("topics {}/{}/{}/…", u.topic_prefix, g.site, g.id)
        }
        crate::site::UplinkFormat::ThingsBoard => "topics v1/gateway/…".to_string(),
        crate::site::UplinkFormat::Sparkplug => match &u.primary_host {
            Some(h) => format!("topics spBv1.0/{}/…/{}, primary host {h}", g.site, g.id),
            None => format!("topics spBv1.0/{}/…/{}", g.site, g.id),
        },
    };
    out.push_str(&format!(
        "{uplink}, format {}, {topics}, summaries every {}, inflight {}, keep-alive {}\n",
        u.format.name(),
        dur(u.summary_interval),
        u.inflight,
        dur(u.keep_alive)
    ));
    out.push_str(&format!(
        "buffer raw ring {}, outbox {}\n",
        size(site.buffer.raw_max_bytes),
        size(site.buffer.outbox_max_bytes)
    ));

    connections(&mut out, site);
    out.push_str(&format!("\ndevices ({})\n", site.devices.len()));
    for d in &site.devices {
        device(&mut out, site, d);
    }

    zones(&mut out, site);

    cells(&mut out, site);
    patrols(&mut out, site, now);

    out.push_str(&format!("\nrules ({})\n", site.rules.len()));
    let rows = site.rules.iter().map(|r| rule(site, r));
    columns(&mut out, "  ", rows.collect());
    out
}

/// How many devices use the connection called `name`.
fn devices_on(site: &Site, name: &str) -> usize {
    let index = site.connections.iter().position(|c| c.name == name);
    index.map_or(0, |i| site.devices_on(i).count())
}

fn device(out: &mut String, site: &Site, d: &Device) {
    let conn = site
        .connections
        .get(d.connection)
        .map_or("?", |c| c.name.as_str());
    let mut head = format!("  {} ({}) on {conn}", d.id, d.profile);
    match &d.camera {
        Some(c) => {
            head.push_str(&format!(", heartbeat within {}", dur(c.heartbeat_timeout)));
        }
        None => {
            let reads = plural(crate::source::modbus::plan::reads_per_poll(d), "read");
            head.push_str(&format!(
                ", unit {}, every {}, {reads} per poll",
                d.unit,
                dur(d.poll)
            ));
            if d.max_registers_per_read != 125 {
                let n = d.max_registers_per_read;
                head.push_str(&format!(", reads of at most {n} registers"));
            }
            if d.max_gap != 0 {
                head.push_str(&format!(
                    ", reads skip gaps of up to {} registers",
                    d.max_gap
                ));
            }
        }
    }
    if let Some(z) = &d.zone {
        head.push_str(&format!(", zone {z}"));
    }
    if let Some(l) = &d.live {
        head.push_str(&format!(
            ", live ±{} every {}..{}",
            l.deadband,
            dur(l.min_interval),
            dur(l.max_interval)
        ));
    }
    out.push_str(&format!("{head}\n"));
    if let Some(c) = &d.camera {
        out.push_str(&format!(
            "    events on {}, status on {}\n",
            c.events_topic, c.status_topic
        ));
    }
    let rows = d.points.iter().map(point).collect();
    columns(out, "    ", rows);
}

fn point(p: &Point) -> Vec<String> {
    let (place, ty) = match &p.source {
        PointSource::Modbus {
            table,
            address,
            ty,
            order,
        } => {
            let n = ty.registers();
            let place = if n > 1 {
                format!(
                    "{} {}-{}",
                    table.name(),
                    address,
                    u32::from(*address) + u32::from(n) - 1
                )
            } else {
                format!("{} {}", table.name(), address)
            };
            let ty = ty.describe(*order);
            (place, ty)
        }
        PointSource::Json { pointer, filter } => {
            let when: Vec<String> = filter.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let ty = if when.is_empty() {
                String::new()
            } else {
                format!("when {}", when.join(" "))
            };
            (format!("json {pointer}"), ty)
        }
    };
    let mut scale = if p.scale == 1.0 {
        String::new()
    } else {
        format!("×{}", p.scale)
    };
    if p.offset != 0.0 {
        scale.push_str(&format!(" {:+}", p.offset));
    }
    let mut kind = p.kind.name().to_string();
    if p.writable {
        kind.push_str(", writable");
    }
    vec![
        p.name.clone(),
        place,
        ty,
        scale,
        p.unit.clone().unwrap_or_default(),
        kind,
    ]
}

/// The grid cells with their devices, and the devices in none.
fn cells(out: &mut String, site: &Site) {
    if site.cells.is_empty() {
        return;
    }
    out.push_str(&format!("\ncells ({})\n", site.cells.len()));
    let rows = site.cells.iter().map(|c| {
        let mut who = c.owner.clone().unwrap_or_default();
        if c.key_point {
            who.push_str(if who.is_empty() {
                "key point"
            } else {
                ", key point"
            });
        }
        let ids: Vec<&str> = (c.devices.iter())
            .filter_map(|&d| site.devices.get(d).map(|d| d.id.as_str()))
            .collect();
        let devices = if ids.is_empty() {
            "no devices".to_string()
        } else {
            format!("{}: {}", plural(ids.len(), "device"), ids.join(" "))
        };
        vec![c.name.clone(), c.kind.clone(), who, devices]
    });
    columns(out, "  ", rows.collect());
    let none: Vec<&str> = (0..site.devices.len())
        .filter(|&d| site.cell_of(d).is_none())
        .map(|d| site.devices[d].id.as_str())
        .collect();
    if !none.is_empty() {
        out.push_str(&format!("  in no cell: {}\n", none.join(" ")));
    }
}

/// The patrols: schedule, next round in local time, allowances, tags, route.
fn patrols(out: &mut String, site: &Site, now: crate::reading::Ms) {
    if site.patrols.is_empty() {
        return;
    }
    out.push_str(&format!("\npatrols ({})\n", site.patrols.len()));
    let tz = &site.gateway.timezone;
    for p in &site.patrols {
        let next = p.schedule.next_after(tz, now);
        let row = vec![
            p.name.clone(),
            format!(
                "{} ({} a day)",
                p.schedule.describe(),
                plural(p.schedule.per_day(), "round")
            ),
            format!("next {} {}", tz.format(next), tz.name()),
            format!("leg {}, round {}", dur(p.leg), dur(p.round)),
            format!(
                "{}, {}",
                plural(p.tags.len(), "staff tag"),
                p.severity.name()
            ),
        ];
        columns(out, "  ", vec![row]);
        let route: Vec<&str> = (p.checkpoints.iter())
            .map(|&d| site.devices[d].id.as_str())
            .collect();
        out.push_str(&format!("    route {}\n", route.join(" → ")));
    }
}

fn rule(site: &Site, r: &RuleDef) -> Vec<String> {
    let what = rule_judges(&r.kind);
    let what = match &r.active {
        Some(a) => format!("{what}; active {}", a.describe()),
        None => what,
    };
    vec![
        r.name.clone(),
        rule_kind(&r.kind).to_string(),
        r.severity.name().to_string(),
        rule_targets(site, r),
        r.point.clone().unwrap_or_default(),
        what,
    ]
}

/// The devices a rule judges, as written and how many they come to.
fn rule_targets(site: &Site, r: &RuleDef) -> String {
    if r.devices.is_empty() {
        String::new()
    } else {
        let n = (0..site.devices.len())
            .filter(|&d| r.applies_to_device(site, d))
            .count();
        let mut on = r.devices.join(" ");
        if !r.cells.is_empty() {
            on.push_str(&format!(" in cells {}", r.cells.join(" ")));
        }
        if !r.cell_kinds.is_empty() {
            on.push_str(&format!(" in {} cells", r.cell_kinds.join(" ")));
        }
        format!("{on} ({n})")
    }
}

fn rule_kind(kind: &RuleKind) -> &'static str {
    match kind {
        RuleKind::Threshold { .. } => "threshold",
        RuleKind::Spike { .. } => "spike",
        RuleKind::Flatline { .. } => "flatline",
        RuleKind::Offline { .. } => "offline",
        RuleKind::Counter { .. } => "counter",
        RuleKind::Capacity { .. } => "capacity",
        RuleKind::Event { .. } => "event",
    }
}

/// What a rule of this kind raises on, in words.
fn rule_judges(kind: &RuleKind) -> String {
    match kind {
        RuleKind::Threshold { .. } => threshold_judges(kind),
        RuleKind::Spike {
            window,
            min_samples,
            threshold,
        } => {
            format!("over {window} samples (from {min_samples}), robust z above {threshold}")
        }
        RuleKind::Flatline { duration, epsilon } => {
            format!("unchanged (±{epsilon}) for {}", dur(*duration))
        }
        RuleKind::Offline { failed_polls } => format!("after {failed_polls} failed polls"),
        RuleKind::Counter { max_rate } => format!("reset, or more than {max_rate}/s"),
        RuleKind::Capacity {
            zone,
            warn,
            critical,
            surge_per_min,
        } => {
            let mut s = format!(
                "zone {zone}: warning at {:.0} %, critical at {:.0} %",
                warn * 100.0,
                critical * 100.0
            );
            if let Some(m) = surge_per_min {
                s.push_str(&format!(", surge above {m} entries/min"));
            }
            s
        }
        RuleKind::Event { .. } => event_judges(kind),
    }
}

/// A threshold rule's limits, hold and trigger, in words.
fn threshold_judges(kind: &RuleKind) -> String {
    let RuleKind::Threshold {
        above,
        clear_below,
        below,
        clear_above,
        hold,
        trigger,
    } = kind
    else {
        return String::new();
    };
    let num = |x: f64| format!("{x}");

    let mut parts = Vec::new();
    if let Some(a) = above {
        parts.push(format!("above {}", num(*a)));
        if let Some(c) = clear_below.filter(|c| c != a) {
            parts.push(format!("clear below {}", num(c)));
        }
    }
    if let Some(b) = below {
        parts.push(format!("below {}", num(*b)));
        if let Some(c) = clear_above.filter(|c| c != b) {
            parts.push(format!("clear above {}", num(c)));
        }
    }
    if !hold.is_zero() {
        parts.push(format!("for {}", dur(*hold)));
    }
    if let Some(t) = trigger {
        parts.push(format!("judged when {t} moves"));
    }
    parts.join(", ")
}

/// An event rule's filters and quiet time, in words.
fn event_judges(kind: &RuleKind) -> String {
    let RuleKind::Event {
        event_type,
        zone,
        min_confidence,
        clear_after,
    } = kind
    else {
        return String::new();
    };

    let mut parts = vec!["on each rising edge or message".to_string()];
    if let Some(t) = event_type {
        parts.push(format!("type {t}"));
    }
    if let Some(z) = zone {
        parts.push(format!("zone {z}"));
    }
    if let Some(c) = min_confidence {
        parts.push(format!("confidence ≥ {c}"));
    }
    if let Some(d) = clear_after {
        parts.push(format!(
            "camera alarm clears after {} quiet",
            humantime::format_duration(*d)
        ));
    }
    parts.join(", ")
}

/// The connections, one line each with its link and devices.
fn connections(out: &mut String, site: &Site) {
    out.push_str(&format!("\nconnections ({})\n", site.connections.len()));
    let rows = site.connections.iter().map(|c| {
        let (kind, mut detail) = (c.kind.type_name(), c.kind.link_detail());
        if let ConnectionKind::Mqtt {
            username,
            max_payload_bytes,
            ..
        } = &c.kind
        {
            if let Some(u) = username {
                detail.push_str(&format!(" as {u}"));
            }
            detail.push_str(&format!(
                ", max payload {}",
                size(*max_payload_bytes as u64)
            ));
        }
        let gap = c.kind.min_gap();
        let detail = if gap.is_zero() {
            detail
        } else {
            format!("{detail}, min_gap {}", dur(gap))
        };
        let devices = devices_on(site, &c.name);
        vec![
            c.name.clone(),
            kind.to_string(),
            detail,
            plural(devices, "device"),
        ]
    });
    columns(out, "  ", rows.collect());
}

/// The zones with their capacity, daily reset and gates.
fn zones(out: &mut String, site: &Site) {
    out.push_str(&format!("\nzones ({})\n", site.zones.len()));
    let rows = site.zones.iter().map(|z| {
        let gates = site
            .devices
            .iter()
            .filter(|d| d.zone.as_deref() == Some(&z.name))
            .count();
        vec![
            z.name.clone(),
            format!("capacity {}", z.capacity),
            format!(
                "resets daily at {} {}",
                time_of_day(z.daily_reset),
                site.gateway.timezone.name()
            ),
            plural(gates, "device"),
        ]
    });
    columns(out, "  ", rows.collect());
}

/// Writes rows as left-aligned columns (`table::columns`), each line indented.
fn columns(out: &mut String, indent: &str, rows: Vec<Vec<String>>) {
    for line in super::table::columns(&rows) {
        if !line.is_empty() {
            out.push_str(indent);
        }
        out.push_str(&line);
        out.push('\n');
    }
}

fn dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

fn time_of_day(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 3600 % 24, s / 60 % 60)
}

/// `sitewarden check`: validate, list, warn, exit 1 on error (warnings do not fail).
/// Lists the site, prints warnings about a valid site, then checks every file the start
/// reads (as the start would); exit 1 when the start would refuse one.
pub fn main(config: &std::path::Path) -> anyhow::Result<()> {
    let site = super::load_site(config)?;
    print!("{}", render(&site));
    let warnings = crate::config::warnings(&site);
    for w in &warnings {
        println!("warning: {w}");
    }
    let problems = super::files::problems(&site, super::files::Judge::ServiceUser);
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.iter().any(|p| p.error) {
        eprintln!("{}: the start would refuse these files", config.display());
        return Err(super::Reported(1).into());
    }
    match warnings.len() {
        0 => println!("{}: ok", config.display()),
        n => println!("{}: ok, {n} warning(s)", config.display()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::render;

    /// The listing of the shipped example, with runs of spaces collapsed.
    fn example() -> Vec<String> {
        let text = include_str!("../../config/sitewarden.toml");
        let site = crate::config::load_from(text, "sitewarden.toml", &[], &[])
            .unwrap_or_else(|e| panic!("{e}"));
        render(&site)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn lists_connections_devices_points_zones_and_rules() {
        let lines = example();
        let expected = [
            "site xitang, gateway gw-north, data in /var/lib/sitewarden",
            "uplink mqtts://platform.example:8883 as gw-north, format sitewarden, topics sitewarden/xitang/gw-north/…, summaries every 1m, inflight 100, keep-alive 30s",
            "buffer raw ring 256.0 MiB, outbox 512.0 MiB",
            "connections (7)",
            "gate-lan modbus-tcp 192.168.10.20:502, timeout 500ms 4 devices",
            "rs485-1 modbus-rtu /dev/ttyUSB0 9600 8N1, timeout 1s 3 devices",
            "rs485-2 modbus-rtu /dev/ttyUSB1 19200 8E1, timeout 1s 2 devices",
            "camera-lan mqtt mqtt://192.168.10.5:1883, max payload 64.0 KiB 3 devices",
            "patrol-bus modbus-rtu /dev/ttyUSB2 9600 8N1, timeout 1s 3 devices",
            "devices (17)",
            "gate-n1 (turnstile) on gate-lan, unit 1, every 1s, 3 reads per poll, zone north-entrance",
            "river-level (water-level) on rs485-2, unit 10, every 5s, 1 read per poll, live ±0.05 every 1s..30s",
            "entries input 0-1 u32 ABCD counter",
            "status input 4 u16 state",
            "open coil 0 bool command, writable",
            "gate-n3 (turnstile) on gate-lan, unit 3, every 1s, 3 reads per poll, reads skip gaps of up to 4 registers, zone north-entrance",
            "body_temp input 0 u16 ×0.01 °C gauge",
            "level_m holding 0-1 f32 CDAB m gauge",
            "cam-bridge (camera) on camera-lan, heartbeat within 1m 30s, zone bridge",
            "events on cameras/cam-bridge/events, status on cameras/cam-bridge/status",
            "people_count json /count when /type=people_count people gauge",
            "zones (4)",
            "north-entrance capacity 5000 resets daily at 04:00 Asia/Shanghai 4 devices",
            "rules (12)",
            "fever threshold critical kiosk-* (2) body_temp above 37.3, clear below 37, judged when scans moves",
            "south-crowding capacity critical zone south-entrance: warning at 80 %, critical at 100 %",
            "offline offline warning * (17) after 3 failed polls",
            "cells (7)",
            "waterfront-bridge waterfront Li Wei, key point 3 devices: river-level cam-bridge tag-bridge",
            "old-street residential Chen Jing 2 devices: th-visitor-centre tag-old-street",
            "patrols (1)",
            "route tag-gate-north → tag-bridge → tag-bar-street → tag-old-street",
            "bar-noise-night threshold warning noise-* in commercial-street cells (1) noise_dba above 55, clear below 52, for 1m; active 22:00-06:00",
            "bar-noise-day threshold warning noise-* in cells bar-* (1) noise_dba above 70, clear below 67, for 1m; active 06:00-22:00 except holidays (5 dates)",
            "river-flatline flatline warning river-level (1) level_m unchanged (±0.001) for 2h",
        ];
        for line in expected {
            assert!(
                lines.iter().any(|l| l == line),
                "missing line: {line}\n\n{}",
                lines.join("\n")
            );
        }
        let points = lines.iter().filter(|l| l.starts_with("entries ")).count();
        assert_eq!(points, 4, "one entries row per turnstile");
    }
}

#[cfg(test)]
mod patrol_tests {
    use super::render_at;

    #[test]
    fn lists_each_patrol_with_its_next_round_in_local_time() {
        let text = r#"
[gateway]
site = "s"
id = "gw"
timezone = "Europe/Berlin"

[uplink]
broker = "mqtt://127.0.0.1"

[[connection]]
name = "bus"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[device]]
id = "cp-a"
profile = "tag-reader"
connection = "bus"
unit = 1

[[device]]
id = "cp-b"
profile = "tag-reader"
connection = "bus"
unit = 2

[[patrol]]
name = "night"
checkpoints = ["cp-b", "cp-a"]
schedule = "every 2h from 20:00 to 06:00"
leg = "10m"
round = "1h"
tags = [1001, 1002]
"#;
        let site = crate::config::load_from(text, "t.toml", &[], &[]).unwrap();
        // 3 December 2026, 21:30 in Berlin.
        let now = "2026-12-03T20:30:00Z".parse::<jiff::Timestamp>().unwrap();
        let out = render_at(&site, now.as_millisecond());
        let lines: Vec<String> = (out.lines())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for want in [
            "patrols (1)",
            "night every 2h from 20:00 to 06:00 (5 rounds a day) next 2026-12-03 22:00 Europe/Berlin leg 10m, round 1h 2 staff tags, warning",
            "route cp-b → cp-a",
        ] {
            assert!(lines.iter().any(|l| l == want), "missing {want}:\n{out}");
        }
    }
}

#[cfg(test)]
mod cell_tests {
    use super::render;

    #[test]
    fn names_the_devices_in_no_cell_and_empty_cells() {
        let text = r#"
[gateway]
site = "s"
id = "gw"
timezone = "Europe/Berlin"

[uplink]
broker = "mqtt://127.0.0.1"

[[connection]]
name = "bus"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[device]]
id = "th-1"
profile = "rs485-th"
connection = "bus"
unit = 1
cell = "core"

[[device]]
id = "th-2"
profile = "rs485-th"
connection = "bus"
unit = 2

[[cell]]
name = "core"
kind = "scenic-core"

[[cell]]
name = "bank"
kind = "waterfront"
owner = "Li Wei"
"#;
        let site = crate::config::load_from(text, "t.toml", &[], &[]).unwrap();
        let out = render(&site);
        let lines: Vec<String> = (out.lines())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for want in [
            "cells (2)",
            "core scenic-core 1 device: th-1",
            "bank waterfront Li Wei no devices",
            "in no cell: th-2",
        ] {
            assert!(lines.iter().any(|l| l == want), "missing {want}:\n{out}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("local time Europe/Berlin, now 20")),
            "{out}"
        );
    }
}

#[cfg(test)]
mod format_tests {
    #[test]
    fn prints_the_uplink_format_and_its_topics() {
        let text = "[gateway]\nsite = \"s\"\nid = \"gw\"\n[uplink]\nbroker = \"mqtt://127.0.0.1\"\nformat = \"thingsboard\"\n";
        let site = crate::config::load_from(text, "t.toml", &[], &[]).unwrap();
        let out = super::render(&site);
        assert!(
            out.contains("uplink mqtt://127.0.0.1:1883, format thingsboard, topics v1/gateway/…,"),
            "{out}"
        );
        let sparkplug = text.replace("thingsboard", "sparkplug");
        let site = crate::config::load_from(&sparkplug, "t.toml", &[], &[]).unwrap();
        let out = super::render(&site);
        assert!(
            out.contains("uplink mqtt://127.0.0.1:1883, format sparkplug, topics spBv1.0/s/…/gw,"),
            "{out}"
        );
        let primary = sparkplug.replace("format", "primary_host = \"scada\"\nformat");
        let site = crate::config::load_from(&primary, "t.toml", &[], &[]).unwrap();
        let out = super::render(&site);
        assert!(
            out.contains("format sparkplug, topics spBv1.0/s/…/gw, primary host scada,"),
            "{out}"
        );
    }
}
