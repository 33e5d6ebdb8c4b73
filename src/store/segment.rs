//! Segment files of the raw ring: names, the open-time inspection (seal or scan and
//! repair), and the frame walk shared by inspection and replay.
//!
//! Reads and repairs one file at a time; the ring's bound and rotation are `raw.rs`'s.

use super::codec::{
    self, Catalog, DecodeError, DeltaState, FRAME_HEADER, Reader, SEAL_BODY, SEAL_FRAME,
    SEGMENT_MAGIC, Seal, TYPE_CATALOG, TYPE_SAMPLES, TYPE_SEAL,
};
use crate::reading::{Ms, Sample};
use crate::site::Site;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub(super) struct Segment {
    pub(super) path: PathBuf,
    /// Bytes known durable (synced) in the file.
    pub(super) bytes: u64,
    /// Counts and time range of the durable samples.
    pub(super) seal: Seal,
}

pub(super) fn ignore_not_found(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

pub(super) fn segment_name(id: u64) -> String {
    numbered("raw", id)
}

pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    parse_numbered("raw", name)
}

/// `<prefix>-<16 hex digits>.seg`: a segment's file name, in write order (the raw ring's
/// and the outbox log's).
pub(super) fn numbered(prefix: &str, id: u64) -> String {
    format!("{prefix}-{id:016x}.seg")
}

