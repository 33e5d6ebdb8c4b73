//! One patrol's rounds: which round is open, the checkpoints tapped in it, and the
//! patrol's raised alarms.
//!
//! A round opens at its scheduled start (or at a staff tap up to one leg before it) and
//! ends when every checkpoint is tapped, when the last checkpoint of the route is
//! tapped (the walk is over; what it left out is missed), when its time runs out (one
//! round allowance after its first tap, or after its scheduled start if nobody came) or
//! when the next round is due. Alarms are raised once per kind (and per checkpoint for
//! missed checkpoints and unknown tags): a second bad round does not raise them again.
//! A completed round clears every alarm raised before it began, except a late-leg alarm
//! when it had a late leg itself; so an alarm clears when the next round completes.

use super::{Kind, RoundOutcome, RoundStatus, VisitOutcome};
use crate::localtime::{LocalZone, hh_mm};
use crate::reading::Ms;
use crate::rules::{Alarm, AlarmChange, AlarmState};
use crate::site::Patrol;

/// A patrol as the tracker needs it: its definition and its checkpoints' device ids.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub(super) def: Patrol,
    /// Device ids of the checkpoints, in route order.
    pub(super) ids: Vec<String>,
}

impl Route {
    fn leg_ms(&self) -> Ms {
        self.def.leg.as_millis() as Ms
    }

    fn round_ms(&self) -> Ms {
        self.def.round.as_millis() as Ms
    }

