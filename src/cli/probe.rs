//! `sitewarden probe`: reads one Modbus device once and prints what it holds, for a
//! technician at the cabinet.
//!
//! The device comes from the configuration by id (`probe gate-n1 -c FILE`), or is
//! described on the command line (`--tcp host:port` or `--serial PORT --baud …`, with
//! `--unit` and `--profile`). Either way it becomes a `Device` and a `ConnectionKind`,
//! and `source::modbus::read_once` does the reading: the same coalesced plan, codec,
//! timeouts and RTU recovery as the daemon, so what probe sees is what the daemon will.
//! The output (`table`) is a table — point, table, address, type, raw registers in hex,
//! value with unit (or the error by name), kind — and a summary line with the requests
//! sent and the time taken.
//!
//! `--scan --table T --address A --count N` reads raw registers instead of a profile's
//! points (`scan`), for a device whose map is not known yet.
//!
//! When the running daemon owns the connection (the config names it and the daemon
//! answers on its status socket), the daemon does the reads between its polls
//! (`daemon`); otherwise probe opens the device itself.
//!
//! Exit codes: 0 when every point was read, 1 when any failed (or the device could not
//! be reached), 2 on a usage or configuration error. Probe never writes to a device and
//! never touches the store or the broker.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{ArgGroup, Args, ValueEnum};

use super::{DEFAULT_CONFIG, Reported};
use crate::config;
use crate::site::{ConnectionKind, Device, Parity, Point, PointSource, Site};
use crate::source::modbus::plan::MAX_REGISTERS;
use crate::source::modbus::read_once;
use table::{header, render};

const DEFAULT_TCP_TIMEOUT: Duration = Duration::from_millis(500);
const DEFAULT_SERIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// `sitewarden probe` arguments: a configured device by id, or an ad-hoc one.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").args(["device", "tcp", "serial"]).required(true)))]
#[command(group(ArgGroup::new("what").args(["profile", "scan"])))]
pub struct ProbeArgs {
    /// Id of a device in the configuration.
    pub device: Option<String>,
    /// Configuration file (with a device id).
    #[arg(short, long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Modbus TCP device or TCP-to-RTU gateway: host[:port], port 502 if omitted.
    #[arg(long, value_name = "HOST:PORT", requires = "what")]
    pub tcp: Option<String>,
    /// Serial port of a Modbus RTU bus.
    #[arg(long, value_name = "PORT", requires = "what")]
    pub serial: Option<PathBuf>,
    /// Serial speed.
    #[arg(long, default_value_t = 9600, requires = "serial")]
    pub baud: u32,
    /// Serial parity.
    #[arg(long, value_enum, default_value = "none", requires = "serial")]
    pub parity: ParityArg,
    /// Serial stop bits.
    #[arg(long, default_value_t = 1, requires = "serial",
          value_parser = clap::value_parser!(u8).range(1..=2))]
    pub stop_bits: u8,
    /// Modbus unit id (slave address).
    #[arg(long, default_value_t = 1, conflicts_with = "device",
          value_parser = clap::value_parser!(u8).range(1..=247))]
    pub unit: u8,
    /// Profile: a shipped or installed profile name, or the path of a profile file.
    #[arg(long, conflicts_with = "device")]
    pub profile: Option<String>,
    /// Time allowed for each answer [default: the connection's; 500ms TCP, 1s serial].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Largest register count in one read, for devices that refuse big reads.
    #[arg(long, conflicts_with = "device",
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_REGISTERS)))]
    pub max_registers_per_read: Option<u16>,
    /// Registers a read may skip to join two points.
    #[arg(long, conflicts_with = "device",
          value_parser = clap::value_parser!(u16).range(0..=i64::from(MAX_REGISTERS)))]
    pub max_gap: Option<u16>,
    /// Read a range of raw registers instead of a profile's points (an unknown device).
    #[arg(long, conflicts_with_all = ["device", "profile"], requires_all = ["table", "address", "count"])]
    pub scan: bool,
    /// The table a scan reads.
    #[arg(long, value_enum, requires = "scan")]
    pub table: Option<scan::TableArg>,
    /// The first (0-based protocol) address a scan reads.
    #[arg(long, requires = "scan")]
    pub address: Option<u16>,
    /// How many registers (or bits) a scan reads.
    #[arg(long, requires = "scan",
          value_parser = clap::value_parser!(u16).range(1..=i64::from(scan::MAX_SCAN)))]
    pub count: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParityArg {
    None,
    Even,
    Odd,
}

/// Runs the probe and prints its table to stdout.
pub fn main(args: &ProbeArgs) -> anyhow::Result<()> {
    let (kind, device) = target(args)?;
    let started = Instant::now();
    let (result, through) = match daemon::read(args, &kind, &device) {
        Some(Ok(read)) => (Ok(read), true),
        Some(Err(refused)) => {
            println!("{}", header(&kind, &device));
            println!("the running daemon owns this connection and refused the probe: {refused}");
            return Err(Reported(1).into());
        }
        None => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            (runtime.block_on(read_once(&kind, &device)), false)
        }
    };
    let took = started.elapsed();
    println!("{}", header(&kind, &device));
    if through {
        println!("read through the running daemon, between its polls");
    }
    match result {
        Ok(read) => {
            print!("{}", render(&device, &read, took));
            if read.points.iter().all(|p| p.error.is_none()) {
                Ok(())
            } else {
                Err(Reported(1).into())
            }
        }
        Err(e) => {
            println!("cannot reach the device: {e}");
            Err(Reported(1).into())
        }
    }
}

