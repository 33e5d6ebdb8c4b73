//! The outbox log's segment files: names, creation, appending one frame, reading one
//! back, and the scan at open that finds every intact frame and says where the damage is.
//!
//! A segment is `SWOUT\0\0\x01` (the last byte is the format version) followed by frames
//! `len u32 LE | crc32(len ‖ body) u32 LE | body`, the framing of the raw ring, with an
//! `entry.rs` body. Reads and writes one file; what goes where is `log.rs`'s.

use super::super::codec::{FRAME_HEADER, frame, frame_crc, frame_header};
use super::entry::{BODY_HEAD, Entry};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(crate) const MAGIC: [u8; 8] = *b"SWOUT\0\0\x01";

pub(crate) fn name(id: u64) -> String {
    super::super::segment::numbered("out", id)
}

pub(crate) fn parse_name(name: &str) -> Option<u64> {
    super::super::segment::parse_numbered("out", name)
}

/// The segments in `dir`, oldest first.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if let Some(id) = e.file_name().to_str().and_then(parse_name) {
            found.push((id, e.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Creates segment `id` holding the magic and `first` (a checkpoint, marked synced), and syncs
/// the directory so the file survives a power cut.
pub(crate) fn create(dir: &Path, id: u64, first: &Entry) -> io::Result<(File, u64)> {
    let path = dir.join(name(id));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let mut bytes = MAGIC.to_vec();
    let first = Entry {
        synced: true,
        ..first.clone()
    };
    frame(&first.encode(MAGIC.len() as u64), &mut bytes);
    let done = file
        .write_all_at(&bytes, 0)
        .and_then(|()| file.sync_data())
        .and_then(|()| super::super::disk::sync_dir(dir));
    if let Err(e) = done {
        // Leave no headless file behind.
        drop(file);
        if let Err(rm) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %rm, "outbox: half-made segment not removed");
        }
        return Err(e);
    }
    Ok((file, bytes.len() as u64))
}

/// Writes `entry` as a frame at `at`, the end of `file`; returns the frame's length.
/// On an error the file is cut back to `at`, so no half frame stays in the middle.
pub(crate) fn append(file: &File, at: u64, entry: &Entry, sync: bool) -> io::Result<u64> {
    let mut bytes = Vec::new();
    let entry = Entry {
        synced: sync,
        ..entry.clone()
    };
    frame(&entry.encode(at), &mut bytes);
    let done = file
        .write_all_at(&bytes, at)
        .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
    if let Err(e) = done {
        // A half frame left here would read as damage once later frames follow it.
        if let Err(cut) = file.set_len(at) {
            tracing::warn!(error = %cut, "outbox: half-written frame not cut off");
        }
        return Err(e);
    }
    Ok(bytes.len() as u64)
}

/// Reads back the frame at `at`, `len` bytes long; damage is an `InvalidData` error.
pub(crate) fn read(file: &File, at: u64, len: u64) -> io::Result<Entry> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, at)?;
    parse(&buf, at).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("outbox frame at byte {at} is damaged"),
        )
    })
}

/// The frame at the start of `buf` (found at offset `at`): its entry, or None if the
/// bytes are not an intact frame.
fn parse(buf: &[u8], at: u64) -> Option<Entry> {
    let header: [u8; FRAME_HEADER] = buf.get(..FRAME_HEADER)?.try_into().ok()?;
    let (len, crc) = frame_header(header).ok()?;
    let body = buf.get(FRAME_HEADER..FRAME_HEADER + len as usize)?;
    if (len as usize) < BODY_HEAD || frame_crc(header[..4].try_into().ok()?, body) != crc {
        return None;
    }
    Entry::decode(body, at).ok()
}

/// Where a scan found bytes that are not an intact frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) at: u64,
    /// Where the next intact frame is, if any.
    pub(crate) resumed_at: Option<u64>,
    /// A frame written with a sync follows the damage: the damaged bytes had been durable,
    /// so they were altered, not merely left unwritten by a power cut.
    pub(crate) synced_after: bool,
}

/// What a scan of one segment found.
#[derive(Debug)]
pub(crate) struct Scan {
    /// The file starts with our magic.
    pub(crate) ours: bool,
    /// End of the last intact frame.
    pub(crate) end: u64,
    pub(crate) damage: Vec<Damage>,
}

