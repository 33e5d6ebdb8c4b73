//! `threshold`: a value at or above `above` (or at or below `below`), with separate clear
//! levels for hysteresis and a hold time `for`.
//!
//! Two independent alarms per instance, high and low. A clear level left out of the
//! config defaults to the limit moved by `DEFAULT_DEADBAND` of its size, so a value
//! hovering at its limit never flaps even when nobody wrote a clear level.
//!
//! With a `trigger` point (the fever kiosk's `scans` counter) the value is judged only
//! when the trigger moved since the last judgement: each scan is a new visitor, judged
//! once, without hysteresis or hold. A fever scan raises; the next scan clears that alarm,
//! and raises a new one if it is a fever scan too. Never reads a clock.

use super::alarm::{Labels, Slot, Step, Verdict, num};
use super::{AlarmChange, value_at};
use crate::reading::Ms;

/// Share of |limit| between a limit and its default clear level.
pub(crate) const DEFAULT_DEADBAND: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Level {
    limit: f64,
    clear: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    High,
    Low,
}

#[derive(Debug, Clone)]
pub(crate) struct Threshold {
    point: usize,
    trigger: Option<usize>,
    hold: Ms,
    high: Option<Level>,
    low: Option<Level>,
    high_slot: Slot,
    low_slot: Slot,
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
        let high = limits.above.map(|limit| Level {
            limit,
            clear: limits
                .clear_below
                .unwrap_or(limit - limit.abs() * DEFAULT_DEADBAND)
                .min(limit),
        });
        let low = limits.below.map(|limit| Level {
            limit,
            clear: limits
                .clear_above
                .unwrap_or(limit + limit.abs() * DEFAULT_DEADBAND)
                .max(limit),
        });
        Threshold {
            point,
            trigger,
            hold,
            high,
            low,
            high_slot: Slot::Idle,
            low_slot: Slot::Idle,
            last_trigger: None,
        }
    }

    fn low_tag(&self) -> &'static str {
        if self.high.is_some() { "low" } else { "" }
    }

    pub(crate) fn slots(&self) -> Vec<(&'static str, &Slot)> {
        vec![("", &self.high_slot), (self.low_tag(), &self.low_slot)]
    }

    pub(crate) fn slot_mut(&mut self, tag: &str) -> Option<&mut Slot> {
        if tag == self.low_tag() && self.low.is_some() {
            Some(&mut self.low_slot)
        } else if tag.is_empty() && self.high.is_some() {
            Some(&mut self.high_slot)
        } else {
            None
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
        let low_tag = self.low_tag();
        if let Some(level) = self.high {
            let l = Labels { tag: "", ..*l };
            judge(
                &mut self.high_slot,
                Dir::High,
                level,
                triggered,
                self.hold,
                &l,
                v,
                ts,
                out,
            );
        }
        if let Some(level) = self.low {
            let l = Labels { tag: low_tag, ..*l };
            judge(
                &mut self.low_slot,
                Dir::Low,
                level,
                triggered,
                self.hold,
                &l,
                v,
                ts,
                out,
            );
        }
    }

    /// Raises the trips whose hold time has passed by `now`.
    pub(crate) fn tick(&mut self, l: &Labels<'_>, now: Ms, out: &mut Vec<AlarmChange>) {
        let low_tag = self.low_tag();
        for (slot, dir, tag) in [
            (&mut self.high_slot, Dir::High, ""),
            (&mut self.low_slot, Dir::Low, low_tag),
        ] {
            if let Some((value, limit)) = slot.due(now, self.hold) {
                let l = Labels { tag, ..*l };
                slot.raise(
                    l.alarm(value, limit, raise_message(&l, dir, value, limit), now),
                    out,
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn judge(
    slot: &mut Slot,
    dir: Dir,
    level: Level,
    triggered: bool,
    hold: Ms,
    l: &Labels<'_>,
    v: f64,
    ts: Ms,
    out: &mut Vec<AlarmChange>,
) {
    let trips = match dir {
        Dir::High => v >= level.limit,
        Dir::Low => v <= level.limit,
    };
    let clears = match dir {
        Dir::High => v < level.clear,
        Dir::Low => v > level.clear,
    };
    if triggered {
        // Each scan is a new visitor: the previous one's alarm ends with this scan.
        if slot.is_raised() {
            let msg = format!("next scan on {} reads {} {}", l.device, point(l), num(v));
            slot.clear(v, msg, ts, out);
        }
        if trips {
            let msg = raise_message(l, dir, v, level.limit);
            slot.raise(l.alarm(v, level.limit, msg, ts), out);
        }
        return;
    }
    let verdict = if trips {
        Verdict::Trip {
            value: v,
            limit: level.limit,
        }
    } else if clears {
        Verdict::Clear
    } else {
        Verdict::Band
    };
    match slot.judge(verdict, ts, hold) {
        Step::Stay => {}
        Step::Raise { value, limit } => {
            let msg = raise_message(l, dir, value, limit);
            slot.raise(l.alarm(value, limit, msg, ts), out);
        }
        Step::Clear => {
            let side = if dir == Dir::High { "below" } else { "above" };
            let msg = format!(
                "{} {} back {side} {} on {}",
                point(l),
                num(v),
                num(level.clear),
                l.device
            );
            slot.clear(v, msg, ts, out);
        }
    }
}

fn point<'a>(l: &Labels<'a>) -> &'a str {
    l.point.unwrap_or("value")
}

fn raise_message(l: &Labels<'_>, dir: Dir, value: f64, limit: f64) -> String {
    let side = if dir == Dir::High { "above" } else { "below" };
    format!(
        "{} {} {side} {} on {}",
        point(l),
        num(value),
        num(limit),
        l.device
    )
}

#[cfg(test)]
mod tests;
