//! The durable outbox: every summary, zone summary, alarm, command result and snapshot,
//! with its final bytes and its seq, on disk before anyone may publish it.
//!
//! The API over the outbox log (`outlog/`): appends with their drops (`shed.rs`) in one
//! synced frame, acks as unsynced frames, the seq counter and its floor (`anchor.rs`,
//! `floor.rs`), the disk's room (`room.rs`). It never publishes, never decides when to
//! ack (the uplink does) and never reads the clock except to stamp a quarantined file.

use super::episode::Episodes;
pub use super::ledger::KindCounts;
use super::outlog::{Entry, Log, ranges};
use super::record::{self, Kind, NewRecord, Record};
use super::room::{Pressure, Room};
use super::shed::{self, Incoming};
use super::{Reanchor, StoreError, anchor, floor, legacy};
use crate::reading::Ms;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Share of `outbox_max_bytes` that pending records may take (by `record::cost`); the
/// rest is room for acknowledged records waiting for their segment to go.
const BUDGET_PERCENT: u64 = 50;
/// Reopen-and-retry rounds after an I/O error before an append gives up.
const RETRIES: usize = 2;
/// Seqs reserved in the floor files at a time: one small durable write per 65 536 seqs
/// (some hours of a 300-device site); a crash skips at most this many.
const SEQ_LEASE: u64 = 1 << 16;

/// What was found damaged at open, and where it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub path: PathBuf,
    pub reason: String,
}

/// What `sitewarden outbox` and `P/health` report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: KindCounts,
    /// `created_ms` of the lowest pending seq.
    pub oldest_pending_ms: Option<Ms>,
    /// Size of the outbox's segments.
    pub bytes_on_disk: u64,
    pub payload_bytes: u64,
    /// Records dropped to stay within `outbox_max_bytes` or a full disk, ever (durable).
    pub dropped: KindCounts,
    pub next_seq: u64,
    /// I/O errors survived since this handle was opened.
    pub recoveries: u64,
}

/// The durable outbox. `Send + Sync`: ingest appends from its thread while the uplink
/// reads and acks from blocking tasks; one mutex orders them.
pub struct Outbox {
    dir: PathBuf,
    read_only: bool,
    max_bytes: u64,
    /// None while closed (an open that failed on a full disk; each call retries).
    log: Mutex<Option<Log>>,
    episodes: Episodes,
    room: Room,
    /// Seqs below this are covered by the floor files.
    lease: AtomicU64,
    recoveries: AtomicU64,
    quarantined: Option<Quarantine>,
    reanchored: Option<Reanchor>,
    /// Tests: a simulated filesystem size.
    #[cfg(test)]
    capacity: Mutex<Option<u64>>,
}

