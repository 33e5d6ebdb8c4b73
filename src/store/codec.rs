//! The raw ring's byte format: frames, catalogs and delta-encoded samples.
//!
//! Pure: bytes in, bytes out. It never opens a file and never reads the clock; `raw.rs`
//! owns the files. The layout is described in the module doc of `store` (§ raw ring).
//!
//! Decoding trusts nothing: a frame whose CRC matches can still come from another version
//! or a bug, so every length and index is checked and a bad one is an error, never a panic.

use crate::reading::{Ms, PollError, Sample};
use crate::site::Site;

/// First bytes of every segment file; the last byte is the format version.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"SWRAW\0\0\x01";
/// Frame header: body length (u32 LE) and CRC-32 of length and body (u32 LE).
pub(crate) const FRAME_HEADER: usize = 8;
/// Largest body a frame may declare; anything larger is corruption.
pub(crate) const MAX_BODY: u32 = 64 << 20;

pub(crate) const TYPE_CATALOG: u8 = 1;
pub(crate) const TYPE_SAMPLES: u8 = 2;
pub(crate) const TYPE_SEAL: u8 = 3;
/// Body of a seal: type, samples, readings, first ts, last ts.
pub(crate) const SEAL_BODY: usize = 1 + 8 + 8 + 8 + 8;
/// A whole seal frame, always the last bytes of a sealed segment.
pub(crate) const SEAL_FRAME: usize = FRAME_HEADER + SEAL_BODY;

/// Longest error text kept per sample; longer texts are cut at a char boundary.
const MAX_ERROR_TEXT: usize = 255;
/// Integers up to this magnitude are exact in an f64 and get the delta encoding.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

const TAG_SAME: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_F64: u8 = 2;
const TAG_ABSENT: u8 = 3;
const HEAD_EXPLICIT_COUNT: u8 = 0x08;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("unexpected end of block")]
    Short,
    #[error("bad value in block: {0}")]
    Bad(&'static str),
}

type Result<T> = std::result::Result<T, DecodeError>;

/// Wraps a body in a frame: length, CRC, body.
pub(crate) fn frame(body: &[u8], out: &mut Vec<u8>) {
    let len = (body.len() as u32).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&frame_crc(len, body).to_le_bytes());
    out.extend_from_slice(body);
}

/// The CRC a frame carries: over the length field and the body, so a corrupted length
/// is caught as surely as a corrupted body.
pub(crate) fn frame_crc(len: [u8; 4], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(body);
    h.finalize()
}

/// Parses a frame header: the body length, or an error when it cannot be a frame.
pub(crate) fn frame_header(header: [u8; FRAME_HEADER]) -> Result<(u32, u32)> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 || len > MAX_BODY {
        return Err(DecodeError::Bad("frame length"));
    }
    Ok((len, crc))
}

/// Counts and time range of a segment, stored in its seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seal {
    pub(crate) samples: u64,
    pub(crate) readings: u64,
    /// `Ms::MAX` / `Ms::MIN` while the segment holds no sample.
    pub(crate) first_ts: Ms,
    pub(crate) last_ts: Ms,
}

impl Default for Seal {
    fn default() -> Self {
        Seal {
            samples: 0,
            readings: 0,
            first_ts: Ms::MAX,
            last_ts: Ms::MIN,
        }
    }
}

impl Seal {
    pub(crate) fn add(&mut self, other: &Seal) {
        self.samples += other.samples;
        self.readings += other.readings;
        self.first_ts = self.first_ts.min(other.first_ts);
        self.last_ts = self.last_ts.max(other.last_ts);
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(SEAL_BODY);
        b.push(TYPE_SEAL);
        b.extend_from_slice(&self.samples.to_le_bytes());
        b.extend_from_slice(&self.readings.to_le_bytes());
        b.extend_from_slice(&self.first_ts.to_le_bytes());
        b.extend_from_slice(&self.last_ts.to_le_bytes());
        b
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Seal> {
        if body.len() != SEAL_BODY || body[0] != TYPE_SEAL {
            return Err(DecodeError::Bad("seal"));
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&body[1 + 8 * i..9 + 8 * i]);
            w
        };
        Ok(Seal {
            samples: u64::from_le_bytes(word(0)),
            readings: u64::from_le_bytes(word(1)),
            first_ts: i64::from_le_bytes(word(2)),
            last_ts: i64::from_le_bytes(word(3)),
        })
    }
}

