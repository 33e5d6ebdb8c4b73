//! `threshold`: a value at or above `above` (or at or below `below`), with separate clear
//! levels for hysteresis and a hold time `for`.
//!
//! Two independent alarms per instance, high and low. A clear level left out, or at
//! the limit itself (what the config fills in when none is written), is the limit moved
//! by `DEFAULT_DEADBAND` of its size, so a value hovering at its limit never flaps even
//! when nobody wrote a clear level.
//!
//! With a `trigger` point (the fever kiosk's `scans` counter) the value is judged only
//! when the trigger moved since the last judgement: each scan is a new visitor, judged
//! once, without hysteresis or hold. A fever scan raises; the next scan clears that alarm,
//! and raises a new one if it is a fever scan too. The trigger value of a raised scan
//! travels with the alarm state (`state.rs`), so after a restart the kiosk's repeat of
//! that scan is not a new visitor. Never reads a clock.

use super::alarm::{Labels, Slot, Step, Verdict, num};
use super::{AlarmChange, value_at};
use crate::reading::Ms;

/// Share of |limit| between a limit and its default clear level.
pub(crate) const DEFAULT_DEADBAND: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    High,
    Low,
}

/// One direction of a threshold: its limit, clear level and alarm.
#[derive(Debug, Clone)]
struct Side {
    dir: Dir,
    limit: f64,
    clear: f64,
    tag: &'static str,
    slot: Slot,
}

#[derive(Debug, Clone)]
pub(crate) struct Threshold {
    point: usize,
    trigger: Option<usize>,
    hold: Ms,
    high: Option<Side>,
    low: Option<Side>,
    /// The trigger value at the last judgement.
    last_trigger: Option<f64>,
}

/// The limits of one threshold rule, as written in the config.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    pub(crate) above: Option<f64>,
    pub(crate) clear_below: Option<f64>,
    pub(crate) below: Option<f64>,
    pub(crate) clear_above: Option<f64>,
}

impl Threshold {
    pub(crate) fn new(point: usize, trigger: Option<usize>, limits: Limits, hold: Ms) -> Self {
        let high = limits.above.map(|limit| Side {
            dir: Dir::High,
            limit,
            clear: limits
                .clear_below
                .filter(|c| *c < limit)
                .unwrap_or(limit - limit.abs() * DEFAULT_DEADBAND),
            tag: "",
            slot: Slot::Idle,
        });
        let low = limits.below.map(|limit| Side {
            dir: Dir::Low,
            limit,
            clear: limits
                .clear_above
                .filter(|c| *c > limit)
                .unwrap_or(limit + limit.abs() * DEFAULT_DEADBAND),
            // The only alarm of a below-only rule needs no tag.
            tag: if high.is_some() { "low" } else { "" },
            slot: Slot::Idle,
        });
        Threshold {
            point,
            trigger,
            hold,
            high,
            low,
            last_trigger: None,
        }
    }

    fn sides(&mut self) -> impl Iterator<Item = &mut Side> {
        self.high.iter_mut().chain(self.low.iter_mut())
    }

    pub(crate) fn slots(&self) -> Vec<(&'static str, &Slot)> {
        let sides = self.high.iter().chain(self.low.iter());
        sides.map(|s| (s.tag, &s.slot)).collect()
    }

    pub(crate) fn slot_mut(&mut self, tag: &str) -> Option<&mut Slot> {
        self.sides().find(|s| s.tag == tag).map(|s| &mut s.slot)
    }

    /// The trigger value of the last judged scan (per-scan rules only).
    pub(crate) fn last_trigger(&self) -> Option<f64> {
        self.trigger.and(self.last_trigger)
    }

    /// After restoring a raised per-scan alarm: the scan that raised it, so the same
    /// scan, still on the kiosk's display, is not judged again as a new visitor.
    pub(crate) fn set_last_trigger(&mut self, value: f64) {
        if self.trigger.is_some() {
            self.last_trigger = Some(value);
        }
    }

