//! The validated model of a site: what `config` produces and everything else reads.
//!
//! Plain data, no I/O, no serde. Downstream code never sees a string duration, an
//! unresolved profile name or a connection referenced by name: `config::validate` has
//! resolved all of that. Devices and connections refer to each other by index into
//! `Site::devices` / `Site::connections`.

use std::path::PathBuf;
use std::time::Duration;

/// A whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub gateway: Gateway,
    pub uplink: Uplink,
    pub buffer: Buffer,
    pub connections: Vec<Connection>,
    pub devices: Vec<Device>,
    pub zones: Vec<Zone>,
    pub rules: Vec<RuleDef>,
}

impl Site {
    pub fn device_index(&self, id: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.id == id)
    }

    /// The devices polled through connection `conn`, by index.
    pub fn devices_on(&self, conn: usize) -> impl Iterator<Item = usize> + '_ {
        self.devices
            .iter()
            .enumerate()
            .filter(move |(_, d)| d.connection == conn)
            .map(|(i, _)| i)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// `[a-z0-9-]+`, used in topics.
    pub site: String,
    /// `[a-z0-9-]+`, used in topics.
    pub id: String,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Uplink {
    pub broker: BrokerUrl,
    pub username: Option<String>,
    /// Read at start; never logged.
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub topic_prefix: String,
    /// Summary windows are aligned to multiples of this on the wall clock.
    pub summary_interval: Duration,
    /// Publishes awaiting PUBACK at once (the replay window).
    pub inflight: u16,
    pub keep_alive: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    pub raw_max_bytes: u64,
    pub outbox_max_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: String,
    pub kind: ConnectionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionKind {
    ModbusTcp {
        /// `host:port` as written; resolved at connect time.
        address: String,
        timeout: Duration,
    },
    ModbusRtu {
        port: PathBuf,
        baud: u32,
        parity: Parity,
        data_bits: u8,
        stop_bits: u8,
        timeout: Duration,
    },
    /// A broker on the site LAN that cameras publish to.
    Mqtt {
        broker: BrokerUrl,
        username: Option<String>,
        password_file: Option<PathBuf>,
        /// Larger payloads are counted and skipped.
        max_payload_bytes: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Even,
    Odd,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub profile: String,
    /// Index into `Site::connections`.
    pub connection: usize,
    /// Modbus unit id, 1..=247 (0 for camera devices).
    pub unit: u8,
    pub poll: Duration,
    pub zone: Option<String>,
    /// Largest register count in one read request (≤ 125).
    pub max_registers_per_read: u16,
    /// Registers a coalesced read may skip to join two points (0 = only contiguous).
    pub max_gap: u16,
    pub points: Vec<Point>,
    /// Camera devices: topics and heartbeat (None for Modbus devices).
    pub camera: Option<Camera>,
}

impl Device {
    pub fn point_index(&self, name: &str) -> Option<usize> {
        self.points.iter().position(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// e.g. `cameras/cam-1/events`
    pub events_topic: String,
    /// e.g. `cameras/cam-1/status`
    pub status_topic: String,
    pub heartbeat_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub name: String,
    pub source: PointSource,
    /// Engineering value = raw * scale + offset.
    pub scale: f64,
    pub offset: f64,
    pub unit: Option<String>,
    pub kind: PointKind,
    pub writable: bool,
    /// State points: the meaning of each code, in code order (profile `labels`); empty
    /// when the profile names none.
    pub labels: Vec<(i64, String)>,
}

impl Point {
    /// The profile's label of a state code; None when the point has no labels or the
    /// code is not a whole number the profile names.
    pub fn label(&self, code: f64) -> Option<&str> {
        if code.fract() != 0.0 {
            return None;
        }
        self.labels
            .iter()
            .find(|(c, _)| *c as f64 == code)
            .map(|(_, l)| l.as_str())
    }

    /// The engineering value of a raw device number.
    ///
    /// Scales below 1 that are exact reciprocals of an integer (0.1, 0.01) divide
    /// instead of multiply, so 222 × 0.1 reads 22.2 and not 22.200000000000003.
    pub fn engineering(&self, raw: f64) -> f64 {
        let v = if self.scale != 0.0 && self.scale.abs() < 1.0 {
            let inv = 1.0 / self.scale;
            if (inv - inv.round()).abs() < 1e-9 {
                raw / inv.round()
            } else {
                raw * self.scale
            }
        } else {
            raw * self.scale
        };
        v + self.offset
    }

    /// Counter modulus: the value at which the device's counter wraps to 0.
    pub fn counter_modulus(&self) -> Option<f64> {
        match &self.source {
            PointSource::Modbus { ty, .. } => ty.modulus(),
            PointSource::Json { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PointSource {
    Modbus {
        table: Table,
        /// 0-based protocol address of the first register or bit.
        address: u16,
        ty: PointType,
        word_order: WordOrder,
    },
    /// A field of a camera's JSON message.
    Json {
        /// JSON pointer to the value, e.g. `/count`.
        pointer: String,
        /// Only messages where every `(pointer, value)` matches feed this point,
        /// e.g. `("/type", "people_count")`.
        filter: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Coil,
    Discrete,
    Input,
    Holding,
}

impl Table {
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::Discrete)
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Coil => "coil",
            Table::Discrete => "discrete",
            Table::Input => "input",
            Table::Holding => "holding",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointType {
    Bool,
    U16,
    I16,
    U32,
    I32,
    F32,
    U64,
    I64,
    F64,
}

impl PointType {
    /// Registers (or bits, for `Bool`) this type occupies.
    pub fn registers(self) -> u16 {
        match self {
            PointType::Bool | PointType::U16 | PointType::I16 => 1,
            PointType::U32 | PointType::I32 | PointType::F32 => 2,
            PointType::U64 | PointType::I64 | PointType::F64 => 4,
        }
    }

    /// The wrap-around value of an unsigned counter of this type.
    pub fn modulus(self) -> Option<f64> {
        match self {
            PointType::U16 => Some(65_536.0),
            PointType::U32 => Some(4_294_967_296.0),
            PointType::U64 => Some(18_446_744_073_709_551_616.0),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PointType::Bool => "bool",
            PointType::U16 => "u16",
            PointType::I16 => "i16",
            PointType::U32 => "u32",
            PointType::I32 => "i32",
            PointType::F32 => "f32",
            PointType::U64 => "u64",
            PointType::I64 => "i64",
            PointType::F64 => "f64",
        }
    }
}

/// Order of 16-bit words in a multi-register value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordOrder {
    /// High word in the lower register (ABCD), the Modbus default.
    HiFirst,
    /// Low word in the lower register (CDAB).
    LoFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointKind {
    /// A measured value: summarised as count/min/max/mean/last.
    Gauge,
    /// A monotonically increasing total: first/last/delta, rollover and reset aware.
    Counter,
    /// An enumerated state: last and transitions.
    State,
    /// A boolean or camera event: count of rising edges / occurrences.
    Event,
    /// A writable output (coil or register), set by commands; summarised as a state.
    Command,
}

impl PointKind {
    pub fn name(self) -> &'static str {
        match self {
            PointKind::Gauge => "gauge",
            PointKind::Counter => "counter",
            PointKind::State => "state",
            PointKind::Event => "event",
            PointKind::Command => "command",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    /// Maximum visitors inside at once.
    pub capacity: u64,
    /// Local time of day (seconds after midnight, UTC offset applied by config) at
    /// which occupancy restarts from zero.
    pub daily_reset: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One `[[rule]]`, validated. The rule engine compiles these into evaluators.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: String,
    /// Glob patterns on device ids (`kiosk-*`).
    pub devices: Vec<String>,
    /// The point judged (absent for `offline`, `capacity`).
    pub point: Option<String>,
    pub severity: Severity,
    pub kind: RuleKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Threshold {
        above: Option<f64>,
        clear_below: Option<f64>,
        below: Option<f64>,
        clear_above: Option<f64>,
        /// The condition must hold this long before the alarm is raised.
        hold: Duration,
        /// Judge only when this counter point moves (one judgement per kiosk scan).
        trigger: Option<String>,
    },
    Spike {
        /// Samples in the rolling window.
        window: usize,
        /// Samples needed before judging.
        min_samples: usize,
        /// Robust z-score (|x - median| / (1.4826 · MAD)) above which a value is a spike.
        threshold: f64,
    },
    Flatline {
        duration: Duration,
        epsilon: f64,
    },
    Offline {
        /// Consecutive failed polls before raising.
        failed_polls: u32,
    },
    Counter {
        /// Largest plausible increase per second.
        max_rate: f64,
    },
    Capacity {
        zone: String,
        /// Shares of capacity (0.8 = 80 %).
        warn: f64,
        critical: f64,
        /// Entries per minute above which a surge is raised.
        surge_per_min: Option<f64>,
    },
    Event {
        /// Camera event type (`intrusion`); None for discrete event points.
        event_type: Option<String>,
        zone: Option<String>,
        min_confidence: Option<f64>,
        /// Camera events: quiet time after which the alarm clears (default 60 s).
        clear_after: Option<Duration>,
    },
}

impl RuleDef {
    /// Whether this rule judges device `id` (one of `devices` matches it).
    pub fn applies_to(&self, id: &str) -> bool {
        self.devices.iter().any(|p| glob_match(p, id))
    }
}

/// Shell-style matching of a device id: `*` matches any run of characters (also none),
/// `?` exactly one; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_device_ids_like_a_shell() {
        let check = |pattern: &str, id: &str, expected: bool| {
            assert_eq!(glob_match(pattern, id), expected, "{pattern} vs {id}");
        };
        check("kiosk-*", "kiosk-1", true);
        check("kiosk-*", "kiosk-", true);
        check("kiosk-*", "gate-1", false);
        check("*", "anything", true);
        check("gate-?1", "gate-n1", true);
        check("gate-?1", "gate-n12", false);
        check("*-n*", "gate-n1", true);
        check("a*b*c", "aXbYbZc", true);
        check("a*b*c", "aXbYbZ", false);
        check("gate-n1", "gate-n1", true);
        check("gate-n1", "gate-n2", false);
        check("", "", true);
        check("", "x", false);
    }
}