impl Outbox {
    /// Opens (or creates) the outbox log in the directory `path`, bounded to `max_bytes`;
    /// a pending outbox of an earlier version beside it (`outbox.redb`) is imported.
    ///
    /// Damage is never fatal: what is intact is kept, the damage reported (`quarantined`).
    /// Nor is a full disk: the outbox then starts closed and every call tries to open it
    /// again. Fails when another process holds it or the disk refuses us otherwise.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Outbox, StoreError> {
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let floors = floor::floor_paths(path);
        let lease = floor::read_floors(&floors).max(legacy::floor(parent));
        let prior_life = floor::prior_life(path);
        let mut ob = Outbox::closed(path, false, max_bytes, lease);
        let mut log = match ob.open_log() {
            Err(e) if e.is_disk_full() => {
                tracing::error!(error = %e, "outbox: disk full; starting closed, will retry on each use");
                return Ok(ob);
            }
            other => other?,
        };
        if !log.existed {
            legacy::import(parent, &mut log, ob.budget())?;
        }
        ob.quarantined = log.damage.first().map(|d| Quarantine {
            path: d.path.clone(),
            reason: d.reason.clone(),
        });
        for d in &log.damage {
            tracing::error!(segment = %d.path.display(), reason = %d.reason, "outbox: damaged segment; what is intact was kept");
        }
        let boot = anchor::boot_id();
        let same_boot = boot.is_some() && log.state(anchor::BOOT_KEY) == boot.as_ref();
        ob.reanchored = anchor::at_open(
            &mut log,
            lease,
            prior_life,
            ob.quarantined.is_some(),
            same_boot,
        );
        if let Some(boot) = boot.filter(|_| !same_boot) {
            // Which boot wrote the log: a later start on the same boot can trust what the
            // page cache kept of it (see `anchor.rs`).
            // Best effort: without it the next start after a kill skips to the floor.
            let mut e = log.entry();
            e.state = vec![(anchor::BOOT_KEY.to_string(), boot.clone())];
            match log.write(&e, true) {
                Ok(_) => log.set_state(anchor::BOOT_KEY, boot),
                Err(e) => tracing::warn!(error = %e, "outbox: boot id not recorded"),
            }
        }
        if let Err(e) = ob.reserve(log.c.next_seq.max(1)) {
            // Best effort: a full disk must not stop the start.
            tracing::warn!(error = %e, "outbox: seq floor not written at open");
        }
        *ob.lock() = Some(log);
        ob.room.keep_ballast();
        Ok(ob)
    }

    /// Opens the outbox of a running (or stopped) daemon for reading only; every call
    /// reads the log afresh, so it follows the writer. Fails with a clear reason when
    /// there is none.
    pub fn open_read_only(path: &Path) -> Result<Outbox, StoreError> {
        if !path.is_dir() {
            return Err(StoreError::Unavailable(format!(
                "no outbox at {}",
                path.display()
            )));
        }
        let ob = Outbox::closed(path, true, 0, 0);
        ob.open_log()?;
        Ok(ob)
    }

    fn closed(path: &Path, read_only: bool, max_bytes: u64, lease: u64) -> Outbox {
        let parent = path.parent().map(Path::to_path_buf);
        Outbox {
            dir: path.to_path_buf(),
            read_only,
            max_bytes,
            log: Mutex::new(None),
            episodes: Episodes::default(),
            room: Room::new(if read_only { None } else { parent }),
            lease: AtomicU64::new(lease),
            recoveries: AtomicU64::new(0),
            quarantined: None,
            reanchored: None,
            #[cfg(test)]
            capacity: Mutex::new(None),
        }
    }

    fn open_log(&self) -> Result<Log, StoreError> {
        #[allow(unused_mut)]
        let mut log = Log::open(&self.dir, !self.read_only, self.max_bytes)?;
        #[cfg(test)]
        if let Some(c) = *self.capacity.lock().unwrap_or_else(|e| e.into_inner()) {
            log.set_capacity(c);
        }
        Ok(log)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Log>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the log: a fresh read of it when read-only, else the open one
    /// (opened now if an earlier open failed).
    fn with_log<T>(
        &self,
        f: impl FnOnce(&mut Log) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.read_only {
            return f(&mut self.open_log()?);
        }
        let mut g = self.lock();
        if g.is_none() {
            *g = Some(self.open_log()?);
        }
        let log = g.as_mut().expect("opened above");
        let out = f(log);
        log.forget_frame();
        out
    }

    /// Set when the open found damage (what is intact was kept). The daemon logs it and
    /// reports it in `P/health`.
    pub fn quarantined(&self) -> Option<Quarantine> {
        self.quarantined.clone()
    }

    /// Set when this open moved the seq counter forward because nothing could vouch for
    /// it (see `anchor.rs`); the daemon reports it in `P/status`.
    pub fn reanchored(&self) -> Option<Reanchor> {
        self.reanchored.clone()
    }

    /// Appends `items` and writes `state` entries in ONE synced frame and returns their
    /// seqs, consecutive and in order. The seqs come from a counter the floor files
    /// vouch for, never from the last record.
    ///
    /// If the pending records would exceed the budget, the oldest summaries go first,
    /// then command results and snapshots, alarms last (new records included, by the same
    /// rule); each drop is counted per kind in the same frame. On an I/O error (a full
    /// disk) the ballast is released and the append retried while shedding more; only
    /// then does it fail.
    pub fn append(
        &self,
        items: Vec<NewRecord>,
        state: &[(&str, Vec<u8>)],
    ) -> Result<Vec<u64>, StoreError> {
        if let Some(r) = items.iter().find(|r| r.topic.len() > record::MAX_TOPIC) {
            return Err(StoreError::Invalid(format!(
                "topic of {} bytes is too long",
                r.topic.len()
            )));
        }
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if items.is_empty() && state.is_empty() {
            return Ok(Vec::new());
        }
        let mut pressure = self.pressure();
        let mut attempt = 0;
        loop {
            match self.with_log(|log| self.try_append(log, &items, state, pressure)) {
                Err(e) if e.needs_reopen() && attempt < RETRIES => {
                    attempt += 1;
                    pressure = Pressure::Full;
                    self.recover(&e);
                    // Room first, in a frame of its own, then compaction frees the bytes.
                    let room = 2 * items
                        .iter()
                        .map(|r| record::cost(r.topic.len() + (r.build)(0).len() + 16))
                        .sum::<u64>();
                    if let Err(e) = self.with_log(|log| self.try_shed(log, room)) {
                        tracing::warn!(error = %e, "outbox: could not shed to make room");
                    }
                }
                Err(e) if e.needs_reopen() => {
                    self.recover(&e);
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// Allocates one seq for a message that is published but not stored (status, the last
    /// will, health). Never handed out again: the floor files cover it before it is
    /// returned, and a frame without a sync records the counter (a killed daemon keeps
    /// it; after a reboot the counter resumes at the floor).
    pub fn reserve_seq(&self) -> Result<u64, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        self.with_log(|log| {
            let seq = log.c.next_seq;
            self.reserve(seq + 1)?;
            let mut e = log.entry();
            e.next_seq = seq + 1;
            log.write(&e, false)?;
            log.c.next_seq = seq + 1;
            Ok(seq)
        })
    }

    /// Marks the acknowledged records done, in one unsynced frame: it survives a crash of
    /// the daemon; a power cut that loses it only re-sends those records (same seq, same
    /// bytes). Seqs no longer pending (already acked or dropped) are ignored.
    pub fn ack(&self, seqs: &[u64]) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if seqs.is_empty() {
            return Ok(());
        }
        self.with_log(|log| {
            let done: Vec<u64> = seqs
                .iter()
                .copied()
                .filter(|s| log.find(*s).is_some())
                .collect();
            if done.is_empty() {
                return Ok(());
            }
            let mut e = log.entry();
            e.gone = ranges(&done);
            log.write(&e, false)?;
            for s in done {
                log.kill(s)?;
            }
            self.tidy(log, Pressure::Normal)?;
            if log.c.cost <= self.budget() / 4 * 3 && self.episodes.any_open() {
                self.episodes.on_relief(&log.c.dropped);
            }
            Ok(())
        })
    }

    /// Up to `limit` pending alarms with seq > `after_seq`, in seq order.
    pub fn alarms_after(&self, after_seq: u64, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.after(true, after_seq, limit)
    }

    /// Up to `limit` pending non-alarm records with seq > `after_seq`, in seq order.
    pub fn others_after(&self, after_seq: u64, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.after(false, after_seq, limit)
    }

    /// A state entry written by `append`, e.g. `window.last_closed`.
    pub fn state(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_log(|log| Ok(log.state(key).cloned()))
    }

    /// Backlog, drops and disk use, for `sitewarden outbox` and `P/health`.
    pub fn stats(&self) -> Result<OutboxStats, StoreError> {
        self.with_log(|log| {
            let oldest = match log.oldest() {
                Some((frame, pos)) => {
                    let e = log.frame(frame)?;
                    record::head(&e.records[pos as usize].1).map(|h| h.created_ms)
                }
                None => None,
            };
            Ok(OutboxStats {
                pending: log.c.pending,
                oldest_pending_ms: oldest,
                bytes_on_disk: log.bytes(),
                payload_bytes: log.c.payload,
                dropped: log.c.dropped,
                next_seq: log.c.next_seq,
                recoveries: self.recoveries.load(Ordering::Relaxed),
            })
        })
    }

    /// Reads every pending record, for `sitewarden outbox`: Err (with what was wrong) when
    /// a segment is damaged or a record cannot be decoded.
    pub fn verify(&self) -> Result<u64, StoreError> {
        self.with_log(|log| {
            if let Some(d) = log.damage.first() {
                return Err(StoreError::Corrupt(format!(
                    "{}: {}",
                    d.path.display(),
                    d.reason
                )));
            }
            let mut n = 0;
            for alarms in [true, false] {
                for (seq, e, pos) in log.pending_after(0, alarms, usize::MAX)? {
                    if record::decode(seq, &e.records[pos as usize].1).is_none() {
                        return Err(StoreError::Corrupt(format!(
                            "record {seq} cannot be decoded"
                        )));
                    }
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// The budget pending records may use, by `record::cost`.
    pub(crate) fn budget(&self) -> u64 {
        self.max_bytes / 100 * BUDGET_PERCENT
    }

    /// The outbox directory.
    pub fn path(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    /// Tests: simulate a filesystem of `bytes` under the outbox.
    #[cfg(test)]
    pub(crate) fn set_capacity(&self, bytes: u64) {
        *self.capacity.lock().unwrap() = Some(bytes);
        if let Some(log) = self.lock().as_mut() {
            log.set_capacity(bytes);
        }
    }

    fn after(&self, alarms: bool, after_seq: u64, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.with_log(|log| {
            let found = log.pending_after(after_seq, alarms, limit)?;
            Ok(found
                .into_iter()
                .filter_map(|(seq, e, pos)| {
                    let r = record::decode(seq, &e.records[pos as usize].1);
                    if r.is_none() {
                        tracing::warn!(seq, "outbox: undecodable record skipped");
                    }
                    r
                })
                .collect())
        })
    }

    fn try_append(
        &self,
        log: &mut Log,
        items: &[NewRecord],
        state: &[(&str, Vec<u8>)],
        pressure: Pressure,
    ) -> Result<Vec<u64>, StoreError> {
        let first = log.c.next_seq;
        let end = first + items.len() as u64;
        self.reserve(end)?;
        let (incoming, old_snaps) = incoming(log, items, first);
        let budget = pressure.budget(self.budget(), log.c.cost);
        let plan = shed::plan(log, &incoming, budget, &old_snaps)?;
        let mut dropped = log.c.dropped;
        for (_, kind) in &plan.old {
            dropped.0[kind.index()] += 1;
        }
        for &i in &plan.new {
            dropped.0[incoming[i].kind.index()] += 1;
        }
        let mut e = Entry {
            next_seq: end,
            dropped: dropped.0,
            ..Entry::default()
        };
        e.records = incoming
            .iter()
            .enumerate()
            .filter(|(i, _)| !plan.new.contains(i))
            .map(|(_, r)| (r.seq, r.bytes.clone()))
            .collect();
        let gone: Vec<u64> = plan
            .old
            .iter()
            .map(|p| p.0)
            .chain(old_snaps.iter().copied())
            .collect();
        e.gone = ranges(&gone);
        e.state = state
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        log.write(&e, true)?;
        let before = log.c.dropped;
        for s in gone {
            log.kill(s)?;
        }
        log.c.dropped = dropped;
        log.c.next_seq = end;
        for (k, v) in state {
            log.set_state(k, v.clone());
        }
        if !plan.is_empty() {
            self.episodes.on_drops(&before, &dropped);
        }
        self.tidy(log, pressure)?;
        Ok((first..end).collect())
    }

    /// Drops at least `room` of the oldest records (by drop class), in a frame of its
    /// own, and frees what it can on disk.
    fn try_shed(&self, log: &mut Log, room: u64) -> Result<(), StoreError> {
        let budget = log.c.cost.saturating_sub(room);
        let plan = shed::plan(log, &[], budget, &[])?;
        if !plan.is_empty() {
            let before = log.c.dropped;
            let mut dropped = before;
            for (_, kind) in &plan.old {
                dropped.0[kind.index()] += 1;
            }
            let mut e = log.entry();
            e.dropped = dropped.0;
            let gone: Vec<u64> = plan.old.iter().map(|p| p.0).collect();
            e.gone = ranges(&gone);
            log.write(&e, true)?;
            for s in gone {
                log.kill(s)?;
            }
            log.c.dropped = dropped;
            self.episodes.on_drops(&before, &dropped);
        }
        self.tidy(log, Pressure::Full)
    }

    /// Deletes segments nothing pending needs; compacts when acknowledged records take
    /// more room than they may: the log past 3/4 of its bound, dead segments held back by
    /// a long-pending record (4 segments' worth), or any squeeze.
    fn tidy(&self, log: &mut Log, pressure: Pressure) -> Result<(), StoreError> {
        log.reclaim()?;
        let mut rounds = log.segments() + 1;
        while rounds > 0 {
            rounds -= 1;
            let bytes = log.bytes();
            let dead = log.dead_bytes(pressure != Pressure::Normal);
            let compact = match pressure {
                Pressure::Normal => {
                    (bytes > self.max_bytes / 4 * 3 && dead > log.seg_max())
                        || dead > 4 * log.seg_max().max(log.roll_idle())
                }
                _ => dead > (bytes / 2).max(64 << 10),
            };
            if !compact || !log.compact_oldest()? {
                break;
            }
            log.reclaim()?;
        }
        Ok(())
    }

    /// Makes sure the floor files cover every seq below `end` before any is handed out.
    fn reserve(&self, end: u64) -> Result<(), StoreError> {
        if end <= self.lease.load(Ordering::Acquire) {
            return Ok(());
        }
        let lease = end + SEQ_LEASE;
        floor::write_floors(&floor::floor_paths(&self.dir), lease)?;
        self.lease.store(lease, Ordering::Release);
        Ok(())
    }

    /// How hard an append must squeeze, from the disk under the outbox.
    fn pressure(&self) -> Pressure {
        #[cfg(test)]
        let sim = self.lock().as_ref().and_then(Log::sim_space);
        #[cfg(test)]
        if let Some(space) = sim {
            let v = super::room::decide(Some(space), self.room.squeezed());
            if v == super::room::Verdict::Roomy {
                self.room.unsqueeze();
                if let Some(s) = self.lock().as_mut().and_then(|l| l.sim.as_mut()) {
                    s.ballast = true;
                }
            }
            return v.pressure();
        }
        self.room.pressure()
    }

    /// After an I/O error: count it and give the ballast back on a full disk. The log
    /// changed nothing in memory for the write that failed, so it stays open.
    fn recover(&self, e: &StoreError) {
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, "outbox: write failed; retrying");
        if e.is_disk_full() {
            self.room.mark_squeezed();
        }
        if self.room.release_ballast() {
            tracing::warn!("outbox: ballast released to make room");
        }
        #[cfg(test)]
        if let Some(s) = self.lock().as_mut().and_then(|l| l.sim.as_mut()) {
            s.ballast = false;
        }
        if matches!(e, StoreError::Corrupt(_)) {
            // A frame went bad under us: read the log afresh.
            let mut g = self.lock();
            *g = None;
            match self.open_log() {
                Ok(log) => *g = Some(log),
                Err(e) => tracing::warn!(error = %e, "outbox: reopen failed; will retry"),
            }
        }
    }
}

/// The records of an append with their seqs from `first`, and the pending snapshots they
/// supersede. A snapshot is state, not history: the newest of a topic replaces the
/// pending one, and the earlier ones of the same append (not a drop: the newest says all
/// they said).
fn incoming(log: &Log, items: &[NewRecord], first: u64) -> (Vec<Incoming>, Vec<u64>) {
    let mut newest: std::collections::HashMap<&str, usize> = Default::default();
    let mut old_snaps = Vec::new();
    for (i, it) in items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.kind == Kind::Snapshot)
    {
        if newest.insert(&it.topic, i).is_none()
            && let Some(seq) = log.latest(&it.topic)
        {
            old_snaps.push(seq);
        }
    }
    let incoming = (first..)
        .zip(items)
        .enumerate()
        .filter(|(i, (_, it))| {
            it.kind != Kind::Snapshot || newest.get(it.topic.as_str()) == Some(i)
        })
        .map(|(_, (seq, it))| Incoming {
            seq,
            kind: it.kind,
            bytes: record::encode(
                it.kind,
                &it.topic,
                it.retain,
                it.created_ms,
                &(it.build)(seq),
            ),
        })
        .collect();
    (incoming, old_snaps)
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.read_only {
            return;
        }
        if let Some(log) = self.lock().as_mut()
            && let Err(e) = log.close()
        {
            tracing::warn!(error = %e, "outbox: clean close not written; the next start skips ahead in seq");
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}
