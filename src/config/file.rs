//! The schema of `sitewarden.toml`: every key, its type, its default, and the checks a
//! key passes or fails on its own (ranges, formats, choices).
//!
//! Reads a parsed document into `FileConfig`, pushing an error for every bad, missing or
//! unknown key. Cross-references between tables (a device's profile, connection and
//! zone) are `validate`'s, rules are `rule`'s, and profile files are `profile`'s.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, Loc};
use super::format::{
    check_topic_prefix, parse_address, parse_broker, parse_time_of_day, parse_utc_offset,
};
use super::read::{Reader, Val, check, positive};
use super::rule::{self, RuleFile};
use crate::localtime::{LocalZone, parse_date};
use crate::site::{Buffer, ConnectionKind, Gateway, Parity, Uplink, Zone};

pub(super) const DEFAULT_DATA_DIR: &str = "/var/lib/sitewarden";
pub(super) const DEFAULT_TOPIC_PREFIX: &str = "sitewarden";
pub(super) const DEFAULT_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);
/// Publishes awaiting PUBACK at once; rumqttc's default, enough to keep a 4G link busy.
pub(super) const DEFAULT_INFLIGHT: i64 = 100;
pub(super) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(30);
pub(super) const DEFAULT_RAW_MAX_BYTES: u64 = 256 * 1024 * 1024;
pub(super) const DEFAULT_OUTBOX_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// The smallest store bound accepted: below this the ring holds only seconds of data.
const MIN_BUFFER_BYTES: u64 = 1024 * 1024;
pub(super) const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// The Modbus limit for one read of registers (the PDU holds 125 × 2 bytes).
pub(super) const MAX_REGISTERS_PER_READ: i64 = 125;
pub(super) const DEFAULT_TCP_TIMEOUT: Duration = Duration::from_millis(500);
/// RTU answers queue behind the bus: 1 s leaves room for a slow slave at 9600 baud.
pub(super) const DEFAULT_RTU_TIMEOUT: Duration = Duration::from_secs(1);
pub(super) const DEFAULT_BAUD: i64 = 9600;
pub(super) const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 65_536;
const DAY_SECS: i64 = 86_400;

/// The document, read key by key. Parts that failed to read are absent; their errors
/// are already pushed.
#[derive(Debug)]
pub(super) struct FileConfig {
    pub(super) gateway: Option<Gateway>,
    pub(super) uplink: Option<Uplink>,
    pub(super) buffer: Buffer,
    pub(super) connections: Vec<ConnectionFile>,
    pub(super) devices: Vec<DeviceFile>,
    pub(super) zones: Vec<ZoneFile>,
    pub(super) cells: Vec<CellFile>,
    pub(super) calendars: Vec<CalendarFile>,
    pub(super) rules: Vec<RuleFile>,
    pub(super) http: Option<crate::site::Http>,
    pub(super) patrols: Vec<super::patrol::PatrolFile>,
}

/// One `[[cell]]`: a grid cell of the site.
#[derive(Debug)]
pub(super) struct CellFile {
    pub(super) name: Val<String>,
    pub(super) kind: Option<Val<String>>,
    pub(super) owner: Option<String>,
    pub(super) key_point: bool,
}

/// One `[[calendar]]`: a named list of local dates (holidays) rules can name.
#[derive(Debug)]
pub(super) struct CalendarFile {
    pub(super) name: Val<String>,
    /// Sorted, without repeats.
    pub(super) dates: Vec<jiff::civil::Date>,
    /// A file of dates (one `YYYY-MM-DD` a line), read by `calendar::read_files`.
    pub(super) file: Option<Val<PathBuf>>,
}

#[derive(Debug)]
pub(super) struct ConnectionFile {
    pub(super) name: Val<String>,
    /// None when a key of the connection was bad.
    pub(super) kind: Option<ConnectionKind>,
}

