//! What the field side produces: one `Sample` per poll of a device (or per camera
//! message), flowing one way into `ingest`.
//!
//! Values are the device's raw numbers, before scale and offset: a turnstile counter is
//! the integer the registers hold, a thermometer reads `223` for 22.3 °C. Raw integers
//! compress well in the raw ring (`store::raw`) and `site::Point::engineering` turns them
//! into engineering values exactly once, in `ingest`. String points (serial numbers,
//! tag ids) are text, carried beside the numbers in `Sample::texts`.

use std::fmt;

/// Milliseconds since the Unix epoch, UTC. The one time type of the data path.
pub type Ms = i64;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index into `Site::devices`.
    pub device: usize,
    pub ts: Ms,
    /// One slot per point of the device, in profile order; `None` where this sample has
    /// no value for the point (a failed read, or a camera message about another field).
    pub values: Vec<Option<f64>>,
    /// The text of each string point this poll read, by point index (its slot in
    /// `values` stays `None`). Empty for every device without string points, so the
    /// numeric path never looks at it; not kept in the raw ring.
    pub texts: Vec<(usize, Box<str>)>,
    /// Set when the poll failed, wholly or in part.
    pub error: Option<PollError>,
}

/// Why a poll (or part of it) produced no value. Kept apart by kind because they mean
/// different things: a timeout or transport error drops the connection, an exception is
/// the device's own answer and does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollError {
    Timeout,
    Transport(String),
    /// The device answered with a Modbus exception code.
    Exception(u8),
    /// The answer arrived but could not be understood (bad CRC, wrong length, bad JSON).
    Malformed(String),
    /// A camera heartbeat or message did not arrive in time.
    Silent,
}

impl PollError {
    /// Standard name of a Modbus exception code.
    pub fn exception_name(code: u8) -> &'static str {
        match code {
            0x01 => "illegal function",
            0x02 => "illegal data address",
            0x03 => "illegal data value",
            0x04 => "server device failure",
            0x05 => "acknowledge",
            0x06 => "server device busy",
            0x08 => "memory parity error",
            0x0A => "gateway path unavailable",
            0x0B => "gateway target device failed to respond",
            _ => "unknown exception",
        }
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::Timeout => f.write_str("timeout"),
            PollError::Transport(e) => write!(f, "transport: {e}"),
            PollError::Exception(c) => {
                write!(f, "exception 0x{c:02X} ({})", PollError::exception_name(*c))
            }
            PollError::Malformed(e) => write!(f, "malformed: {e}"),
            PollError::Silent => f.write_str("silent"),
        }
    }
}

impl std::error::Error for PollError {}
