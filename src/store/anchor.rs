//! seq continuity across a lost or damaged outbox: the seq floor kept in two files, the
//! re-anchoring jump when neither can be trusted, and the salvage of a quarantined file.
//!
//! The platform dedups on `seq`, so a seq that goes back makes it discard new messages as
//! repeats. Every seq ever used is below the floor, written (durably, a million seqs at a
//! time) to `outbox.redb.seq` and to `raw/seq.floor` before any seq above it commits. At
//! open the highest valid copy wins, together with the outbox's own counter. When the
//! outbox had to be quarantined and no floor copy is valid, nothing left can be trusted:
//! the counter jumps forward to the wall clock in microseconds (above any seq a gateway
//! handing out fewer than a million seqs a second since its first start could have used)
//! or above whatever the salvage read, whichever is higher, logged loudly and reported in
//! `P/status` (`reanchored`).

use super::ledger::{Counters, shed};
use super::open::Db;
use super::outbox::{ALARMS, META, OTHERS, Outbox};
use super::{StoreError, disk, record};
use redb::{ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};

/// Why and how far the seq counter was moved at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reanchor {
    /// Where the counter stood after the open, before the jump.
    pub from: u64,
    /// Where the counter now starts.
    pub to: u64,
    pub reason: String,
}

/// The two copies of the seq floor beside an outbox at `path`.
pub(crate) fn floor_paths(path: &Path) -> [PathBuf; 2] {
    let dir = path.parent().unwrap_or(Path::new("."));
    [
        PathBuf::from(format!("{}.seq", path.display())),
        dir.join("raw").join("seq.floor"),
    ]
}

/// The highest valid floor among the copies (0: none valid).
pub(crate) fn read_floors(paths: &[PathBuf]) -> u64 {
    paths.iter().map(|p| disk::read_floor(p)).max().unwrap_or(0)
}

/// Writes every copy; the first must land, a failed second copy is only logged.
pub(crate) fn write_floors(paths: &[PathBuf], floor: u64) -> std::io::Result<()> {
    let (first, rest) = paths.split_first().expect("at least one floor copy");
    disk::write_floor(first, floor)?;
    for p in rest {
        let made = p
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| disk::write_floor(p, floor));
        if let Err(e) = made {
            tracing::warn!(path = %p.display(), error = %e, "outbox: second seq floor copy not written");
        }
    }
    Ok(())
}

/// Whether the data directory of the outbox at `path` was used before: the file (or a
/// quarantined one) exists, or the raw ring holds segments.
pub(crate) fn prior_life(path: &Path) -> bool {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let quarantined = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("{name}.corrupt-")))
        });
    let raw = std::fs::read_dir(dir.join("raw"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".seg")));
    path.exists() || quarantined || raw
}

/// The wall clock in microseconds: the seq to jump to when no anchor survived.
fn clock_anchor() -> u64 {
    u64::try_from(crate::clock::now_ms())
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// What a quarantined file still yields, once its page checksums pass (redb repairs what it
/// can): its pending records and the highest seq seen. A file whose damage the repair
/// cannot undo yields nothing (its seq is anchored by the floor or the jump instead).
pub(crate) struct Salvage {
    pub(crate) records: Vec<(u64, Vec<u8>)>,
    pub(crate) next_seq: u64,
}

/// Reads what it can from a quarantined outbox (a panic of the engine is caught where
/// unwinding exists; under `panic = "abort"` the restarted daemon finds the fresh file
/// and does not try again, its seq already anchored).
pub(crate) fn salvage(path: &Path) -> Option<Salvage> {
    let read = std::panic::catch_unwind(|| -> Result<Salvage, StoreError> {
        let mut db = redb::Builder::new().create(path)?;
        // Only what the page checksums vouch for: a record read from a damaged page
        // without this check may carry altered bytes under a valid seq.
        db.check_integrity()?;
        let txn = db.begin_read()?;
        let mut s = Salvage {
            records: Vec::new(),
            next_seq: 0,
        };
        if let Ok(meta) = txn.open_table(META) {
            s.next_seq = meta.get("next_seq")?.map_or(0, |v| v.value());
        }
        for def in [ALARMS, OTHERS] {
            let Ok(t) = txn.open_table(def) else { continue };
            for entry in t.iter()? {
                let Ok((k, v)) = entry else { break };
                if record::head(v.value()).is_some() {
                    s.next_seq = s.next_seq.max(k.value() + 1);
                    s.records.push((k.value(), v.value().to_vec()));
                }
            }
        }
        Ok(s)
    });
    match read {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "outbox: nothing salvaged from the quarantined file");
            None
        }
        Err(_) => {
            tracing::warn!(path = %path.display(), "outbox: the engine panicked reading the quarantined file; nothing salvaged");
            None
        }
    }
}

