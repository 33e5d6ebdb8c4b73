//! Patrol rounds: taps at tag-reader checkpoints in, round outcomes and alarm changes out.
//!
//! Pure like `rules`: no I/O, no clock (`ts` and `now` are parameters), no payloads.
//! `ingest` feeds it every sample of a checkpoint device and a tick, turns the alarm
//! changes into alarm records like any rule's, each finished round into `P/patrol/{name}`,
//! and saves `export_state` in the same outbox append, so a restart in the middle
//! of a round goes on with it and raises nothing twice.
//!
//! - `taps.rs` sees a tap in a sample: a `taps` counter that moved (Modbus readers) or
//!   any message carrying a `tag` (readers and handhelds publishing JSON).
//! - `round.rs` follows one patrol: rounds opened on schedule, taps in and out of order,
//!   late legs, missed checkpoints, unknown tags, and the alarms they raise and clear.
//! - `schedule.rs` says when rounds start, in the site's local time.
//! - `state.rs` is what survives a restart or a reload.

mod round;
mod schedule;
mod state;
mod taps;
#[cfg(test)]
mod tests;

pub use schedule::Schedule;

use crate::localtime::LocalZone;
use crate::reading::Ms;
use crate::rules::{Alarm, AlarmChange};
use crate::site::Site;
use round::{Out, Route, Track};
use taps::Reader;

/// The point of a tag reader holding the last tag id read.
pub const TAG_POINT: &str = "tag";
/// The counter point of a Modbus tag reader, one up per tap.
pub const TAPS_POINT: &str = "taps";

/// What a patrol alarm is about; its `point` in the alarm payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No staff tap within one leg of the scheduled start.
    NotStarted,
    /// No tap at the next checkpoint within one leg of the last.
    Late,
    /// A checkpoint the round ended without.
    Missed,
    /// A tag that is not the patrol staff's, at a checkpoint.
    UnknownTag,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::NotStarted, Kind::Late, Kind::Missed, Kind::UnknownTag];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::NotStarted => "not-started",
            Kind::Late => "late",
            Kind::Missed => "missed",
            Kind::UnknownTag => "unknown-tag",
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// One alarm per checkpoint (else one per patrol).
    fn per_checkpoint(self) -> bool {
        matches!(self, Kind::Missed | Kind::UnknownTag)
    }

    /// Value and limit are durations (in seconds on the wire).
    fn is_time(self) -> bool {
        matches!(self, Kind::NotStarted | Kind::Late)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundStatus {
    /// Every checkpoint tapped.
    Completed,
    /// Started, but ended without some checkpoints.
    Incomplete,
    /// No staff tap at all before its time ran out.
    NotStarted,
}

impl RoundStatus {
    pub fn name(self) -> &'static str {
        match self {
            RoundStatus::Completed => "completed",
            RoundStatus::Incomplete => "incomplete",
            RoundStatus::NotStarted => "not-started",
        }
    }
}

/// One checkpoint tapped in a round.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitOutcome {
    /// Device id of the checkpoint.
    pub checkpoint: String,
    pub at: Ms,
    /// Since the previous tap of the round; None for the first.
    pub leg_ms: Option<Ms>,
    /// False when a later checkpoint of the route was tapped before it.
    pub in_order: bool,
    /// The leg took longer than allowed.
    pub late: bool,
}

/// A finished round, for `P/patrol/{name}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundOutcome {
    pub patrol: String,
    pub scheduled: Ms,
    /// The first staff tap; None when nobody came.
    pub start: Option<Ms>,
    pub end: Ms,
    pub status: RoundStatus,
    /// In the order they were tapped.
    pub visits: Vec<VisitOutcome>,
    /// Checkpoints never tapped, in route order.
    pub skipped: Vec<String>,
}

/// Every patrol of a site and the tag readers on their routes.
#[derive(Debug, Clone)]
pub struct Tracker {
    tz: LocalZone,
    tracks: Vec<Track>,
    /// Per device of the site: how to see a tap, if it is a checkpoint.
    readers: Vec<Option<Reader>>,
    /// Device id and index of every reader, for the saved state.
    reader_ids: Vec<(String, usize)>,
    /// Alarms restored for a patrol or checkpoint that is gone: cleared on the next tick.
    orphans: Vec<Alarm>,
    rounds: Vec<RoundOutcome>,
    dirty: bool,
}

