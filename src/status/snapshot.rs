//! The status snapshot: one plain structure built from the counters and live state the
//! daemon already keeps, sent over the status socket as JSON, printed by
//! `sitewarden status` and rendered by the status page.

use crate::clock;
use crate::health::{Health, get};
use crate::reading::Ms;
use crate::site::Site;
use crate::store::{Kind, OutboxStats};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// `ok`, `degraded` or `down`.
    pub verdict: String,
    /// Why the verdict is not `ok`, one sentence each.
    pub reasons: Vec<String>,
    pub site: String,
    pub gateway: String,
    pub version: String,
    pub now: String,
    pub uptime_s: u64,
    pub devices: Vec<DeviceRow>,
    pub alarms: Vec<AlarmRow>,
    pub zones: Vec<ZoneRow>,
    pub uplink: UplinkRow,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceRow {
    pub id: String,
    pub profile: String,
    pub connection: String,
    /// `ok`, `failing` or `waiting` (no poll yet).
    pub state: String,
    pub last_poll: Option<String>,
    pub last_poll_age_s: Option<f64>,
    pub polls: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub values: Vec<ValueRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ValueRow {
    pub point: String,
    pub value: Option<f64>,
    pub unit: Option<String>,
    /// A text point's last text (its `value` is null); absent for numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlarmRow {
    pub rule: String,
    pub device: String,
    pub point: Option<String>,
    pub severity: String,
    pub value: f64,
    pub limit: f64,
    pub message: String,
    pub raised_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ZoneRow {
    pub zone: String,
    pub occupancy: u64,
    pub capacity: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UplinkRow {
    pub broker: String,
    /// `online` or `offline`.
    pub state: String,
    /// Why it last failed (kept after a reconnect).
    pub problem: Option<String>,
    pub backlog: u64,
    pub backlog_alarms: u64,
    pub oldest_pending_s: Option<u64>,
    pub published: u64,
    pub reconnects: u64,
}

/// One device as `status` shows it, from what ingest keeps of it.
fn device_row(
    site: &Site,
    d: &crate::site::Device,
    l: crate::live::DeviceLive,
    now: Ms,
) -> DeviceRow {
    let state = match (l.polls, l.failing) {
        (0, _) => "waiting",
        (_, true) => "failing",
        _ => "ok",
    };
    DeviceRow {
        id: d.id.clone(),
        profile: d.profile.clone(),
        connection: site
            .connections
            .get(d.connection)
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        state: state.into(),
        last_poll: (l.polls > 0).then(|| clock::rfc3339(l.last_poll)),
        last_poll_age_s: (l.polls > 0).then(|| (now - l.last_poll).max(0) as f64 / 1000.0),
        polls: l.polls,
        errors: l.errors,
        last_error: l.last_error,
        last_error_at: (l.errors > 0).then(|| clock::rfc3339(l.last_error_at)),
        values: d
            .points
            .iter()
            .enumerate()
            .map(|(j, p)| ValueRow {
                point: p.name.clone(),
                value: l.values.get(j).copied().flatten(),
                unit: p.unit.clone(),
                text: (l.texts.iter())
                    .find(|(k, _)| *k == j)
                    .map(|(_, t)| t.to_string()),
            })
            .collect(),
    }
}

/// Builds the snapshot. `stats` is the outbox's (one read, by the caller).
pub fn build(site: &Site, h: &Health, stats: &OutboxStats, started: Ms, now: Ms) -> Snapshot {
    let live = h.live.snapshot();
    let devices: Vec<DeviceRow> = (site.devices.iter().enumerate())
        .map(|(i, d)| {
            let l = live.devices.get(i).cloned().unwrap_or_default();
            device_row(site, d, l, now)
        })
        .collect();
    let alarms = live
        .alarms
        .iter()
        .map(|a| AlarmRow {
            rule: a.rule.clone(),
            device: a.device.clone(),
            point: a.point.clone(),
            severity: a.severity.name().into(),
            value: a.value,
            limit: a.limit,
            message: a.message.clone(),
            raised_at: clock::rfc3339(a.raised_at),
        })
        .collect();
    let zones = site
        .zones
        .iter()
        .map(|z| ZoneRow {
            zone: z.name.clone(),
            occupancy: live
                .zones
                .iter()
                .find(|(n, _)| n == &z.name)
                .map_or(0, |(_, o)| *o),
            capacity: z.capacity,
        })
        .collect();
    let online = h.uplink_online.load(std::sync::atomic::Ordering::Relaxed);
    let uplink = UplinkRow {
        broker: site.uplink.broker.to_string(),
        state: if online { "online" } else { "offline" }.into(),
        problem: h.uplink_problem(),
        backlog: stats.pending.total(),
        backlog_alarms: stats.pending.get(Kind::Alarm),
        oldest_pending_s: stats
            .oldest_pending_ms
            .map(|t| ((now - t).max(0) / 1000) as u64),
        published: get(&h.published),
        reconnects: get(&h.uplink_reconnects),
    };
    let (verdict, reasons) = judge(&devices, &uplink);
    Snapshot {
        verdict: verdict.into(),
        reasons,
        site: site.gateway.site.clone(),
        gateway: site.gateway.id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        now: clock::rfc3339(now),
        uptime_s: ((now - started).max(0) / 1000) as u64,
        devices,
        alarms,
        zones,
        uplink,
    }
}

/// `down`: devices are configured and none answers. `degraded`: some device fails or the
/// uplink is offline. `ok` otherwise.
fn judge(devices: &[DeviceRow], uplink: &UplinkRow) -> (&'static str, Vec<String>) {
    let failing: Vec<&str> = devices
        .iter()
        .filter(|d| d.state == "failing")
        .map(|d| d.id.as_str())
        .collect();
    let mut reasons = Vec::new();
    if !failing.is_empty() {
        reasons.push(format!(
            "{} of {} devices failing: {}",
            failing.len(),
            devices.len(),
            failing.join(", ")
        ));
    }
    if uplink.state != "online" {
        reasons.push(match &uplink.problem {
            Some(p) => format!("uplink offline: {p}"),
            None => "uplink offline".into(),
        });
    }
    let verdict = if !devices.is_empty() && failing.len() == devices.len() {
        "down"
    } else if reasons.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    (verdict, reasons)
}

impl Snapshot {
    /// The exit code of `sitewarden status`: 0 ok, 1 degraded, 2 down.
    pub fn exit_code(&self) -> i32 {
        match self.verdict.as_str() {
            "ok" => 0,
            "degraded" => 1,
            _ => 2,
        }
    }
}

/// A value as a technician reads it: up to 3 decimals, no trailing zeros.
pub fn format_value(v: Option<f64>, unit: Option<&str>) -> String {
    let Some(v) = v else {
        return "—".into();
    };
    let mut s = format!("{v:.3}");
    while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
        s.pop();
    }
    match unit {
        Some(u) if !u.is_empty() => format!("{s} {u}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, state: &str) -> DeviceRow {
        DeviceRow {
            id: id.into(),
            profile: String::new(),
            connection: String::new(),
            state: state.into(),
            last_poll: None,
            last_poll_age_s: None,
            polls: 1,
            errors: 0,
            last_error: None,
            last_error_at: None,
            values: vec![],
        }
    }

    fn uplink(state: &str) -> UplinkRow {
        UplinkRow {
            broker: String::new(),
            state: state.into(),
            problem: Some("DNS: x".into()),
            backlog: 0,
            backlog_alarms: 0,
            oldest_pending_s: None,
            published: 0,
            reconnects: 0,
        }
    }

    #[test]
    fn verdicts() {
        let cases = [
            (vec![row("a", "ok")], "online", "ok", 0),
            (
                vec![row("a", "ok"), row("b", "failing")],
                "online",
                "degraded",
                1,
            ),
            (vec![row("a", "ok")], "offline", "degraded", 1),
            (vec![row("a", "failing")], "online", "down", 1),
            (vec![], "online", "ok", 0),
        ];
        for (devices, up, want, reasons) in cases {
            let (v, r) = judge(&devices, &uplink(up));
            assert_eq!((v, r.len()), (want, reasons), "{devices:?} {up}");
        }
        let (_, r) = judge(&[row("a", "ok")], &uplink("offline"));
        assert_eq!(r, ["uplink offline: DNS: x"]);
    }

    #[test]
    fn values_read_plainly() {
        assert_eq!(format_value(Some(22.5), Some("°C")), "22.5 °C");
        assert_eq!(format_value(Some(3.0), None), "3");
        assert_eq!(format_value(Some(0.1234), Some("")), "0.123");
        assert_eq!(format_value(None, Some("°C")), "—");
    }
}
