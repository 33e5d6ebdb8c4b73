//! Durable state: the raw ring of readings and the outbox of everything bound upstream.
//!
//! The only module that names the storage engine (redb). It never publishes, never
//! decides when to flush or ack, and never reads the clock for data (callers pass
//! timestamps); the one clock read stamps a quarantined file's name.
//!
//! # Raw ring (`RawRing`, `raw.rs` + `segment.rs` + `codec.rs`)
//!
//! Why not redb: a redb commit writes ~29 KB however little it carries, and the flash
//! budget is 0.5 MB/min for 1170 points polled every second. An append-only log costs
//! what it carries (measured: 0.9 bytes per reading for turnstiles).
//!
//! * Layout: `<dir>/raw-<16 hex digits>.seg`, numbered in write order. A segment is
//!   closed at `max_bytes / 8` (within 4 KiB..16 MiB), so dropping one frees ≤ 1/8.
//! * Segment: the magic `SWRAW\0\0\x01` (last byte = format version), then frames.
//!   A frame is `len: u32 LE | crc32(len ‖ body): u32 LE | body`; the body's first byte
//!   is its type: 1 catalog (device ids and point names, the first frame of every
//!   segment, so decoding never depends on the running config), 2 samples, 3 seal
//!   (counts and ts range, always the last 41 bytes of a closed segment).
//! * Samples frame: count and readings (varints), then per sample: device (catalog
//!   index, varint), ts delta to the previous sample of the segment (zigzag varint),
//!   a head byte (error kind, bit 3 = explicit value count), the error's detail, then
//!   2-bit tags per value: same as this device's previous value in the segment /
//!   integer delta (zigzag varint) / f64 (8 bytes LE) / absent.
//! * Durability: `append` only encodes in memory; `flush` (ingest calls it at least
//!   every second) writes one frame per segment touched with `pwrite` and fdatasyncs;
//!   creating or deleting a segment also syncs the directory.
//! * Bound: before each write the oldest closed segments are deleted until the new
//!   bytes fit `max_bytes`; their readings are counted in `dropped()`. Below 32 MiB free
//!   on its filesystem the ring also gives up its oldest segments (down to about one
//!   flush of readings), so raw readings yield the disk to the outbox.
//! * A crash loses what was appended since the last flush (≤ 1 s). At open, a segment
//!   without a seal is read to its first bad frame (torn tail, bad CRC), truncated
//!   there and sealed. A bit flip elsewhere costs the rest of its segment (the deltas
//!   after it cannot be decoded), never the other segments.
//!
//! # Outbox (`Outbox`, `outbox.rs` over the log in `outlog/`, with `shed.rs`,
//! `ledger.rs`, `record.rs`, `anchor.rs` + `floor.rs`, `room.rs` and `disk.rs`)
//!
//! Why not redb (which held it until 0.x, see `legacy.rs`): a window's summaries were
//! written once as B-tree pages and again when their deletion rewrote those pages, plus a
//! ~29 KB commit each time; 0.5 MB/min of the 0.45 MB/min budget on its own. The log
//! writes what it carries, compressed, once.
//!
//! * Files: `<data_dir>/outbox/out-<16 hex digits>.seg` (segments in write order),
//!   `outbox/lock` (one writer), beside it `outbox.seq` (seq floor), `outbox.ballast`
//!   (up to 2 MiB kept in reserve), and `*.corrupt-<unix ts>` for files moved aside.
//! * Segment: the magic `SWOUT\0\0\x01`, then frames framed as the raw ring's; each body
//!   an entry (`outlog/entry.rs`): counters (`next_seq`, drops per kind), records
//!   `(seq, stored record)`, state entries, and the seq ranges no longer pending (acked
//!   or dropped); LZ4-compressed from 256 bytes. The first frame of a segment is a
//!   checkpoint of every state entry.
//! * Record (version 1): `1 | kind u8 | retain u8 | created_ms i64 LE | topic len u16
//!   LE | topic | payload`. The payload is built with its seq before the frame is
//!   written and never rewritten, so every replay is byte-identical.
//! * Durability: an `append` is one frame, fdatasynced before it returns ("accepted");
//!   its state entries and drops ride in the same frame, so they land together or not
//!   at all. An `ack` is a frame written without a sync: a killed daemon keeps it (the
//!   page cache survives), a power cut may lose it and the record is sent again (same seq,
//!   same bytes). A clean close writes a synced frame.
//! * Seqs: from the counter, never from the last record; the floor file is raised
//!   (durably, 65 536 seqs at a time) before any seq above it is handed out, so neither a
//!   crash nor a lost outbox sends a seq back (`anchor.rs`).
//! * Bound: pending records may use half of `max_bytes` (by bytes + 32 per record); the
//!   rest is room for acknowledged records whose segment has not gone yet. Past it, records
//!   go oldest first by class: summaries and zones, then command results and snapshots,
//!   alarms last, each drop counted per kind in the same frame (`shed.rs`). Segments go
//!   whole, oldest first, once nothing in them is pending; past 3/4 of `max_bytes` the
//!   oldest segment's pending records are copied forward and the segment deleted.
//! * Full disk: below 16 MiB free (statvfs) the outbox grows no further (beyond a
//!   256 KiB floor): new records displace the oldest. On a failed write (ENOSPC) the
//!   frame is cut off, the ballast released, twice the batch shed and the dead segments
//!   compacted away, and the append retried (beyond a 64 KiB floor, no growth), until
//!   space is back. An open on a full disk starts closed and retries on each call.
//! * A crash loses nothing accepted. At open every segment is read: a torn tail of the
//!   newest segment (a write cut short) is cut off; damage anywhere else costs the frames
//!   it hit, never the rest (the scan finds the next intact frame by the offset each frame
//!   carries), and is reported (`Outbox::quarantined`, `sitewarden outbox`).
//! * Sharing: `Outbox` is `Send + Sync` (one mutex). The daemon holds the lock file;
//!   `Outbox::open_read_only` (for `sitewarden outbox`) reads the segments afresh on
//!   each call.
//!
//! # Command log (`CommandLog`, `commands.rs`)
//!
//! * `<data_dir>/commands.log`: the `P/cmd` ids carried out, each kept until an hour
//!   past its expiry, so a command runs at most once across restarts. CRC-framed append
//!   log like the raw ring (not redb: one id costs ~60 bytes and one fdatasync, shared by
//!   the commands that arrive together). An id is synced before its device is written;
//!   its outcome before it is answered. A torn tail is cut at open; the file is
//!   rewritten (temp file, fsync, rename) when dead entries make up most of it.

pub(crate) mod anchor;
mod codec;
pub mod commands;
pub(crate) mod disk;
mod episode;
pub(crate) mod floor;
pub mod history;
mod ledger;
mod legacy;
pub mod outbox;
mod outlog;
pub mod raw;
mod record;
mod room;
mod segment;
mod shed;
pub(crate) mod tables;

pub use commands::CommandLog;
pub use floor::Reanchor;
pub use outbox::{KindCounts, Outbox, OutboxStats, Quarantine};
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
        matches!(self, StoreError::Io(e) if disk::is_disk_full(e))
    }
}

/// Every redb error type (read by `legacy.rs`) converts through `redb::Error`, sorted into our variants.
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