impl Tracker {
    pub fn new(site: &Site) -> Tracker {
        let tracks = (site.patrols.iter())
            .map(|p| {
                Track::new(Route {
                    def: p.clone(),
                    ids: (p.checkpoints.iter())
                        .map(|&d| site.devices[d].id.clone())
                        .collect(),
                })
            })
            .collect();
        let readers = (site.devices.iter().enumerate())
            .map(|(i, d)| {
                let checkpoint = site.patrols.iter().any(|p| p.checkpoints.contains(&i));
                checkpoint.then(|| Reader::of(d)).flatten()
            })
            .collect::<Vec<Option<Reader>>>();
        let reader_ids = (readers.iter().enumerate())
            .filter(|(_, r)| r.is_some())
            .map(|(i, _)| (site.devices[i].id.clone(), i))
            .collect();
        Tracker {
            tz: site.gateway.timezone.clone(),
            tracks,
            readers,
            reader_ids,
            orphans: Vec::new(),
            rounds: Vec::new(),
            dirty: false,
        }
    }

    /// Whether the site has any patrol (ingest skips the tracker otherwise).
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// One sample of device `device` (engineering values). A tap in it goes to every
    /// patrol the device is a checkpoint of. `Err` with the value when a tap's tag is
    /// not a tag id (a reader sending `12.5` or `-1`): no tap, for the caller to count.
    pub fn on_sample(
        &mut self,
        device: usize,
        ts: Ms,
        values: &[Option<f64>],
        changes: &mut Vec<AlarmChange>,
    ) -> Result<(), f64> {
        let Some(Some(reader)) = self.readers.get_mut(device) else {
            return Ok(());
        };
        let seen = reader.see(values);
        self.dirty |= seen.moved;
        if let Some(tag) = seen.tag {
            self.tap(device, tag, ts, changes);
        }
        seen.refused.map_or(Ok(()), Err)
    }

    /// A tap of tag `tag` at checkpoint device `device`.
    pub fn tap(&mut self, device: usize, tag: u32, ts: Ms, changes: &mut Vec<AlarmChange>) {
        let Tracker {
            tz,
            tracks,
            rounds,
            dirty,
            ..
        } = self;
        let mut out = Out {
            changes,
            rounds,
            dirty,
        };
        for t in tracks.iter_mut() {
            if let Some(c) = t.route.def.checkpoints.iter().position(|&d| d == device) {
                t.tap(tz, c, tag, ts, &mut out);
            }
        }
    }

    /// Moves time to `now`: rounds open, time out and raise their alarms.
    pub fn tick(&mut self, now: Ms, changes: &mut Vec<AlarmChange>) {
        for mut alarm in self.orphans.drain(..) {
            alarm.message = format!("{} no longer applies to {}", alarm.rule, alarm.device);
            changes.push(AlarmChange {
                alarm,
                state: crate::rules::AlarmState::Cleared,
                ts: now,
            });
            self.dirty = true;
        }
        let Tracker {
            tz,
            tracks,
            rounds,
            dirty,
            ..
        } = self;
        let mut out = Out {
            changes,
            rounds,
            dirty,
        };
        for t in tracks.iter_mut() {
            t.advance(tz, now, &mut out);
        }
    }

    /// Rounds finished since the last call, oldest first.
    pub fn take_rounds(&mut self) -> Vec<RoundOutcome> {
        std::mem::take(&mut self.rounds)
    }

    /// Whether the state changed since the last call (then it must be saved).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The state could not be saved: it is saved again with the next change.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Every patrol alarm now raised, oldest first.
    pub fn active(&self) -> Vec<Alarm> {
        let mut v: Vec<Alarm> = (self.tracks.iter())
            .flat_map(|t| t.raised.iter().map(|r| r.alarm.clone()))
            .chain(self.orphans.iter().cloned())
            .collect();
        v.sort_by(|a, b| a.raised_at.cmp(&b.raised_at).then_with(|| a.id.cmp(&b.id)));
        v
    }
}