    pub(crate) fn sample(
        &mut self,
        l: &Labels<'_>,
        values: &[Option<f64>],
        ts: Ms,
        out: &mut Vec<AlarmChange>,
    ) {
        let Some(v) = value_at(values, self.point) else {
            return;
        };
        let triggered = self.trigger.is_some();
        if let Some(t) = self.trigger {
            let Some(tv) = value_at(values, t) else {
                return;
            };
            if self.last_trigger == Some(tv) {
                return;
            }
            self.last_trigger = Some(tv);
        }
        let hold = self.hold;
        for side in self.sides() {
            let l = Labels {
                tag: side.tag,
                ..*l
            };
            if triggered {
                side.scan(&l, v, ts, out);
            } else {
                side.judge(&l, v, ts, hold, out);
            }
        }
    }

    /// Raises the trips whose hold time has passed by `now`.
    pub(crate) fn tick(&mut self, l: &Labels<'_>, now: Ms, out: &mut Vec<AlarmChange>) {
        let hold = self.hold;
        for side in self.sides() {
            if let Some((value, limit)) = side.slot.due(now, hold) {
                let l = Labels {
                    tag: side.tag,
                    ..*l
                };
                let msg = side.raise_message(&l, value, limit);
                side.slot.raise(l.alarm(value, limit, msg, now), out);
            }
        }
    }
}

impl Side {
    fn trips(&self, v: f64) -> bool {
        match self.dir {
            Dir::High => v >= self.limit,
            Dir::Low => v <= self.limit,
        }
    }

    fn clears(&self, v: f64) -> bool {
        match self.dir {
            Dir::High => v < self.clear,
            Dir::Low => v > self.clear,
        }
    }

    /// Per-scan judgement: each scan is a new visitor, so the previous visitor's alarm
    /// ends with this scan whatever it reads, and a fever scan raises its own.
    fn scan(&mut self, l: &Labels<'_>, v: f64, ts: Ms, out: &mut Vec<AlarmChange>) {
        if self.slot.is_raised() {
            let msg = format!("next scan on {} reads {} {}", l.device, point(l), num(v));
            self.slot.clear(v, msg, ts, out);
        }
        if self.trips(v) {
            let msg = self.raise_message(l, v, self.limit);
            self.slot.raise(l.alarm(v, self.limit, msg, ts), out);
        }
    }

    /// Level judgement with hysteresis and hold.
    fn judge(&mut self, l: &Labels<'_>, v: f64, ts: Ms, hold: Ms, out: &mut Vec<AlarmChange>) {
        let verdict = if self.trips(v) {
            Verdict::Trip {
                value: v,
                limit: self.limit,
            }
        } else if self.clears(v) {
            Verdict::Clear
        } else {
            Verdict::Band
        };
        match self.slot.judge(verdict, ts, hold) {
            Step::Stay => {}
            Step::Raise { value, limit } => {
                let msg = self.raise_message(l, value, limit);
                self.slot.raise(l.alarm(value, limit, msg, ts), out);
            }
            Step::Clear => {
                let side = if self.dir == Dir::High {
                    "below"
                } else {
                    "above"
                };
                let msg = format!(
                    "{} {} back {side} {} on {}",
                    point(l),
                    num(v),
                    num(self.clear),
                    l.device
                );
                self.slot.clear(v, msg, ts, out);
            }
        }
    }

    fn raise_message(&self, l: &Labels<'_>, value: f64, limit: f64) -> String {
        let side = if self.dir == Dir::High {
            "above"
        } else {
            "below"
        };
        format!(
            "{} {} {side} {} on {}",
            point(l),
            num(value),
            num(limit),
            l.device
        )
    }
}

fn point<'a>(l: &Labels<'a>) -> &'a str {
    l.point.unwrap_or("value")
}

#[cfg(test)]
mod tests;
