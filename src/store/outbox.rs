//! The durable outbox: every summary, zone summary, alarm, command result and snapshot,
//! with its final bytes and its seq, on disk before anyone may publish it.
//!
//! Owns the redb tables listed in the module doc of `store`; it never publishes, never
//! decides when to ack (the uplink does) and never reads the clock except to stamp a
//! quarantined file. Opening and quarantine live in `open.rs`, the
//! bookkeeping in `ledger.rs`, surviving a full disk in `recovery.rs`.

use super::StoreError;
use super::episode::Episodes;
pub use super::ledger::KindCounts;
use super::ledger::{Counters, shed};
use super::open::{Db, Location, State};
use super::record::{self, Head, Kind, NewRecord, Record};
use super::recovery::{FULL_FLOOR, Pressure, RETRIES, TIGHT_FLOOR};
use crate::reading::Ms;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub(crate) const ALARMS: TableDefinition<u64, &[u8]> = TableDefinition::new("alarms");
pub(crate) const OTHERS: TableDefinition<u64, &[u8]> = TableDefinition::new("others");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");

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
    pub(crate) state: RwLock<State>,
    pub(crate) location: Location,
    pub(crate) max_bytes: u64,
    /// Seqs below this are covered by the floor file.
    pub(crate) lease: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    /// Set by a full disk; appends stay `Pressure::Full` until free space is back.
    pub(crate) squeezed: AtomicBool,
    pub(crate) episodes: Episodes,
}

impl Outbox {
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
        let mut pressure = self.pressure();
        let mut attempt = 0;
        loop {
            let result = self.with_db(|db| self.try_append(db, &items, state, pressure));
            match result {
                Err(e) if e.needs_reopen() && attempt == RETRIES => {
                    // Leave a usable handle for the next call.
                    self.recover(&e);
                    return Err(e);
                }
                Err(e) if e.needs_reopen() => {
                    attempt += 1;
                    pressure = Pressure::Full;
                    self.recover(&e);
                    if e.is_disk_full() {
                        self.squeezed.store(true, Ordering::Relaxed);
                    }
                    // Room first, in a transaction of its own: the pages it frees can
                    // be reused by the append that follows.
                    let room = 2 * items
                        .iter()
                        .map(|r| record::cost(r.topic.len() + (r.build)(0).len() + 16))
                        .sum::<u64>();
                    if let Err(e) = self.with_db(|db| self.try_shed(db, room)) {
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
        self.with_db(|db| {
            let txn = self.write_txn(db)?;
            let seq = {
                let mut meta = txn.open_table(META)?;
                let mut c = Counters::load(&meta)?;
                let seq = c.next_seq;
                self.reserve_seqs(seq + 1)?;
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
        self.run(|db| self.try_ack(db, seqs))
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
        self.run(|db| {
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
        let mut stats = self.run(|db| {
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
        stats.bytes_on_disk = self.location.file_len();
        stats.recoveries = self.recoveries.load(Ordering::Relaxed);
        Ok(stats)
    }

    /// Reads every pending record and the counters, for `sitewarden outbox`: Err (with
    /// what was wrong) when the engine reports damage or a record cannot be decoded.
    pub fn verify(&self) -> Result<u64, StoreError> {
        self.run(|db| {
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
    pub(crate) fn budget(&self) -> u64 {
        self.max_bytes / 100 * BUDGET_PERCENT
    }

    fn after(
        &self,
        def: TableDefinition<u64, &[u8]>,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.run(|db| {
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
        let txn = self.write_txn(db)?;
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
            self.reserve_seqs(end)?;
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
        let txn = self.write_txn(db)?;
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
        let txn = self.write_txn(db)?;
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

    fn write_txn(&self, db: &Db) -> Result<WriteTransaction, StoreError> {
        let Db::Rw(db) = db else {
            return Err(StoreError::ReadOnly);
        };
        let mut txn = db.begin_write()?;
        // No quick repair: it saves the allocator state with every commit and makes the
        // commit two-phase (site bench: 0.93 -> 0.78 MB/min written, one fsync per commit
        // instead of two). What it saves is a walk of the live pages at the open after a
        // crash, and every open already verifies every page (`set_check_integrity_on_open`).
        if !self.location.durable() {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| StoreError::Engine(e.to_string()))?;
        }
        Ok(txn)
    }

    /// The outbox file (None for a test database on a simulated disk).
    pub fn path(&self) -> Option<&Path> {
        self.location.path()
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("path", &self.location.path())
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
