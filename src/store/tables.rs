//! The tables of the redb outbox of earlier versions, read once by `legacy.rs`.

use redb::TableDefinition;

pub(super) const ALARMS: TableDefinition<u64, &[u8]> = TableDefinition::new("alarms");
pub(super) const OTHERS: TableDefinition<u64, &[u8]> = TableDefinition::new("others");
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
