//! The one message that flows back toward the field: a command to set one writable point,
//! made by `uplink::command` (a checked `P/cmd`), carried out by the point's connection
//! task in `source`, and what the device was found to hold afterwards.

use crate::reading::PollError;
use tokio::sync::oneshot;

/// Set one writable point.
#[derive(Debug)]
pub struct WriteRequest {
    /// Index into `Site::devices`; the device must be on the receiving connection.
    pub device: usize,
    /// Index into the device's points.
    pub point: usize,
    /// Engineering units: scale and offset are undone before encoding.
    pub value: f64,
    /// The write's read-back, or why there was none.
    pub reply: oneshot::Sender<Result<Written, WriteError>>,
}

/// What a write found when it read the point back.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The engineering value the device holds now (None if the read-back failed).
    pub readback: Option<f64>,
    /// Whether the device holds exactly the registers (or bit) written.
    pub held: bool,
    /// Why the read-back failed, if it did.
    pub readback_error: Option<String>,
}

/// Why nothing was written. The words go to `P/cmd/result` as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The request cannot be carried out as asked: no such device or point here, a point
    /// that is not writable, a value its type cannot hold.
    #[error("{0}")]
    Refused(String),
    /// The device did not take it: timeout, broken link, or its exception.
    #[error("{0}")]
    Device(PollError),
    /// No connection task takes writes for the device, or its queue is full or gone.
    #[error("{0}")]
    Unreachable(&'static str),
    /// The connection task did not answer within this many seconds.
    #[error("no answer within {0}s")]
    NoAnswer(u64),
}
