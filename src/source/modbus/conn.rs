//! A connection kept open across polls, and what one poll or one write does on it.
//!
//! Owns the link's life: open on demand, close on a transport fault, timeout or desync,
//! reopen at once after a drop and with capped exponential backoff after a failed open.
//! Counts every request's fault in `health`. Never schedules (the connection task does)
//! and never logs per request (the task rate-limits per device).

use tokio::time::Instant;

use super::decode::{decode_bit, decode_text, decode_words, encode_words};
use super::frame::{Answer, Request};
use super::link::{CallError, Link};
use super::plan::{Plan, Read, Slot};
use crate::backoff::Backoff;
use crate::health::{Health, bump};
use crate::reading::PollError;
use crate::site::{ConnectionKind, Device, Point, PointSource, PointType, Table};
use crate::write::{WriteError, Written};

pub(crate) struct Conn<'a> {
    kind: &'a ConnectionKind,
    health: &'a Health,
    link: Option<Link>,
    /// Whether a link was ever open, so reopening it counts as a field reconnect.
    opened_before: bool,
    /// After a failed open: no new attempt before this instant.
    retry_at: Option<Instant>,
    backoff: Backoff,
    /// Why the last open failed, given again while the backoff holds.
    last_open_error: CallError,
    /// When the last exchange ended, for the connection's `min_gap`.
    last_exchange: Option<Instant>,
    /// Requests sent so far (for `read_once`'s report).
    pub(crate) requests: usize,
}

impl<'a> Conn<'a> {
    pub(crate) fn new(kind: &'a ConnectionKind, health: &'a Health) -> Self {
        Conn {
            kind,
            health,
            link: None,
            opened_before: false,
            retry_at: None,
            backoff: Backoff::new(Backoff::FIELD),
            last_open_error: not_connected(),
            last_exchange: None,
            requests: 0,
        }
    }

