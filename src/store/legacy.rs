//! The outbox of versions before the log (`outbox.redb`, a redb database): imported once,
//! at the first start of this version, so an upgrade loses no pending record, no counter
//! and no state entry. redb is linked for this alone.

use super::outlog::{Entry, Log};
use super::tables::{ALARMS, META, OTHERS, STATE};
use super::{StoreError, disk, record};
use redb::{ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};

const FILE: &str = "outbox.redb";

/// The floor file of the old outbox (0 when absent or unreadable).
pub(super) fn floor(data_dir: &Path) -> u64 {
    disk::read_floor(&data_dir.join(format!("{FILE}.seq")))
}

/// Whether an old outbox is there.
pub(super) fn present(data_dir: &Path) -> bool {
    data_dir.join(FILE).is_file()
}

/// What the old file held.
struct Old {
    next_seq: u64,
    dropped: [u64; 5],
    records: Vec<(u64, Vec<u8>)>,
    state: Vec<(String, Vec<u8>)>,
}

/// Imports `<data_dir>/outbox.redb` into the fresh `log` in one synced frame, then
/// removes it (and its side files). An old file that cannot be read is renamed aside
/// and reported; the start goes on.
pub(super) fn import(data_dir: &Path, log: &mut Log, budget: u64) -> Result<(), StoreError> {
    let path = data_dir.join(FILE);
    if !path.is_file() {
        return Ok(());
    }
    let old = match read(&path) {
        Ok(old) => old,
        Err(e) => {
            let moved = disk::quarantine(&path, crate::clock::now_ms() / 1000)?;
            tracing::error!(error = %e, moved = %moved.display(), "outbox: the outbox of the earlier version could not be read; moved aside");
            return Ok(());
        }
    };
    let mut e = Entry {
        next_seq: old.next_seq.max(log.c.next_seq),
        dropped: old.dropped,
        state: old.state,
        ..Entry::default()
    };
    // Newest first within the budget (the old file kept to it too).
    let mut cost = 0;
    let mut kept = 0;
    for (seq, bytes) in old.records.into_iter().rev() {
        cost += record::cost(bytes.len());
        if cost > budget {
            e.dropped[record::head(&bytes).map_or(1, |h| h.kind.index())] += 1;
            continue;
        }
        kept += 1;
        e.records.push((seq, bytes));
    }
    e.records.reverse();
    log.write(&e, true)?;
    for (k, v) in &e.state {
        log.set_state(k, v.clone());
    }
    log.c.dropped.0 = e.dropped;
    log.c.next_seq = log.c.next_seq.max(e.next_seq);
    tracing::warn!(
        records = kept,
        next_seq = e.next_seq,
        "outbox: imported the outbox of the earlier version"
    );
    for side in side_files(data_dir) {
        if let Err(err) = std::fs::remove_file(&side)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %side.display(), error = %err, "outbox: old file not removed");
        }
    }
    disk::sync_dir(data_dir)?;
    Ok(())
}

fn side_files(data_dir: &Path) -> [PathBuf; 3] {
    [
        data_dir.join(FILE),
        data_dir.join(format!("{FILE}.opening")),
        data_dir.join(format!("{FILE}.seq")),
    ]
}

fn read(path: &Path) -> Result<Old, StoreError> {
    let db = std::panic::catch_unwind(|| {
        let mut db = redb::Builder::new().create(path)?;
        db.check_integrity()?;
        Ok::<_, StoreError>(db)
    })
    .map_err(|_| StoreError::Corrupt("the storage engine panicked".into()))??;
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let get = |k: &str| -> Result<u64, StoreError> { Ok(meta.get(k)?.map_or(0, |v| v.value())) };
    let mut old = Old {
        next_seq: get("next_seq")?,
        dropped: [0; 5],
        records: Vec::new(),
        state: Vec::new(),
    };
    for (i, k) in ["alarm", "summary", "zone", "cmd_result", "snapshot"]
        .iter()
        .enumerate()
    {
        old.dropped[i] = get(&format!("dropped.{k}"))?;
    }
    for def in [ALARMS, OTHERS] {
        for entry in txn.open_table(def)?.iter()? {
            let (k, v) = entry?;
            if record::head(v.value()).is_some() {
                old.next_seq = old.next_seq.max(k.value() + 1);
                old.records.push((k.value(), v.value().to_vec()));
            }
        }
    }
    old.records.sort_by_key(|r| r.0);
    for entry in txn.open_table(STATE)?.iter()? {
        let (k, v) = entry?;
        if !k.value().starts_with("latest.") {
            old.state.push((k.value().to_string(), v.value().to_vec()));
        }
    }
    Ok(old)
}
