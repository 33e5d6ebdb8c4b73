//! The upstream wire format: the only `Serialize` types for the platform.
//!
//! Every payload is JSON, UTF-8, and starts with `"v": 1`, `"seq"` and `"ts"`. Payloads are
//! rendered once, stored in the outbox with their seq, and replayed byte for byte.

use serde::Serialize;

pub const VERSION: u32 = 1;

/// The common head of every payload, flattened into it.
#[derive(Debug, Serialize)]
pub struct Head {
    pub v: u32,
    pub seq: u64,
    pub ts: String,
}

impl Head {
    pub fn new(seq: u64, ts_ms: crate::reading::Ms) -> Head {
        Head {
            v: VERSION,
            seq,
            ts: crate::clock::rfc3339(ts_ms),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Status<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub state: &'a str,
    pub version: &'a str,
    pub started: String,
    /// Present when this run moved the seq counter forward because nothing on disk could
    /// vouch for it (a corrupt outbox and a lost seq floor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reanchored: Option<Reanchored>,
}

/// `P/status` `reanchored`: where seq stood and where it jumped to, and why.
#[derive(Debug, Serialize)]
pub struct Reanchored {
    pub from: u64,
    pub to: u64,
    pub reason: String,
}

impl Reanchored {
    pub fn of(outbox: &crate::store::Outbox) -> Option<Reanchored> {
        outbox.reanchored().map(|r| Reanchored {
            from: r.from,
            to: r.to,
            reason: r.reason,
        })
    }
}

/// `P/cmd/result`: the head, the outcome, and `"repeat": true` when this answers a
/// command id seen before (the first outcome, sent again; nothing was executed again).
#[derive(Debug, Serialize)]
pub struct CmdResult<'a> {
    #[serde(flatten)]
    pub head: Head,
    #[serde(flatten)]
    pub outcome: &'a CmdOutcome,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
}

/// What became of one command. Also what the command log keeps of an id (as JSON), so
/// a repeated id is answered with its first outcome.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CmdOutcome {
    pub id: String,
    /// For a device command: written and read back holding the value. For a zone
    /// command: every gate did.
    pub ok: bool,
    pub error: Option<String>,
    /// Why it was refused, as a word a platform can branch on (`expired`, `retained`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// The value the device held when read back after the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readback: Option<f64>,
    /// Whether the device holds exactly what was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<bool>,
    /// A zone command's gates, in config order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateOutcome>,
}

/// One gate of a zone command.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GateOutcome {
    pub device: String,
    pub ok: bool,
    pub error: Option<String>,
    pub readback: Option<f64>,
    pub held: bool,
}