    /// The open link, opening it if the reconnect backoff allows.
    async fn link(&mut self) -> Result<&mut Link, CallError> {
        if self.link.is_none() {
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(self.last_open_error.clone());
            }
            match Link::open(self.kind).await {
                Ok(link) => {
                    if self.opened_before {
                        bump(&self.health.field_reconnects);
                    }
                    self.opened_before = true;
                    self.retry_at = None;
                    self.backoff.reset();
                    self.link = Some(link);
                }
                Err(e) => {
                    // No jitter: one gateway owns a field link, there is no fleet to spread.
                    let delay = self.backoff.next(0.0);
                    self.retry_at = Some(Instant::now() + delay);
                    self.last_open_error = e.clone();
                    return Err(e);
                }
            }
        }
        self.link.as_mut().ok_or_else(not_connected)
    }

    /// Opens the link now rather than at the first request.
    pub(crate) async fn connect(&mut self) -> Result<(), CallError> {
        self.link().await.map(|_| ())
    }

    /// One request, with the link closed afterwards if the fault calls for it.
    pub(crate) async fn call(&mut self, unit: u8, req: &Request) -> Result<Answer, CallError> {
        if let Err(e) = self.link().await {
            // No connection (or waiting to retry one): the request is lost to transport.
            bump(&self.health.transport_errors);
            return Err(e);
        }
        self.requests += 1;
        let Some(link) = self.link.as_mut() else {
            return Err(not_connected());
        };
        // Requests are one at a time on a connection (never two in flight on a
        // converter's bus); `min_gap` adds quiet time for converters and old meters that
        // drop a request arriving right after an answer.
        let gap = self.kind.min_gap();
        if let Some(last) = self.last_exchange
            && !gap.is_zero()
        {
            tokio::time::sleep_until(last + gap).await;
        }
        let result = link.call(unit, req).await;
        self.last_exchange = Some(Instant::now());
        if let Err(e) = &result {
            if link.must_reopen(e) {
                self.link = None;
            }
            match PollError::from(e) {
                PollError::Timeout => bump(&self.health.timeouts),
                PollError::Exception(_) => bump(&self.health.exceptions),
                PollError::Malformed(_) => bump(&self.health.malformed),
                _ => bump(&self.health.transport_errors),
            }
        }
        result
    }

    /// Runs every read of `plan` for `unit`, handing each outcome to `on_read` (read
    /// index, answer or error). A device that does not answer one read (`no_answer`) is
    /// not asked the rest: each would cost another timeout. Returns the first error.
    pub(crate) async fn read_all(
        &mut self,
        unit: u8,
        plan: &Plan,
        mut on_read: impl FnMut(usize, Result<&Answer, &PollError>),
    ) -> Option<PollError> {
        let mut first: Option<PollError> = None;
        for (i, read) in plan.reads.iter().enumerate() {
            match self.call(unit, &Request::Read(*read)).await {
                Ok(answer) => on_read(i, Ok(&answer)),
                Err(e) => {
                    let err = PollError::from(&e);
                    let silent = no_answer(&err);
                    // After silence the remaining reads get the same verdict without asking.
                    let last = if silent { plan.reads.len() } else { i + 1 };
                    for j in i..last {
                        on_read(j, Err(&err));
                    }
                    first.get_or_insert(err);
                    if silent {
                        break;
                    }
                }
            }
        }
        first
    }

    /// One poll of `device`: the raw value of every point (None where unread, and for
    /// string points), the text of every string point read, and the first error.
    pub(crate) async fn poll(&mut self, device: &Device, plan: &Plan) -> Poll {
        let mut values = vec![None; device.points.len()];
        let mut texts = Vec::new();
        let mut decode_error = None;
        let error = self
            .read_all(device.unit, plan, |read, answer| {
                let Ok(answer) = answer else { return };
                for (i, (slot, (point, value))) in (plan.slots.iter())
                    .zip(device.points.iter().zip(values.iter_mut()))
                    .enumerate()
                {
                    let Some(slot) = slot.filter(|s| s.read == read) else {
                        continue;
                    };
                    if let Some(text) = text_of(point, slot, answer) {
                        match text {
                            Ok(t) => texts.push((i, t)),
                            Err(e) => decode_error = Some(e),
                        }
                        continue;
                    }
                    match raw_of(point, slot, answer) {
                        Ok(raw) => *value = Some(raw),
                        Err(e) => decode_error = Some(e),
                    }
                }
            })
            .await;
        Poll {
            values,
            texts,
            error: error.or(decode_error),
        }
    }

    /// Writes `value` (engineering units) to a writable point: a coil with FC5, a
    /// one-register holding with FC6, a wider one with FC16.
    pub(crate) async fn write(
        &mut self,
        device: &Device,
        point: &Point,
        value: f64,
    ) -> Result<Written, WriteError> {
        let req = write_request(point, value).map_err(WriteError::Refused)?;
        self.call(device.unit, &req)
            .await
            .map_err(|e| WriteError::Device(PollError::from(&e)))?;
        Ok(self.read_back(device, point, &req).await)
    }

    /// Reads a point just written and compares what the device holds with what was sent,
    /// register for register (so no float tolerance is involved).
    async fn read_back(&mut self, device: &Device, point: &Point, sent: &Request) -> Written {
        let (table, address, want): (Table, u16, Vec<u16>) = match sent {
            Request::WriteCoil { address, on } => (Table::Coil, *address, vec![u16::from(*on)]),
            Request::WriteRegister { address, value } => (Table::Holding, *address, vec![*value]),
            Request::WriteRegisters { address, values } => {
                (Table::Holding, *address, values.clone())
            }
            Request::Read(_) => unreachable!("write_request builds writes only"),
        };
        let count = want.len() as u16;
        let read = Read {
            table,
            address,
            count,
        };
        let answer = match self.call(device.unit, &Request::Read(read)).await {
            Ok(a) => a,
            Err(e) => {
                return Written {
                    readback: None,
                    held: false,
                    readback_error: Some(PollError::from(&e).to_string()),
                };
            }
        };
        let got: Vec<u16> = match &answer {
            Answer::Bits(b) => b.iter().take(1).map(|&b| u16::from(b)).collect(),
            Answer::Words(w) => w.clone(),
            Answer::Written => Vec::new(),
        };
        let slot = Slot {
            read: 0,
            offset: 0,
            len: if table.is_bits() { 1 } else { count },
        };
        match raw_of(point, slot, &answer) {
            Ok(raw) => Written {
                readback: Some(point.engineering(raw)),
                held: got == want,
                readback_error: None,
            },
            Err(e) => Written {
                readback: None,
                held: false,
                readback_error: Some(e.to_string()),
            },
        }
    }
}

