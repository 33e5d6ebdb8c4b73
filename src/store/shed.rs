//! What goes when the outbox is over its budget: the oldest records by drop class,
//! summaries and zones first, then command results, then the active-alarm snapshot,
//! alarm events last; an alarm raise that goes takes every later event of the same
//! alarm with it, so the platform never gets a clear for a raise it never saw.
//!
//! Reads the log (frames are decoded only as far as the victims reach), decides, changes
//! nothing: the caller writes the drops in the same frame as the records that caused them.

use super::StoreError;
use super::outlog::Log;
use super::record::{self, Kind};
use std::collections::HashSet;

/// A record about to be appended.
pub(crate) struct Incoming {
    pub(crate) seq: u64,
    pub(crate) kind: Kind,
    pub(crate) bytes: Vec<u8>,
}

/// The records to drop: pending ones by seq (with their kind), incoming ones by index.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) old: Vec<(u64, Kind)>,
    pub(crate) new: HashSet<usize>,
}

impl Plan {
    pub(crate) fn is_empty(&self) -> bool {
        self.old.is_empty() && self.new.is_empty()
    }
}

/// The drops that bring the pending cost plus `incoming` within `budget`.
/// `leaving` are pending records that go anyway (superseded snapshots).
pub(crate) fn plan(
    log: &mut Log,
    incoming: &[Incoming],
    budget: u64,
    leaving: &[u64],
) -> Result<Plan, StoreError> {
    let mut total = log.c.cost
        + incoming
            .iter()
            .map(|r| record::cost(r.bytes.len()))
            .sum::<u64>();
    for &seq in leaving {
        if let Some((frame, pos, _)) = log.find(seq) {
            total = total.saturating_sub(record::cost(
                log.frame(frame)?.records[pos as usize].1.len(),
            ));
        }
    }
    let mut excess = total.saturating_sub(budget);
    let mut plan = Plan::default();
    for class in 0..=3u8 {
        if excess == 0 {
            break;
        }
        let first = plan.old.len();
        let alarms = class >= 2;
        let mut after = 0;
        'runs: while excess > 0 {
            let Some((frame, live)) = log.next_run(after, alarms) else {
                break;
            };
            let e = log.frame(frame)?;
            for (seq, pos) in live {
                after = seq;
                let bytes = &e.records[pos as usize].1;
                let kind = record::head(bytes).map_or(Kind::Summary, |h| h.kind);
                if leaving.contains(&seq) {
                    continue;
                }
                if record::head(bytes).is_none() || kind.drop_class() == class {
                    plan.old.push((seq, kind));
                    excess = excess.saturating_sub(record::cost(bytes.len()));
                    if excess == 0 {
                        break 'runs;
                    }
                }
            }
        }
        for (i, r) in incoming.iter().enumerate() {
            if excess == 0 {
                break;
            }
            if r.kind.drop_class() == class && !plan.new.contains(&i) {
                plan.new.insert(i);
                excess = excess.saturating_sub(record::cost(r.bytes.len()));
            }
        }
        if class == 3 {
            with_later_events(log, incoming, &mut plan, first)?;
        }
    }
    Ok(plan)
}

/// Adds every later pending or incoming event of an alarm whose raise is planned to go.
fn with_later_events(
    log: &mut Log,
    incoming: &[Incoming],
    plan: &mut Plan,
    first: usize,
) -> Result<(), StoreError> {
    let mut raised = HashSet::new();
    for &(seq, _) in &plan.old[first..] {
        if let Some((frame, pos, _)) = log.find(seq) {
            let e = log.frame(frame)?;
            if let Some((id, true)) = alarm_event(&e.records[pos as usize].1) {
                raised.insert(id);
            }
        }
    }
    for &i in &plan.new {
        if let Some((id, true)) = alarm_event(&incoming[i].bytes) {
            raised.insert(id);
        }
    }
    if raised.is_empty() {
        return Ok(());
    }
    let planned: HashSet<u64> = plan.old.iter().map(|p| p.0).collect();
    let mut after = plan.old[first..].iter().map(|p| p.0).min().unwrap_or(0);
    while let Some((frame, live)) = log.next_run(after, true) {
        let e = log.frame(frame)?;
        for (seq, pos) in live {
            after = seq;
            let bytes = &e.records[pos as usize].1;
            if !planned.contains(&seq)
                && record::head(bytes).is_some_and(|h| h.kind == Kind::Alarm)
                && alarm_event(bytes).is_some_and(|(id, _)| raised.contains(&id))
            {
                plan.old.push((seq, Kind::Alarm));
            }
        }
    }
    for (i, r) in incoming.iter().enumerate() {
        if r.kind == Kind::Alarm
            && alarm_event(&r.bytes).is_some_and(|(id, _)| raised.contains(&id))
        {
            plan.new.insert(i);
        }
    }
    Ok(())
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