/// The device ids and point names a segment was written with, so decoding never depends
/// on the running configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Catalog {
    pub(crate) devices: Vec<(String, Vec<String>)>,
}

impl Catalog {
    pub(crate) fn from_site(site: &Site) -> Catalog {
        let devices = site
            .devices
            .iter()
            .map(|d| {
                (
                    d.id.clone(),
                    d.points.iter().map(|p| p.name.clone()).collect(),
                )
            })
            .collect();
        Catalog { devices }
    }

    /// Does device `device` of `site` have the id and point names recorded here?
    pub(crate) fn matches(&self, site: &Site, device: usize) -> bool {
        match (self.devices.get(device), site.devices.get(device)) {
            (Some((id, points)), Some(d)) => {
                *id == d.id
                    && points.len() == d.points.len()
                    && points.iter().zip(&d.points).all(|(a, b)| *a == b.name)
            }
            _ => false,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![TYPE_CATALOG];
        put_varint(&mut b, self.devices.len() as u64);
        for (id, points) in &self.devices {
            put_str(&mut b, id);
            put_varint(&mut b, points.len() as u64);
            for p in points {
                put_str(&mut b, p);
            }
        }
        b
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Catalog> {
        let mut r = Reader(body);
        if r.byte()? != TYPE_CATALOG {
            return Err(DecodeError::Bad("catalog type"));
        }
        let n = r.count()?;
        let mut devices = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            let id = r.string()?;
            let np = r.count()?;
            let mut points = Vec::with_capacity(np.min(4096));
            for _ in 0..np {
                points.push(r.string()?);
            }
            devices.push((id, points));
        }
        r.end()?;
        Ok(Catalog { devices })
    }

    /// Maps this catalog onto `site`: for each catalog device, its site index and, per
    /// catalog point, the site point index (None where the site no longer has it).
    pub(crate) fn mapping(&self, site: &Site) -> Vec<Option<(usize, Vec<Option<usize>>)>> {
        self.devices
            .iter()
            .map(|(id, points)| {
                let di = site.device_index(id)?;
                let dev = &site.devices[di];
                Some((di, points.iter().map(|p| dev.point_index(p)).collect()))
            })
            .collect()
    }
}

/// What the encoder and the decoder both remember within a segment: the previous values
/// of each device and the previous timestamp. Both sides evolve it identically.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeltaState {
    prev: Vec<Vec<Option<f64>>>,
    last_ts: Ms,
}

impl DeltaState {
    fn prev_mut(&mut self, device: usize, n: usize) -> &mut Vec<Option<f64>> {
        if self.prev.len() <= device {
            self.prev.resize_with(device + 1, Vec::new);
        }
        let p = &mut self.prev[device];
        p.resize(n, None);
        p
    }

    /// Appends one sample (device index into the segment's catalog) to `out`.
    /// `points` is the catalog's point count for the device.
    pub(crate) fn encode(&mut self, s: &Sample, points: usize, out: &mut Vec<u8>) {
        put_varint(out, s.device as u64);
        put_varint(out, zigzag(s.ts.wrapping_sub(self.last_ts)));
        self.last_ts = s.ts;
        let n = s.values.len();
        let explicit = if n == points { 0 } else { HEAD_EXPLICIT_COUNT };
        let (code, text, exc) = match &s.error {
            None => (0u8, None, None),
            Some(PollError::Timeout) => (1, None, None),
            Some(PollError::Transport(t)) => (2, Some(t.as_str()), None),
            Some(PollError::Exception(c)) => (3, None, Some(*c)),
            Some(PollError::Malformed(t)) => (4, Some(t.as_str()), None),
            Some(PollError::Silent) => (5, None, None),
        };
        out.push(code | explicit);
        if let Some(c) = exc {
            out.push(c);
        }
        if let Some(t) = text {
            put_str(out, cut(t, MAX_ERROR_TEXT));
        }
        if explicit != 0 {
            put_varint(out, n as u64);
        }
        let prev = self.prev_mut(s.device, n);
        let tags_at = out.len();
        out.resize(tags_at + n.div_ceil(4), 0);
        for (i, (cur, old)) in s.values.iter().zip(prev.iter_mut()).enumerate() {
            let tag = match (*cur, *old) {
                (None, None) => TAG_SAME,
                (None, Some(_)) => TAG_ABSENT,
                (Some(c), Some(o)) if c.to_bits() == o.to_bits() => TAG_SAME,
                (Some(c), o) if is_int(c) => {
                    let base = o.filter(|&o| is_int(o)).map_or(0, |o| o as i64);
                    put_varint(out, zigzag(c as i64 - base));
                    TAG_INT
                }
                (Some(c), _) => {
                    out.extend_from_slice(&c.to_bits().to_le_bytes());
                    TAG_F64
                }
            };
            out[tags_at + i / 4] |= tag << (2 * (i % 4));
            *old = *cur;
        }
    }

