//! Modbus TCP and RTU acquisition: one task per connection, polling its devices.
//!
//! Owns everything between a `Site`'s Modbus connections and the `Sample` channel: the
//! poll schedule, the per-request timeout, reconnects, the backoff of failing devices,
//! write requests, and the rate-limited journal lines. It never touches the store, the
//! rules or the uplink, and a device fault never becomes an `Err`: it becomes
//! `Sample.error`, a `health` counter and at most one log line a minute per device.
//!
//! # Parts
//!
//! - `plan` (pure): points → coalesced reads.
//! - `decode` (pure): registers ↔ raw numbers, every type and word order.
//! - `frame` (pure): our client codec, TCP MBAP and RTU CRC.
//! - `link`: one open socket or serial port; timeouts and RTU silences.
//! - `conn`: a connection across polls; reconnects; one poll, one write.
//! - `schedule` (pure): wall-clock ticks, device backoff, log rate limits.
//!
//! # Why our own client codec
//!
//! tokio-modbus's async client has no timeout, a late reply poisons the requests after it
//! (tokio-modbus #324, reproduced in docs/design-facts.md §3), its RTU framing has no
//! inter-frame timing or recovery, and each connection carries 16 KiB of framing buffers
//! (4.9 MB of heap at 300 devices, against a 7 MB RSS target). A client is small: five
//! function codes, a header and a CRC. Ours holds one 260-byte buffer per connection,
//! checks every answer against its request, and recovers in the ways `link` describes.
//! tokio-modbus's *server* stays: the simulator (`sim::modbus`) and the tests use it, so
//! our client is tested against an implementation we did not write.
//!
//! # Schedule
//!
//! Each device is polled at wall-clock multiples of its `poll` interval, and
//! `Sample.ts` is that tick, so every 1 s device on every connection shares one instant.
//! Devices due together are polled one after another (requests on a connection are
//! strictly serialised); a tick missed because earlier polls ran long is skipped, never
//! bunched. Write requests run between polls. A device that does not answer is rested
//! (see `schedule::Rest`) so a dead unit costs the bus one timeout per 10 s; it is
//! polled normally again from its first answer.

mod conn;
pub mod decode;
pub mod frame;
mod link;
pub mod mailbox;
pub mod plan;
pub mod schedule;

// These tests serve devices with the simulator, which only the `demo` feature builds.
#[cfg(all(test, feature = "demo"))]
mod tests;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::conn::Conn;
use self::plan::Plan;
use self::schedule::{LogAction, LogGate, Rest, floor_tick, next_tick, period_ms};
use crate::clock::now_ms;
use crate::health::{Health, bump};
use crate::reading::{Ms, PollError, Sample};
use crate::site::{ConnectionKind, Device, Site};
use crate::write::WriteError;
pub use crate::write::{WriteRequest, Written};

/// Where `uplink::command` sends a connection's writes and the status socket a probe's
/// reads (`mailbox`: no allocation per connection until a request comes). Boxed, so a
/// queue that grew holds pointers.
pub type WriteSender = mailbox::Sender<Box<FieldRequest>>;
/// The connection task's end of its `WriteSender`.
pub type WriteReceiver = mailbox::Receiver<Box<FieldRequest>>;

/// A connection's request mailbox: a few queued requests; more means the platform is
/// hammering one device, and the request is answered as busy.
pub fn requests() -> (WriteSender, WriteReceiver) {
    mailbox::channel(REQUESTS)
}

/// Requests a connection queues before it answers busy.
const REQUESTS: usize = 8;

/// What a connection task does between its polls besides polling.
#[derive(Debug)]
pub enum FieldRequest {
    Write(WriteRequest),
    Read(ReadRequest),
}

/// Reads for `sitewarden probe` asked of the running daemon (`status::probe`), so the
/// probe does not contend with the daemon for a bus or a converter's one connection.
#[derive(Debug)]
pub struct ReadRequest {
    pub unit: u8,
    pub reads: Vec<plan::Read>,
    /// One outcome per read, in order (after silence the rest share its error, as in a
    /// poll), and the requests sent.
    pub reply: oneshot::Sender<ReadOutcome>,
}

/// The outcome of each read of a plan, and the requests sent.
pub type ReadOutcome = (Vec<Result<frame::Answer, PollError>>, usize);

/// A device polled by this task, with its schedule state.
struct Polled<'a> {
    index: usize,
    device: &'a Device,
    plan: Plan,
    period: Ms,
    next_tick: Ms,
    rest: Rest,
    log: LogGate,
}

