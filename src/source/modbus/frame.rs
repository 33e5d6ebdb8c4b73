//! The Modbus client codec: requests → bytes, bytes → answers, for TCP (MBAP) and RTU (CRC).
//!
//! Pure: no I/O, no clock, no allocation beyond the answer's values. `link` moves the
//! bytes; this module decides what they mean. Only the functions sitewarden uses exist:
//! FC1–FC4 reads, FC5 write coil, FC6 write register, FC16 write registers.
//!
//! Every answer is checked against the request that caused it — unit, function, byte
//! count, echoed address — because a late or foreign answer taken for the current one is
//! the worst failure a poller can have: a plausible wrong value. A check that fails on the
//! envelope (transaction id, unit, function) means the stream is out of step with us and
//! is reported as `FrameError::Desync`, which makes the link drop the connection; a
//! payload the device got wrong is `FrameError::Malformed`.

use super::plan::Read;
use crate::site::Table;

/// The largest ADU on either transport: 7-byte MBAP header + 253-byte PDU (TCP), or
/// unit + 253-byte PDU + CRC (RTU, 256). One buffer of this size serves a whole link.
pub const MAX_ADU: usize = 260;
/// The largest PDU.
pub const MAX_PDU: usize = 253;
/// MBAP header length, unit id included.
pub const MBAP_LEN: usize = 7;

/// What the client asks a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Read(Read),
    /// FC5.
    WriteCoil {
        address: u16,
        on: bool,
    },
    /// FC6.
    WriteRegister {
        address: u16,
        value: u16,
    },
    /// FC16; at most 123 registers.
    WriteRegisters {
        address: u16,
        values: Vec<u16>,
    },
}

/// A unit's successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Words(Vec<u16>),
    Bits(Vec<bool>),
    Written,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The unit answered with an exception code (the device's own answer).
    #[error("exception 0x{0:02X}")]
    Exception(u8),
    /// The answer belongs to the request but its content is wrong.
    #[error("{0}")]
    Malformed(String),
    /// The answer belongs to another request: the stream is out of step.
    #[error("{0}")]
    Desync(String),
}

impl Request {
    pub fn function(&self) -> u8 {
        match self {
            Request::Read(r) => match r.table {
                Table::Coil => 0x01,
                Table::Discrete => 0x02,
                Table::Holding => 0x03,
                Table::Input => 0x04,
            },
            Request::WriteCoil { .. } => 0x05,
            Request::WriteRegister { .. } => 0x06,
            Request::WriteRegisters { .. } => 0x10,
        }
    }

    /// Writes the PDU into `out`, returning its length.
    pub fn encode_pdu(&self, out: &mut [u8; MAX_PDU]) -> usize {
        out[0] = self.function();
        let put = |out: &mut [u8; MAX_PDU], at: usize, v: u16| {
            out[at..at + 2].copy_from_slice(&v.to_be_bytes());
        };
        match self {
            Request::Read(r) => {
                put(out, 1, r.address);
                put(out, 3, r.count);
                5
            }
            Request::WriteCoil { address, on } => {
                put(out, 1, *address);
                put(out, 3, if *on { 0xFF00 } else { 0x0000 });
                5
            }
            Request::WriteRegister { address, value } => {
                put(out, 1, *address);
                put(out, 3, *value);
                5
            }
            Request::WriteRegisters { address, values } => {
                let n = values.len().min(123);
                put(out, 1, *address);
                put(out, 3, n as u16);
                out[5] = (n * 2) as u8;
                for (i, v) in values.iter().take(n).enumerate() {
                    put(out, 6 + 2 * i, *v);
                }
                6 + 2 * n
            }
        }
    }

    /// Bytes of a successful answer's PDU, function code included.
    pub fn answer_len(&self) -> usize {
        match self {
            Request::Read(r) => 2 + data_bytes(r),
            _ => 5,
        }
    }

    /// Checks and decodes an answer PDU (function code first).
    pub fn parse_answer(&self, pdu: &[u8]) -> Result<Answer, FrameError> {
        let fc = self.function();
        let Some(&got) = pdu.first() else {
            return Err(FrameError::Malformed("empty answer".into()));
        };
        if got == fc | 0x80 {
            return match pdu {
                [_, code] => Err(FrameError::Exception(*code)),
                _ => Err(FrameError::Malformed(format!(
                    "exception answer of {} bytes",
                    pdu.len()
                ))),
            };
        }
        if got != fc {
            return Err(FrameError::Desync(format!(
                "function 0x{got:02X} answers a request for 0x{fc:02X}"
            )));
        }
        if pdu.len() != self.answer_len() {
            return Err(FrameError::Malformed(format!(
                "answer of {} bytes, expected {}",
                pdu.len(),
                self.answer_len()
            )));
        }
        match self {
            Request::Read(r) => {
                let data = &pdu[2..];
                if usize::from(pdu[1]) != data.len() {
                    return Err(FrameError::Malformed(format!(
                        "byte count {} for {} data bytes",
                        pdu[1],
                        data.len()
                    )));
                }
                let n = usize::from(r.count);
                Ok(if r.table.is_bits() {
                    Answer::Bits((0..n).map(|i| data[i / 8] & (1 << (i % 8)) != 0).collect())
                } else {
                    Answer::Words(
                        data.chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .collect(),
                    )
                })
            }
            _ => {
                let mut sent = [0u8; MAX_PDU];
                self.encode_pdu(&mut sent);
                // FC5 and FC6 echo the request; FC16 echoes address and quantity.
                if pdu[1..5] != sent[1..5] {
                    return Err(FrameError::Malformed(format!(
                        "write echo {:02X?} does not match {:02X?}",
                        &pdu[1..5],
                        &sent[1..5]
                    )));
                }
                Ok(Answer::Written)
            }
        }
    }
}

