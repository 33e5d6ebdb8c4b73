//! `sitewarden status` as text: a few lines per device, then alarms, zones and uplink.

// Writing to a String cannot fail.
#![allow(clippy::let_underscore_must_use)]
use super::snapshot::{Snapshot, format_value};
use std::fmt::Write;

pub fn render(s: &Snapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "sitewarden {} — site {}, gateway {} — {} (up {}s, {})",
        s.version, s.site, s.gateway, s.verdict, s.uptime_s, s.now
    );
    for r in &s.reasons {
        let _ = writeln!(o, "  ! {r}");
    }
    let _ = writeln!(o, "\ndevices ({}):", s.devices.len());
    for d in &s.devices {
        let age = d
            .last_poll_age_s
            .map_or("never".to_string(), |a| format!("{a:.1}s ago"));
        let _ = writeln!(
            o,
            "  {:<16} {:<8} via {}, last poll {age}, {} polls, {} errors",
            d.id, d.state, d.connection, d.polls, d.errors
        );
        if let (Some(e), Some(at)) = (&d.last_error, &d.last_error_at) {
            let _ = writeln!(o, "    last error {at}: {e}");
        }
        let values: Vec<String> = d
            .values
            .iter()
            .map(|v| match &v.text {
                Some(t) => format!("{}=\"{t}\"", v.point),
                None => format!("{}={}", v.point, format_value(v.value, v.unit.as_deref())),
            })
            .collect();
        if !values.is_empty() {
            let _ = writeln!(o, "    {}", values.join("  "));
        }
    }
    let _ = writeln!(o, "\nactive alarms ({}):", s.alarms.len());
    for a in &s.alarms {
        let point = a
            .point
            .as_deref()
            .map(|p| format!(".{p}"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:<8} {} on {}{point}: {} (value {}, limit {}) since {}",
            a.severity, a.rule, a.device, a.message, a.value, a.limit, a.raised_at
        );
    }
    if !s.zones.is_empty() {
        let _ = writeln!(o, "\nzones:");
        for z in &s.zones {
            let _ = writeln!(o, "  {:<16} {} of {}", z.zone, z.occupancy, z.capacity);
        }
    }
    let u = &s.uplink;
    let _ = writeln!(o, "\nuplink {} ({})", u.state, u.broker);
    if let Some(p) = &u.problem {
        let _ = writeln!(o, "  last problem: {p}");
    }
    let oldest = u
        .oldest_pending_s
        .map_or("none".to_string(), |s| format!("{s}s"));
    let _ = writeln!(
        o,
        "  backlog {} ({} alarms), oldest pending {oldest}, published {}, reconnects {}",
        u.backlog, u.backlog_alarms, u.published, u.reconnects
    );
    o
}

#[cfg(test)]
mod tests {
    use super::super::snapshot::{DeviceRow, Snapshot, UplinkRow, ValueRow};
    use super::render;

    fn value(point: &str, value: Option<f64>, unit: Option<&str>, text: Option<&str>) -> ValueRow {
        ValueRow {
            point: point.into(),
            value,
            unit: unit.map(Into::into),
            text: text.map(Into::into),
        }
    }

    #[test]
    fn a_text_point_shows_its_text_quoted_beside_the_numbers() {
        let device = DeviceRow {
            id: "meter-1".into(),
            profile: "meter".into(),
            connection: "lan".into(),
            state: "ok".into(),
            last_poll: None,
            last_poll_age_s: Some(0.5),
            polls: 3,
            errors: 0,
            last_error: None,
            last_error_at: None,
            values: vec![
                value("voltage", Some(230.1), Some("V"), None),
                value("serial", None, None, Some("SW-2026-00042")),
                value("tag", None, None, None),
            ],
        };
        let s = Snapshot {
            verdict: "ok".into(),
            reasons: vec![],
            site: "s".into(),
            gateway: "gw".into(),
            version: "0".into(),
            now: "now".into(),
            uptime_s: 1,
            devices: vec![device],
            alarms: vec![],
            zones: vec![],
            uplink: UplinkRow {
                broker: "mqtt://127.0.0.1:1883".into(),
                state: "online".into(),
                problem: None,
                backlog: 0,
                backlog_alarms: 0,
                oldest_pending_s: None,
                published: 0,
                reconnects: 0,
            },
        };
        let text = render(&s);
        assert!(
            text.contains("    voltage=230.1 V  serial=\"SW-2026-00042\"  tag=—\n"),
            "{text}"
        );
        // In JSON a text point carries `text`; a number leaves it out.
        let json = serde_json::to_value(&s).expect("serialises");
        let values = &json["devices"][0]["values"];
        assert_eq!(values[1]["text"], "SW-2026-00042");
        assert!(values[0].get("text").is_none(), "{values}");
    }
}
