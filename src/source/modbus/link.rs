//! One open transport — a TCP socket, a serial port, or RTU frames on a TCP socket (a
//! serial device server) — and one request/answer on it.
//!
//! Owns the bytes on the wire and their timing: the per-request timeout, the RTU silent
//! interval and the RTU recovery after a lost answer. Never decides what to poll, never
//! reconnects by itself (`conn` does), never decodes values (`decode` does).
//!
//! # Buffers
//!
//! Each link holds one `MAX_ADU` (260 B) buffer: a Modbus ADU never exceeds it, so a
//! connection costs a few hundred bytes instead of the 16 KiB a framed codec allocates.
//!
//! # After a lost answer
//!
//! - TCP: the caller drops the socket on a timeout or a desync. A late answer then dies
//!   with the old socket instead of being read as the answer to the next request.
//! - RTU has no transaction id, so a late answer looks like any other. After a timeout
//!   or a garbled frame the link keeps reading and discarding until the line has been
//!   silent for a guard time (the request timeout, bounded overall), then clears the
//!   input queue. Only then may the next request go out.

use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_serial::{SerialPort, SerialStream};

use super::frame::{
    Answer, FrameError, MAX_ADU, MAX_PDU, MBAP_LEN, Request, check_mbap, check_rtu, encode_rtu,
    encode_tcp, rtu_remaining,
};
use crate::reading::PollError;
use crate::site::{ConnectionKind, Parity};

/// Why one request got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallError {
    #[error("timeout")]
    Timeout,
    /// No link, or it broke: the OS's kind of error (refused, reset, not found …) kept
    /// for callers that branch on it, and the error in words with what was being done.
    #[error("{detail}")]
    Transport { kind: io::ErrorKind, detail: String },
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl CallError {
    pub(crate) fn transport(kind: io::ErrorKind, detail: impl Into<String>) -> CallError {
        CallError::Transport {
            kind,
            detail: detail.into(),
        }
    }

    /// An I/O error while doing `what` ("connect to 10.0.0.5:502"), its kind kept.
    fn io(what: &str, e: &io::Error) -> CallError {
        CallError::transport(e.kind(), format!("{what}: {e}"))
    }
}

impl From<io::Error> for CallError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                CallError::transport(io::ErrorKind::UnexpectedEof, "connection closed")
            }
            kind => CallError::transport(kind, e.to_string()),
        }
    }
}

impl From<&CallError> for PollError {
    fn from(e: &CallError) -> Self {
        match e {
            CallError::Timeout => PollError::Timeout,
            CallError::Transport { detail, .. } => PollError::Transport(detail.clone()),
            CallError::Frame(FrameError::Exception(c)) => PollError::Exception(*c),
            CallError::Frame(FrameError::Malformed(m) | FrameError::Desync(m)) => {
                PollError::Malformed(m.clone())
            }
        }
    }
}

pub(crate) enum Link {
    Tcp(TcpLink),
    Rtu(RtuLink),
}

pub(crate) struct TcpLink {
    stream: TcpStream,
    /// `host:port` as configured, to name the peer in errors.
    peer: String,
    timeout: Duration,
    /// The last transaction id sent; answers must carry it.
    tid: u16,
    buf: [u8; MAX_ADU],
}

pub(crate) struct RtuLink {
    port: RtuPort,
    timeout: Duration,
    /// Time on the wire of one character (start, data, parity, stop bits).
    char_time: Duration,
    /// The silence owed to the bus before a request (3.5 characters).
    silent_interval: Duration,
    /// When the line last carried a byte we sent or read.
    last_activity: Instant,
    buf: [u8; MAX_ADU],
}