impl CmdOutcome {
    /// A refusal: nothing was written.
    pub fn refused(id: String, reason: &str, error: String) -> CmdOutcome {
        CmdOutcome {
            id,
            ok: false,
            error: Some(error),
            reason: Some(reason.to_string()),
            device: None,
            zone: None,
            point: None,
            readback: None,
            held: None,
            gates: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct HealthReport {
    #[serde(flatten)]
    pub head: Head,
    pub uptime_s: u64,
    pub devices: DeviceCounts,
    pub backlog: Backlog,
    pub disk: Disk,
    pub polls_per_s: f64,
    pub errors: Errors,
    pub dropped: Dropped,
    pub reconnects: Reconnects,
    /// Why the uplink last failed to connect or lost its connection (absent if it never
    /// did since start), so a report after a reconnect tells what kept the gateway away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink_problem: Option<String>,
    pub commands: Commands,
}

/// What became of `P/cmd` messages since the start.
#[derive(Debug, Serialize)]
pub struct Commands {
    /// Carried out (written to at least one device).
    pub executed: u64,
    /// Refused for any reason (the ones below included).
    pub rejected: u64,
    pub retained: u64,
    pub rate_limited: u64,
    pub duplicate: u64,
    /// Refusals not answered because a flood filled the answer queue.
    pub unanswered: u64,
}

#[derive(Debug, Serialize)]
pub struct DeviceCounts {
    pub ok: usize,
    pub failing: usize,
}

#[derive(Debug, Serialize)]
pub struct Backlog {
    pub alarms: u64,
    pub messages: u64,
    /// Age in seconds of the oldest record awaiting the broker's ack.
    pub oldest_s: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Disk {
    pub outbox_bytes: u64,
    pub raw_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Errors {
    pub polls: u64,
    pub timeouts: u64,
    pub exceptions: u64,
    pub malformed: u64,
    pub camera_rejected: u64,
    pub commands_rejected: u64,
    pub store: u64,
}

#[derive(Debug, Serialize)]
pub struct Dropped {
    /// Window and zone summaries.
    pub summaries: u64,
    /// Active-alarm snapshots dropped for room (one replaced by a newer one is no drop).
    pub snapshots: u64,
    pub cmd_results: u64,
    pub alarms: u64,
    pub raw_readings: u64,
    pub samples: u64,
    /// Live reports (`P/live`, QoS 0, not stored) the uplink could not send.
    pub live: u64,
}

#[derive(Debug, Serialize)]
pub struct Reconnects {
    pub uplink: u64,
    pub field: u64,
}

/// Renders a payload. Serialising these plain structs cannot fail.
pub fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("payload structs always serialise")
}

/// `P/summary/{device}`: one window of one device.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub device: &'a str,
    pub start: String,
    pub end: String,
    pub points: SummaryPoints<'a>,
    pub quality: Quality<'a>,
}

#[derive(Debug, Serialize)]
pub struct Quality<'a> {
    pub polls: u64,
    pub errors: u64,
    pub last_error: Option<&'a str>,
}

/// Points in profile order, as a JSON object keyed by point name; the device's point
/// definitions give gauges and counters their `unit` and labelled states their `label`.
#[derive(Debug)]
pub struct SummaryPoints<'a>(
    pub &'a [(String, crate::summary::PointSummary)],
    pub &'a [crate::site::Point],
);

impl Serialize for SummaryPoints<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use crate::summary::PointSummary as P;
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, p) in self.0 {
            let def = self.1.iter().find(|d| &d.name == name);
            let unit = def.and_then(|d| d.unit.as_deref());
            match p {
                P::Gauge {
                    count,
                    min,
                    max,
                    mean,
                    last,
                } => map.serialize_entry(
                    name,
                    &GaugeOut {
                        kind: "gauge",
                        unit,
                        count: *count,
                        min: *min,
                        max: *max,
                        mean: *mean,
                        last: *last,
                    },
                )?,
                P::Counter {
                    first,
                    last,
                    delta,
                    rollovers,
                    resets,
                } => map.serialize_entry(
                    name,
                    &CounterOut {
                        kind: "counter",
                        unit,
                        first: *first,
                        last: *last,
                        delta: *delta,
                        rollovers: *rollovers,
                        resets: *resets,
                    },
                )?,
                P::State { last, transitions } => map.serialize_entry(
                    name,
                    &StateOut {
                        kind: "state",
                        last: *last,
                        label: def
                            .filter(|d| !d.labels.is_empty())
                            .map(|d| last.and_then(|c| d.label(c))),
                        transitions: *transitions,
                    },
                )?,
                P::Event { count } => map.serialize_entry(
                    name,
                    &EventOut {
                        kind: "event",
                        count: *count,
                    },
                )?,
                P::Text { last, transitions } => map.serialize_entry(
                    name,
                    &TextOut {
                        kind: "text",
                        last: last.as_deref(),
                        transitions: *transitions,
                    },
                )?,
            }
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct GaugeOut<'a> {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    count: u64,
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    last: Option<f64>,
}

#[derive(Debug, Serialize)]
struct CounterOut<'a> {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    first: Option<f64>,
    last: Option<f64>,
    delta: Option<f64>,
    rollovers: u32,
    resets: u32,
}

#[derive(Debug, Serialize)]
struct StateOut<'a> {
    kind: &'static str,
    last: Option<f64>,
    /// Present for a labelled point: the label of `last` (null for an unlabelled code).
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<Option<&'a str>>,
    transitions: u64,
}

#[derive(Debug, Serialize)]
struct EventOut {
    kind: &'static str,
    count: u64,
}

/// A string point: the last text read (non-ASCII bytes escaped as `\xNN`) and how often
/// it changed.
#[derive(Debug, Serialize)]
struct TextOut<'a> {
    kind: &'static str,
    last: Option<&'a str>,
    transitions: u64,
}

/// `P/zone/{zone}`: one window of one zone.
#[derive(Debug, Serialize)]
pub struct Zone<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub zone: &'a str,
    pub start: String,
    pub end: String,
    pub entries: u64,
    pub exits: u64,
    pub occupancy: u64,
    pub capacity: u64,
    pub utilisation: Option<f64>,
}

/// `P/patrol/{name}`: one finished round of a patrol.
#[derive(Debug, Serialize)]
pub struct PatrolRound<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub patrol: &'a str,
    /// `completed`, `incomplete` or `not-started`.
    pub status: &'a str,
    /// The checkpoints' device ids in route order.
    pub route: &'a [String],
    pub scheduled: String,
    /// The first staff tap; None when nobody came.
    pub start: Option<String>,
    pub end: String,
    /// In the order they were tapped.
    pub checkpoints: Vec<PatrolVisit<'a>>,
    pub skipped: &'a [String],
    pub out_of_order: Vec<&'a str>,
    pub late_legs: Vec<&'a str>,
}

