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
mod tests {
    use super::*;
    use crate::rules::AlarmState;
    use crate::site::Severity;

    const L: Labels<'static> = Labels {
        rule: "fever",
        severity: Severity::Critical,
        device: "kiosk-1",
        point: Some("body_temp"),
        tag: "",
    };

    /// One step of a script: a sample (value, trigger) at ts, or a tick at ts.
    #[derive(Clone, Copy)]
    enum S {
        V(Ms, f64),
        Scan(Ms, f64, f64),
        Tick(Ms),
    }

    /// Runs a script and returns the changes as (ts, state, tag, value) in order.
    fn check(mut t: Threshold, script: &[S], expected: &[(Ms, AlarmState, &str, f64)]) {
        let mut out = Vec::new();
        for s in script {
            match *s {
                S::V(ts, v) => t.sample(&L, &[Some(v)], ts, &mut out),
                S::Scan(ts, v, n) => t.sample(&L, &[Some(v), Some(n)], ts, &mut out),
                S::Tick(ts) => t.tick(&L, ts, &mut out),
            }
        }
        let got: Vec<_> = out
            .iter()
            .map(|c| {
                let tag = c
                    .alarm
                    .id
                    .split(':')
                    .nth(3)
                    .filter(|s| s.parse::<i64>().is_err());
                (c.ts, c.state, tag.unwrap_or(""), c.alarm.value)
            })
            .collect();
        let expected: Vec<_> = expected.to_vec();
        assert_eq!(got, expected);
    }

    fn fever() -> Threshold {
        let limits = Limits {
            above: Some(37.3),
            clear_below: Some(37.0),
            ..Limits::default()
        };
        Threshold::new(0, None, limits, 0)
    }

    use AlarmState::{Cleared as C, Raised as R};
    use S::{Scan, Tick, V};

    #[test]
    fn noise_at_the_limit_does_not_flap() {
        let script: Vec<S> = (0..40)
            .map(|i| V(i, if i % 2 == 0 { 37.31 } else { 37.29 }))
            .chain([V(40, 36.9), V(41, 37.1), V(42, 36.95)])
            .collect();
        check(fever(), &script, &[(0, R, "", 37.31), (40, C, "", 36.9)]);
    }

    #[test]
    fn the_limit_itself_trips_and_the_clear_level_itself_does_not_clear() {
        check(
            fever(),
            &[V(1, 37.3), V(2, 37.0), V(3, 36.99)],
            &[(1, R, "", 37.3), (3, C, "", 36.99)],
        );
    }

    #[test]
    fn a_default_clear_level_gives_a_deadband_of_one_percent() {
        let t = Threshold::new(
            0,
            None,
            Limits {
                above: Some(100.0),
                ..Limits::default()
            },
            0,
        );
        let script = [V(1, 100.0), V(2, 99.5), V(3, 100.2), V(4, 98.9)];
        check(t, &script, &[(1, R, "", 100.0), (4, C, "", 98.9)]);
    }

    #[test]
    fn hold_time_is_respected_by_samples_and_by_tick() {
        let t = || {
            Threshold::new(
                0,
                None,
                Limits {
                    above: Some(10.0),
                    ..Limits::default()
                },
                5_000,
            )
        };
        // Interrupted before the hold ran out: nothing.
        check(
            t(),
            &[
                V(0, 11.0),
                V(4_000, 11.0),
                V(4_500, 9.0),
                V(9_000, 11.0),
                Tick(13_000),
            ],
            &[],
        );
        // A sample after the hold raises with its own value.
        check(
            t(),
            &[V(0, 11.0), V(2_000, 12.0), V(5_000, 13.0)],
            &[(5_000, R, "", 13.0)],
        );
        // Tick raises with the latest value once the hold ran out, and only once.
        check(
            t(),
            &[
                V(0, 11.0),
                V(2_000, 12.0),
                Tick(4_999),
                Tick(5_000),
                Tick(6_000),
                V(7_000, 12.0),
            ],
            &[(5_000, R, "", 12.0)],
        );
    }

    #[test]
    fn above_and_below_are_two_alarms() {
        let limits = Limits {
            above: Some(30.0),
            clear_below: Some(28.0),
            below: Some(0.0),
            clear_above: Some(2.0),
        };
        let t = Threshold::new(0, None, limits, 0);
        let script = [V(1, 31.0), V(2, 29.0), V(3, -1.0), V(4, 1.0), V(5, 3.0)];
        check(
            t,
            &script,
            &[
                (1, R, "", 31.0),
                (3, C, "", -1.0),
                (3, R, "low", -1.0),
                (5, C, "low", 3.0),
            ],
        );
    }

    #[test]
    fn fever_is_judged_once_per_scan() {
        let limits = Limits {
            above: Some(37.3),
            clear_below: Some(37.0),
            ..Limits::default()
        };
        let t = || Threshold::new(0, Some(1), limits, 0);
        // The kiosk repeats 38.1 for many polls: one alarm. The next scan (36.6) clears.
        check(
            t(),
            &[
                Scan(1, 36.5, 10.0),
                Scan(2, 38.1, 11.0),
                Scan(3, 38.1, 11.0),
                Scan(4, 38.1, 11.0),
                Scan(5, 36.6, 12.0),
                Scan(6, 36.6, 12.0),
            ],
            &[(2, R, "", 38.1), (5, C, "", 36.6)],
        );
        // Two fever scans in a row are two visitors: two alarms, each cleared once.
        // A scan inside the hysteresis band is a normal visitor and clears.
        check(
            t(),
            &[Scan(1, 38.1, 1.0), Scan(2, 38.4, 2.0), Scan(3, 37.1, 3.0)],
            &[
                (1, R, "", 38.1),
                (2, C, "", 38.4),
                (2, R, "", 38.4),
                (3, C, "", 37.1),
            ],
        );
        // A poll without the trigger or the value judges nothing.
        let mut t = t();
        let mut out = Vec::new();
        t.sample(&L, &[Some(38.0), None], 1, &mut out);
        t.sample(&L, &[None, Some(5.0)], 2, &mut out);
        assert!(out.is_empty());
        t.sample(&L, &[Some(38.0), Some(5.0)], 3, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn messages_read_like_a_sentence() {
        let mut out = Vec::new();
        let mut t = fever();
        t.sample(&L, &[Some(38.1)], 1, &mut out);
        t.sample(&L, &[Some(36.8)], 2, &mut out);
        assert_eq!(out[0].alarm.message, "body_temp 38.1 above 37.3 on kiosk-1");
        assert_eq!(out[0].alarm.limit, 37.3);
        assert_eq!(
            out[1].alarm.message,
            "body_temp 36.8 back below 37 on kiosk-1"
        );
    }
}