impl Link {
    /// Opens the transport of a Modbus connection; a camera connection is refused.
    pub(crate) async fn open(kind: &ConnectionKind) -> Result<Link, CallError> {
        match kind {
            ConnectionKind::ModbusTcp {
                address,
                timeout: t,
                ..
            } => {
                let stream = connect_tcp(address, *t).await?;
                Ok(Link::Tcp(TcpLink {
                    stream,
                    peer: address.clone(),
                    timeout: *t,
                    tid: 0,
                    buf: [0; MAX_ADU],
                }))
            }
            ConnectionKind::ModbusRtu {
                port,
                baud,
                parity,
                data_bits,
                stop_bits,
                timeout: t,
                ..
            } => {
                let port_stream =
                    open_serial_waiting(port, *baud, *parity, *data_bits, *stop_bits, *t).await?;
                let char_time = char_time(*baud, *parity, *data_bits, *stop_bits);
                Ok(Link::Rtu(RtuLink {
                    port: RtuPort::Serial(port_stream),
                    timeout: *t,
                    char_time,
                    silent_interval: silent_interval(*baud, char_time),
                    last_activity: Instant::now(),
                    buf: [0; MAX_ADU],
                }))
            }
            ConnectionKind::ModbusRtuOverTcp {
                address,
                baud,
                parity,
                data_bits,
                stop_bits,
                timeout: t,
                ..
            } => {
                let stream = connect_tcp(address, *t).await?;
                let char_time = char_time(*baud, *parity, *data_bits, *stop_bits);
                Ok(Link::Rtu(RtuLink {
                    port: RtuPort::Tcp(stream),
                    timeout: *t,
                    char_time,
                    silent_interval: silent_interval(*baud, char_time),
                    last_activity: Instant::now(),
                    buf: [0; MAX_ADU],
                }))
            }
            ConnectionKind::Mqtt { .. } => Err(CallError::transport(
                io::ErrorKind::Unsupported,
                "an mqtt connection has no modbus transport",
            )),
        }
    }

    /// Sends one request to `unit` and waits (bounded) for its answer.
    pub(crate) async fn call(&mut self, unit: u8, req: &Request) -> Result<Answer, CallError> {
        match self {
            Link::Tcp(l) => l.call(unit, req).await,
            Link::Rtu(l) => l.call(unit, req).await,
        }
    }

    /// Whether the transport must be closed and reopened after `err`. A TCP stream that
    /// timed out or answered out of step may still deliver the late answer; an RTU link
    /// recovers in place and only a port error closes it.
    pub(crate) fn must_reopen(&self, err: &CallError) -> bool {
        reopen_after(matches!(self, Link::Tcp(_)), err)
    }
}

