//! Drop episodes: the outbox logs once when it starts dropping a kind of record and once
//! when the drops are over, with how many went in between, instead of a line per drop.
//!
//! Pure bookkeeping over the durable counters (`ledger::Counters::dropped`); the counts
//! themselves live in the outbox, this only decides when to speak.

use super::ledger::KindCounts;
use super::record::Kind;
use std::sync::Mutex;

/// The open episodes: for each kind being dropped, its drop count when the episode began.
#[derive(Debug, Default)]
pub(crate) struct Episodes {
    open: Mutex<[Option<u64>; 5]>,
}

impl Episodes {
    /// After a commit that took the drop counters from `before` to `after`.
    pub(crate) fn on_drops(&self, before: &KindCounts, after: &KindCounts) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for kind in Kind::ALL {
            let i = kind.index();
            if after.0[i] > before.0[i] && open[i].is_none() {
                open[i] = Some(before.0[i]);
                tracing::warn!(
                    kind = kind.name(),
                    dropped_ever = after.0[i],
                    "outbox full: dropping the oldest records of this kind to make room \
                     (logged once until the drops stop)"
                );
            }
        }
    }

    /// Acks brought the outbox back below its budget: close every open episode.
    pub(crate) fn on_relief(&self, now: &KindCounts) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for kind in Kind::ALL {
            let i = kind.index();
            if let Some(start) = open[i].take() {
                tracing::warn!(
                    kind = kind.name(),
                    dropped = now.0[i].saturating_sub(start),
                    dropped_ever = now.0[i],
                    "outbox: drops ended"
                );
            }
        }
    }

    pub(crate) fn any_open(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.iter().any(Option::is_some)
    }
}