fn data_bytes(r: &Read) -> usize {
    let n = usize::from(r.count);
    if r.table.is_bits() {
        n.div_ceil(8)
    } else {
        n * 2
    }
}

/// Builds a TCP ADU (MBAP header + PDU) into `buf`, returning its length.
pub fn encode_tcp(tid: u16, unit: u8, req: &Request, buf: &mut [u8; MAX_ADU]) -> usize {
    let mut pdu = [0u8; MAX_PDU];
    let n = req.encode_pdu(&mut pdu);
    buf[0..2].copy_from_slice(&tid.to_be_bytes());
    buf[2..4].copy_from_slice(&0u16.to_be_bytes());
    buf[4..6].copy_from_slice(&((n + 1) as u16).to_be_bytes());
    buf[6] = unit;
    buf[MBAP_LEN..MBAP_LEN + n].copy_from_slice(&pdu[..n]);
    MBAP_LEN + n
}

/// Checks a received MBAP header against the request's; returns the PDU length to read.
pub fn check_mbap(header: &[u8; MBAP_LEN], tid: u16, unit: u8) -> Result<usize, FrameError> {
    let got_tid = u16::from_be_bytes([header[0], header[1]]);
    let protocol = u16::from_be_bytes([header[2], header[3]]);
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    if protocol != 0 {
        return Err(FrameError::Desync(match not_modbus(header) {
            Some(guess) => format!("answered with something that is not Modbus — {guess}?"),
            None => format!(
                "answered with protocol id {protocol}, not Modbus TCP — a serial device server \
                 sending raw RTU? then use type = \"modbus-rtu-over-tcp\""
            ),
        }));
    }
    if !(2..=MAX_PDU + 1).contains(&len) {
        return Err(FrameError::Desync(format!("length field {len}")));
    }
    if got_tid != tid {
        return Err(FrameError::Desync(format!(
            "transaction id {got_tid}, expected {tid}"
        )));
    }
    if header[6] != unit {
        return Err(FrameError::Desync(format!(
            "unit {} answered for unit {unit}",
            header[6]
        )));
    }
    Ok(len - 1)
}

/// What a header that is not Modbus TCP most likely is, by its first bytes: a web page,
/// an SSH banner, a TLS record, or some other text protocol.
fn not_modbus(header: &[u8; MBAP_LEN]) -> Option<&'static str> {
    if header.starts_with(b"HTTP/") || header.starts_with(b"<") {
        Some("HTTP")
    } else if header.starts_with(b"SSH-") {
        Some("SSH")
    } else if header[0] == 0x15 || header[0] == 0x16 && header[1] == 0x03 {
        Some("TLS")
    } else if header
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        Some("a text protocol (telnet, a console)")
    } else {
        None
    }
}

/// The Modbus CRC-16 (poly 0xA001 reflected, init 0xFFFF).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Builds an RTU frame (unit + PDU + CRC, CRC low byte first) into `buf`.
pub fn encode_rtu(unit: u8, req: &Request, buf: &mut [u8; MAX_ADU]) -> usize {
    let mut pdu = [0u8; MAX_PDU];
    let n = req.encode_pdu(&mut pdu);
    buf[0] = unit;
    buf[1..1 + n].copy_from_slice(&pdu[..n]);
    let crc = crc16(&buf[..1 + n]);
    buf[1 + n..3 + n].copy_from_slice(&crc.to_le_bytes());
    n + 3
}

/// How many more bytes an RTU answer needs once its first `head.len()` bytes arrived
/// (unit, function and, for reads, the byte count); `None` until that is known.
pub fn rtu_remaining(req: &Request, head: &[u8]) -> Option<usize> {
    let fc = *head.get(1)?;
    let total = if fc & 0x80 != 0 {
        5
    } else if matches!(req, Request::Read(_)) {
        3 + usize::from(*head.get(2)?) + 2
    } else {
        8
    };
    Some(total.saturating_sub(head.len()))
}

/// Checks a whole RTU frame (unit, CRC) and returns its PDU.
pub fn check_rtu(frame: &[u8], unit: u8) -> Result<&[u8], FrameError> {
    if frame.len() < 4 {
        return Err(FrameError::Malformed(format!(
            "frame of {} bytes",
            frame.len()
        )));
    }
    let (body, crc) = frame.split_at(frame.len() - 2);
    let want = crc16(body);
    let got = u16::from_le_bytes([crc[0], crc[1]]);
    if want != got {
        return Err(FrameError::Malformed(format!(
            "crc 0x{got:04X}, expected 0x{want:04X}"
        )));
    }
    if body[0] != unit {
        return Err(FrameError::Desync(format!(
            "unit {} answered for unit {unit}",
            body[0]
        )));
    }
    Ok(&body[1..])
}

#[cfg(test)]
mod tests;