/// The number in a `numbered` name of `prefix`, if `name` is one.
pub(super) fn parse_numbered(prefix: &str, name: &str) -> Option<u64> {
    let hex = name
        .strip_prefix(prefix)?
        .strip_prefix('-')?
        .strip_suffix(".seg")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Reads what a segment holds at open. A sealed segment is trusted by its seal; an
/// unsealed one (the crash left it so) is decoded to its first bad frame, truncated
/// there and sealed. An empty or headless segment is deleted.
pub(super) fn inspect(path: &Path) -> io::Result<Option<Segment>> {
    let len = fs::metadata(path)?.len();
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut magic = [0u8; 8];
    if len < magic.len() as u64 || file.read_exact_at(&mut magic, 0).is_err() {
        fs::remove_file(path)?;
        return Ok(None);
    }
    if magic != SEGMENT_MAGIC {
        tracing::warn!(path = %path.display(), "raw ring: not a segment of this version; kept until it ages out");
        let seal = Seal::default();
        return Ok(Some(Segment {
            path: path.to_path_buf(),
            bytes: len,
            seal,
        }));
    }
    if let Some(seal) = read_seal(&file, len) {
        return Ok(Some(Segment {
            path: path.to_path_buf(),
            bytes: len,
            seal,
        }));
    }
    let mut seal = Seal::default();
    let good = walk(path, len, |body, state, catalog| {
        if body[0] == TYPE_CATALOG {
            return Ok(());
        }
        decode_block(body, state, catalog, |s| {
            seal.add(&Seal {
                samples: 1,
                readings: s.values.len() as u64,
                first_ts: s.ts,
                last_ts: s.ts,
            })
        })
    })?;
    if seal.samples == 0 {
        fs::remove_file(path)?;
        return Ok(None);
    }
    if good < len {
        tracing::warn!(path = %path.display(), kept = good, lost = len - good,
            "raw ring: torn or corrupt tail truncated");
    }
    let mut frame = Vec::with_capacity(SEAL_FRAME);
    codec::frame(&seal.encode(), &mut frame);
    file.set_len(good)?;
    file.write_all_at(&frame, good)?;
    file.sync_data()?;
    Ok(Some(Segment {
        path: path.to_path_buf(),
        bytes: good + frame.len() as u64,
        seal,
    }))
}

pub(super) fn read_seal(file: &File, len: u64) -> Option<Seal> {
    let at = len.checked_sub(SEAL_FRAME as u64)?;
    if at < SEGMENT_MAGIC.len() as u64 {
        return None;
    }
    let mut buf = [0u8; SEAL_FRAME];
    file.read_exact_at(&mut buf, at).ok()?;
    let mut header = [0u8; FRAME_HEADER];
    header.copy_from_slice(&buf[..FRAME_HEADER]);
    let (blen, crc) = codec::frame_header(header).ok()?;
    let body = &buf[FRAME_HEADER..];
    if blen as usize != SEAL_BODY || codec::frame_crc(header[..4].try_into().ok()?, body) != crc {
        return None;
    }
    Seal::decode(body).ok()
}

/// Decodes the samples of one samples block, calling `f` with catalog-indexed samples.
pub(super) fn decode_block(
    body: &[u8],
    state: &mut DeltaState,
    catalog: &Catalog,
    mut f: impl FnMut(Sample),
) -> Result<(), DecodeError> {
    let mut r = Reader(&body[1..]);
    let samples = r.varint()?;
    let readings = r.varint()?;
    let mut seen = 0u64;
    for _ in 0..samples {
        let s = state.decode(&mut r, catalog)?;
        seen += s.values.len() as u64;
        f(s);
    }
    if seen != readings || !r.is_empty() {
        return Err(DecodeError::Bad("block counts"));
    }
    Ok(())
}

/// Walks the frames of a segment up to `limit` bytes, handing each body (catalog or
/// samples) to `f` with the segment's delta state and catalog. Stops at the first frame
/// that is short, fails its CRC or fails `f`; returns the end of the last good frame.
pub(super) fn walk(
    path: &Path,
    limit: u64,
    mut f: impl FnMut(&[u8], &mut DeltaState, &Catalog) -> Result<(), DecodeError>,
) -> io::Result<u64> {
    let mut r = BufReader::with_capacity(64 << 10, File::open(path)?.take(limit));
    let mut magic = [0u8; 8];
    if r.read_exact(&mut magic).is_err() || magic != SEGMENT_MAGIC {
        return Ok(0);
    }
    let mut good = magic.len() as u64;
    let mut catalog: Option<Catalog> = None;
    let mut state = DeltaState::default();
    let mut body = Vec::new();
    loop {
        let mut header = [0u8; FRAME_HEADER];
        if r.read_exact(&mut header).is_err() {
            break;
        }
        let Ok((len, crc)) = codec::frame_header(header) else {
            break;
        };
        body.resize(len as usize, 0);
        if r.read_exact(&mut body).is_err()
            || codec::frame_crc([header[0], header[1], header[2], header[3]], &body) != crc
        {
            break;
        }
        let ok = match (body[0], &catalog) {
            (TYPE_CATALOG, None) => match Catalog::decode(&body) {
                Ok(c) => {
                    let c = catalog.insert(c);
                    f(&body, &mut state, c).is_ok()
                }
                Err(_) => false,
            },
            (TYPE_SAMPLES, Some(c)) => f(&body, &mut state, c).is_ok(),
            (TYPE_SEAL, Some(_)) => {
                good += (FRAME_HEADER + body.len()) as u64;
                break;
            }
            _ => false,
        };
        if !ok {
            tracing::warn!(path = %path.display(), at = good, "raw ring: undecodable block; rest of segment skipped");
            break;
        }
        good += (FRAME_HEADER + body.len()) as u64;
    }
    Ok(good)
}

/// Every sample of one segment (its first `limit` bytes) with `ts >= since`, in the order
/// written, mapped to `site`'s device and point indices by name. Devices the site does
/// not have are skipped; points it does not have are left out, new ones read `None`.
/// Stops quietly at a torn or half-written tail, as `walk` does.
pub(super) fn replay_segment(
    path: &Path,
    limit: u64,
    site: &Site,
    since: Ms,
    f: &mut impl FnMut(Sample),
) -> io::Result<()> {
    let mut mapping = Vec::new();
    walk(path, limit, |body, state, catalog| {
        if body[0] == TYPE_CATALOG {
            mapping = catalog.mapping(site);
            return Ok(());
        }
        decode_block(body, state, catalog, |s| {
            if s.ts < since {
                return;
            }
            if let Some(Some((device, points))) = mapping.get(s.device) {
                let mut values = vec![None; site.devices[*device].points.len()];
                for (v, slot) in s.values.iter().zip(points) {
                    if let Some(i) = slot {
                        values[*i] = *v;
                    }
                }
                f(Sample {
                    device: *device,
                    ts: s.ts,
                    values,
                    texts: Vec::new(),
                    error: s.error,
                });
            }
        })
    })?;
    Ok(())
}
