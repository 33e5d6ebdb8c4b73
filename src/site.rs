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
    /// Grid cells, in file order; each lists its devices.
    pub cells: Vec<Cell>,
    pub rules: Vec<RuleDef>,
    /// Patrol rounds (`[[patrol]]`), in file order.
    pub patrols: Vec<Patrol>,
    /// `[http]`: the status page and metrics; None (the default) opens no socket.
    pub http: Option<Http>,
}

/// `[http]`: where the read-only status page, `/metrics` and `/healthz` are served.
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    pub listen: std::net::SocketAddr,
    /// A file holding the Basic auth user and salted password hash (`http::auth`).
    pub password_file: Option<std::path::PathBuf>,
}

impl Site {
    /// A site with nothing in it: no connections, devices, zones, cells or rules; an
    /// uplink to a broker on 127.0.0.1:1883, the config's defaults elsewhere, 1 MiB
    /// stores. The start of a site built in code rather than read from a file
    /// (`Site { devices, ..Site::bare("xitang", "gw-north") }`): tests and benchmarks.
    pub fn bare(site: &str, gateway: &str) -> Site {
        Site {
            gateway: Gateway {
                site: site.into(),
                id: gateway.into(),
                data_dir: PathBuf::from("/var/lib/sitewarden"),
                timezone: Default::default(),
            },
            uplink: Uplink {
                broker: BrokerUrl {
                    tls: false,
                    host: "127.0.0.1".into(),
                    port: 1883,
                },
                username: None,
                password_file: None,
                ca_file: None,
                client_cert: None,
                client_key: None,
                topic_prefix: "sitewarden".into(),
                summary_interval: Duration::from_secs(60),
                inflight: 100,
                keep_alive: Duration::from_secs(30),
                commands: Default::default(),
                format: Default::default(),
                primary_host: None,
            },
            buffer: Buffer {
                raw_max_bytes: 1 << 20,
                outbox_max_bytes: 1 << 20,
            },
            connections: Vec::new(),
            devices: Vec::new(),
            zones: Vec::new(),
            cells: Vec::new(),
            rules: Vec::new(),
            patrols: Vec::new(),
            http: None,
        }
    }

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

    /// The grid cell device `device` (index into `devices`) stands in.
    pub fn cell_of(&self, device: usize) -> Option<&Cell> {
        self.cells.iter().find(|c| c.devices.contains(&device))
    }

    /// The cell an alarm on `name` belongs to: the device's cell, or for a zone alarm
    /// the one cell all of the zone's devices stand in (None when the zone spans cells).
    pub fn cell_for(&self, name: &str) -> Option<&Cell> {
        if let Some(i) = self.device_index(name) {
            return self.cell_of(i);
        }
        let mut cells = (self.devices.iter().enumerate())
            .filter(|(_, d)| d.zone.as_deref() == Some(name))
            .map(|(i, _)| self.cell_of(i).map(|c| c.name.as_str()));
        let first = cells.next()??;
        if cells.all(|c| c == Some(first)) {
            self.cells.iter().find(|c| c.name == first)
        } else {
            None
        }
    }
}

/// A grid cell of the site, as its operators divide it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `[a-z0-9-]+`, used in topics.
    pub name: String,
    /// Free text (`scenic-core`, `waterfront`); `P/cells` counts states per kind.
    pub kind: String,
    /// The person on duty for the cell.
    pub owner: Option<String>,
    /// Under special watch.
    pub key_point: bool,
    /// Indices into `Site::devices`, ascending.
    pub devices: Vec<usize>,
}

/// One `[[patrol]]`: a round of tag-reader checkpoints walked on a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Patrol {
    /// `[a-z0-9-]+`, used in topics.
    pub name: String,
    /// The route, in order: indices into `Site::devices` (tag readers), no repeats.
    pub checkpoints: Vec<usize>,
    /// When rounds start, in the site's local time.
    pub schedule: crate::patrol::Schedule,
    /// Time allowed from one checkpoint to the next (and from the scheduled start to the
    /// first tap).
    pub leg: Duration,
    /// Time allowed for the whole round, from its first tap.
    pub round: Duration,
    /// Tag ids of the patrol staff, sorted; any other tag at a checkpoint is an alarm.
    pub tags: Vec<u32>,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// `[a-z0-9-]+`, used in topics.
    pub site: String,
    /// `[a-z0-9-]+`, used in topics.
    pub id: String,
    pub data_dir: PathBuf,
    /// Local time of the site: rule `active` windows, zone daily resets, `check`.
    pub timezone: crate::localtime::LocalZone,
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
    /// `[commands]`: how `P/cmd` is bounded and authenticated.
    pub commands: CommandPolicy,
    /// How the platform reads us: our own contract or a platform's native API.
    pub format: UplinkFormat,
    /// Sparkplug: the primary host id whose `STATE` gates every publish (None: publish
    /// whenever connected).
    pub primary_host: Option<String>,
}