/// One checkpoint tapped in a round.
#[derive(Debug, Serialize)]
pub struct PatrolVisit<'a> {
    pub checkpoint: &'a str,
    pub at: String,
    /// Seconds since the round's previous tap; None for the first.
    pub leg_s: Option<f64>,
    pub in_order: bool,
    pub late: bool,
    /// The `[[cell]]` the checkpoint stands in.
    pub cell: Option<&'a str>,
}

/// One alarm, as in `P/alarm/{device}` and in the `P/alarms/active` list.
#[derive(Debug, Serialize)]
pub struct AlarmBody<'a> {
    pub id: &'a str,
    pub rule: &'a str,
    pub device: &'a str,
    pub point: Option<&'a str>,
    pub severity: &'a str,
    pub value: f64,
    pub limit: f64,
    pub message: &'a str,
    pub raised_at: String,
    /// The grid cell of the device (or of every device of the zone), its kind and owner.
    pub cell: Option<&'a str>,
    pub cell_kind: Option<&'a str>,
    pub owner: Option<&'a str>,
}

impl<'a> AlarmBody<'a> {
    /// The alarm with the cell it stands in (`Site::cell_for`).
    pub fn in_cell(a: &'a crate::rules::Alarm, cell: Option<&'a crate::site::Cell>) -> Self {
        AlarmBody {
            cell: cell.map(|c| c.name.as_str()),
            cell_kind: cell.map(|c| c.kind.as_str()),
            owner: cell.and_then(|c| c.owner.as_deref()),
            ..AlarmBody::of(a)
        }
    }

    pub fn of(a: &'a crate::rules::Alarm) -> AlarmBody<'a> {
        AlarmBody {
            id: &a.id,
            rule: &a.rule,
            device: &a.device,
            point: a.point.as_deref(),
            severity: a.severity.name(),
            value: a.value,
            limit: a.limit,
            message: &a.message,
            raised_at: crate::clock::rfc3339(a.raised_at),
            cell: None,
            cell_kind: None,
            owner: None,
        }
    }
}

/// `P/alarm/{device}`: a raise or a clear.
#[derive(Debug, Serialize)]
pub struct AlarmEvent<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub state: &'a str,
    #[serde(flatten)]
    pub alarm: AlarmBody<'a>,
}

/// `P/alarms/active` (retained): every alarm now raised.
#[derive(Debug, Serialize)]
pub struct ActiveAlarms<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub alarms: Vec<AlarmBody<'a>>,
}

/// `P/cell/{cell}` (retained): one grid cell at the end of a window.
#[derive(Debug, Serialize)]
pub struct CellRollup<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub cell: &'a str,
    pub kind: &'a str,
    pub owner: Option<&'a str>,
    pub key_point: bool,
    pub start: String,
    pub end: String,
    /// `ok`, `warning`, `critical` or `blind`.
    pub state: &'a str,
    pub devices: CellDevices,
    pub alarms: BySeverity,
    pub zones: Vec<CellZone<'a>>,
}

#[derive(Debug, Serialize)]
pub struct CellDevices {
    pub ok: usize,
    pub failing: usize,
    pub total: usize,
}

#[derive(Debug, Serialize)]
pub struct BySeverity {
    pub info: usize,
    pub warning: usize,
    pub critical: usize,
}

#[derive(Debug, Serialize)]
pub struct CellZone<'a> {
    pub zone: &'a str,
    pub occupancy: u64,
    pub capacity: u64,
}

/// `P/cells` (retained): per cell kind, how many cells are in each state.
#[derive(Debug, Serialize)]
pub struct Cells<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub start: String,
    pub end: String,
    pub kinds: std::collections::BTreeMap<&'a str, StateCounts>,
}

#[derive(Debug, Default, Serialize)]
pub struct StateCounts {
    pub ok: usize,
    pub warning: usize,
    pub critical: usize,
    pub blind: usize,
}

/// `P/live/{device}` (QoS 0, not stored, so no `seq`): a device's values now.
#[derive(Debug, Serialize)]
pub struct LiveValues<'a> {
    pub v: u32,
    /// When this report was made.
    pub ts: String,
    pub device: &'a str,
    /// `change` or `keepalive`.
    pub reason: &'static str,
    /// When the values were read.
    pub read_at: String,
    pub points: LivePoints<'a>,
}

/// Every point of the device by name, in profile order: kind, value, and the unit or the
/// state's label as in summaries.
#[derive(Debug)]
pub struct LivePoints<'a>(pub &'a [Option<f64>], pub &'a [crate::site::Point]);

