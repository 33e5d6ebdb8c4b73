//! The outbox log: every outbox record, acknowledgement, drop and state entry appended to
//! CRC-framed segment files, replayed at open into an in-memory index of what is pending.
//!
//! * `entry.rs`: what one frame says; `segfile.rs`: the segment files and the scan;
//!   `index.rs`: where each pending record is.
//! * Appends are synced (one fdatasync per batch); acknowledgements are written without
//!   a sync (they survive a kill, and a power cut that loses them only re-sends records);
//!   a clean close writes a synced frame saying no seq past `next_seq` was handed out.
//! * Every segment starts with a checkpoint (counters and every state entry), so whole
//!   segments go once nothing in them is pending, oldest first; a segment past its size
//!   rolls over, and an idle log (nothing pending) rolls at 64 KiB so it stays small.
//! * When dead bytes pile up behind a long-pending record (the log past 3/4 of its
//!   bound), the oldest segment's pending records are copied to the newest (same seq,
//!   same bytes) and the segment deleted.

mod entry;
mod index;
mod segfile;

pub(crate) use entry::{Entry, ranges};
pub(crate) use index::FrameAt;
use index::Index;

use super::StoreError;
use super::ledger::Counters;
use super::record::{self, Head, Kind};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest segment: a dropped segment frees at most this much at once.
const SEG_MAX: u64 = 16 << 20;
const SEG_MIN: u64 = 64 << 10;
/// A log with nothing pending rolls to a fresh segment past this size, so the outbox of
/// a connected gateway stays this small. A roll costs a new file and a checkpoint (a few
/// pages, every ~3 minutes at 300 devices).
const ROLL_IDLE: u64 = 64 << 10;

struct Seg {
    file: File,
    len: u64,
    /// Written since its last sync.
    dirty: bool,
}

/// Damage found at open: which segment, what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) reason: String,
}

pub(crate) struct Log {
    dir: PathBuf,
    writable: bool,
    segs: BTreeMap<u64, Seg>,
    index: Index,
    /// Snapshot topic → its pending seq (one pending snapshot per topic).
    latest: HashMap<String, u64>,
    state: BTreeMap<String, Vec<u8>>,
    pub(crate) c: Counters,
    seg_max: u64,
    cache: Option<(FrameAt, Arc<Entry>)>,
    /// Damage found at open (not a torn tail).
    pub(crate) damage: Vec<Found>,
    /// The last frame at open was a clean close.
    pub(crate) closed_cleanly: bool,
    /// The log existed before this open.
    pub(crate) existed: bool,
    /// The open cut a torn tail: a write was cut short, by a power cut or by hand.
    pub(crate) torn: bool,
    /// Tests: a simulated filesystem under the log.
    #[cfg(test)]
    pub(crate) sim: Option<SimDisk>,
    _lock: Option<File>,
}

/// What replaying the frames found beyond the index.
struct Replay {
    last_clean: bool,
    /// Segments with damage other than a torn tail, and why.
    damaged: Vec<(u64, String)>,
}

impl Log {
    /// Opens (writable: creates and locks) the log in `dir`, bounded to `max_bytes`.
    pub(crate) fn open(dir: &Path, writable: bool, max_bytes: u64) -> Result<Log, StoreError> {
        let lock = if writable {
            std::fs::create_dir_all(dir)?;
            Some(lock(dir)?)
        } else {
            None
        };
        let mut log = Log {
            dir: dir.to_path_buf(),
            writable,
            segs: BTreeMap::new(),
            index: Index::default(),
            latest: HashMap::new(),
            state: BTreeMap::new(),
            c: Counters {
                next_seq: 1,
                ..Counters::default()
            },
            seg_max: (max_bytes / 8).clamp(SEG_MIN, SEG_MAX),
            cache: None,
            damage: Vec::new(),
            closed_cleanly: false,
            existed: false,
            torn: false,
            #[cfg(test)]
            sim: None,
            _lock: lock,
        };
        let replay = log.replay()?;
        log.closed_cleanly = replay.last_clean;
        log.existed = !log.segs.is_empty() || !log.damage.is_empty() || !replay.damaged.is_empty();
        log.settle()?;
        if writable && log.segs.is_empty() {
            log.roll()?;
        }
        for (id, reason) in replay.damaged {
            let path = if writable {
                log.set_aside(id)?
            } else {
                dir.join(segfile::name(id))
            };
            log.damage.push(Found { path, reason });
        }
        Ok(log)
    }