    fn rule(&self) -> String {
        format!("patrol:{}", self.def.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Visit {
    /// Position in the route.
    pub(super) checkpoint: usize,
    pub(super) at: Ms,
    /// Since the previous tap of the round (None for the first).
    pub(super) leg_ms: Option<Ms>,
    /// No later checkpoint of the route was tapped before it.
    pub(super) in_order: bool,
    pub(super) late: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Round {
    pub(super) scheduled: Ms,
    pub(super) started: Option<Ms>,
    pub(super) visits: Vec<Visit>,
}

impl Round {
    fn visited(&self, checkpoint: usize) -> bool {
        self.visits.iter().any(|v| v.checkpoint == checkpoint)
    }

    /// When the round began: its first tap if that came early, else its schedule.
    fn began(&self) -> Ms {
        self.started
            .map_or(self.scheduled, |s| s.min(self.scheduled))
    }
}

/// A raised alarm and what it is about.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Raised {
    pub(super) kind: Kind,
    /// Position in the route of the checkpoint it names.
    pub(super) checkpoint: usize,
    pub(super) alarm: Alarm,
}

/// The live state of one patrol.
#[derive(Debug, Clone)]
pub(super) struct Track {
    pub(super) route: Route,
    /// The next scheduled start not yet opened (None until the first tick).
    pub(super) next: Option<Ms>,
    pub(super) round: Option<Round>,
    pub(super) raised: Vec<Raised>,
}

/// Where a track writes what happened.
pub(super) struct Out<'a> {
    pub(super) changes: &'a mut Vec<AlarmChange>,
    pub(super) rounds: &'a mut Vec<RoundOutcome>,
    /// Set when anything that must be saved changed.
    pub(super) dirty: &'a mut bool,
}

impl Track {
    pub(super) fn new(route: Route) -> Track {
        Track {
            route,
            next: None,
            round: None,
            raised: Vec::new(),
        }
    }

    /// Moves time to `now`: ends a round whose time is up, raises not-started and
    /// late-leg alarms, opens the round that is due.
    pub(super) fn advance(&mut self, tz: &LocalZone, now: Ms, out: &mut Out<'_>) {
        // A fresh start (no saved state) joins a round that is still under way.
        let next = match self.next {
            Some(n) => n,
            None => *self.next.insert(self.under_way(tz, now)),
        };
        if let Some(r) = &self.round {
            let deadline = r.started.unwrap_or(r.scheduled) + self.route.round_ms();
            let end = deadline.min(next);
            let leg = self.route.leg_ms();
            if now >= end {
                self.finish(tz, end, out);
            } else if r.started.is_none() && now >= r.scheduled + leg {
                let scheduled = r.scheduled;
                self.not_started(tz, scheduled, now, out);
            } else if let Some(last) = r.visits.last().map(|v| v.at)
                && now - last > leg
                && !self.is_raised(Kind::Late, 0)
            {
                let expected = self.expected();
                self.raise(Kind::Late, expected, now - last, leg, now, out);
            }
        }
        if self.round.is_none() && now >= next {
            let round_ms = self.route.round_ms();
            // Rounds whose whole time passed unwatched (the daemon was down) are not
            // judged: start from the one under way, if any.
            let due = if now >= next + round_ms {
                self.under_way(tz, now)
            } else {
                next
            };
            if now >= due {
                self.open(tz, due, out);
            } else {
                self.next = Some(due);
                *out.dirty = true;
            }
        }
    }

    /// The start of the round under way at `now` (started, its time not up), else the
    /// next start.
    fn under_way(&self, tz: &LocalZone, now: Ms) -> Ms {
        let schedule = &self.route.def.schedule;
        let last = schedule.last_at_or_before(tz, now);
        if now < last + self.route.round_ms() {
            last
        } else {
            schedule.next_after(tz, now)
        }
    }

    fn open(&mut self, tz: &LocalZone, scheduled: Ms, out: &mut Out<'_>) {
        self.round = Some(Round {
            scheduled,
            started: None,
            visits: Vec::new(),
        });
        self.next = Some(self.route.def.schedule.next_after(tz, scheduled));
        *out.dirty = true;
    }

    /// A tap by tag `tag` at route position `checkpoint`, at `ts`.
    pub(super) fn tap(
        &mut self,
        tz: &LocalZone,
        checkpoint: usize,
        tag: u32,
        ts: Ms,
        out: &mut Out<'_>,
    ) {
        self.advance(tz, ts, out);
        if self.route.def.tags.binary_search(&tag).is_err() {
            self.unknown_tag(checkpoint, tag, ts, out);
            return;
        }
        let leg = self.route.leg_ms();
        if self.round.is_none()
            && let Some(next) = self.next
            && next - ts <= leg
        {
            // Staff a little early for the next round: it starts now.
            self.open(tz, next, out);
        }
        let Some(r) = self.round.as_mut() else {
            return;
        };
        if r.visited(checkpoint) {
            return;
        }
        r.started.get_or_insert(ts);
        let leg_ms = r.visits.last().map(|v| ts - v.at);
        let late = leg_ms.is_some_and(|l| l > leg);
        r.visits.push(Visit {
            checkpoint,
            at: ts,
            leg_ms,
            in_order: r.visits.iter().all(|v| v.checkpoint < checkpoint),
            late,
        });
        let done = r.visits.len() == self.route.ids.len() || checkpoint + 1 == self.route.ids.len();
        *out.dirty = true;
        if let (true, Some(l)) = (late, leg_ms) {
            self.raise(Kind::Late, checkpoint, l, leg, ts, out);
        }
        if done {
            self.finish(tz, ts, out);
        }
    }

    /// The checkpoint the patrol should tap next: the first untapped one after the
    /// furthest tapped, else the first untapped.
    fn expected(&self) -> usize {
        let Some(r) = &self.round else { return 0 };
        let furthest = r.visits.iter().map(|v| v.checkpoint).max();
        let untapped = |c: &usize| !r.visited(*c);
        let n = self.route.ids.len();
        (furthest.map_or(0, |f| f + 1)..n)
            .find(untapped)
            .or_else(|| (0..n).find(untapped))
            .unwrap_or(0)
    }

    fn is_raised(&self, kind: Kind, checkpoint: usize) -> bool {
        (self.raised.iter())
            .any(|r| r.kind == kind && (!kind.per_checkpoint() || r.checkpoint == checkpoint))
    }

    fn not_started(&mut self, tz: &LocalZone, scheduled: Ms, now: Ms, out: &mut Out<'_>) {
        if self.is_raised(Kind::NotStarted, 0) {
            return;
        }
        let leg = self.route.leg_ms();
        let at = local_hh_mm(tz, scheduled);
        let message = format!(
            "patrol {}: the round of {at} has not started, no tap at {} within {} of its start",
            self.route.def.name,
            self.route.ids[0],
            humantime::format_duration(self.route.def.leg)
        );
        self.raise_with(
            Kind::NotStarted,
            0,
            (now - scheduled, leg),
            message,
            now,
            out,
        );
    }

    fn unknown_tag(&mut self, checkpoint: usize, tag: u32, ts: Ms, out: &mut Out<'_>) {
        if self.is_raised(Kind::UnknownTag, checkpoint) {
            return;
        }
        let message = format!(
            "patrol {}: unknown tag {tag} at {}",
            self.route.def.name, self.route.ids[checkpoint]
        );
        self.raise_with(
            Kind::UnknownTag,
            checkpoint,
            (Ms::from(tag), 0),
            message,
            ts,
            out,
        );
    }

    /// Raises a late-leg alarm: `elapsed` since the last tap against `leg` allowed.
    fn raise(
        &mut self,
        kind: Kind,
        checkpoint: usize,
        elapsed: Ms,
        leg: Ms,
        ts: Ms,
        out: &mut Out<'_>,
    ) {
        let message = format!(
            "patrol {}: {} not tapped {} after the last checkpoint, {} allowed per leg",
            self.route.def.name,
            self.route.ids[checkpoint],
            secs_text(elapsed),
            secs_text(leg)
        );
        self.raise_with(kind, checkpoint, (elapsed, leg), message, ts, out);
    }

    /// Raises `kind` (on `checkpoint` for per-checkpoint kinds) unless it is raised
    /// already. `value` and `limit` are in ms for times, as given otherwise.
    fn raise_with(
        &mut self,
        kind: Kind,
        checkpoint: usize,
        (value, limit): (Ms, Ms),
        message: String,
        ts: Ms,
        out: &mut Out<'_>,
    ) {
        if self.is_raised(kind, checkpoint) {
            return;
        }
        let (value, limit) = if kind.is_time() {
            (value as f64 / 1000.0, limit as f64 / 1000.0)
        } else {
            (value as f64, limit as f64)
        };
        let device = self.route.ids[checkpoint].clone();
        let alarm = Alarm {
            id: format!(
                "patrol:{}:{device}:{}:{ts}",
                self.route.def.name,
                kind.name()
            ),
            rule: self.route.rule(),
            device,
            point: Some(kind.name().to_string()),
            severity: self.route.def.severity,
            value,
            limit,
            message,
            raised_at: ts,
        };
        out.changes.push(AlarmChange {
            alarm: alarm.clone(),
            state: AlarmState::Raised,
            ts,
        });
        self.raised.push(Raised {
            kind,
            checkpoint,
            alarm,
        });
        *out.dirty = true;
    }

    /// Ends the open round at `end`: raises what it missed, clears what a complete
    /// round clears, and reports it.
    fn finish(&mut self, tz: &LocalZone, end: Ms, out: &mut Out<'_>) {
        let Some(r) = self.round.take() else { return };
        *out.dirty = true;
        let skipped: Vec<usize> = (0..self.route.ids.len())
            .filter(|&c| !r.visited(c))
            .collect();
        let at = local_hh_mm(tz, r.scheduled);
        let status = match (r.started, skipped.is_empty()) {
            (None, _) => RoundStatus::NotStarted,
            (Some(_), true) => RoundStatus::Completed,
            (Some(_), false) => RoundStatus::Incomplete,
        };
        match status {
            RoundStatus::NotStarted => self.not_started(tz, r.scheduled, end, out),
            RoundStatus::Incomplete => {
                for &c in &skipped {
                    let message = format!(
                        "patrol {}: checkpoint {} missed in the round of {at}",
                        self.route.def.name, self.route.ids[c]
                    );
                    self.raise_with(Kind::Missed, c, (0, 1), message, end, out);
                }
            }
            RoundStatus::Completed => {
                let late = r.visits.iter().any(|v| v.late);
                self.clear_before(r.began(), late, &at, end, r.visits.len(), out);
            }
        }
        out.rounds.push(self.outcome(&r, end, status, &skipped));
    }

    /// Clears the alarms raised up to `began` (a late-leg one stays if `late`).
    fn clear_before(
        &mut self,
        began: Ms,
        late: bool,
        at: &str,
        ts: Ms,
        visited: usize,
        out: &mut Out<'_>,
    ) {
        let name = &self.route.def.name;
        let (cleared, kept): (Vec<Raised>, Vec<Raised>) = std::mem::take(&mut self.raised)
            .into_iter()
            // At `began` too: a round that timed out when this one was due raised its
            // missed checkpoints at this round's very start.
            .partition(|r| r.alarm.raised_at <= began && !(late && r.kind == Kind::Late));
        self.raised = kept;
        for r in cleared {
            let mut alarm = r.alarm;
            alarm.value = visited as f64;
            alarm.message = format!("patrol {name}: the round of {at} completed");
            out.changes.push(AlarmChange {
                alarm,
                state: AlarmState::Cleared,
                ts,
            });
        }
    }

    fn outcome(&self, r: &Round, end: Ms, status: RoundStatus, skipped: &[usize]) -> RoundOutcome {
        RoundOutcome {
            patrol: self.route.def.name.clone(),
            scheduled: r.scheduled,
            start: r.started,
            end,
            status,
            visits: (r.visits.iter())
                .map(|v| VisitOutcome {
                    checkpoint: self.route.ids[v.checkpoint].clone(),
                    at: v.at,
                    leg_ms: v.leg_ms,
                    in_order: v.in_order,
                    late: v.late,
                })
                .collect(),
            skipped: skipped.iter().map(|&c| self.route.ids[c].clone()).collect(),
        }
    }
}

fn local_hh_mm(tz: &LocalZone, ms: Ms) -> String {
    hh_mm(tz.local(ms).secs)
}

/// 125_000 ms → `2m 5s`.
fn secs_text(ms: Ms) -> String {
    let d = std::time::Duration::from_secs((ms.max(0) / 1000) as u64);
    humantime::format_duration(d).to_string()
}
