//! What the demo has seen on `sitewarden/#`: the latest summary of every device, the
//! latest window of every zone, the grid cells by kind and state, the last patrol
//! round, the alarms newest first, the gateway's status and health. Each message also becomes one plain line (`--plain`).
//!
//! Owns reading the upstream payloads back, leniently: a field that is missing or of
//! another shape shows as "—" and never stops the view. Pure: messages and the site
//! clock arrive as parameters; drawing the live table is `table.rs`, the MQTT client is
//! `live.rs`. Never publishes anything.

use super::scenario::SiteTime;
use crate::site::{Device, PointKind, PointSource, PointType, Site};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Arc;

/// Alarms kept for the table; older ones scroll away.
const ALARMS_KEPT: usize = 50;

/// The quality block of a summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Quality {
    pub(crate) polls: u64,
    pub(crate) errors: u64,
    pub(crate) last_error: Option<String>,
}

/// A device's latest window, ready to draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DeviceRow {
    pub(crate) id: String,
    /// (point, value) pairs, e.g. (`entries`, `+12`), (`temperature`, `21.4°C`); empty
    /// before the first summary.
    pub(crate) values: Vec<(String, String)>,
    pub(crate) quality: Option<Quality>,
}

/// A zone's latest window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ZoneRow {
    pub(crate) name: String,
    pub(crate) occupancy: u64,
    pub(crate) capacity: u64,
    pub(crate) utilisation: Option<f64>,
    pub(crate) entries: u64,
    pub(crate) exits: u64,
}

/// One raise or clear, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlarmLine {
    pub(crate) at: SiteTime,
    pub(crate) raised: bool,
    pub(crate) severity: String,
    pub(crate) rule: String,
    pub(crate) device: String,
    pub(crate) message: String,
}

/// Counts of what arrived, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) summaries: u64,
    pub(crate) zones: u64,
    pub(crate) alarms: u64,
    pub(crate) other: u64,
}

/// Everything the live table shows.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) site: Arc<Site>,
    prefix: String,
    pub(crate) status: Option<String>,
    pub(crate) devices: Vec<DeviceRow>,
    pub(crate) zones: Vec<ZoneRow>,
    /// Newest first.
    pub(crate) alarms: VecDeque<AlarmLine>,
    /// How many alarms `alarms/active` says are raised now.
    pub(crate) active: Option<usize>,
    /// The latest `health`, as one short sentence.
    pub(crate) health: Option<String>,
    /// `start–end` of the latest device window, UTC times of day.
    pub(crate) window: Option<String>,
    /// The latest `cells`: how many cells of each kind are in each state.
    pub(crate) cells: Option<String>,
    /// The latest patrol round, in a sentence.
    pub(crate) patrol: Option<String>,
    pub(crate) counts: Counts,
}

impl View {
    /// An empty view of `site`'s topics (`{topic_prefix}/{site}/{gateway}/…`).
    pub(crate) fn new(site: Arc<Site>) -> View {
        let prefix = format!(
            "{}/{}/{}/",
            site.uplink.topic_prefix, site.gateway.site, site.gateway.id
        );
        let devices = site
            .devices
            .iter()
            .map(|d| DeviceRow {
                id: d.id.clone(),
                ..DeviceRow::default()
            })
            .collect();
        View {
            site,
            prefix,
            status: None,
            devices,
            zones: Vec::new(),
            alarms: VecDeque::new(),
            active: None,
            health: None,
            window: None,
            cells: None,
            patrol: None,
            counts: Counts::default(),
        }
    }

    /// Takes in one message and returns its plain line.
    pub(crate) fn apply(&mut self, topic: &str, payload: &[u8], at: SiteTime) -> String {
        let json: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let rest = topic.strip_prefix(&self.prefix).unwrap_or(topic);
        let line = match rest.split_once('/') {
            Some(("summary", device)) => self.summary(device, &json),
            Some(("zone", zone)) => self.zone(zone, &json),
            Some(("alarm", _)) => self.alarm(&json, at),
            Some(("patrol", name)) => {
                let round = patrol(name, &json, &self.site.gateway.timezone);
                self.patrol = Some(round.clone());
                format!("patrol {round}")
            }
            Some(("cell", cell)) => format!(
                "cell {cell} {} devices {}/{} ok",
                text(&json["state"]),
                json["devices"]["ok"].as_u64().unwrap_or(0),
                json["devices"]["total"].as_u64().unwrap_or(0)
            ),
            _ if rest == "cells" => {
                let cells = cells(&json);
                self.cells = Some(cells.clone());
                format!("cells {cells}")
            }
            _ if rest == "alarms/active" => {
                let n = json["alarms"].as_array().map_or(0, Vec::len);
                self.active = Some(n);
                format!("active alarms {n}")
            }
            _ if rest == "status" => {
                let state = text(&json["state"]);
                self.status = Some(state.clone());
                format!("status {state} version {}", text(&json["version"]))
            }
            _ if rest == "health" => {
                let h = health(&json);
                self.health = Some(h.clone());
                format!("health {h}")
            }
            _ => {
                self.counts.other += 1;
                format!("{rest} {}", String::from_utf8_lossy(payload))
            }
        };
        format!("[{at}] {line}")
    }