#[derive(Debug)]
pub(super) struct DeviceFile {
    /// The `[[device]]` header.
    pub(super) loc: Loc,
    pub(super) id: Option<Val<String>>,
    pub(super) profile: Option<Val<String>>,
    pub(super) connection: Option<Val<String>>,
    /// Modbus unit id, already within 1..=247.
    pub(super) unit: Option<Val<u8>>,
    /// Whether `unit` was written at all (it may have been written and refused).
    pub(super) unit_given: bool,
    pub(super) poll: Option<Val<Duration>>,
    pub(super) zone: Option<Val<String>>,
    pub(super) cell: Option<Val<String>>,
    pub(super) max_registers_per_read: Option<Val<u16>>,
    pub(super) max_gap: Option<Val<u16>>,
    /// `live = {…}`: report by exception (`live.rs`).
    pub(super) live: Option<Val<crate::site::Live>>,
    /// Every key of this device read cleanly.
    pub(super) clean: bool,
}

#[derive(Debug)]
pub(super) struct ZoneFile {
    pub(super) name: Val<String>,
    pub(super) zone: Option<Zone>,
}

/// Reads the whole document from its root table.
pub(super) fn read(mut root: Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> FileConfig {
    let mut r = root.table("gateway", errors);
    let gateway = gateway(&mut r, errors);
    r.finish(errors);
    let mut r = root.table("uplink", errors);
    let mut uplink = uplink(&mut r, errors);
    r.finish(errors);
    let mut r = root.table("commands", errors);
    let commands = super::commands::read(&mut r, errors);
    r.finish(errors);
    if let Some(u) = uplink.as_mut() {
        u.commands = commands;
    }
    let mut r = root.table("buffer", errors);
    let buffer = buffer(&mut r, errors);
    r.finish(errors);
    let mut r = root.table("http", errors);
    let http = super::http::read(&mut r, errors);
    r.finish(errors);
    let connections = each(root.array("connection", errors), errors, connection);
    let devices = each(root.array("device", errors), errors, device);
    let zones = each(root.array("zone", errors), errors, zone);
    let cells = each(root.array("cell", errors), errors, cell);
    let calendars = each(root.array("calendar", errors), errors, calendar);
    let rules = each(root.array("rule", errors), errors, rule::read);
    let patrols = each(root.array("patrol", errors), errors, super::patrol::read);
    root.finish(errors);
    FileConfig {
        gateway,
        uplink,
        buffer,
        connections: connections.into_iter().flatten().collect(),
        devices,
        zones: zones.into_iter().flatten().collect(),
        cells: cells.into_iter().flatten().collect(),
        calendars: calendars.into_iter().flatten().collect(),
        rules: rules.into_iter().flatten().collect(),
        http,
        patrols: patrols.into_iter().flatten().collect(),
    }
}

/// Reads every table of an array with `read`, then reports its unknown keys.
fn each<'a, 'i, T>(
    readers: Vec<Reader<'a, 'i>>,
    errors: &mut Vec<ConfigError>,
    mut read: impl FnMut(&mut Reader<'a, 'i>, &mut Vec<ConfigError>) -> T,
) -> Vec<T> {
    readers
        .into_iter()
        .map(|mut r| {
            let item = read(&mut r, errors);
            r.finish(errors);
            item
        })
        .collect()
}

fn gateway(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<Gateway> {
    let site = r.required("site", errors, Reader::name);
    let id = r.required("id", errors, Reader::name);
    let data_dir = check(r.get::<PathBuf>("data_dir", errors), errors, |p| {
        if p.as_os_str().is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(p.clone())
        }
    });
    let utc_offset = check(r.get::<String>("utc_offset", errors), errors, |s| {
        parse_utc_offset(s)
    });
    let timezone = check(r.get::<String>("timezone", errors), errors, |s| {
        LocalZone::named(s)
    });
    let timezone = match (timezone, utc_offset) {
        (Some(tz), Some(off)) => {
            errors.push(off.loc.error(format!(
                "give `timezone` or `utc_offset`, not both (`timezone` = {} handles daylight saving)",
                tz.v.name()
            )));
            tz.v
        }
        (Some(tz), None) => tz.v,
        (None, Some(off)) => LocalZone::fixed(off.v, &offset_name(off.v)),
        (None, None) => LocalZone::utc(),
    };
    match (site, id) {
        (Some(site), Some(id)) => Some(Gateway {
            site: site.v,
            id: id.v,
            data_dir: data_dir.map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), |v| v.v),
            timezone,
        }),
        _ => None,
    }
}