impl Serialize for LivePoints<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.1.len()))?;
        for (p, value) in self.1.iter().zip(self.0) {
            let labelled = !p.labels.is_empty();
            map.serialize_entry(
                &p.name,
                &LiveOut {
                    kind: p.kind.name(),
                    value: *value,
                    unit: p.unit.as_deref(),
                    label: labelled.then(|| value.and_then(|c| p.label(c))),
                },
            )?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct LiveOut<'a> {
    kind: &'static str,
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    /// Present for a labelled point: the label of `value` (null for an unlabelled code).
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<Option<&'a str>>,
}

/// `P/inventory` (retained): every device and point of the running configuration.
#[derive(Debug, Serialize)]
pub struct Inventory<'a> {
    #[serde(flatten)]
    pub head: Head,
    pub devices: Vec<InventoryDevice<'a>>,
}

#[derive(Debug, Serialize)]
pub struct InventoryDevice<'a> {
    pub id: &'a str,
    pub profile: &'a str,
    /// The connection's `type` (`modbus-tcp`, `modbus-rtu`, `modbus-rtu-over-tcp`, `mqtt`).
    pub connection: &'static str,
    pub zone: Option<&'a str>,
    pub cell: Option<&'a str>,
    /// Present when the device reports live values (`P/live/{device}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<InventoryLive>,
    pub points: Vec<InventoryPoint<'a>>,
}

/// A device's live-value settings, as configured.
#[derive(Debug, Serialize)]
pub struct InventoryLive {
    pub deadband: f64,
    pub min_interval_ms: u64,
    pub max_interval_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct InventoryPoint<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    pub unit: Option<&'a str>,
    pub writable: bool,
    /// State points the profile labels: each code with its meaning, in code order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<InventoryLabel<'a>>,
}

#[derive(Debug, Serialize)]
pub struct InventoryLabel<'a> {
    pub code: i64,
    pub label: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{Point, PointKind, PointSource};
    use crate::summary::PointSummary;

    fn point(name: &str, kind: PointKind, unit: Option<&str>, labels: &[(i64, &str)]) -> Point {
        Point {
            name: name.to_string(),
            source: PointSource::Json {
                pointer: "/x".to_string(),
                filter: Vec::new(),
            },
            scale: 1.0,
            offset: 0.0,
            unit: unit.map(str::to_string),
            kind,
            writable: false,
            labels: labels.iter().map(|(c, l)| (*c, l.to_string())).collect(),
        }
    }

    #[test]
    fn summary_points_carry_units_and_the_label_of_a_state_code() {
        let defs = [
            point("t", PointKind::Gauge, Some("°C"), &[]),
            point("n", PointKind::Counter, None, &[]),
            point("s", PointKind::State, None, &[(0, "idle"), (3, "fault")]),
            point("u", PointKind::State, None, &[(0, "idle")]),
            point("plain", PointKind::State, None, &[]),
            point("serial", PointKind::Text, None, &[]),
            point("tag", PointKind::Text, None, &[]),
        ];
        let gauge = PointSummary::Gauge {
            count: 1,
            min: Some(21.5),
            max: Some(21.5),
            mean: Some(21.5),
            last: Some(21.5),
        };
        let state = |c| PointSummary::State {
            last: Some(c),
            transitions: 0,
        };
        let points = vec![
            ("t".to_string(), gauge),
            (
                "n".to_string(),
                PointSummary::Counter {
                    first: Some(1.0),
                    last: Some(2.0),
                    delta: Some(1.0),
                    rollovers: 0,
                    resets: 0,
                },
            ),
            ("s".to_string(), state(3.0)),
            ("u".to_string(), state(2.0)),
            ("plain".to_string(), state(1.0)),
            (
                "serial".to_string(),
                PointSummary::Text {
                    last: Some("SN-\\x07\"1".into()),
                    transitions: 1,
                },
            ),
            (
                "tag".to_string(),
                PointSummary::Text {
                    last: None,
                    transitions: 0,
                },
            ),
        ];
        let json = String::from_utf8(to_bytes(&SummaryPoints(&points, &defs))).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"t":{"kind":"gauge","unit":"°C","count":1,"min":21.5,"max":21.5,"mean":21.5,"last":21.5},"#,
                r#""n":{"kind":"counter","first":1.0,"last":2.0,"delta":1.0,"rollovers":0,"resets":0},"#,
                r#""s":{"kind":"state","last":3.0,"label":"fault","transitions":0},"#,
                r#""u":{"kind":"state","last":2.0,"label":null,"transitions":0},"#,
                r#""plain":{"kind":"state","last":1.0,"transitions":0},"#,
                r#""serial":{"kind":"text","last":"SN-\\x07\"1","transitions":1},"#,
                r#""tag":{"kind":"text","last":null,"transitions":0}}"#
            )
        );
    }
}
