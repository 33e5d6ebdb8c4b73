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

/// Drops the oldest records, by drop class, until the accounted cost fits `budget`:
/// summaries and zones, then command results (all in `others`), then the active-alarm
/// snapshot, alarm events last (both in `alarms`). An alarm raise that goes takes every later event of the
/// same alarm with it, so the platform never gets a clear for a raise it never saw.
pub(crate) fn shed<'t>(
    alarms: &mut Table<'t, u64, &'static [u8]>,
    others: &mut Table<'t, u64, &'static [u8]>,
    c: &mut Counters,
    budget: u64,
) -> Result<(), StoreError> {
    for (class, in_alarms) in [(0u8, false), (1, false), (2, true), (3, true)] {
        if c.cost <= budget {
            return Ok(());
        }
        let table = if in_alarms {
            &mut *alarms
        } else {
            &mut *others
        };
        let mut victims = pick(table, class, c.cost - budget)?;
        if class == 3 {
            victims = with_later_events(table, victims)?;
        }
        for (seq, h, len) in victims {
            table.remove(seq)?;
            c.remove(h, len);
            c.dropped.0[h.kind.index()] += 1;
        }
    }
    Ok(())
}

type Victim = (u64, Head, usize);

/// The oldest records of drop class `class` in `table` whose cost covers `excess`.
fn pick(
    table: &Table<u64, &'static [u8]>,
    class: u8,
    mut excess: u64,
) -> Result<Vec<Victim>, StoreError> {
    let mut victims = Vec::new();
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
    Ok(victims)
}

/// `victims` plus every later pending event of an alarm whose raise is among them.
fn with_later_events(
    table: &Table<u64, &'static [u8]>,
    mut victims: Vec<Victim>,
) -> Result<Vec<Victim>, StoreError> {
    let Some(&(last, ..)) = victims.last() else {
        return Ok(victims);
    };
    let mut raised = std::collections::HashSet::new();
    for &(seq, ..) in &victims {
        if let Some(v) = table.get(seq)?
            && let Some((id, true)) = alarm_event(v.value())
        {
            raised.insert(id);
        }
    }
    if raised.is_empty() {
        return Ok(victims);
    }
    for entry in table.range(last + 1..)? {
        let (k, v) = entry?;
        let v = v.value();
        if let Some(h) = record::head(v)
            && h.kind == Kind::Alarm
            && let Some((id, _)) = alarm_event(v)
            && raised.contains(&id)
        {
            victims.push((k.value(), h, v.len()));
        }
    }
    Ok(victims)
}

/// An alarm event's alarm id and whether it is a raise.
fn alarm_event(stored: &[u8]) -> Option<(String, bool)> {
    #[derive(serde::Deserialize)]
    struct Event {
        state: String,
        alarm: Body,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        id: String,
    }
    let r = record::decode(0, stored)?;
    let e: Event = serde_json::from_slice(&r.payload).ok()?;
    Some((e.alarm.id, e.state == "raised"))
}