impl Outbox {
    /// After the open: when no floor copy is valid (`floor == 0`) although the data
    /// directory was used before (`prior_life`) and the counter cannot vouch for itself (the
    /// file was quarantined, or is new), jump forward; then put back what a quarantined
    /// file still holds.
    pub(crate) fn anchor_at_open(&self, floor: u64, prior_life: bool) -> Result<(), StoreError> {
        let q = self.quarantined();
        let next = self.stats()?.next_seq;
        if floor == 0 && prior_life && (q.is_some() || next <= 1) {
            let to = clock_anchor().max(next);
            let why = match &q {
                Some(q) => format!("outbox corrupt ({}), seq floor lost", q.reason),
                None => "outbox and seq floor lost".to_string(),
            };
            tracing::error!(
                from = next,
                to,
                reason = %why,
                "outbox: SEQ RE-ANCHORED: nothing left vouches for the seq counter; it jumps \
                 forward to the clock so it never goes back"
            );
            self.raise_next_seq(to)?;
            self.set_reanchor(Reanchor {
                from: next,
                to,
                reason: why,
            });
        } else if floor == 0 && next > 1 {
            tracing::warn!(
                next_seq = next,
                "outbox: seq floor files missing or damaged; the outbox's own counter is used and the floor rewritten"
            );
        }
        // The floor exists from the first open on, so a later loss of the outbox always
        // finds an anchor. Best effort: a full disk must not stop the start.
        if let Err(e) = self.reserve_seqs(next.max(1)) {
            tracing::warn!(error = %e, "outbox: seq floor not written at open");
        }
        if let Some(q) = q
            && let Some(s) = salvage(&q.path)
        {
            let n = self.restore(&s)?;
            tracing::warn!(
                records = n,
                next_seq = s.next_seq,
                "outbox: salvaged pending records from the quarantined file"
            );
        }
        Ok(())
    }

    /// Sets `meta.next_seq` to at least `to`, floor files first.
    pub(crate) fn raise_next_seq(&self, to: u64) -> Result<(), StoreError> {
        self.run(|db| {
            let Db::Rw(d) = db else {
                return Err(StoreError::ReadOnly);
            };
            let txn = d.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                let mut c = Counters::load(&meta)?;
                if c.next_seq < to {
                    self.reserve_seqs(to)?;
                    c.next_seq = to;
                    c.store(&mut meta)?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    /// Puts salvaged records back under their own seqs (byte-identical, so a platform that
    /// got one already dedups it) and raises the counter above them; within the budget.
    fn restore(&self, s: &Salvage) -> Result<usize, StoreError> {
        self.raise_next_seq(s.next_seq)?;
        self.run(|db| {
            let Db::Rw(d) = db else {
                return Err(StoreError::ReadOnly);
            };
            let txn = d.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                let mut alarms = txn.open_table(ALARMS)?;
                let mut others = txn.open_table(OTHERS)?;
                let mut c = Counters::load(&meta)?;
                for (seq, bytes) in &s.records {
                    let Some(h) = record::head(bytes) else {
                        continue;
                    };
                    let table = if h.kind.replays_first() {
                        &mut alarms
                    } else {
                        &mut others
                    };
                    if table.insert(*seq, bytes.as_slice())?.is_none() {
                        c.add(h, bytes.len());
                    }
                }
                shed(&mut alarms, &mut others, &mut c, self.budget())?;
                c.store(&mut meta)?;
            }
            txn.commit()?;
            Ok(s.records.len())
        })
    }
}