/// Reads every intact frame of the segment at `path` in order, handing each to `f` with
/// its offset and length, one frame in memory at a time. After damage it reads the rest
/// of the file, looks for the next intact frame (by the offset every frame carries) and
/// goes on from there.
pub(crate) fn scan(path: &Path, mut f: impl FnMut(u64, u64, Entry)) -> io::Result<Scan> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut magic = [0u8; MAGIC.len()];
    if size < MAGIC.len() as u64 || file.read_exact_at(&mut magic, 0).is_err() || magic != MAGIC {
        return Ok(Scan {
            ours: false,
            end: 0,
            damage: Vec::new(),
        });
    }
    let mut at = MAGIC.len() as u64;
    while let Some((e, len)) = read_frame(&file, at, size) {
        f(at, len, e);
        at += len;
    }
    let mut scan = Scan {
        ours: true,
        end: at,
        damage: Vec::new(),
    };
    if at < size {
        let mut rest = vec![0u8; (size - at) as usize];
        file.read_exact_at(&mut rest, at)?;
        past_damage(&rest, at, &mut f, &mut scan);
    }
    Ok(scan)
}

/// The intact frame at `at`, read from the file, with its length.
fn read_frame(file: &File, at: u64, size: u64) -> Option<(Entry, u64)> {
    let mut header = [0u8; FRAME_HEADER];
    file.read_exact_at(&mut header, at).ok()?;
    let (len, _) = frame_header(header).ok()?;
    let total = FRAME_HEADER as u64 + u64::from(len);
    if at + total > size {
        return None;
    }
    let mut buf = vec![0u8; total as usize];
    file.read_exact_at(&mut buf, at).ok()?;
    parse(&buf, at).map(|e| (e, total))
}

/// The frames of `rest` (the file from offset `base`, which is not an intact frame).
fn past_damage(rest: &[u8], base: u64, f: &mut impl FnMut(u64, u64, Entry), scan: &mut Scan) {
    let mut p = 0;
    while p < rest.len() {
        if let Some(e) = parse(&rest[p..], base + p as u64) {
            if e.synced {
                for d in &mut scan.damage {
                    d.synced_after = true;
                }
            }
            let len = frame_len(&rest[p..]);
            f(base + p as u64, len as u64, e);
            p += len;
            scan.end = base + p as u64;
            continue;
        }
        let next = resync(rest, base, p + 1);
        scan.damage.push(Damage {
            at: base + p as u64,
            resumed_at: next.map(|n| base + n as u64),
            synced_after: false,
        });
        match next {
            Some(n) => p = n,
            None => break,
        }
    }
}

fn frame_len(buf: &[u8]) -> usize {
    FRAME_HEADER + u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize
}

/// The index in `bytes` (the file from offset `base`) of the next intact frame at or
/// after `from`: a frame carries its own offset right after its type and flags, so
/// candidates are checked cheaply before their CRC.
fn resync(bytes: &[u8], base: u64, from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(FRAME_HEADER + BODY_HEAD)).find(|&p| {
        let o = p + FRAME_HEADER + 2;
        let at = base + p as u64;
        bytes[o..o + 8] == at.to_le_bytes()[..] && parse(&bytes[p..], at).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> Entry {
        Entry {
            next_seq: n,
            records: vec![(n, vec![b'x'; n as usize])],
            ..Entry::default()
        }
    }

    fn frames(path: &Path) -> (Vec<u64>, Scan) {
        let mut seen = Vec::new();
        let s = scan(path, |_, _, e| seen.push(e.next_seq)).unwrap();
        (seen, s)
    }

    #[test]
    fn frames_are_read_back_and_damage_is_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let (file, mut at) = create(dir.path(), 1, &entry(1)).unwrap();
        let mut offsets = vec![];
        for n in 2..6 {
            offsets.push(at);
            at += append(&file, at, &entry(n), true).unwrap();
        }
        assert_eq!(
            read(&file, offsets[1], offsets[2] - offsets[1])
                .unwrap()
                .next_seq,
            3
        );
        let path = dir.path().join(name(1));
        assert_eq!(frames(&path).0, vec![1, 2, 3, 4, 5]);
        // A flipped byte inside frame 3: the rest is still read.
        let mut b = std::fs::read(&path).unwrap();
        b[offsets[1] as usize + 12] ^= 0xff;
        std::fs::write(&path, &b).unwrap();
        let (seen, s) = frames(&path);
        assert_eq!(seen, vec![1, 2, 4, 5]);
        assert_eq!(
            s.damage,
            vec![Damage {
                at: offsets[1],
                resumed_at: Some(offsets[2]),
                synced_after: true,
            }]
        );
        // A torn tail: nothing intact after it.
        b.truncate(offsets[3] as usize + 5);
        std::fs::write(&path, &b).unwrap();
        let (seen, s) = frames(&path);
        assert_eq!(seen, vec![1, 2, 4]);
        assert_eq!(s.end, offsets[3]);
        assert_eq!(s.damage.last().unwrap().resumed_at, None);
    }

    #[test]
    fn a_foreign_file_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name(3));
        std::fs::write(&path, b"SQLite format 3\0 and more").unwrap();
        assert!(!frames(&path).1.ours);
        assert_eq!(parse_name(&name(3)), Some(3));
        assert_eq!(parse_name("out-3.seg"), None);
    }
}