    /// Bytes of every segment.
    pub(crate) fn bytes(&self) -> u64 {
        self.segs.values().map(|s| s.len).sum()
    }

    pub(crate) fn segments(&self) -> usize {
        self.segs.len()
    }

    pub(crate) fn state(&self, key: &str) -> Option<&Vec<u8>> {
        self.state.get(key)
    }

    pub(crate) fn set_state(&mut self, key: &str, value: Vec<u8>) {
        self.state.insert(key.to_string(), value);
    }

    pub(crate) fn latest(&self, topic: &str) -> Option<u64> {
        self.latest.get(topic).copied()
    }

    /// Pass 1: every frame of every segment in order, into the index; damage noted.
    fn replay(&mut self) -> Result<Replay, StoreError> {
        let list = match segfile::list(&self.dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.writable => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let newest = list.last().map(|(id, _)| *id);
        let mut last_clean = false;
        let mut damaged = Vec::new();
        for (id, path) in list {
            if let Some(why) =
                self.replay_segment(id, &path, Some(id) == newest, &mut last_clean)?
            {
                damaged.push((id, why));
            }
        }
        Ok(Replay {
            last_clean,
            damaged,
        })
    }

    /// One segment into the index; returns what is damaged in it beyond a torn tail.
    fn replay_segment(
        &mut self,
        id: u64,
        path: &Path,
        newest: bool,
        last_clean: &mut bool,
    ) -> Result<Option<String>, StoreError> {
        // Frames are applied as they are read (one in memory at a time). Those past a torn
        // tail can only be unsynced ones (acks, reserved seqs): applying them before the
        // tail is cut costs at most a record sent again.
        let mut clean = *last_clean;
        let scan = match segfile::scan(path, |off, len, e| {
            clean = e.clean;
            self.apply(FrameAt { seg: id, off, len }, e);
        }) {
            Ok(s) => s,
            // The writer deleted it between the listing and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !scan.ours {
            let len = std::fs::metadata(path).map_or(0, |m| m.len());
            if len < segfile::MAGIC.len() as u64 && newest && self.writable {
                // A segment whose creation a crash cut short.
                std::fs::remove_file(path)?;
            } else {
                self.foreign(path)?;
            }
            return Ok(None);
        }
        // The newest segment's damage that no synced frame follows is what a power cut
        // leaves of unsynced writes (in any order): cut there, apply nothing after.
        let tear = scan
            .damage
            .iter()
            .find(|d| newest && !d.synced_after)
            .map(|d| d.at);
        *last_clean = clean && tear.is_none();
        let len = std::fs::metadata(path).map_or(scan.end, |m| m.len());
        let why: Vec<String> = scan
            .damage
            .iter()
            .filter(|d| tear.is_none_or(|t| d.at < t))
            .map(|d| format!("bytes {}..{}", d.at, d.resumed_at.unwrap_or(len)))
            .collect();
        if let Some(t) = tear {
            self.torn = true;
            if self.writable {
                tracing::warn!(segment = %path.display(), at = t, "outbox: torn tail (writes a power cut left unfinished) removed");
            }
        }
        let cut = tear.or_else(|| {
            scan.damage
                .last()
                .filter(|d| d.resumed_at.is_none())
                .map(|_| scan.end)
        });
        self.keep(id, path, cut.unwrap_or(len), cut.is_some())?;
        Ok((!why.is_empty()).then(|| format!("{} not intact frames", why.join(", "))))
    }

    /// Adds a scanned segment of `len` bytes, cut to that length first when `cut`.
    fn keep(&mut self, id: u64, path: &Path, len: u64, cut: bool) -> Result<(), StoreError> {
        let file = if self.writable {
            let f = OpenOptions::new().read(true).write(true).open(path)?;
            if cut {
                f.set_len(len)?;
            }
            f
        } else {
            File::open(path)?
        };
        let seg = Seg {
            file,
            len,
            dirty: false,
        };
        self.segs.insert(id, seg);
        Ok(())
    }

    /// A file named like a segment that is not one: moved aside (writable) and reported.
    fn foreign(&mut self, path: &Path) -> Result<(), StoreError> {
        let moved = if self.writable {
            super::disk::quarantine(path, crate::clock::now_ms() / 1000)?
        } else {
            path.to_path_buf()
        };
        self.damage.push(Found {
            path: moved,
            reason: "not an outbox segment (bad magic)".into(),
        });
        Ok(())
    }

    fn apply(&mut self, at: FrameAt, e: Entry) {
        self.c.next_seq = self.c.next_seq.max(e.next_seq);
        for (d, n) in self.c.dropped.0.iter_mut().zip(e.dropped) {
            *d = (*d).max(n);
        }
        for (k, v) in e.state {
            self.state.insert(k, v);
        }
        for &(s, end) in &e.gone {
            for seq in s..end {
                self.index.kill(seq);
            }
        }
        let seqs: Vec<u64> = e.records.iter().map(|r| r.0).collect();
        if let Some(&last) = seqs.iter().max() {
            self.c.next_seq = self.c.next_seq.max(last + 1);
        }
        let alarm: Vec<bool> = e
            .records
            .iter()
            .map(|r| record::head(&r.1).is_some_and(|h| h.kind.replays_first()))
            .collect();
        self.index.add(at, &seqs, |i| alarm[i]);
    }

    /// Pass 2: superseded snapshots out, then the counters of what is pending.
    fn settle(&mut self) -> Result<(), StoreError> {
        let mut snaps: Vec<(String, u64)> = Vec::new();
        let alarm_runs: Vec<_> = self
            .index
            .runs()
            .filter(|r| r.has_alarms())
            .map(|r| (r.frame, r.live().collect::<Vec<_>>()))
            .collect();
        for (frame, live) in alarm_runs {
            let e = self.frame(frame)?;
            for (seq, pos) in live {
                let (_, bytes) = &e.records[pos as usize];
                if record::head(bytes).is_some_and(|h| h.kind == Kind::Snapshot)
                    && let Some(r) = record::decode(seq, bytes)
                {
                    snaps.push((r.topic, seq));
                }
            }
        }
        for (topic, seq) in snaps {
            if let Some(prev) = self.latest.insert(topic, seq) {
                self.index.kill(prev);
            }
        }
        let runs: Vec<_> = self
            .index
            .runs()
            .map(|r| (r.frame, r.live().map(|l| l.1).collect::<Vec<_>>()))
            .collect();
        for (frame, live) in runs {
            let e = self.frame(frame)?;
            for pos in live {
                let bytes = &e.records[pos as usize].1;
                match record::head(bytes) {
                    Some(h) => self.c.add(h, bytes.len()),
                    None => self.c.add(undecodable(), bytes.len()),
                }
            }
        }
        Ok(())
    }

    /// The frame at `at`, decoded (the last one read is kept).
    pub(crate) fn frame(&mut self, at: FrameAt) -> Result<Arc<Entry>, StoreError> {
        if let Some((c, e)) = &self.cache
            && *c == at
        {
            return Ok(Arc::clone(e));
        }
        let seg = self
            .segs
            .get(&at.seg)
            .ok_or_else(|| StoreError::Corrupt(format!("segment {} is gone", at.seg)))?;
        let e = Arc::new(segfile::read(&seg.file, at.off, at.len).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                StoreError::Corrupt(e.to_string())
            } else {
                StoreError::Io(e)
            }
        })?);
        self.cache = Some((at, Arc::clone(&e)));
        Ok(e)
    }

    /// Lets go of the decoded frame kept for the next read (a window's frame decoded is
    /// ~150 KB at 300 devices: not worth keeping resident between calls).
    pub(crate) fn forget_frame(&mut self) {
        self.cache = None;
    }

    /// Pending `seq`: where it is and whether it replays first.
    pub(crate) fn find(&self, seq: u64) -> Option<(FrameAt, u32, bool)> {
        self.index.find(seq)
    }

    /// Pending records with seq > `after` of the given class, in seq order, up to `limit`.
    pub(crate) fn pending_after(
        &mut self,
        after: u64,
        alarms: bool,
        limit: usize,
    ) -> Result<Vec<(u64, Arc<Entry>, u32)>, StoreError> {
        let mut picks = Vec::new();
        for run in self.index.after(after) {
            if picks.len() >= limit {
                break;
            }
            if (alarms && !run.has_alarms()) || (!alarms && !run.has_others()) {
                continue;
            }
            for (seq, pos) in run.live() {
                let i = pos - run.pos;
                if seq > after && run.is_alarm(i) == alarms && picks.len() < limit {
                    picks.push((seq, run.frame, pos));
                }
            }
        }
        let mut out = Vec::with_capacity(picks.len());
        for (seq, frame, pos) in picks {
            out.push((seq, self.frame(frame)?, pos));
        }
        Ok(out)
    }

    /// The lowest pending seq of each class, with where it is.
    pub(crate) fn oldest(&self) -> Option<(FrameAt, u32)> {
        let run = self.index.runs().next()?;
        run.live().next().map(|(_, pos)| (run.frame, pos))
    }

    /// Marks `seq` no longer pending (acked, dropped or superseded) and takes it off the
    /// counters; returns its head, None if it was not pending.
    pub(crate) fn kill(&mut self, seq: u64) -> Result<Option<Head>, StoreError> {
        let Some((frame, pos, _)) = self.index.find(seq) else {
            return Ok(None);
        };
        let e = self.frame(frame)?;
        let bytes = &e.records[pos as usize].1;
        let h = record::head(bytes).unwrap_or_else(undecodable);
        self.index.kill(seq);
        self.c.remove(h, bytes.len());
        if h.kind == Kind::Snapshot
            && let Some(r) = record::decode(seq, bytes)
            && self.latest.get(&r.topic) == Some(&seq)
        {
            self.latest.remove(&r.topic);
        }
        Ok(Some(h))
    }

    /// Writes `e` (after rolling to a new segment if the active one is full) and, when
    /// `sync`, fdatasyncs; then indexes its records. Nothing changes in memory on error.
    pub(crate) fn write(&mut self, e: &Entry, sync: bool) -> Result<FrameAt, StoreError> {
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        let (&id, seg) = self
            .segs
            .last_key_value()
            .expect("a writable log has a segment");
        if seg.len >= self.seg_max {
            self.roll()?;
        }
        let (&id2, seg) = self.segs.last_key_value().expect("a segment");
        debug_assert!(id2 >= id);
        let at = seg.len;
        self.room_for(e.encode(at).len() as u64 + 8)?;
        let len = segfile::append(&seg.file, at, e, sync)?;
        let seg = self.segs.get_mut(&id2).expect("active");
        seg.len += len;
        seg.dirty = !sync;
        let frame = FrameAt {
            seg: id2,
            off: at,
            len,
        };
        self.index_records(frame, e);
        Ok(frame)
    }

    fn index_records(&mut self, frame: FrameAt, e: &Entry) {
        let seqs: Vec<u64> = e.records.iter().map(|r| r.0).collect();
        let mut heads = Vec::with_capacity(seqs.len());
        for (seq, bytes) in &e.records {
            let h = record::head(bytes).unwrap_or_else(undecodable);
            if h.kind == Kind::Snapshot
                && let Some(r) = record::decode(*seq, bytes)
            {
                self.latest.insert(r.topic, *seq);
            }
            heads.push(h);
        }
        for (i, s) in seqs.iter().enumerate() {
            // A relocated record: its old copy stops counting, the new one takes over.
            if self.index.kill(*s).is_none() {
                self.c.add(heads[i], e.records[i].1.len());
            }
        }
        self.index
            .add(frame, &seqs, |i| heads[i].kind.replays_first());
    }

    /// Starts a new segment holding a checkpoint of the counters and every state entry.
    pub(crate) fn roll(&mut self) -> Result<(), StoreError> {
        let id = self.segs.last_key_value().map_or(1, |(id, _)| id + 1);
        let e = self.checkpoint();
        self.room_for(e.encode(8).len() as u64 + 16)?;
        // What the old segment holds unsynced (acks) is synced first: after a power cut
        // only the newest segment may have a torn tail.
        if let Some((_, old)) = self.segs.last_key_value()
            && old.dirty
        {
            old.file.sync_data()?;
        }
        let (file, len) = segfile::create(&self.dir, id, &e)?;
        self.segs.insert(
            id,
            Seg {
                file,
                len,
                dirty: false,
            },
        );
        Ok(())
    }

    fn checkpoint(&self) -> Entry {
        Entry {
            next_seq: self.c.next_seq,
            dropped: self.c.dropped.0,
            state: self
                .state
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            checkpoint: true,
            ..Entry::default()
        }
    }

    /// An entry carrying the counters and nothing else, to fill in.
    pub(crate) fn entry(&self) -> Entry {
        Entry {
            next_seq: self.c.next_seq,
            dropped: self.c.dropped.0,
            ..Entry::default()
        }
    }

    /// Deletes the oldest segments while nothing in them is pending; then, when nothing at
    /// all is pending and the active segment passed `ROLL_IDLE`, starts afresh.
    pub(crate) fn reclaim(&mut self) -> Result<(), StoreError> {
        if !self.writable {
            return Ok(());
        }
        let (&active, seg) = self.segs.last_key_value().expect("a segment");
        if self.index.is_empty() && seg.len >= self.roll_idle() {
            self.roll()?;
        }
        let active = self.segs.last_key_value().map_or(active, |(id, _)| *id);
        while let Some((&id, _)) = self.segs.first_key_value() {
            if id == active || self.index.pending_in(id) > 0 {
                break;
            }
            self.delete(id)?;
        }
        Ok(())
    }

    fn delete(&mut self, id: u64) -> Result<(), StoreError> {
        self.segs.remove(&id);
        self.index.forget_segment(id);
        if self.cache.as_ref().is_some_and(|(at, _)| at.seg == id) {
            self.cache = None;
        }
        match std::fs::remove_file(self.dir.join(segfile::name(id))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Copies what is pending in the oldest segment to the newest (same seqs, same bytes,
    /// one synced frame) and deletes it. False when there is no segment.
    pub(crate) fn compact_oldest(&mut self) -> Result<bool, StoreError> {
        let Some((&oldest, _)) = self.segs.first_key_value() else {
            return Ok(false);
        };
        self.relocate(oldest)?;
        self.delete(oldest)?;
        Ok(true)
    }

    /// A damaged segment: what is pending in it is copied forward, then the file is moved
    /// aside for inspection; returns where it went.
    fn set_aside(&mut self, id: u64) -> Result<PathBuf, StoreError> {
        self.relocate(id)?;
        self.segs.remove(&id);
        self.index.forget_segment(id);
        self.cache = None;
        let moved = super::disk::quarantine(
            &self.dir.join(segfile::name(id)),
            crate::clock::now_ms() / 1000,
        )?;
        Ok(moved)
    }

    /// Writes what is pending in segment `id` to the active segment (a new one if `id` is
    /// the active one), in one synced frame.
    fn relocate(&mut self, id: u64) -> Result<(), StoreError> {
        if self.segs.last_key_value().map(|(k, _)| *k) == Some(id) {
            self.roll()?;
        }
        let live: Vec<_> = self
            .index
            .runs()
            .filter(|r| r.frame.seg == id)
            .map(|r| (r.frame, r.live().collect::<Vec<_>>()))
            .collect();
        let mut e = self.entry();
        for (frame, recs) in live {
            let f = self.frame(frame)?;
            for (seq, pos) in recs {
                e.records.push((seq, f.records[pos as usize].1.clone()));
            }
        }
        e.records.sort_by_key(|r| r.0);
        if !e.records.is_empty() {
            self.write(&e, true)?;
        }
        Ok(())
    }

    /// Writes the clean-close frame, synced.
    pub(crate) fn close(&mut self) -> Result<(), StoreError> {
        let mut e = self.entry();
        e.clean = true;
        self.write(&e, true).map(|_| ())
    }

    /// The size of a full segment.
    pub(crate) fn seg_max(&self) -> u64 {
        self.seg_max
    }

    /// Bytes compaction could free: each segment's share of records no longer pending
    /// (an estimate: records in a frame are compressed together); the active segment's
    /// only when `with_active`.
    pub(crate) fn dead_bytes(&self, with_active: bool) -> u64 {
        let active = self.segs.last_key_value().map(|(id, _)| *id);
        self.segs
            .iter()
            .filter(|(id, _)| with_active || Some(**id) != active)
            .map(|(id, s)| {
                let held = self.index.held_in(*id);
                let pending = self.index.pending_in(*id);
                (s.len * pending.min(held))
                    .checked_div(held)
                    .map_or(s.len, |live| s.len - live)
            })
            .sum()
    }

    /// The size at which a log with nothing pending starts a fresh segment.
    pub(crate) fn roll_idle(&self) -> u64 {
        ROLL_IDLE.min(self.seg_max)
    }

    /// Tests: a simulated filesystem of `bytes`, holding the log and a ballast of 1/16
    /// of it (writes past it fail with ENOSPC).
    #[cfg(test)]
    pub(crate) fn set_capacity(&mut self, bytes: u64) {
        self.sim = Some(SimDisk {
            capacity: bytes,
            ballast: true,
        });
        self.seg_max = self.seg_max.min((bytes / 32).max(SEG_MIN));
    }

    /// Tests: (free, total) of the simulated filesystem.
    #[cfg(test)]
    pub(crate) fn sim_space(&self) -> Option<(u64, u64)> {
        let s = self.sim.as_ref()?;
        let used = self.bytes() + if s.ballast { s.capacity / 16 } else { 0 };
        Some((s.capacity.saturating_sub(used), s.capacity))
    }

    #[cfg(test)]
    fn room_for(&self, need: u64) -> Result<(), StoreError> {
        match self.sim_space() {
            Some((free, _)) if need > free => Err(StoreError::Io(
                std::io::Error::from_raw_os_error(libc::ENOSPC),
            )),
            _ => Ok(()),
        }
    }

    #[cfg(not(test))]
    fn room_for(&self, _need: u64) -> Result<(), StoreError> {
        Ok(())
    }

    /// The first pending run of the class with a record above `after`: its frame and
    /// the `(seq, index in frame)` of its pending records of that class above `after`.
    pub(crate) fn next_run(&self, after: u64, alarms: bool) -> Option<(FrameAt, Vec<(u64, u32)>)> {
        self.index.after(after).find_map(|run| {
            let live: Vec<(u64, u32)> = run
                .live()
                .filter(|&(seq, pos)| seq > after && run.is_alarm(pos - run.pos) == alarms)
                .collect();
            (!live.is_empty()).then_some((run.frame, live))
        })
    }
}

/// Tests: a filesystem of `capacity` bytes with a ballast file on it.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimDisk {
    pub(crate) capacity: u64,
    pub(crate) ballast: bool,
}

fn undecodable() -> Head {
    Head {
        kind: Kind::Summary,
        created_ms: 0,
        payload_len: 0,
    }
}

/// Takes the log's lock file: one writer per directory. Released when the process ends,
/// however it ends.
fn lock(dir: &Path) -> Result<File, StoreError> {
    use std::os::unix::io::AsRawFd;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("lock"))?;
    // A moment's retry: a child this process forks holds its descriptors until it execs.
    let mut tries = 0;
    let rc = loop {
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 || tries == 20 {
            break rc;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(25));
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(StoreError::Unavailable(format!(
                "the outbox {} is held by another process (is the daemon running?)",
                dir.display()
            )));
        }
        return Err(e.into());
    }
    Ok(f)
}