/// `[uplink] format`: the wire the uplink speaks. The outbox, its bounds and its replay
/// order are the same for every format; only the rendering at send time differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UplinkFormat {
    /// `docs/platform.md`: topics under `{topic_prefix}/{site}/{gateway}`.
    #[default]
    Sitewarden,
    /// ThingsBoard's gateway MQTT API (`v1/gateway/*`).
    ThingsBoard,
    /// Sparkplug B 3.0 (`spBv1.0/{site}/…/{gateway}`).
    Sparkplug,
}

impl UplinkFormat {
    /// The name as written in `format = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            UplinkFormat::Sitewarden => "sitewarden",
            UplinkFormat::ThingsBoard => "thingsboard",
            UplinkFormat::Sparkplug => "sparkplug",
        }
    }
}

/// `[commands]`: what a platform command must satisfy before it reaches a device.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandPolicy {
    /// The furthest ahead a command's `expires` may lie (default 5 min).
    pub max_expiry: Duration,
    /// Commands accepted per second, sustained (the token bucket's refill).
    pub rate: f64,
    /// Commands accepted at once (the token bucket's size).
    pub burst: u32,
    /// HMAC-SHA256 key; when set, every command must carry a valid `sig`.
    pub key_file: Option<PathBuf>,
}

impl Default for CommandPolicy {
    fn default() -> Self {
        CommandPolicy {
            max_expiry: Duration::from_secs(300),
            rate: 2.0,
            burst: 20,
            key_file: None,
        }
    }
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
        /// Quiet time between the end of one exchange and the next request.
        min_gap: Duration,
    },
    ModbusRtu {
        port: PathBuf,
        baud: u32,
        parity: Parity,
        data_bits: u8,
        stop_bits: u8,
        timeout: Duration,
        /// Quiet time between the end of one exchange and the next request.
        min_gap: Duration,
    },
    /// An RS485 bus behind a serial device server in transparent mode: raw RTU frames
    /// (CRC, no MBAP header) on a TCP socket. Paced as the far serial line: `baud` and
    /// the character format give the inter-frame silence.
    ModbusRtuOverTcp {
        /// `host:port` as written; resolved at connect time.
        address: String,
        baud: u32,
        parity: Parity,
        data_bits: u8,
        stop_bits: u8,
        timeout: Duration,
        /// Quiet time between the end of one exchange and the next request.
        min_gap: Duration,
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

impl ConnectionKind {
    /// The per-request timeout of a Modbus connection (None for mqtt).
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            ConnectionKind::ModbusTcp { timeout, .. }
            | ConnectionKind::ModbusRtu { timeout, .. }
            | ConnectionKind::ModbusRtuOverTcp { timeout, .. } => Some(*timeout),
            ConnectionKind::Mqtt { .. } => None,
        }
    }

    /// The configured quiet time between requests (zero for mqtt).
    pub fn min_gap(&self) -> Duration {
        match self {
            ConnectionKind::ModbusTcp { min_gap, .. }
            | ConnectionKind::ModbusRtu { min_gap, .. }
            | ConnectionKind::ModbusRtuOverTcp { min_gap, .. } => *min_gap,
            ConnectionKind::Mqtt { .. } => Duration::ZERO,
        }
    }

    /// The `type` as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            ConnectionKind::ModbusTcp { .. } => "modbus-tcp",
            ConnectionKind::ModbusRtu { .. } => "modbus-rtu",
            ConnectionKind::ModbusRtuOverTcp { .. } => "modbus-rtu-over-tcp",
            ConnectionKind::Mqtt { .. } => "mqtt",
        }
    }

    /// Where the link goes and how, for people (`check`, `probe`): `10.0.0.5:502,
    /// timeout 1s`, `/dev/ttyS1 9600 8N1, timeout 200ms`, the broker for mqtt.
    pub fn link_detail(&self) -> String {
        let dur = |d: &Duration| humantime::format_duration(*d).to_string();
        match self {
            ConnectionKind::ModbusTcp {
                address, timeout, ..
            } => format!("{address}, timeout {}", dur(timeout)),
            ConnectionKind::ModbusRtu {
                port,
                baud,
                parity,
                data_bits,
                stop_bits,
                timeout,
                ..
            } => format!(
                "{} {baud} {data_bits}{}{stop_bits}, timeout {}",
                port.display(),
                parity.letter(),
                dur(timeout)
            ),
            ConnectionKind::ModbusRtuOverTcp {
                address,
                baud,
                parity,
                data_bits,
                stop_bits,
                timeout,
                ..
            } => format!(
                "{address} (serial line {baud} {data_bits}{}{stop_bits}), timeout {}",
                parity.letter(),
                dur(timeout)
            ),
            ConnectionKind::Mqtt { broker, .. } => broker.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl Parity {
    /// N, E or O, as in 8N1.
    pub fn letter(self) -> char {
        match self {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        }
    }
}

/// A device's points, in profile order. Shared by every device of one profile rather
/// than copied into each (the site bench, benches/site: 1 170 points on 300 devices, 145 KB
/// of copies for 4 profiles). Reads like a slice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Points(std::sync::Arc<[Point]>);

impl std::ops::Deref for Points {
    type Target = [Point];
    fn deref(&self) -> &[Point] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Points {
    type Item = &'a Point;
    type IntoIter = std::slice::Iter<'a, Point>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<Point>> for Points {
    fn from(points: Vec<Point>) -> Self {
        Points(points.into())
    }
}

impl FromIterator<Point> for Points {
    fn from_iter<I: IntoIterator<Item = Point>>(iter: I) -> Self {
        Points(iter.into_iter().collect())
    }
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
    pub points: Points,
    /// Camera devices: topics and heartbeat (None for Modbus devices).
    pub camera: Option<Camera>,
    /// Report by exception on `P/live/{device}` (the device's `live = {…}`); None: off.
    pub live: Option<Live>,
}

/// A device's live-value reporting: a gauge or counter is reported when it moved more
/// than `deadband` (in its unit) from the value last reported, a state, event or command
/// point when it changed; never twice within `min_interval`, and at least every
/// `max_interval` (a keep-alive) even without a change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Live {
    pub deadband: f64,
    pub min_interval: Duration,
    pub max_interval: Duration,
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
        order: ByteOrder,
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
    /// Bit `n` (0 = least significant) of one holding or input register, read as a bool.
    Bit(u8),
    /// ASCII text over this many registers (1..=64), two characters a register: serial
    /// numbers, tag ids. Read only; its kind is `PointKind::Text`.
    Str(u8),
}

impl PointType {
    /// Registers (or bits, for `Bool`) this type occupies.
    pub fn registers(self) -> u16 {
        match self {
            PointType::Bool | PointType::U16 | PointType::I16 | PointType::Bit(_) => 1,
            PointType::U32 | PointType::I32 | PointType::F32 => 2,
            PointType::U64 | PointType::I64 | PointType::F64 => 4,
            PointType::Str(n) => u16::from(n),
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

    /// `u16`, `u32 ABCD`, `f32 CDAB`, `u16 BA`, `bool bit 3`, `string(10) BA`: the layout
    /// only where it matters (for `check` and `probe`).
    pub fn describe(self, order: ByteOrder) -> String {
        match self {
            PointType::Bit(n) => format!("bool bit {n}"),
            PointType::Str(n) if order.swap_bytes => format!("string({n}) BA"),
            PointType::Str(n) => format!("string({n})"),
            _ if self.registers() == 1 && !order.swap_bytes => self.name().to_string(),
            PointType::Bool => self.name().to_string(),
            _ => format!("{} {}", self.name(), order.name(self.registers())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PointType::Bool | PointType::Bit(_) => "bool",
            PointType::U16 => "u16",
            PointType::I16 => "i16",
            PointType::U32 => "u32",
            PointType::I32 => "i32",
            PointType::F32 => "f32",
            PointType::U64 => "u64",
            PointType::I64 => "i64",
            PointType::F64 => "f64",
            PointType::Str(_) => "string",
        }
    }
}

/// How a value's bytes are laid out over its registers, named by the letters of the
/// 32-bit layouts device manuals use (A = the most significant byte): ABCD (the Modbus
/// default), BADC (bytes swapped in each register), CDAB (words swapped), DCBA (both).
///
/// For 64-bit values the same four names mean what they mean to pymodbus and to most
/// manuals: CDAB reverses all four registers (GHEFCDAB). `swap_halves` apart from
/// `swap_words` covers the counters that are two u32 halves, low half first, each half
/// in its own word order (EFGHABCD, CDABGHEF …), spelled with eight letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteOrder {
    /// The two bytes of every register swapped.
    pub swap_bytes: bool,
    /// The two registers of every 32-bit half swapped.
    pub swap_words: bool,
    /// The two 32-bit halves of a 64-bit value swapped.
    pub swap_halves: bool,
}

impl ByteOrder {
    pub const ABCD: ByteOrder = ByteOrder::new(false, false, false);
    pub const BADC: ByteOrder = ByteOrder::new(true, false, false);
    pub const CDAB: ByteOrder = ByteOrder::new(false, true, true);
    pub const DCBA: ByteOrder = ByteOrder::new(true, true, true);

    pub const fn new(swap_bytes: bool, swap_words: bool, swap_halves: bool) -> Self {
        ByteOrder {
            swap_bytes,
            swap_words,
            swap_halves,
        }
    }

    /// The letters of this order for a value of `registers` registers: `AB` for one,
    /// `ABCD` for two, `ABCDEFGH` for four (bytes in the order they arrive).
    pub fn name(self, registers: u16) -> String {
        let msb_first: &[u8] = match registers {
            1 => b"AB",
            2 => b"ABCD",
            _ => b"ABCDEFGH",
        };
        let mut words: Vec<[u8; 2]> = msb_first.chunks(2).map(|c| [c[0], c[1]]).collect();
        if registers >= 4 && self.swap_halves {
            words.rotate_left(2);
        }
        if self.swap_words {
            for half in words.chunks_mut(2) {
                half.reverse();
            }
        }
        if self.swap_bytes {
            for w in &mut words {
                w.reverse();
            }
        }
        words.concat().into_iter().map(char::from).collect()
    }
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
    /// Text read from a string point (a serial number, a tag id): last text and changes.
    Text,
}

impl PointKind {
    pub fn name(self) -> &'static str {
        match self {
            PointKind::Gauge => "gauge",
            PointKind::Counter => "counter",
            PointKind::State => "state",
            PointKind::Event => "event",
            PointKind::Command => "command",
            PointKind::Text => "text",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    /// Maximum visitors inside at once.
    pub capacity: u64,
    /// Local time of day (seconds after local midnight, in `Gateway::timezone`) at
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
    /// Glob patterns on cell names; when not empty, only devices in a matching cell.
    pub cells: Vec<String>,
    /// Cell kinds; when not empty, only devices in a cell of one of these kinds.
    pub cell_kinds: Vec<String>,
    /// The point judged (absent for `offline`, `capacity`).
    pub point: Option<String>,
    pub severity: Severity,
    pub kind: RuleKind,
    /// When the rule judges (local time); None is always. Outside it, raised alarms clear.
    pub active: Option<crate::localtime::Active>,
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

    /// Whether this rule judges device `device` of `site`: its id matches `devices`, and
    /// its cell matches `cells` and `cell_kinds` where those are given.
    pub fn applies_to_device(&self, site: &Site, device: usize) -> bool {
        let Some(d) = site.devices.get(device) else {
            return false;
        };
        if !self.applies_to(&d.id) {
            return false;
        }
        if self.cells.is_empty() && self.cell_kinds.is_empty() {
            return true;
        }
        let Some(cell) = site.cell_of(device) else {
            return false;
        };
        (self.cells.is_empty() || self.cells.iter().any(|g| glob_match(g, &cell.name)))
            && (self.cell_kinds.is_empty() || self.cell_kinds.contains(&cell.kind))
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