/// The connection and device to probe, from the config or the command line. Errors are
/// printed here and become exit code 2.
fn target(args: &ProbeArgs) -> anyhow::Result<(ConnectionKind, Device)> {
    match &args.device {
        Some(id) => from_config(args, id),
        None => ad_hoc(args),
    }
    .map_err(|message| {
        eprintln!("{message}");
        Reported(2).into()
    })
}

fn from_config(args: &ProbeArgs, id: &str) -> Result<(ConnectionKind, Device), String> {
    let site: Site = config::load(&args.config)
        .map_err(|errors| format!("{errors}\n{}: configuration refused", args.config.display()))?;
    let Some(device) = site.devices.iter().find(|d| d.id == id) else {
        let ids: Vec<&str> = site.devices.iter().map(|d| d.id.as_str()).collect();
        return Err(format!(
            "no device `{id}` in {}; devices: {}",
            args.config.display(),
            ids.join(", ")
        ));
    };
    let mut kind = site
        .connections
        .get(device.connection)
        .map(|c| c.kind.clone())
        .ok_or_else(|| format!("device `{id}` has no connection"))?;
    if matches!(kind, ConnectionKind::Mqtt { .. }) {
        return Err(format!(
            "`{id}` is a camera on an mqtt connection; probe reads modbus devices"
        ));
    }
    if let Some(t) = args.timeout {
        set_timeout(&mut kind, t);
    }
    Ok((kind, device.clone()))
}

fn ad_hoc(args: &ProbeArgs) -> Result<(ConnectionKind, Device), String> {
    let kind = match (&args.tcp, &args.serial) {
        (Some(address), None) => ConnectionKind::ModbusTcp {
            address: with_port(address),
            timeout: args.timeout.unwrap_or(DEFAULT_TCP_TIMEOUT),
            min_gap: Duration::ZERO,
        },
        (None, Some(port)) => ConnectionKind::ModbusRtu {
            port: port.clone(),
            baud: args.baud,
            parity: match args.parity {
                ParityArg::None => Parity::None,
                ParityArg::Even => Parity::Even,
                ParityArg::Odd => Parity::Odd,
            },
            data_bits: 8,
            stop_bits: args.stop_bits,
            timeout: args.timeout.unwrap_or(DEFAULT_SERIAL_TIMEOUT),
            min_gap: Duration::ZERO,
        },
        _ => return Err("give a device id, or --tcp or --serial".into()),
    };
    let (profile, points) = match (args.scan, args.table, args.address, args.count) {
        (true, Some(table), Some(address), Some(count)) => {
            ("scan", scan::points(table, address, count)?)
        }
        _ => {
            let profile = args.profile.as_deref().ok_or("--profile is required")?;
            (profile, load_profile(profile, &args.config)?)
        }
    };
    if !points
        .iter()
        .any(|p| matches!(p.source, PointSource::Modbus { .. }))
    {
        return Err(format!(
            "profile `{profile}` has no modbus points (a camera profile?)"
        ));
    }
    let device = Device {
        id: format!("unit-{}", args.unit),
        profile: profile.to_string(),
        connection: 0,
        unit: args.unit,
        poll: Duration::from_secs(1),
        zone: None,
        max_registers_per_read: args.max_registers_per_read.unwrap_or(MAX_REGISTERS),
        max_gap: args.max_gap.unwrap_or(0),
        points: points.into(),
        camera: None,
        live: None,
    };
    Ok((kind, device))
}

/// A profile by name (in `<config dir>/profiles/`, `/etc/sitewarden/profiles/`, then the
/// shipped ones) or by file path (anything with a `/` or ending in `.toml`).
fn load_profile(profile: &str, config_path: &Path) -> Result<Vec<Point>, String> {
    let is_path = profile.contains('/') || profile.ends_with(".toml");
    let (name, dirs) = if is_path {
        let path = Path::new(profile);
        if !path.is_file() {
            return Err(format!("no profile file {profile}"));
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("cannot name a profile after {profile}"))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        (name, vec![dir])
    } else {
        (profile, config::profile_dirs(config_path))
    };
    config::load_profile(name, &dirs).map_err(|e| e.to_string())
}

fn with_port(address: &str) -> String {
    // An IPv6 literal carries its port after `]`; anything else after its only `:`.
    let has_port = match address.rsplit_once(']') {
        Some((_, rest)) => rest.starts_with(':'),
        None => address.contains(':'),
    };
    if has_port {
        address.to_string()
    } else {
        format!("{address}:502")
    }
}

fn set_timeout(kind: &mut ConnectionKind, t: Duration) {
    match kind {
        ConnectionKind::ModbusTcp { timeout, .. }
        | ConnectionKind::ModbusRtu { timeout, .. }
        | ConnectionKind::ModbusRtuOverTcp { timeout, .. } => {
            *timeout = t;
        }
        ConnectionKind::Mqtt { .. } => {}
    }
}

mod daemon;
mod scan;
mod table;

#[cfg(test)]
mod tests;
