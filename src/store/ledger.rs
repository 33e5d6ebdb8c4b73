//! The outbox's bookkeeping: per-kind counts and the counters an append or an ack moves.
//!
//! Pure arithmetic; `outlog` keeps one `Counters` in memory, rebuilt at open from the
//! log (pending counts from the pending records, `next_seq` and `dropped` from the frames,
//! which carry them).

use super::record::{self, Head, Kind};

/// Per-kind counters, indexed by `Kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts(pub [u64; 5]);

impl KindCounts {
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind.index()]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) next_seq: u64,
    /// Sum of `record::cost` of the pending records.
    pub(crate) cost: u64,
    pub(crate) payload: u64,
    pub(crate) pending: KindCounts,
    pub(crate) dropped: KindCounts,
}

impl Counters {
    pub(crate) fn add(&mut self, h: Head, stored: usize) {
        self.pending.0[h.kind.index()] += 1;
        self.cost += record::cost(stored);
        self.payload += h.payload_len;
    }

    pub(crate) fn remove(&mut self, h: Head, stored: usize) {
        let p = &mut self.pending.0[h.kind.index()];
        *p = p.saturating_sub(1);
        self.cost = self.cost.saturating_sub(record::cost(stored));
        self.payload = self.payload.saturating_sub(h.payload_len);
    }
}
