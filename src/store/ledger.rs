//! The outbox's bookkeeping inside a write transaction: the counters kept in `META`
//! and the drop-oldest rule that keeps pending records within the budget.
//!
//! Pure table work on an open transaction; it never commits (the caller does, so the
//! counters always change in the same transaction as the records they count).

use super::StoreError;
use super::record::{self, Head, Kind};
use redb::{ReadableTable, Table};

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

/// The counters kept in `META`, loaded and stored once per write transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) next_seq: u64,
    pub(crate) cost: u64,
    pub(crate) payload: u64,
    pub(crate) pending: KindCounts,
    pub(crate) dropped: KindCounts,
}

const PENDING_KEYS: [&str; 5] = [
    "pending.alarm",
    "pending.summary",
    "pending.zone",
    "pending.cmd_result",
    "pending.snapshot",
];
const DROPPED_KEYS: [&str; 5] = [
    "dropped.alarm",
    "dropped.summary",
    "dropped.zone",
    "dropped.cmd_result",
    "dropped.snapshot",
];

impl Counters {
    pub(crate) fn load(
        meta: &impl ReadableTable<&'static str, u64>,
    ) -> Result<Counters, StoreError> {
        let get =
            |k: &str| -> Result<u64, StoreError> { Ok(meta.get(k)?.map_or(0, |v| v.value())) };
        let mut c = Counters {
            next_seq: get("next_seq")?.max(1),
            cost: get("cost")?,
            payload: get("payload")?,
            ..Counters::default()
        };
        for i in 0..5 {
            c.pending.0[i] = get(PENDING_KEYS[i])?;
            c.dropped.0[i] = get(DROPPED_KEYS[i])?;
        }
        Ok(c)
    }

    pub(crate) fn store(&self, meta: &mut Table<&'static str, u64>) -> Result<(), StoreError> {
        meta.insert("next_seq", self.next_seq)?;
        meta.insert("cost", self.cost)?;
        meta.insert("payload", self.payload)?;
        for i in 0..5 {
            meta.insert(PENDING_KEYS[i], self.pending.0[i])?;
            meta.insert(DROPPED_KEYS[i], self.dropped.0[i])?;
        }
        Ok(())
    }

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

/// Drops the oldest records, by drop class, until the accounted cost fits `budget`.
pub(crate) fn shed<'t>(
    alarms: &mut Table<'t, u64, &'static [u8]>,
    others: &mut Table<'t, u64, &'static [u8]>,
    c: &mut Counters,
    budget: u64,
) -> Result<(), StoreError> {
    for class in 0..=2u8 {
        if c.cost <= budget {
            return Ok(());
        }
        let table = if class == 2 {
            &mut *alarms
        } else {
            &mut *others
        };
        let mut victims = Vec::new();
        let mut excess = c.cost - budget;
        for entry in table.iter()? {
            if excess == 0 {
                break;
            }
            let (k, v) = entry?;
            let v = v.value();
            match record::head(v) {
                Some(h) if h.kind.drop_class() == class => {
                    excess = excess.saturating_sub(record::cost(v.len()));
                    victims.push((k.value(), h, v.len()));
                }
                Some(_) => {}
                // An undecodable record is dropped first; it could never be published.
                None => victims.push((
                    k.value(),
                    Head {
                        kind: Kind::Summary,
                        created_ms: 0,
                        payload_len: 0,
                    },
                    v.len(),
                )),
            }
        }
        for (seq, h, len) in victims {
            table.remove(seq)?;
            c.remove(h, len);
            c.dropped.0[h.kind.index()] += 1;
        }
    }
    Ok(())
}
