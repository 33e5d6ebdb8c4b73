//! The tables of the redb outbox of earlier versions, read once by `legacy.rs`.

use redb::TableDefinition;

pub(crate) const ALARMS: TableDefinition<u64, &[u8]> = TableDefinition::new("alarms");
pub(crate) const OTHERS: TableDefinition<u64, &[u8]> = TableDefinition::new("others");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