    /// Reads one sample; `points` gives the catalog's point count per device.
    pub(crate) fn decode(&mut self, r: &mut Reader<'_>, catalog: &Catalog) -> Result<Sample> {
        let device = r.count()?;
        let points = match catalog.devices.get(device) {
            Some((_, p)) => p.len(),
            None => return Err(DecodeError::Bad("device index")),
        };
        let ts = self.last_ts.wrapping_add(unzigzag(r.varint()?));
        self.last_ts = ts;
        let head = r.byte()?;
        if head & !(HEAD_EXPLICIT_COUNT | 0x07) != 0 {
            return Err(DecodeError::Bad("sample head"));
        }
        let error = match head & 0x07 {
            0 => None,
            1 => Some(PollError::Timeout),
            2 => Some(PollError::Transport(r.string()?)),
            3 => Some(PollError::Exception(r.byte()?)),
            4 => Some(PollError::Malformed(r.string()?)),
            5 => Some(PollError::Silent),
            _ => return Err(DecodeError::Bad("error code")),
        };
        let n = if head & HEAD_EXPLICIT_COUNT != 0 {
            r.count()?
        } else {
            points
        };
        let tags = r.take(n.div_ceil(4))?;
        let prev = self.prev_mut(device, n);
        let mut values = Vec::with_capacity(n);
        for (i, old) in prev.iter_mut().enumerate() {
            let v = match (tags[i / 4] >> (2 * (i % 4))) & 3 {
                TAG_SAME => *old,
                TAG_ABSENT => None,
                TAG_INT => {
                    let base = old.filter(|&o| is_int(o)).map_or(0, |o| o as i64);
                    let v = base
                        .checked_add(unzigzag(r.varint()?))
                        .ok_or(DecodeError::Bad("integer delta"))?;
                    let v = v as f64;
                    if !is_int(v) {
                        return Err(DecodeError::Bad("integer delta"));
                    }
                    Some(v)
                }
                _ => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(r.take(8)?);
                    Some(f64::from_bits(u64::from_le_bytes(w)))
                }
            };
            *old = v;
            values.push(v);
        }
        Ok(Sample {
            device,
            ts,
            values,
            texts: Vec::new(),
            error,
        })
    }
}

/// Values that travel as integer deltas: whole, exact in an f64, and not -0.0 (whose
/// sign an integer would lose).
fn is_int(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() <= MAX_EXACT_INT && !(v == 0.0 && v.is_sign_negative())
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over a block body that fails instead of panicking.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(DecodeError::Short);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    return Err(DecodeError::Bad("varint overflow"));
                }
                return Ok(v);
            }
        }
        Err(DecodeError::Bad("varint too long"))
    }

    /// A count or index: a varint no larger than the bytes left could possibly describe,
    /// so a corrupt count cannot make us allocate gigabytes.
    pub(crate) fn count(&mut self) -> Result<usize> {
        let v = self.varint()?;
        if v > (self.0.len() as u64).saturating_mul(8).max(1 << 20) {
            return Err(DecodeError::Bad("count"));
        }
        Ok(v as usize)
    }

    fn string(&mut self) -> Result<String> {
        let n = self.count()?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Bad("utf-8"))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn end(&self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Bad("trailing bytes"))
        }
    }
}