    fn summary(&mut self, device: &str, json: &Value) -> String {
        self.counts.summaries += 1;
        let window = format!("{}–{}", clock(&json["start"]), clock(&json["end"]));
        self.window = Some(window.clone());
        let q = &json["quality"];
        let quality = Quality {
            polls: q["polls"].as_u64().unwrap_or(0),
            errors: q["errors"].as_u64().unwrap_or(0),
            last_error: q["last_error"].as_str().map(str::to_string),
        };
        let values = match self.site.devices.iter().find(|d| d.id == device) {
            Some(d) => point_values(d, &json["points"]),
            None => Vec::new(),
        };
        let pairs: Vec<String> = values.iter().map(|(p, v)| format!("{p} {v}")).collect();
        let line = format!(
            "summary {device} {window} {} · {}",
            pairs.join("  "),
            quality_text(&quality)
        );
        if let Some(row) = self.devices.iter_mut().find(|r| r.id == device) {
            row.values = values;
            row.quality = Some(quality);
        }
        line
    }

    fn zone(&mut self, zone: &str, json: &Value) -> String {
        self.counts.zones += 1;
        let row = ZoneRow {
            name: zone.to_string(),
            occupancy: json["occupancy"].as_u64().unwrap_or(0),
            capacity: json["capacity"].as_u64().unwrap_or(0),
            utilisation: json["utilisation"].as_f64(),
            entries: json["entries"].as_u64().unwrap_or(0),
            exits: json["exits"].as_u64().unwrap_or(0),
        };
        let line = format!(
            "zone {zone} {}–{} occupancy {}/{} ({}) entries +{} exits +{}",
            clock(&json["start"]),
            clock(&json["end"]),
            row.occupancy,
            row.capacity,
            percent(row.utilisation),
            row.entries,
            row.exits
        );
        match self.zones.iter_mut().find(|z| z.name == zone) {
            Some(z) => *z = row,
            None => self.zones.push(row),
        }
        line
    }

    fn alarm(&mut self, json: &Value, at: SiteTime) -> String {
        self.counts.alarms += 1;
        let a = AlarmLine {
            at,
            raised: json["state"].as_str() == Some("raised"),
            severity: text(&json["severity"]),
            rule: text(&json["rule"]),
            device: text(&json["device"]),
            message: text(&json["message"]),
        };
        let line = format!(
            "alarm {} {} {} {}: {}",
            if a.raised { "raised" } else { "cleared" },
            a.severity,
            a.rule,
            a.device,
            a.message
        );
        self.alarms.push_front(a);
        self.alarms.truncate(ALARMS_KEPT);
        line
    }
}

/// (name, value) for each point of a summary that says something.
fn point_values(device: &Device, points: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in &device.points {
        let v = &points[p.name.as_str()];
        let shown = match p.kind {
            PointKind::Command => continue,
            PointKind::Gauge => number(v["last"].as_f64(), decimals(p), p.unit.as_deref()),
            PointKind::Counter => match v["delta"].as_f64() {
                Some(d) => format!("+{}", number(Some(d), 0, None)),
                None => "—".to_string(),
            },
            PointKind::State => state_name(device, &p.name, v["last"].as_f64()),
            PointKind::Text => match v["last"].as_str() {
                Some(t) => format!("{t:?}"),
                None => continue,
            },
            PointKind::Event => match v["count"].as_u64() {
                Some(0) | None => continue,
                Some(n) => format!("×{n}"),
            },
        };
        out.push((p.name.clone(), shown));
    }
    out
}

