//! The raw ring: every sample, compactly encoded, in a bounded directory of segment files.
//!
//! Owns the files under the ring's directory and nothing else: it never touches the
//! outbox, never reads the clock and never decides how often to flush (ingest calls
//! `flush` at least every second). The byte format lives in `codec.rs`; the on-disk
//! layout, the bound and what a crash can lose are in the module doc of `store`.

use super::codec::{
    self, Catalog, DeltaState, FRAME_HEADER, SEAL_FRAME, SEGMENT_MAGIC, Seal, TYPE_CATALOG,
    TYPE_SAMPLES,
};
use super::disk::{free_bytes, is_disk_full, sync_dir};
use super::segment::{
    Segment, decode_block, ignore_not_found, inspect, parse_segment_name, segment_name, walk,
};
use crate::reading::{Ms, Sample};
use crate::site::Site;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Smallest segment, so a tiny ring (tests) still rotates sensibly.
const MIN_SEGMENT: u64 = 4 << 10;
/// Largest segment: replay and recovery read one segment at a time, and a corrupt block
/// costs at most the rest of its segment.
const MAX_SEGMENT: u64 = 16 << 20;
/// Free space the ring leaves on its filesystem: below it, the oldest segments go even
/// within `max_bytes`, so raw readings yield the disk to the outbox (whose own low-water
/// mark is lower) instead of starving it.
const KEEP_FREE: u64 = 32 << 20;

/// A bounded, crash-tolerant log of raw samples. See the module doc of `store`.
#[derive(Debug)]
pub struct RawRing {
    dir: PathBuf,
    max_bytes: u64,
    /// A segment is closed once it reaches this size: max_bytes / 8, within
    /// [`MIN_SEGMENT`, `MAX_SEGMENT`], so dropping one segment frees at most ~1/8 of the ring.
    segment_bytes: u64,
    /// Closed segments, oldest first.
    sealed: VecDeque<Segment>,
    /// The segment being written; None until the first flush after open.
    current: Option<Current>,
    /// Samples appended since the last flush, in runs that each go to one segment.
    chunks: Vec<Chunk>,
    /// Catalog and delta state of the newest segment, the one `append` encodes against.
    writer: Option<Writer>,
    next_id: u64,
    dropped: u64,
    /// See [`KEEP_FREE`]; a field so tests can raise it.
    keep_free: u64,
    /// Readings made durable by the flush in progress (a rotation syncs mid-flush), so a
    /// failed flush counts as dropped only what it really lost.
    flush_committed: u64,
}

#[derive(Debug)]
struct Current {
    seg: Segment,
    file: File,
    /// Bytes written, synced or not; `seg.bytes` catches up at each sync.
    written: u64,
    written_seal: Seal,
}

#[derive(Debug)]
struct Writer {
    catalog: Catalog,
    state: DeltaState,
    /// Estimated size of the segment once everything appended is flushed.
    bytes: u64,
}

#[derive(Debug)]
struct Chunk {
    /// Set when this run starts a new segment with this catalog.
    new_segment: Option<Catalog>,
    body: Vec<u8>,
    seal: Seal,
}

