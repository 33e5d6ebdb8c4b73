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

use super::floor::Reanchor;
use super::handle::{Db, Handle};
use super::ledger::{Counters, shed};
use super::tables::{ALARMS, META, OTHERS};
use super::{StoreError, record};
use redb::{ReadableDatabase, ReadableTable};
use std::path::Path;

/// The wall clock in microseconds: the seq to jump to when no anchor survived.
fn clock_anchor() -> u64 {
    u64::try_from(crate::clock::now_ms())
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// What a quarantined file still yields, once its page checksums pass (redb repairs what it
/// can): its pending records and the highest seq seen. A file whose damage the repair
/// cannot undo yields nothing (its seq is anchored by the floor or the jump instead).
pub(super) struct Salvage {
    pub(super) records: Vec<(u64, Vec<u8>)>,
    pub(super) next_seq: u64,
}

/// Reads what it can from a quarantined outbox (a panic of the engine is caught where
/// unwinding exists; under `panic = "abort"` the restarted daemon finds the fresh file
/// and does not try again, its seq already anchored).
pub(super) fn salvage(path: &Path) -> Option<Salvage> {
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

/// After the open: when no floor copy is valid (`floor == 0`) although the data
/// directory was used before (`prior_life`) and the counter cannot vouch for itself (the
/// file was quarantined, or is new), jump forward; then put back what a quarantined
/// file still holds.
pub(super) fn at_open(
    handle: &Handle,
    budget: u64,
    floor: u64,
    prior_life: bool,
) -> Result<(), StoreError> {
    let q = handle.quarantined();
    let next = next_seq(handle)?;
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
        raise_next_seq(handle, to)?;
        handle.set_reanchor(Reanchor {
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
    if let Err(e) = handle.reserve_seqs(next.max(1)) {
        tracing::warn!(error = %e, "outbox: seq floor not written at open");
    }
    if let Some(q) = q
        && let Some(s) = salvage(&q.path)
    {
        let n = restore(handle, &s, budget)?;
        tracing::warn!(
            records = n,
            next_seq = s.next_seq,
            "outbox: salvaged pending records from the quarantined file"
        );
    }
    Ok(())
}

/// Sets `meta.next_seq` to at least `to`, floor files first.
fn raise_next_seq(handle: &Handle, to: u64) -> Result<(), StoreError> {
    handle.run(|db| {
        let Db::Rw(d) = db else {
            return Err(StoreError::ReadOnly);
        };
        let txn = d.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let mut c = Counters::load(&meta)?;
            if c.next_seq < to {
                handle.reserve_seqs(to)?;
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
fn restore(handle: &Handle, s: &Salvage, budget: u64) -> Result<usize, StoreError> {
    raise_next_seq(handle, s.next_seq)?;
    handle.run(|db| {
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
            shed(&mut alarms, &mut others, &mut c, budget)?;
            c.store(&mut meta)?;
        }
        txn.commit()?;
        Ok(s.records.len())
    })
}

/// The outbox's seq counter: the next seq it will hand out.
fn next_seq(handle: &Handle) -> Result<u64, StoreError> {
    handle.run(|db| {
        let txn = db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(Counters::load(&meta)?.next_seq)
    })
}