/// 28800 → `UTC+08:00`.
fn offset_name(secs: i64) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)
}

fn cell(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<CellFile> {
    let name = r.required("name", errors, Reader::name);
    let kind = r.required("kind", errors, Reader::get::<String>);
    let kind = check(kind, errors, |k| {
        if k.is_empty() || k.contains(['/', '+', '#']) {
            Err(format!(
                "`{k}` is not a usable cell kind (not empty, no `/`, `+`, `#`)"
            ))
        } else {
            Ok(k.clone())
        }
    });
    let owner = r.get::<String>("owner", errors).map(|v| v.v);
    let key_point = r.get::<bool>("key_point", errors).is_some_and(|v| v.v);
    Some(CellFile {
        name: name?,
        kind,
        owner,
        key_point,
    })
}

fn calendar(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<CalendarFile> {
    let name = r.required("name", errors, Reader::name);
    let file = r.get::<PathBuf>("file", errors);
    let dates = match (&file, r.given("dates")) {
        (Some(_), None) => None,
        (Some(f), Some(_)) => {
            errors.push(f.loc.error("give `dates` or `file`, not both"));
            None
        }
        (None, _) => r.required("dates", errors, Reader::get::<Vec<String>>),
    };
    let dates = check(dates, errors, |list| {
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            out.push(parse_date(d)?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    });
    Some(CalendarFile {
        name: name?,
        dates: dates.map(|d| d.v).unwrap_or_default(),
        file,
    })
}

fn uplink(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<Uplink> {
    let broker = r.required("broker", errors, Reader::get::<String>);
    let broker = check(broker, errors, |s| parse_broker(s));
    let username = r.get::<String>("username", errors).map(|v| v.v);
    let password_file = r.get::<PathBuf>("password_file", errors).map(|v| v.v);
    let ca_file = r.get::<PathBuf>("ca_file", errors);
    let client_cert = r.get::<PathBuf>("client_cert", errors);
    let client_key = r.get::<PathBuf>("client_key", errors);
    let topic_prefix_loc = r.given("topic_prefix");
    let topic_prefix = check(r.get::<String>("topic_prefix", errors), errors, |s| {
        check_topic_prefix(s).map(|()| s.clone())
    });
    let summary_interval = whole_seconds(
        r.duration("summary_interval", errors),
        Duration::from_secs(1),
        Duration::from_secs(DAY_SECS as u64),
        errors,
    );
    let inflight = r.int_in("inflight", 1..=i64::from(u16::MAX), errors);
    let keep_alive = whole_seconds(
        r.duration("keep_alive", errors),
        Duration::from_secs(1),
        Duration::from_secs(u64::from(u16::MAX)),
        errors,
    );
    let broker = broker?.v;
    if !broker.tls {
        for file in [&ca_file, &client_cert, &client_key].into_iter().flatten() {
            errors.push(file.loc.error("TLS files need an mqtts:// broker"));
        }
    }
    match (&client_cert, &client_key) {
        (Some(c), None) => errors.push(c.loc.error("client_cert needs client_key too")),
        (None, Some(k)) => errors.push(k.loc.error("client_key needs client_cert too")),
        _ => {}
    }
    let format = super::uplink_format::read(r, topic_prefix_loc, errors);
    let primary_host = super::uplink_format::primary_host(r, format, errors);
    Some(Uplink {
        broker,
        username,
        password_file,
        ca_file: ca_file.map(|v| v.v),
        client_cert: client_cert.map(|v| v.v),
        client_key: client_key.map(|v| v.v),
        topic_prefix: topic_prefix.map_or_else(|| DEFAULT_TOPIC_PREFIX.to_string(), |v| v.v),
        summary_interval: summary_interval.map_or(DEFAULT_SUMMARY_INTERVAL, |v| v.v),
        inflight: inflight.map_or(DEFAULT_INFLIGHT, |v| v.v) as u16,
        keep_alive: keep_alive.map_or(DEFAULT_KEEP_ALIVE, |v| v.v),
        commands: Default::default(),
        format,
        primary_host,
    })
}

fn buffer(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Buffer {
    let mut size = |key, default| {
        let v = check(r.size(key, errors), errors, |&n| {
            if n < MIN_BUFFER_BYTES {
                Err(format!("{n} bytes is too small, the minimum is 1MiB"))
            } else {
                Ok(n)
            }
        });
        v.map_or(default, |v| v.v)
    };
    Buffer {
        raw_max_bytes: size("raw_max_bytes", DEFAULT_RAW_MAX_BYTES),
        outbox_max_bytes: size("outbox_max_bytes", DEFAULT_OUTBOX_MAX_BYTES),
    }
}

const CONNECTION_TYPES: [(&str, Kind); 4] = [
    ("modbus-tcp", Kind::Tcp),
    ("modbus-rtu", Kind::Rtu),
    ("modbus-rtu-over-tcp", Kind::RtuOverTcp),
    ("mqtt", Kind::Mqtt),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Rtu,
    RtuOverTcp,
    Mqtt,
}

const PARITIES: [(&str, Parity); 3] = [
    ("none", Parity::None),
    ("even", Parity::Even),
    ("odd", Parity::Odd),
];

/// Keys that belong to one connection type only.
const TCP_KEYS: [&str; 1] = ["address"];
const RTU_KEYS: [&str; 5] = ["port", "baud", "parity", "data_bits", "stop_bits"];
/// The serial line's settings a serial device server's far side runs at.
const LINE_KEYS: [&str; 4] = ["baud", "parity", "data_bits", "stop_bits"];
const MQTT_KEYS: [&str; 4] = ["broker", "username", "password_file", "max_payload_bytes"];

/// `min_gap` (quiet time between requests) and `max_inflight` (requests outstanding at
/// once). sitewarden sends one request at a time on a connection, so `max_inflight`
/// takes only 1: it is accepted so that a site can say so, and anything else is refused
/// rather than silently not honoured.
fn pacing(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Duration {
    let gap = check(r.duration("min_gap", errors), errors, |&d| {
        if d > Duration::from_secs(10) {
            Err(format!("{d:?} between requests is more than the 10s limit"))
        } else {
            Ok(d)
        }
    });
    if let Some(n) = r.get::<i64>("max_inflight", errors)
        && n.v != 1
    {
        errors.push(n.loc.error(format!(
            "max_inflight = {}: sitewarden sends one request at a time on a connection, \
             only 1 is supported (for more in parallel, use more connections to different \
             converters)",
            n.v
        )));
    }
    gap.map_or(Duration::ZERO, |g| g.v)
}

fn connection(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<ConnectionFile> {
    let name = r.required("name", errors, Reader::name);
    let kind = r.required("type", errors, |r, k, e| {
        r.choice(k, "connection type", &CONNECTION_TYPES, e)
    });
    let before = errors.len();
    let is_modbus = kind.as_ref().is_some_and(|k| k.v != Kind::Mqtt);
    let min_gap = if is_modbus {
        pacing(r, errors)
    } else {
        Duration::ZERO
    };
    let kind = match kind.map(|k| k.v) {
        Some(Kind::Tcp) => tcp_connection(r, min_gap, errors),
        Some(Kind::Rtu) => rtu_connection(r, min_gap, errors),
        Some(Kind::RtuOverTcp) => rtu_over_tcp_connection(r, min_gap, errors),
        Some(Kind::Mqtt) => mqtt_connection(r, errors),
        None => {
            // The type is missing or unknown: accept every connection key quietly, so
            // the one real mistake is not buried under "does not apply" noise.
            for key in TCP_KEYS.iter().chain(&RTU_KEYS).chain(&MQTT_KEYS) {
                r.given(key);
            }
            r.given("timeout");
            None
        }
    };
    let kind = if errors.len() == before { kind } else { None };
    Some(ConnectionFile { name: name?, kind })
}

fn tcp_connection(
    r: &mut Reader<'_, '_>,
    min_gap: Duration,
    errors: &mut Vec<ConfigError>,
) -> Option<ConnectionKind> {
    let why = "to a modbus-tcp connection";
    r.not_here(&RTU_KEYS, why, errors);
    r.not_here(&LINE_KEYS, why, errors);
    r.not_here(&MQTT_KEYS, why, errors);
    let address = r.required("address", errors, Reader::get::<String>);
    let address = check(address, errors, |s| parse_address(s));
    let timeout = positive(r.duration("timeout", errors), errors);
    address.map(|a| ConnectionKind::ModbusTcp {
        address: a.v,
        timeout: timeout.map_or(DEFAULT_TCP_TIMEOUT, |v| v.v),
        min_gap,
    })
}

/// A serial line's settings (a local port's, or the far side of a serial device server's),
/// with the usual 8N1 defaults.
struct SerialLine {
    baud: u32,
    parity: Parity,
    data_bits: u8,
    stop_bits: u8,
    timeout: Duration,
}

fn serial_line(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> SerialLine {
    let baud = r.int_in("baud", 1..=4_000_000, errors);
    let parity = r.choice("parity", "parity", &PARITIES, errors);
    let data_bits = r.int_in("data_bits", 5..=8, errors);
    let stop_bits = r.int_in("stop_bits", 1..=2, errors);
    let timeout = positive(r.duration("timeout", errors), errors);
    SerialLine {
        baud: baud.map_or(DEFAULT_BAUD, |v| v.v) as u32,
        parity: parity.map_or(Parity::None, |v| v.v),
        data_bits: data_bits.map_or(8, |v| v.v) as u8,
        stop_bits: stop_bits.map_or(1, |v| v.v) as u8,
        timeout: timeout.map_or(DEFAULT_RTU_TIMEOUT, |v| v.v),
    }
}

fn rtu_connection(
    r: &mut Reader<'_, '_>,
    min_gap: Duration,
    errors: &mut Vec<ConfigError>,
) -> Option<ConnectionKind> {
    let why = "to a modbus-rtu connection";
    r.not_here(&TCP_KEYS, why, errors);
    r.not_here(&MQTT_KEYS, why, errors);
    let port = r.required("port", errors, Reader::get::<PathBuf>);
    let line = serial_line(r, errors);
    port.map(|p| ConnectionKind::ModbusRtu {
        port: p.v,
        baud: line.baud,
        parity: line.parity,
        data_bits: line.data_bits,
        stop_bits: line.stop_bits,
        timeout: line.timeout,
        min_gap,
    })
}

fn rtu_over_tcp_connection(
    r: &mut Reader<'_, '_>,
    min_gap: Duration,
    errors: &mut Vec<ConfigError>,
) -> Option<ConnectionKind> {
    let why = "to a modbus-rtu-over-tcp connection (it has an address, not a port)";
    r.not_here(&["port"], why, errors);
    r.not_here(&MQTT_KEYS, why, errors);
    let address = r.required("address", errors, Reader::get::<String>);
    let address = check(address, errors, |s| parse_address(s));
    let line = serial_line(r, errors);
    address.map(|a| ConnectionKind::ModbusRtuOverTcp {
        address: a.v,
        baud: line.baud,
        parity: line.parity,
        data_bits: line.data_bits,
        stop_bits: line.stop_bits,
        timeout: line.timeout,
        min_gap,
    })
}

fn mqtt_connection(
    r: &mut Reader<'_, '_>,
    errors: &mut Vec<ConfigError>,
) -> Option<ConnectionKind> {
    let why = "to an mqtt connection";
    r.not_here(&TCP_KEYS, why, errors);
    r.not_here(&RTU_KEYS, why, errors);
    r.not_here(&["timeout", "min_gap", "max_inflight"], why, errors);
    let broker = r.required("broker", errors, Reader::get::<String>);
    let broker = check(broker, errors, |s| parse_broker(s));
    let username = r.get::<String>("username", errors).map(|v| v.v);
    let password_file = r.get::<PathBuf>("password_file", errors).map(|v| v.v);
    let max = check(r.size("max_payload_bytes", errors), errors, |&n| {
        usize::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{n} bytes is not a usable payload limit"))
    });
    broker.map(|b| ConnectionKind::Mqtt {
        broker: b.v,
        username,
        password_file,
        max_payload_bytes: max.map_or(DEFAULT_MAX_PAYLOAD_BYTES as usize, |v| v.v),
    })
}

fn device(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> DeviceFile {
    let before = errors.len();
    let id = r.required("id", errors, Reader::name);
    let profile = r.required("profile", errors, Reader::get::<String>);
    let connection = r.required("connection", errors, Reader::get::<String>);
    let unit_given = r.given("unit").is_some();
    let unit = narrow(r.int_in("unit", 1..=247, errors));
    let poll = check(positive(r.duration("poll", errors), errors), errors, |&d| {
        if d < MIN_POLL {
            Err(format!(
                "`{}` is too short for a poll: at least {} (one Modbus round trip takes longer)",
                humantime::format_duration(d),
                humantime::format_duration(MIN_POLL)
            ))
        } else {
            Ok(d)
        }
    });
    let zone = r.get::<String>("zone", errors);
    let cell = r.get::<String>("cell", errors);
    let max_registers_per_read =
        narrow(r.int_in("max_registers_per_read", 1..=MAX_REGISTERS_PER_READ, errors));
    let max_gap = narrow(r.int_in("max_gap", 0..=MAX_REGISTERS_PER_READ, errors));
    let live = super::live::read(r, errors);
    DeviceFile {
        loc: r.loc().clone(),
        id,
        profile,
        connection,
        unit,
        unit_given,
        poll,
        zone,
        cell,
        max_registers_per_read,
        max_gap,
        live,
        clean: errors.len() == before,
    }
}

fn zone(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<ZoneFile> {
    let name = r.required("name", errors, Reader::name);
    let capacity = r.required("capacity", errors, Reader::get::<i64>);
    let capacity = check(capacity, errors, |&n| {
        u64::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("capacity must be at least 1 visitor, not {n}"))
    });
    let reset = r.get::<String>("daily_reset", errors);
    let reset = check(reset, errors, |s| parse_time_of_day(s));
    let local = reset.map_or(0, |v| v.v);
    let zone = match (&name, capacity) {
        (Some(name), Some(capacity)) => Some(Zone {
            name: name.v.clone(),
            capacity: capacity.v,
            daily_reset: Duration::from_secs(local.rem_euclid(DAY_SECS) as u64),
        }),
        _ => None,
    };
    Some(ZoneFile { name: name?, zone })
}

/// Narrows an integer already checked to fit.
fn narrow<T: TryFrom<i64>>(v: Option<Val<i64>>) -> Option<Val<T>> {
    let v = v?;
    Some(Val {
        v: T::try_from(v.v).ok()?,
        loc: v.loc,
    })
}

/// The shortest poll interval a device may have.
pub(super) const MIN_POLL: Duration = Duration::from_millis(10);

fn whole_seconds(
    v: Option<Val<Duration>>,
    min: Duration,
    max: Duration,
    errors: &mut Vec<ConfigError>,
) -> Option<Val<Duration>> {
    check(v, errors, |&d| {
        if d.subsec_nanos() != 0 || d < min || d > max {
            Err(format!(
                "must be whole seconds from {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ))
        } else {
            Ok(d)
        }
    })
}