impl RawRing {
    /// Opens (or creates) the ring in `dir`, bounded to `max_bytes` on disk.
    ///
    /// A segment left unsealed by a crash is read to its first bad frame, truncated there
    /// and sealed, so a torn tail never blocks the start; a truncation is logged.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<RawRing> {
        fs::create_dir_all(dir)?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            if let Some(id) = name.to_str().and_then(parse_segment_name) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut ring = RawRing {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(MIN_SEGMENT, MAX_SEGMENT),
            sealed: VecDeque::new(),
            current: None,
            chunks: Vec::new(),
            writer: None,
            next_id: ids.last().map_or(0, |id| id + 1),
            dropped: 0,
            keep_free: KEEP_FREE,
            flush_committed: 0,
        };
        for id in ids {
            let path = dir.join(segment_name(id));
            if let Some(seg) = inspect(&path)? {
                ring.sealed.push_back(seg);
            }
        }
        ring.make_room(0)?;
        sync_dir(dir)?;
        Ok(ring)
    }

    /// Buffers one sample in memory (no I/O). `site` is the configuration the sample was
    /// taken under; a sample whose device the site does not have is counted as dropped.
    pub fn append(&mut self, site: &Site, sample: &Sample) {
        if sample.device >= site.devices.len() {
            self.dropped += sample.values.len() as u64;
            return;
        }
        let fresh = match &self.writer {
            Some(w) => !w.catalog.matches(site, sample.device) || w.bytes >= self.segment_bytes,
            None => true,
        };
        if fresh {
            let catalog = Catalog::from_site(site);
            let bytes = (SEGMENT_MAGIC.len() + FRAME_HEADER + catalog.encode().len()) as u64;
            self.chunks.push(Chunk::new(Some(catalog.clone())));
            self.writer = Some(Writer {
                catalog,
                state: DeltaState::default(),
                bytes,
            });
        } else if self.chunks.is_empty() {
            self.chunks.push(Chunk::new(None));
        }
        let (Some(w), Some(chunk)) = (self.writer.as_mut(), self.chunks.last_mut()) else {
            return;
        };
        let before = chunk.body.len();
        let points = w.catalog.devices[sample.device].1.len();
        w.state.encode(sample, points, &mut chunk.body);
        w.bytes += (chunk.body.len() - before) as u64;
        chunk.seal.add(&Seal {
            samples: 1,
            readings: sample.values.len() as u64,
            first_ts: sample.ts,
            last_ts: sample.ts,
        });
    }

    /// Writes what was appended as one block per segment touched and fdatasyncs it.
    ///
    /// On an error the unwritten samples are counted as dropped, the segment is cut back
    /// to its last synced length and closed (the next append starts a new one), and on a
    /// full disk the oldest segment is deleted to make room for the next try.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.chunks.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.chunks);
        let pending: u64 = chunks.iter().map(|c| c.seal.readings).sum();
        self.flush_committed = 0;
        // Low on space: make room before writing.
        let mut dir_changed = self.yield_space();
        let mut result = Ok(());
        for chunk in chunks {
            if result.is_err() {
                break;
            }
            result = self.write_chunk(chunk, &mut dir_changed);
        }
        if result.is_ok() {
            result = self.sync_current();
        }
        if result.is_ok() {
            // Again after writing: a segment this flush closed may have to go at once.
            dir_changed |= self.yield_space();
        }
        if result.is_ok() && dir_changed {
            result = sync_dir(&self.dir);
        }
        if let Err(e) = result {
            let full = is_disk_full(&e);
            self.abandon_current(pending.saturating_sub(self.flush_committed), full);
            return Err(e);
        }
        Ok(())
    }

    /// Readings (point values) dropped since open: deleted with old segments to stay
    /// within `max_bytes`, or lost to a failed flush.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Size of every segment file, as written (synced or about to be).
    pub fn bytes_on_disk(&self) -> u64 {
        self.sealed.iter().map(|s| s.bytes).sum::<u64>()
            + self.current.as_ref().map_or(0, |c| c.written)
    }

    /// Every flushed sample with `ts >= since`, in the order appended, mapped to `site`'s
    /// device and point indices by name. Devices the site no longer has are skipped;
    /// points it no longer has are left out, new ones read `None`.
    pub fn replay_since(&self, site: &Site, since: Ms) -> io::Result<Vec<Sample>> {
        let mut out = Vec::new();
        self.replay_since_with(site, since, |s| out.push(s))?;
        Ok(out)
    }

    /// `replay_since` without collecting: calls `f` for each sample.
    pub fn replay_since_with(
        &self,
        site: &Site,
        since: Ms,
        mut f: impl FnMut(Sample),
    ) -> io::Result<()> {
        let current = self.current.as_ref().map(|c| &c.seg);
        for seg in self.sealed.iter().chain(current) {
            if seg.seal.samples == 0 || seg.seal.last_ts < since {
                continue;
            }
            let mut mapping = Vec::new();
            walk(&seg.path, seg.bytes, |body, state, catalog| {
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
        }
        Ok(())
    }

    fn write_chunk(&mut self, chunk: Chunk, dir_changed: &mut bool) -> io::Result<()> {
        if let Some(catalog) = chunk.new_segment {
            self.rotate(&catalog, dir_changed)?;
        }
        let mut body = vec![TYPE_SAMPLES];
        codec::put_varint(&mut body, chunk.seal.samples);
        codec::put_varint(&mut body, chunk.seal.readings);
        body.extend_from_slice(&chunk.body);
        let mut block = Vec::with_capacity(body.len() + FRAME_HEADER);
        codec::frame(&body, &mut block);
        *dir_changed |= self.make_room(block.len() as u64)?;
        let cur = self.current.as_mut().ok_or_else(no_segment)?;
        cur.file.write_all_at(&block, cur.written)?;
        cur.written += block.len() as u64;
        cur.written_seal.add(&chunk.seal);
        Ok(())
    }

    /// Seals the current segment (sync, seal frame, sync) and starts a new one.
    fn rotate(&mut self, catalog: &Catalog, dir_changed: &mut bool) -> io::Result<()> {
        if self.current.is_some() {
            self.sync_current()?;
            *dir_changed |= self.make_room(SEAL_FRAME as u64)?;
        }
        if let Some(cur) = self.current.as_mut() {
            let mut seal = Vec::with_capacity(SEAL_FRAME);
            codec::frame(&cur.written_seal.encode(), &mut seal);
            cur.file.write_all_at(&seal, cur.written)?;
            cur.written += seal.len() as u64;
            self.sync_current()?;
        }
        if let Some(cur) = self.current.take() {
            self.sealed.push_back(cur.seg);
        }
        let mut head = SEGMENT_MAGIC.to_vec();
        codec::frame(&catalog.encode(), &mut head);
        *dir_changed |= self.make_room(head.len() as u64)?;
        let path = self.dir.join(segment_name(self.next_id));
        self.next_id += 1;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        *dir_changed = true;
        self.current = Some(Current {
            seg: Segment {
                path,
                bytes: 0,
                seal: Seal::default(),
            },
            file,
            written: 0,
            written_seal: Seal::default(),
        });
        let cur = self.current.as_mut().ok_or_else(no_segment)?;
        cur.file.write_all_at(&head, 0)?;
        cur.written = head.len() as u64;
        Ok(())
    }

    fn sync_current(&mut self) -> io::Result<()> {
        if let Some(cur) = self.current.as_mut() {
            cur.file.sync_data()?;
            self.flush_committed += cur.written_seal.readings - cur.seg.seal.readings;
            cur.seg.bytes = cur.written;
            cur.seg.seal = cur.written_seal;
        }
        Ok(())
    }

    /// Deletes the oldest sealed segments while the filesystem has less than
    /// `keep_free` bytes free; true if any went. Best effort: an error stops it.
    fn yield_space(&mut self) -> bool {
        let mut removed = false;
        while !self.sealed.is_empty() && free_bytes(&self.dir).is_ok_and(|f| f < self.keep_free) {
            let Some(old) = self.sealed.pop_front() else {
                break;
            };
            if let Err(e) = fs::remove_file(&old.path).or_else(ignore_not_found) {
                tracing::warn!(path = %old.path.display(), error = %e, "raw ring: could not delete a segment");
                self.sealed.push_front(old);
                break;
            }
            self.dropped += old.seal.readings;
            removed = true;
        }
        if removed {
            tracing::warn!(dir = %self.dir.display(), "raw ring: low disk space; oldest readings dropped");
        }
        // Still short and only the segment being written left: close it at the next
        // append, so the flush after can let it go too.
        if self.sealed.is_empty()
            && self.current.is_some()
            && free_bytes(&self.dir).is_ok_and(|f| f < self.keep_free)
        {
            self.writer = None;
        }
        removed
    }

    #[cfg(test)]
    pub(crate) fn set_keep_free(&mut self, bytes: u64) {
        self.keep_free = bytes;
    }

    /// Deletes the oldest sealed segments until `extra` more bytes fit; true if any went.
    fn make_room(&mut self, extra: u64) -> io::Result<bool> {
        let mut removed = false;
        while self.bytes_on_disk() + extra > self.max_bytes {
            let Some(old) = self.sealed.pop_front() else {
                break;
            };
            fs::remove_file(&old.path).or_else(ignore_not_found)?;
            self.dropped += old.seal.readings;
            removed = true;
        }
        Ok(removed)
    }

    /// After a failed flush: count the readings it lost, cut the segment back to its
    /// synced length and stop writing to it (the next append starts a new segment).
    fn abandon_current(&mut self, lost: u64, disk_full: bool) {
        self.dropped += lost;
        self.writer = None;
        self.chunks.clear();
        if let Some(cur) = self.current.take() {
            let cut = if cur.seg.bytes == 0 {
                fs::remove_file(&cur.seg.path)
            } else {
                cur.file.set_len(cur.seg.bytes)
            };
            if let Err(e) = cut {
                tracing::warn!(path = %cur.seg.path.display(), error = %e,
                    "raw ring: could not cut back a failed segment; reopen will repair it");
            }
            if cur.seg.bytes > 0 {
                self.sealed.push_back(cur.seg);
            }
        }
        // A full disk: give the next flush room by letting the oldest segment go.
        if disk_full
            && self.sealed.len() > 1
            && let Some(old) = self.sealed.pop_front()
        {
            match fs::remove_file(&old.path) {
                Ok(()) => self.dropped += old.seal.readings,
                Err(_) => self.sealed.push_front(old),
            }
        }
    }
}

impl Chunk {
    fn new(new_segment: Option<Catalog>) -> Chunk {
        Chunk {
            new_segment,
            body: Vec::new(),
            seal: Seal::default(),
        }
    }
}

fn no_segment() -> io::Error {
    io::Error::other("raw ring has no open segment")
}
