//! The outbox's tables and its schema: what `handle` opens and `outbox` reads and writes.

use super::StoreError;
use redb::{Database, ReadableTable, TableDefinition};

pub(super) const ALARMS: TableDefinition<u64, &[u8]> = TableDefinition::new("alarms");
pub(super) const OTHERS: TableDefinition<u64, &[u8]> = TableDefinition::new("others");
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");

/// Schema version stored in `META` under "format".
const FORMAT: u64 = 1;

/// Creates the tables, checks the schema version and, in a fresh file, starts the seq
/// counter at the floor left by any earlier outbox, so seqs never repeat even after a
/// quarantine.
pub(super) fn init(db: &Database, floor: u64) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        txn.open_table(ALARMS)?;
        txn.open_table(OTHERS)?;
        txn.open_table(STATE)?;
        let format = meta.get("format")?.map(|v| v.value());
        match format {
            None => {
                meta.insert("format", FORMAT)?;
                if meta.get("next_seq")?.is_none() {
                    meta.insert("next_seq", floor.max(1))?;
                }
            }
            Some(FORMAT) => {}
            Some(other) if other > FORMAT => {
                // A newer build wrote it: not ours to quarantine.
                return Err(StoreError::Unavailable(format!(
                    "outbox format {other} is newer than this build reads ({FORMAT})"
                )));
            }
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "unknown outbox format {other}"
                )));
            }
        }
    }
    txn.commit()?;
    Ok(())
}