/// Decimals worth showing for a point: those of its scale (0.1 → 1), 2 for floats.
fn decimals(p: &crate::site::Point) -> usize {
    if p.scale > 0.0 && p.scale < 1.0 {
        return (-p.scale.log10()).round().clamp(0.0, 4.0) as usize;
    }
    match p.source {
        PointSource::Modbus {
            ty: PointType::F32 | PointType::F64,
            ..
        } => 2,
        _ => 0,
    }
}

fn number(v: Option<f64>, decimals: usize, unit: Option<&str>) -> String {
    match v {
        Some(v) => match unit {
            // `°C` and `%RH` read better without a space, `m` and `people` with one.
            Some(u) if u.starts_with(['°', '%']) => format!("{v:.decimals$}{u}"),
            Some(u) => format!("{v:.decimals$} {u}"),
            None => format!("{v:.decimals$}"),
        },
        None => "—".to_string(),
    }
}

/// The turnstile's status codes by name (spec profile table); other states as numbers.
fn state_name(device: &Device, point: &str, v: Option<f64>) -> String {
    match (device.profile.as_str(), point, v) {
        (_, _, None) => "—".to_string(),
        ("turnstile", "status", Some(v)) => match v as i64 {
            0 => "idle".to_string(),
            1 => "passing".to_string(),
            2 => "held-open".to_string(),
            3 => "fault".to_string(),
            n => n.to_string(),
        },
        (_, _, Some(v)) => number(Some(v), 0, None),
    }
}

pub(super) fn quality_text(q: &Quality) -> String {
    match (&q.last_error, q.errors) {
        (_, 0) => format!("ok {}/{}", q.polls, q.polls),
        (Some(e), n) => format!("{n}/{} failed: {e}", q.polls),
        (None, n) => format!("{n}/{} failed", q.polls),
    }
}

pub(super) fn percent(u: Option<f64>) -> String {
    u.map_or("—".to_string(), |u| format!("{:.0} %", u * 100.0))
}

/// `HH:MM:SS` of an RFC 3339 time, or "—".
fn clock(v: &Value) -> String {
    v.as_str()
        .and_then(|s| s.split_once('T'))
        .map(|(_, t)| t.chars().take(8).collect())
        .unwrap_or_else(|| "—".to_string())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        v => v.to_string(),
    }
}

/// `night 22:01 incomplete, 3 tapped, skipped tag-bridge` from a patrol round, the
/// scheduled start in the site's local time.
fn patrol(name: &str, json: &Value, tz: &crate::localtime::LocalZone) -> String {
    let scheduled = (json["scheduled"].as_str())
        .and_then(|s| humantime::parse_rfc3339(s).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or("—".to_string(), |d| {
            crate::localtime::hh_mm(tz.local(d.as_millis() as i64).secs)
        });
    let tapped = json["checkpoints"].as_array().map_or(0, Vec::len);
    let skipped: Vec<String> = (json["skipped"].as_array().into_iter().flatten())
        .map(text)
        .collect();
    let mut out = format!(
        "{name} {scheduled} {}, {tapped} tapped",
        text(&json["status"])
    );
    if !skipped.is_empty() {
        out.push_str(&format!(", skipped {}", skipped.join(" ")));
    }
    out
}

/// `scenic-core 2 ok · waterfront 1 ok 1 warning` from `cells`: the states each kind
/// has cells in.
fn cells(json: &Value) -> String {
    let Some(kinds) = json["kinds"].as_object() else {
        return "—".to_string();
    };
    let parts: Vec<String> = (kinds.iter())
        .map(|(kind, n)| {
            let states: Vec<String> = ["ok", "warning", "critical", "blind"]
                .iter()
                .filter_map(|s| {
                    n[*s]
                        .as_u64()
                        .filter(|&c| c > 0)
                        .map(|c| format!("{c} {s}"))
                })
                .collect();
            format!("{kind} {}", states.join(" "))
        })
        .collect();
    parts.join(" · ")
}

/// One sentence of a `health` payload.
fn health(json: &Value) -> String {
    let d = &json["devices"];
    let (ok, failing) = (
        d["ok"].as_u64().unwrap_or(0),
        d["failing"].as_u64().unwrap_or(0),
    );
    let b = &json["backlog"];
    let backlog = b["alarms"].as_u64().unwrap_or(0) + b["messages"].as_u64().unwrap_or(0);
    let polls = json["polls_per_s"].as_f64().unwrap_or(0.0);
    format!(
        "{ok}/{} devices ok · {polls:.1} polls/s · backlog {backlog}",
        ok + failing
    )
}

#[cfg(test)]
mod tests;
