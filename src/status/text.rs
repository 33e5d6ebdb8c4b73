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
            .map(|v| format!("{}={}", v.point, format_value(v.value, v.unit.as_deref())))
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