async fn connect_tcp(address: &str, t: Duration) -> Result<TcpStream, CallError> {
    let stream = timeout(t, TcpStream::connect(address))
        .await
        .map_err(|_| {
            CallError::transport(
                io::ErrorKind::TimedOut,
                format!("connect to {address} timed out"),
            )
        })?
        .map_err(|e| CallError::io(&format!("connect to {address}"), &e))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Where RTU frames go: a local serial port, or the TCP socket of a serial device server
/// that copies bytes to and from its RS485 line unchanged.
enum RtuPort {
    Serial(SerialStream),
    Tcp(TcpStream),
}

impl RtuPort {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            RtuPort::Serial(p) => p.write_all(bytes).await,
            RtuPort::Tcp(s) => s.write_all(bytes).await,
        }
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self {
            RtuPort::Serial(p) => p.read_exact(buf).await.map(|_| ()),
            RtuPort::Tcp(s) => s.read_exact(buf).await.map(|_| ()),
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RtuPort::Serial(p) => p.read(buf).await,
            RtuPort::Tcp(s) => s.read(buf).await,
        }
    }

    /// Drops whatever has arrived and not been read. A socket has no input queue to
    /// flush, so its received bytes are read and discarded until none is waiting.
    fn clear_input(&mut self) -> Result<(), CallError> {
        match self {
            RtuPort::Serial(p) => p
                .clear(tokio_serial::ClearBuffer::Input)
                .map_err(|e| CallError::io("clear input", &e.into())),
            RtuPort::Tcp(s) => {
                let mut scratch = [0u8; 64];
                loop {
                    match s.try_read(&mut scratch) {
                        Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
}

fn reopen_after(tcp: bool, err: &CallError) -> bool {
    match err {
        CallError::Transport { .. } => true,
        CallError::Timeout | CallError::Frame(FrameError::Desync(_)) => tcp,
        CallError::Frame(FrameError::Exception(_) | FrameError::Malformed(_)) => false,
    }
}

impl TcpLink {
    async fn call(&mut self, unit: u8, req: &Request) -> Result<Answer, CallError> {
        self.tid = self.tid.wrapping_add(1);
        let t = self.timeout;
        timeout(t, self.exchange(unit, req))
            .await
            .map_err(|_| CallError::Timeout)?
    }

    /// Cancel safety: if the timeout drops this mid-way the stream is left between two
    /// frames, so the caller must close it (`must_reopen` says so for a timeout).
    async fn exchange(&mut self, unit: u8, req: &Request) -> Result<Answer, CallError> {
        let n = encode_tcp(self.tid, unit, req, &mut self.buf);
        self.stream.write_all(&self.buf[..n]).await?;
        let mut header = [0u8; MBAP_LEN];
        self.stream.read_exact(&mut header).await?;
        let len = check_mbap(&header, self.tid, unit).map_err(|e| match e {
            FrameError::Desync(m) if m.starts_with("answered") => {
                FrameError::Desync(format!("the peer at {} {m}", self.peer))
            }
            other => other,
        })?;
        self.stream.read_exact(&mut self.buf[..len]).await?;
        Ok(req.parse_answer(&self.buf[..len])?)
    }
}

impl RtuLink {
    async fn call(&mut self, unit: u8, req: &Request) -> Result<Answer, CallError> {
        sleep_until(self.last_activity + self.silent_interval).await;
        let n = encode_rtu(unit, req, &mut self.buf);
        // The timeout counts from the end of our request to the end of the answer, so the
        // bytes' own time on the wire (≈ 0.3 s for a full frame at 9600 baud) is added.
        let answer_bytes = req.answer_len() + 3;
        let budget = self.timeout + self.char_time * (n + answer_bytes) as u32;
        let result = match timeout(budget, self.exchange(unit, req, n)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout),
        };
        self.last_activity = Instant::now();
        // A lost or garbled answer may still be on its way; a port error or an exception
        // leaves the line quiet.
        if let Err(
            CallError::Timeout | CallError::Frame(FrameError::Malformed(_) | FrameError::Desync(_)),
        ) = &result
        {
            self.recover().await?;
        }
        result
    }

    async fn exchange(&mut self, unit: u8, req: &Request, n: usize) -> Result<Answer, CallError> {
        // Whatever arrived since the last answer (noise, a very late reply) is nobody's.
        self.port.clear_input()?;
        self.port.write_all(&self.buf[..n]).await?;
        // Read the head (unit, function, byte count) until the frame length is known.
        let mut got = 0;
        let mut want = 2;
        loop {
            if want > MAX_ADU {
                return Err(
                    FrameError::Malformed(format!("answer longer than {MAX_ADU} bytes")).into(),
                );
            }
            self.port.read_exact(&mut self.buf[got..want]).await?;
            got = want;
            match rtu_remaining(req, &self.buf[..got]) {
                None => want = got + 1,
                Some(0) => break,
                Some(more) => want = got + more,
            }
        }
        let pdu = check_rtu(&self.buf[..got], unit)?;
        debug_assert!(pdu.len() <= MAX_PDU);
        Ok(req.parse_answer(pdu)?)
    }

    /// Waits until the line has been silent for a guard time, discarding what arrives
    /// (at most four guard times, so a babbling device cannot hold us), then clears the
    /// input queue. A late answer is thereby never taken for the next one.
    async fn recover(&mut self) -> Result<(), CallError> {
        let guard = self.timeout.max(self.silent_interval);
        let give_up = Instant::now() + guard * 4;
        let mut scratch = [0u8; 64];
        while Instant::now() < give_up {
            match timeout(guard, self.port.read(&mut scratch)).await {
                Err(_) => break,
                Ok(Ok(0)) => break,
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(e.into()),
            }
        }
        self.port.clear_input()?;
        self.last_activity = Instant::now();
        Ok(())
    }
}

/// Opens the port, waiting up to `wait` while another open file holds its exclusive lock.
/// The lock of a port we just closed can outlive the close for a moment: a process forked
/// in between keeps the open file (and so the flock) until it execs.
async fn open_serial_waiting(
    path: &Path,
    baud: u32,
    parity: Parity,
    data_bits: u8,
    stop_bits: u8,
    wait: Duration,
) -> Result<SerialStream, CallError> {
    let deadline = Instant::now() + wait;
    loop {
        match open_serial(path, baud, parity, data_bits, stop_bits) {
            Ok(stream) => return Ok(stream),
            Err(e) if is_held_by_another(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) if is_held_by_another(&e) => {
                return Err(CallError::transport(
                    io::ErrorKind::ResourceBusy,
                    format!(
                        "open {}: the port is held by another process for more than {wait:?} ({e})",
                        path.display()
                    ),
                ));
            }
            Err(e) => {
                return Err(CallError::io(
                    &format!("open {}", path.display()),
                    &e.into(),
                ));
            }
        }
    }
}

/// The errors the serial crate gives when another open file holds the port: its flock
/// (any user), or TIOCEXCL refusing the open itself (EBUSY, users without CAP_SYS_ADMIN).
fn is_held_by_another(e: &tokio_serial::Error) -> bool {
    e.kind == tokio_serial::ErrorKind::NoDevice
        && (e.description.contains("lock") || e.description.contains("busy"))
}

fn open_serial(
    path: &Path,
    baud: u32,
    parity: Parity,
    data_bits: u8,
    stop_bits: u8,
) -> tokio_serial::Result<SerialStream> {
    let builder = tokio_serial::new(path.to_string_lossy(), baud)
        .parity(match parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .data_bits(match data_bits {
            5 => tokio_serial::DataBits::Five,
            6 => tokio_serial::DataBits::Six,
            7 => tokio_serial::DataBits::Seven,
            _ => tokio_serial::DataBits::Eight,
        })
        .stop_bits(if stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        });
    SerialStream::open(&builder)
}

/// Wire time of one character: start bit, data bits, parity bit, stop bits.
pub(crate) fn char_time(baud: u32, parity: Parity, data_bits: u8, stop_bits: u8) -> Duration {
    let bits = 1 + u32::from(data_bits) + u32::from(parity != Parity::None) + u32::from(stop_bits);
    Duration::from_nanos(u64::from(bits) * 1_000_000_000 / u64::from(baud.max(1)))
}

/// The RTU inter-frame silence: 3.5 characters, fixed at 1.75 ms above 19200 baud as the
/// serial-line specification recommends (a timer that fine is not reliable anyway).
pub(crate) fn silent_interval(baud: u32, char_time: Duration) -> Duration {
    if baud > 19_200 {
        Duration::from_micros(1750)
    } else {
        char_time * 7 / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh pseudo-terminal; returns the master (kept open) and the slave's path.
    fn pty() -> (std::fs::File, std::path::PathBuf) {
        let pty = crate::sim::pty::open().expect("openpty");
        (pty.master, pty.path)
    }

    #[tokio::test]
    async fn a_port_held_by_another_is_waited_for_then_named() {
        let (_master, path) = pty();
        let holder = open_serial(&path, 9600, Parity::None, 8, 1).expect("first open");
        let err = open_serial_waiting(&path, 9600, Parity::None, 8, 1, Duration::from_millis(100))
            .await
            .expect_err("the port is held");
        let CallError::Transport { kind, detail: text } = err else {
            panic!("not a transport error: {err:?}")
        };
        assert_eq!(kind, io::ErrorKind::ResourceBusy);
        assert!(
            text.contains("held by another process") && text.contains(&*path.to_string_lossy()),
            "{text}"
        );
        // Released while the second open waits: it gets the port.
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            drop(holder);
        });
        open_serial_waiting(&path, 9600, Parity::None, 8, 1, Duration::from_secs(5))
            .await
            .expect("opened once the holder let go");
        release.await.unwrap();
    }

    #[test]
    fn silent_interval_follows_the_character_time() {
        // (baud, parity, data bits, stop bits) → 3.5 characters in microseconds.
        let cases = [
            (9600, Parity::Even, 8, 1, 4010),
            (9600, Parity::None, 8, 1, 3645),
            (9600, Parity::None, 8, 2, 4010),
            (19_200, Parity::Even, 8, 1, 2005),
            (38_400, Parity::Even, 8, 1, 1750),
            (115_200, Parity::None, 8, 1, 1750),
        ];
        for (baud, parity, data, stop, micros) in cases {
            let c = char_time(baud, parity, data, stop);
            let got = silent_interval(baud, c).as_micros();
            assert!(
                got.abs_diff(micros) <= 1,
                "{baud} {parity:?} {data}{stop}: {got} µs, expected {micros}"
            );
        }
    }

    #[test]
    fn only_tcp_reopens_after_a_timeout_or_desync() {
        let cases = [
            (CallError::Timeout, true, false, PollError::Timeout),
            (
                CallError::transport(io::ErrorKind::ConnectionReset, "reset"),
                true,
                true,
                PollError::Transport("reset".into()),
            ),
            (
                CallError::Frame(FrameError::Desync("tid".into())),
                true,
                false,
                PollError::Malformed("tid".into()),
            ),
            (
                CallError::Frame(FrameError::Malformed("count".into())),
                false,
                false,
                PollError::Malformed("count".into()),
            ),
            (
                CallError::Frame(FrameError::Exception(2)),
                false,
                false,
                PollError::Exception(2),
            ),
        ];
        for (err, tcp, rtu, poll) in cases {
            assert_eq!(reopen_after(true, &err), tcp, "tcp after {err:?}");
            assert_eq!(reopen_after(false, &err), rtu, "rtu after {err:?}");
            assert_eq!(PollError::from(&err), poll);
        }
    }
}