/// Polls every device of connection `conn` until `cancel` fires.
///
/// Never returns early on a device fault: a connection that cannot be opened is retried
/// with backoff forever. Returns at once for a non-Modbus connection, and when the sample
/// channel closes (ingest is gone, so polling would be pointless).
pub async fn run_connection(
    site: Arc<Site>,
    conn: usize,
    health: Arc<Health>,
    samples: mpsc::Sender<Sample>,
    mut writes: WriteReceiver,
    cancel: CancellationToken,
) {
    let Some(connection) = site.connections.get(conn) else {
        warn!(connection = conn, "no such connection");
        return;
    };
    if matches!(connection.kind, ConnectionKind::Mqtt { .. }) {
        return;
    }
    let name = connection.name.as_str();
    let now = now_ms();
    let mut devices: Vec<Polled<'_>> = site
        .devices_on(conn)
        .map(|index| {
            let device = &site.devices[index];
            let period = period_ms(device.poll);
            Polled {
                index,
                device,
                plan: plan::plan(device),
                period,
                next_tick: next_tick(now, period),
                rest: Rest::default(),
                log: LogGate::default(),
            }
        })
        .collect();
    // A filtered iterator collects into room for four; most connections have one device.
    devices.shrink_to_fit();
    let mut link = Conn::new(&connection.kind, &health);
    let mut writes_open = true;

    loop {
        let due = devices.iter().map(|p| p.next_tick).min();
        let wait = due.map(|t| u64::try_from(t - now_ms()).unwrap_or(0));
        let sleep = async {
            match wait {
                Some(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
                None => std::future::pending().await,
            }
        };
        // Cancel safety: `cancelled` and `recv` lose nothing when another branch wins,
        // and the sleep is rebuilt from the schedule on every turn.
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            req = writes.recv(), if writes_open => match req {
                Some(req) => {
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return,
                        () = field_request(&site, conn, &mut link, *req) => {}
                    }
                }
                None => writes_open = false,
            },
            () = sleep => {
                // A select rather than `run_until_cancelled`, which holds its future twice
                // in its state (1.7 KB instead of 0.9 KB per connection task).
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => return,
                    alive = sweep(&mut devices, &mut link, &health, &samples, name) => {
                        // False: ingest has gone away.
                        if !alive {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Polls every device whose tick has come, in order. False when the sample channel is
/// closed.
async fn sweep(
    devices: &mut [Polled<'_>],
    link: &mut Conn<'_>,
    health: &Health,
    samples: &mpsc::Sender<Sample>,
    connection: &str,
) -> bool {
    for p in devices.iter_mut() {
        let now = now_ms();
        if p.next_tick > now {
            continue;
        }
        // A poll that runs late is stamped with the latest tick it stands for.
        let tick = floor_tick(now, p.period);
        if !p.rest.allows(tick) {
            p.next_tick = next_tick(now, p.period);
            continue;
        }
        let started = std::time::Instant::now();
        let conn::Poll {
            values,
            texts,
            error,
        } = link.poll(p.device, &p.plan).await;
        health.poll_latency.record(started.elapsed());
        let answered = !error.as_ref().is_some_and(conn::no_answer);
        p.rest.record(tick, p.period, answered);
        p.next_tick = next_tick(now_ms(), p.period);
        bump(&health.polls);
        if error.is_some() {
            bump(&health.poll_errors);
        }
        health.set_device_ok(p.index, error.is_none());
        log_outcome(p, connection, error.as_ref(), now);
        let sample = Sample {
            device: p.index,
            ts: tick,
            values,
            texts,
            error,
        };
        // A full channel means ingest is behind: the sample is counted and dropped rather
        // than holding the bus (the poll schedule is the contract; ingest should keep up).
        match samples.try_send(sample) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => bump(&health.samples_dropped),
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
        }
    }
    true
}

fn log_outcome(p: &mut Polled<'_>, connection: &str, error: Option<&PollError>, now: Ms) {
    let id = p.device.id.as_str();
    match (p.log.record(now, error.is_some()), error) {
        (LogAction::Warn { suppressed }, Some(e)) => {
            warn!(device = %id, connection = %connection, error = %e, suppressed, "poll failed");
        }
        (LogAction::Recovered { since }, _) => {
            info!(device = %id, connection = %connection, failed_ms = now - since, "poll recovered");
        }
        _ => {}
    }
}

async fn field_request(site: &Site, conn: usize, link: &mut Conn<'_>, req: FieldRequest) {
    match req {
        FieldRequest::Write(w) => write(site, conn, link, w).await,
        FieldRequest::Read(r) => {
            let plan = Plan {
                reads: r.reads,
                slots: Vec::new(),
            };
            let outcome = read_plan(link, r.unit, &plan).await;
            // The prober may have given up waiting; nothing else to do then.
            r.reply.send(outcome).ok();
        }
    }
}

/// Runs every read of `plan` once: each read's outcome and the requests sent.
async fn read_plan(link: &mut Conn<'_>, unit: u8, plan: &Plan) -> ReadOutcome {
    let before = link.requests;
    let mut answers = vec![Err(PollError::Silent); plan.reads.len()];
    link.read_all(unit, plan, |i, answer| {
        answers[i] = answer.cloned().map_err(Clone::clone);
    })
    .await;
    (answers, link.requests - before)
}

async fn write(site: &Site, conn: usize, link: &mut Conn<'_>, req: WriteRequest) {
    let result = match site.devices.get(req.device) {
        Some(device) if device.connection == conn => match device.points.get(req.point) {
            Some(point) => link.write(device, point, req.value).await,
            None => Err(WriteError::Refused(format!(
                "{} has no point {}",
                device.id, req.point
            ))),
        },
        Some(device) => Err(WriteError::Refused(format!(
            "{} is not on this connection",
            device.id
        ))),
        None => Err(WriteError::Refused(format!("no device {}", req.device))),
    };
    match &result {
        Ok(w) => info!(
            device = req.device,
            point = req.point,
            value = req.value,
            readback = ?w.readback,
            held = w.held,
            "point written"
        ),
        Err(e) => warn!(device = req.device, point = req.point, error = %e, "write failed"),
    }
    if req.reply.send(result).is_err() {
        // The requester gave up waiting; the outcome is in the journal line above.
    }
}

/// One point's outcome in `read_once`.
#[derive(Debug, Clone, PartialEq)]
pub struct PointReading {
    /// The registers the point spans (bits as 0/1); empty if unread.
    pub raw_registers: Vec<u16>,
    /// The raw value (before scale and offset).
    pub raw: Option<f64>,
    /// A string point's text (its `raw` stays None).
    pub text: Option<Box<str>>,
    pub error: Option<PollError>,
}

/// What `read_once` found.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOnce {
    /// One entry per point of the device, in profile order.
    pub points: Vec<PointReading>,
    /// Requests sent (fewer than planned when the device fell silent).
    pub requests: usize,
}

/// Reads every point of `device` once over a fresh link (for `sitewarden probe`). `Err`
/// only when the transport cannot be opened.
pub async fn read_once(kind: &ConnectionKind, device: &Device) -> Result<ReadOnce, PollError> {
    let health = Health::default();
    let plan = plan::plan(device);
    let mut conn = Conn::new(kind, &health);
    // Open first, so "cannot connect" is told apart from device faults.
    conn.connect().await.map_err(|e| PollError::from(&e))?;
    let (answers, requests) = read_plan(&mut conn, device.unit, &plan).await;
    Ok(assemble(device, &plan, &answers, requests))
}

/// Each point's registers, raw value or error, from the outcome of each read of `plan`
/// (`device`'s plan): what `read_once` reports, whoever did the reading.
pub fn assemble(
    device: &Device,
    plan: &Plan,
    answers: &[Result<frame::Answer, PollError>],
    requests: usize,
) -> ReadOnce {
    let mut out: Vec<PointReading> = device
        .points
        .iter()
        .map(|_| PointReading {
            raw_registers: Vec::new(),
            raw: None,
            text: None,
            error: None,
        })
        .collect();
    for ((slot, point), reading) in plan.slots.iter().zip(&device.points).zip(out.iter_mut()) {
        let Some(slot) = slot else {
            continue;
        };
        match answers.get(slot.read) {
            Some(Ok(answer)) => {
                reading.raw_registers = registers_of(*slot, answer);
                if let Some(text) = conn::text_of(point, *slot, answer) {
                    match text {
                        Ok(t) => reading.text = Some(t),
                        Err(e) => reading.error = Some(e),
                    }
                    continue;
                }
                match conn::raw_of(point, *slot, answer) {
                    Ok(raw) => reading.raw = Some(raw),
                    Err(e) => reading.error = Some(e),
                }
            }
            Some(Err(e)) => reading.error = Some(e.clone()),
            None => reading.error = Some(PollError::Malformed("no answer for this read".into())),
        }
    }
    ReadOnce {
        points: out,
        requests,
    }
}

fn registers_of(slot: plan::Slot, answer: &frame::Answer) -> Vec<u16> {
    let from = usize::from(slot.offset);
    let to = from + usize::from(slot.len);
    match answer {
        frame::Answer::Words(w) => w.get(from..to).map(<[u16]>::to_vec).unwrap_or_default(),
        frame::Answer::Bits(b) => b.get(from).map(|&b| vec![u16::from(b)]).unwrap_or_default(),
        frame::Answer::Written => Vec::new(),
    }
}
