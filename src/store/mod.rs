//! (module doc written below)

mod codec;
mod disk;
mod open;
pub mod outbox;
pub mod raw;
mod record;

pub use open::Quarantine;
pub use outbox::{KindCounts, Outbox, OutboxStats};
pub use raw::RawRing;
pub use record::{Kind, NewRecord, Record};

use std::io;

/// Why a store operation failed. Callers branch on `Unavailable` (report and go on)
/// and `ReadOnly` (a programming error); the rest are logged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store i/o: {0}")]
    Io(#[from] io::Error),
    /// The file is damaged (found at open: it gets quarantined).
    #[error("store corrupt: {0}")]
    Corrupt(String),
    /// The outbox cannot be opened here, and why (held by another process, needs repair).
    #[error("outbox unavailable: {0}")]
    Unavailable(String),
    #[error("outbox is open read-only")]
    ReadOnly,
    #[error("record refused: {0}")]
    Invalid(String),
    #[error("storage engine: {0}")]
    Engine(String),
}

impl StoreError {
    /// Errors after which the database must be closed and reopened.
    pub(crate) fn needs_reopen(&self) -> bool {
        matches!(self, StoreError::Io(_) | StoreError::Corrupt(_))
    }

    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Io(e) if raw::is_disk_full(e))
    }
}

/// Every redb error type converts through `redb::Error`, sorted into our variants.
impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Io(e) => StoreError::Io(e),
            redb::Error::PreviousIo => StoreError::Io(io::Error::other(
                "an earlier i/o error left the database unusable until reopened",
            )),
            redb::Error::Corrupted(m) => StoreError::Corrupt(m),
            e @ (redb::Error::UpgradeRequired(_)
            | redb::Error::TableTypeMismatch { .. }
            | redb::Error::TypeDefinitionChanged { .. }
            | redb::Error::TableIsMultimap(_)
            | redb::Error::TableIsNotMultimap(_)) => StoreError::Corrupt(e.to_string()),
            e @ (redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch) => {
                StoreError::Unavailable(e.to_string())
            }
            e => StoreError::Engine(e.to_string()),
        }
    }
}

macro_rules! via_redb_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                redb::Error::from(e).into()
            }
        }
    )*};
}
via_redb_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

#[cfg(test)]
mod tests;