/// What one poll of a device found.
pub(crate) struct Poll {
    /// Raw values, one per point (`Sample::values`).
    pub(crate) values: Vec<Option<f64>>,
    /// Texts of the string points read (`Sample::texts`).
    pub(crate) texts: Vec<(usize, Box<str>)>,
    pub(crate) error: Option<PollError>,
}

/// Whether `e` means the device itself did not answer: silence, a broken link, or a
/// TCP-to-RTU gateway saying so (0x0A no path, 0x0B target failed to respond — the
/// gateway waited out its own timeout on the bus behind it). Such a device is not asked
/// the rest of a poll and is rested by the schedule; any other exception is the
/// device's own answer.
pub(crate) fn no_answer(e: &PollError) -> bool {
    matches!(
        e,
        PollError::Timeout | PollError::Transport(_) | PollError::Exception(0x0A | 0x0B)
    )
}

/// The raw value of `point` in the answer to its read.
pub(crate) fn raw_of(point: &Point, slot: Slot, answer: &Answer) -> Result<f64, PollError> {
    let PointSource::Modbus { ty, order, .. } = &point.source else {
        return Err(PollError::Malformed(format!(
            "{} is not a modbus point",
            point.name
        )));
    };
    let from = usize::from(slot.offset);
    let to = from + usize::from(slot.len);
    match answer {
        Answer::Bits(bits) => bits
            .get(from)
            .map(|b| decode_bit(*b))
            .ok_or_else(|| PollError::Malformed("answer shorter than the read".into())),
        Answer::Words(words) => {
            let part = words
                .get(from..to)
                .ok_or_else(|| PollError::Malformed("answer shorter than the read".into()))?;
            decode_words(*ty, *order, part).map_err(|e| PollError::Malformed(e.to_string()))
        }
        Answer::Written => Err(PollError::Malformed("a write answer to a read".into())),
    }
}

/// The text of a string point in the answer to its read; None for any other point.
pub(crate) fn text_of(
    point: &Point,
    slot: Slot,
    answer: &Answer,
) -> Option<Result<Box<str>, PollError>> {
    let PointSource::Modbus {
        ty: PointType::Str(_),
        order,
        ..
    } = &point.source
    else {
        return None;
    };
    let from = usize::from(slot.offset);
    let to = from + usize::from(slot.len);
    Some(match answer {
        Answer::Words(words) => words
            .get(from..to)
            .map(|part| decode_text(*order, part).into_boxed_str())
            .ok_or_else(|| PollError::Malformed("answer shorter than the read".into())),
        _ => Err(PollError::Malformed("a string needs registers".into())),
    })
}

/// The request that sets `point` to `value` (engineering units: scale and offset undone).
pub(crate) fn write_request(point: &Point, value: f64) -> Result<Request, String> {
    let PointSource::Modbus {
        table,
        address,
        ty,
        order,
    } = &point.source
    else {
        return Err(format!("{} is not a modbus point", point.name));
    };
    if !point.writable {
        return Err(format!("{} is not writable", point.name));
    }
    if point.scale == 0.0 {
        return Err(format!("{} has scale 0", point.name));
    }
    let raw = (value - point.offset) / point.scale;
    match table {
        Table::Coil => Ok(Request::WriteCoil {
            address: *address,
            on: raw != 0.0,
        }),
        Table::Holding => {
            let ty = if *ty == PointType::Bool {
                PointType::U16
            } else {
                *ty
            };
            let mut words = encode_words(ty, *order, raw).map_err(|e| e.to_string())?;
            Ok(if words.len() == 1 {
                Request::WriteRegister {
                    address: *address,
                    value: words.remove(0),
                }
            } else {
                Request::WriteRegisters {
                    address: *address,
                    values: words,
                }
            })
        }
        Table::Discrete | Table::Input => Err(format!(
            "{} is in the read-only {} table",
            point.name,
            table.name()
        )),
    }
}

/// No link open (yet, or any more).
fn not_connected() -> CallError {
    CallError::transport(std::io::ErrorKind::NotConnected, "not connected")
}

#[cfg(test)]
mod tests;
