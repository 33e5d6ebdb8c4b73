//! The durable outbox: every summary, zone summary, alarm, command result and snapshot,
//! with its final bytes and its seq, on disk before anyone may publish it.
//!
//! The table layer over `handle::Handle` (opening, quarantine, reopen and retry, disk
//! pressure, the seq floor lease); the tables are `tables.rs`, the bookkeeping
//! `ledger.rs`, seq re-anchoring and salvage at open `anchor.rs`. It never publishes,
//! never decides when to ack (the uplink does) and never reads the clock except to stamp
//! a quarantined file.

use super::episode::Episodes;
use super::handle::{
    Db, FULL_FLOOR, Handle, LOW_WATER, Location, Pressure, Quarantine, RETRIES, TIGHT_FLOOR,
};
pub use super::ledger::KindCounts;
use super::ledger::{Counters, shed};
use super::record::{self, Head, Kind, NewRecord, Record};
use super::tables::{ALARMS, META, OTHERS, STATE};
use super::{Reanchor, StoreError, anchor, disk, floor};
use crate::reading::Ms;
use redb::{ReadableTable, TableDefinition};
use std::path::Path;

/// Share of `outbox_max_bytes` that pending records may take (by `record::cost`); the
/// rest is headroom for redb's copy-on-write pages, freed pages awaiting reuse and the
/// allocator state, so the file itself stays within `outbox_max_bytes`.
const BUDGET_PERCENT: u64 = 50;

/// What `sitewarden outbox` and `P/health` report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: KindCounts,
    /// `created_ms` of the lowest pending seq.
    pub oldest_pending_ms: Option<Ms>,
    /// Size of the outbox file (0 when not file-backed).
    pub bytes_on_disk: u64,
    pub payload_bytes: u64,
    /// Records dropped to stay within `outbox_max_bytes` or a full disk, ever (durable).
    pub dropped: KindCounts,
    pub next_seq: u64,
    /// I/O errors survived by reopening since this handle was opened.
    pub recoveries: u64,
}

/// The durable outbox. `Send + Sync`: ingest appends from its thread while the uplink
/// reads and acks from blocking tasks; redb serialises the write transactions.
pub struct Outbox {
    handle: Handle,
    max_bytes: u64,
    episodes: Episodes,
}

impl Outbox {
    /// Opens (or creates) the outbox file at `path`, bounded to `max_bytes`.
    ///
    /// Never fails on a corrupt or truncated file: it is quarantined and a fresh outbox
    /// created (see `quarantined`). Nor on a full disk: the outbox then starts closed,
    /// every call tries to open it again and fails until there is room. Fails when the
    /// file is held by another process or the disk refuses us otherwise.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Outbox, StoreError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let location = Location::File {
            path: path.to_path_buf(),
            read_only: false,
        };
        let lease = location.floor_paths().map_or(0, |p| floor::read_floors(&p));
        let prior_life = floor::prior_life(path);
        let ob = Outbox::with_location(location, max_bytes, lease);
        match ob.handle.open_now() {
            Err(e) if e.is_disk_full() => {
                tracing::error!(error = %e, "outbox: disk full; starting closed, will retry on each use");
            }
            Err(e) => return Err(e),
            Ok(()) => anchor::at_open(&ob.handle, ob.budget(), lease, prior_life)?,
        }
        if let Some(b) = ob.handle.location().ballast_path()
            && let Err(e) = disk::ensure_ballast(&b, LOW_WATER)
        {
            tracing::warn!(error = %e, "outbox: no ballast file; a full disk will be harder to survive");
        }
        Ok(ob)
    }

    /// Opens the outbox of a running (or stopped) daemon for reading only. Fails with a
    /// clear reason when that is impossible.
    pub fn open_read_only(path: &Path) -> Result<Outbox, StoreError> {
        if !path.exists() {
            return Err(StoreError::Unavailable(format!(
                "no outbox at {}",
                path.display()
            )));
        }
        let location = Location::File {
            path: path.to_path_buf(),
            read_only: true,
        };
        let ob = Outbox::with_location(location, 0, 0);
        ob.handle.open_now()?;
        Ok(ob)
    }

    /// Tests: an outbox over a database `make` builds (e.g. on a simulated disk).
    #[cfg(test)]
    pub(crate) fn open_with(
        make: super::handle::Factory,
        max_bytes: u64,
        durable: bool,
    ) -> Result<Outbox, StoreError> {
        let ob = Outbox::with_location(Location::Factory { make, durable }, max_bytes, 0);
        ob.handle.open_now()?;
        Ok(ob)
    }

    fn with_location(location: Location, max_bytes: u64, lease: u64) -> Outbox {
        Outbox {
            handle: Handle::new(location, lease),
            max_bytes,
            episodes: Episodes::default(),
        }
    }

    /// Set when this open (or a reopen after an error) found the file corrupt and moved
    /// it aside. The daemon logs it and reports it in `P/health`.
    pub fn quarantined(&self) -> Option<Quarantine> {
        self.handle.quarantined()
    }

    /// Set when this open moved the seq counter forward because nothing could vouch for
    /// it (see `anchor.rs`); the daemon reports it in `P/status`.
    pub fn reanchored(&self) -> Option<Reanchor> {
        self.handle.reanchored()
    }

    /// Appends `items` and writes `state` entries in ONE durable transaction and returns
    /// their seqs, consecutive and in order, once the commit has synced. The seqs come
    /// from a durable counter, never from the last key.
    ///
    /// If the pending records would exceed the budget, the oldest summaries go first,
    /// then command results and snapshots, alarms last (new records included, by the same
    /// rule); each drop is counted per kind in the same transaction. On an I/O error
    /// (a full disk) the ballast is released, the database reopened and the append
    /// retried while shedding more; only then does it fail.
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
        if items.is_empty() && state.is_empty() {
            return Ok(Vec::new());
        }
        let mut pressure = self.handle.pressure();
        let mut attempt = 0;
        loop {
            let result = self
                .handle
                .with_db(|db| self.try_append(db, &items, state, pressure));
            match result {
                Err(e) if e.needs_reopen() && attempt == RETRIES => {
                    // Leave a usable handle for the next call.
                    self.handle.recover(&e);
                    return Err(e);
                }
                Err(e) if e.needs_reopen() => {
                    attempt += 1;
                    pressure = Pressure::Full;
                    self.handle.recover(&e);
                    if e.is_disk_full() {
                        self.handle.mark_squeezed();
                    }
                    // Room first, in a transaction of its own: the pages it frees can
                    // be reused by the append that follows.
                    let room = 2 * items
                        .iter()
                        .map(|r| record::cost(r.topic.len() + (r.build)(0).len() + 16))
                        .sum::<u64>();
                    if let Err(e) = self.handle.with_db(|db| self.try_shed(db, room)) {
                        tracing::warn!(error = %e, "outbox: could not shed to make room");
                    }
                }
                other => return other,
            }
        }
    }

    /// Allocates one seq for a message that is published but not stored (status, the last
    /// will, health), durably: it is never handed out again, even after a crash.
    pub fn reserve_seq(&self) -> Result<u64, StoreError> {
        self.handle.with_db(|db| {
            let txn = self.handle.write_txn(db)?;
            let seq = {
                let mut meta = txn.open_table(META)?;
                let mut c = Counters::load(&meta)?;
                let seq = c.next_seq;
                self.handle.reserve_seqs(seq + 1)?;
                c.next_seq = seq + 1;
                c.store(&mut meta)?;
                seq
            };
            txn.commit()?;
            Ok(seq)
        })
    }

    /// Deletes the acknowledged records in one transaction. Seqs no longer pending (already
    /// acked or dropped) are ignored.
    pub fn ack(&self, seqs: &[u64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.handle.run(|db| self.try_ack(db, seqs))
    }

    /// Up to `limit` pending alarms with seq > `after_seq`, in seq order.
    pub fn alarms_after(&self, after_seq: u64, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.after(ALARMS, after_seq, limit)
    }

    /// Up to `limit` pending non-alarm records with seq > `after_seq`, in seq order.
    pub fn others_after(&self, after_seq: u64, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.after(OTHERS, after_seq, limit)
    }

    /// A state entry written by `append`, e.g. `window.last_closed`.
    pub fn state(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.handle.run(|db| {
            let txn = db.begin_read()?;
            let table = match txn.open_table(STATE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(table.get(key)?.map(|v| v.value().to_vec()))
        })
    }

    /// Backlog, drops and disk use, for `sitewarden outbox` and `P/health`.
    pub fn stats(&self) -> Result<OutboxStats, StoreError> {
        let mut stats = self.handle.run(|db| {
            let txn = db.begin_read()?;
            let (meta, alarms, others) = match (
                txn.open_table(META),
                txn.open_table(ALARMS),
                txn.open_table(OTHERS),
            ) {
                (Ok(m), Ok(a), Ok(o)) => (m, a, o),
                (Err(redb::TableError::TableDoesNotExist(_)), ..) => {
                    return Ok(OutboxStats::default());
                }
                (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return Err(e.into()),
            };
            let c = Counters::load(&meta)?;
            let first =
                |t: &redb::ReadOnlyTable<u64, &[u8]>| -> Result<Option<(u64, Ms)>, StoreError> {
                    Ok(t.first()?
                        .and_then(|(k, v)| Some((k.value(), record::head(v.value())?.created_ms))))
                };
            let oldest = [first(&alarms)?, first(&others)?]
                .into_iter()
                .flatten()
                .min()
                .map(|(_, ms)| ms);
            Ok(OutboxStats {
                pending: c.pending,
                oldest_pending_ms: oldest,
                bytes_on_disk: 0,
                payload_bytes: c.payload,
                dropped: c.dropped,
                next_seq: c.next_seq,
                recoveries: 0,
            })
        })?;
        stats.bytes_on_disk = self.handle.location().file_len();
        stats.recoveries = self.handle.recoveries();
        Ok(stats)
    }

    /// Reads every pending record and the counters, for `sitewarden outbox`: Err (with
    /// what was wrong) when the engine reports damage or a record cannot be decoded.
    pub fn verify(&self) -> Result<u64, StoreError> {
        self.handle.run(|db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            Counters::load(&meta)?;
            let mut n = 0;
            for def in [ALARMS, OTHERS] {
                let table = txn.open_table(def)?;
                for entry in table.iter()? {
                    let (k, v) = entry?;
                    if record::decode(k.value(), v.value()).is_none() {
                        return Err(StoreError::Corrupt(format!(
                            "record {} cannot be decoded",
                            k.value()
                        )));
                    }
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// The budget pending records may use, by `record::cost`.
    pub(super) fn budget(&self) -> u64 {
        self.max_bytes / 100 * BUDGET_PERCENT
    }

    fn after(
        &self,
        def: TableDefinition<u64, &[u8]>,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.handle.run(|db| {
            let txn = db.begin_read()?;
            let table = match txn.open_table(def) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut out = Vec::with_capacity(limit.min(1024));
            let Some(from) = after_seq.checked_add(1) else {
                return Ok(out);
            };
            for entry in table.range(from..)? {
                if out.len() >= limit {
                    break;
                }
                let (k, v) = entry?;
                match record::decode(k.value(), v.value()) {
                    Some(r) => out.push(r),
                    None => tracing::warn!(seq = k.value(), "outbox: undecodable record skipped"),
                }
            }
            Ok(out)
        })
    }

    fn try_append(
        &self,
        db: &Db,
        items: &[NewRecord],
        state: &[(&str, Vec<u8>)],
        pressure: Pressure,
    ) -> Result<Vec<u64>, StoreError> {
        let txn = self.handle.write_txn(db)?;
        let seqs = {
            let mut meta = txn.open_table(META)?;
            let mut alarms = txn.open_table(ALARMS)?;
            let mut others = txn.open_table(OTHERS)?;
            let mut st = txn.open_table(STATE)?;
            let mut c = Counters::load(&meta)?;
            let before = c.cost;
            let dropped_before = c.dropped;
            let first = c.next_seq;
            let end = first + items.len() as u64;
            self.handle.reserve_seqs(end)?;
            let mut seqs = Vec::with_capacity(items.len());
            for (seq, it) in (first..).zip(items) {
                let payload = (it.build)(seq);
                let bytes = record::encode(it.kind, &it.topic, it.retain, it.created_ms, &payload);
                let table = if it.kind.replays_first() {
                    &mut alarms
                } else {
                    &mut others
                };
                table.insert(seq, bytes.as_slice())?;
                if it.kind == Kind::Snapshot {
                    supersede(&mut st, &mut alarms, &mut c, &it.topic, seq)?;
                }
                c.add(
                    Head {
                        kind: it.kind,
                        created_ms: it.created_ms,
                        payload_len: payload.len() as u64,
                    },
                    bytes.len(),
                );
                seqs.push(seq);
            }
            c.next_seq = end;
            let budget = match pressure {
                Pressure::Normal => self.budget(),
                Pressure::Tight => self.budget().min(before.max(TIGHT_FLOOR)),
                Pressure::Full => self.budget().min(before.max(FULL_FLOOR)),
            };
            shed(&mut alarms, &mut others, &mut c, budget)?;
            for (k, v) in state {
                st.insert(*k, v.as_slice())?;
            }
            c.store(&mut meta)?;
            (seqs, dropped_before, c.dropped)
        };
        txn.commit()?;
        let (seqs, before, after) = seqs;
        self.episodes.on_drops(&before, &after);
        Ok(seqs)
    }

    /// Drops at least `room` bytes of the oldest records (by drop class) and commits.
    fn try_shed(&self, db: &Db, room: u64) -> Result<(), StoreError> {
        let txn = self.handle.write_txn(db)?;
        let counts = {
            let mut meta = txn.open_table(META)?;
            let mut alarms = txn.open_table(ALARMS)?;
            let mut others = txn.open_table(OTHERS)?;
            let mut c = Counters::load(&meta)?;
            let budget = c.cost.saturating_sub(room);
            let before = c.dropped;
            shed(&mut alarms, &mut others, &mut c, budget)?;
            c.store(&mut meta)?;
            (before, c.dropped)
        };
        txn.commit()?;
        self.episodes.on_drops(&counts.0, &counts.1);
        Ok(())
    }

    fn try_ack(&self, db: &Db, seqs: &[u64]) -> Result<(), StoreError> {
        let txn = self.handle.write_txn(db)?;
        let relief = {
            let mut meta = txn.open_table(META)?;
            let mut alarms = txn.open_table(ALARMS)?;
            let mut others = txn.open_table(OTHERS)?;
            let mut c = Counters::load(&meta)?;
            let mut changed = false;
            for &seq in seqs {
                let removed = match alarms.remove(seq)? {
                    Some(v) => Some(v.value().to_vec()),
                    None => others.remove(seq)?.map(|v| v.value().to_vec()),
                };
                if let Some(v) = removed
                    && let Some(h) = record::head(&v)
                {
                    c.remove(h, v.len());
                    changed = true;
                }
            }
            if !changed {
                // Nothing was pending: spare the disk a commit.
                drop((meta, alarms, others));
                txn.abort()?;
                return Ok(());
            }
            c.store(&mut meta)?;
            (c.cost, c.dropped)
        };
        txn.commit()?;
        let (cost, dropped) = relief;
        if cost <= self.budget() / 4 * 3 && self.episodes.any_open() {
            self.episodes.on_relief(&dropped);
        }
        Ok(())
    }

    /// The outbox file (None for a test database on a simulated disk).
    pub fn path(&self) -> Option<&Path> {
        self.handle.location().path()
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("path", &self.handle.location().path())
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// A snapshot is state, not history: the one just inserted at `seq` replaces the
/// pending one of the same topic (not counted as a drop; the new one says all it said).
fn supersede(
    st: &mut redb::Table<&'static str, &'static [u8]>,
    alarms: &mut redb::Table<u64, &'static [u8]>,
    c: &mut Counters,
    topic: &str,
    seq: u64,
) -> Result<(), StoreError> {
    let key = format!("latest.{topic}");
    let prev = st
        .get(key.as_str())?
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map(u64::from_be_bytes);
    if let Some(prev) = prev
        && prev != seq
        && let Some(v) = alarms.remove(prev)?
        && let Some(h) = record::head(v.value())
    {
        c.remove(h, v.value().len());
    }
    st.insert(key.as_str(), seq.to_be_bytes().as_slice())?;
    Ok(())
}
