//! `event`: a discrete input's rising edge (forced entry, tailgating) or a camera event
//! (intrusion).
//!
//! A discrete point (a Modbus bit) raises while it reads non-zero and clears when it
//! falls back to 0; a 1 seen first after a start counts as a rising edge. A camera event
//! point (`PointSource::Json`) carries one value per occurrence, the confidence: an
//! occurrence at or above `min_confidence` raises, later ones keep the alarm up, and it
//! clears after the rule's `clear_after` (default `QUIET_MS`) without any, on a sample or
//! on `tick`. The zone filter is
//! applied when the engine compiles the rule (only devices in the zone get an instance).

use super::alarm::{Labels, Slot, Step, Verdict, num};
use super::{AlarmChange, value_at};
use crate::reading::Ms;

/// By default a camera event alarm clears after this long without another occurrence.
pub(crate) const QUIET_MS: Ms = 60_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Discrete,
    Camera {
        min_confidence: Option<f64>,
        /// Quiet time after which the alarm clears.
        quiet_ms: Ms,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    point: usize,
    mode: Mode,
    /// What happened, for messages: the camera event type, else the point name.
    what: Option<Box<str>>,
    /// The last camera occurrence.
    last_seen: Option<Ms>,
    slot: Slot,
}

impl Event {
    pub(crate) fn new(point: usize, mode: Mode, what: Option<&str>) -> Self {
        Event {
            point,
            mode,
            what: what.map(Into::into),
            last_seen: None,
            slot: Slot::Idle,
        }
    }

    pub(crate) fn slot(&self) -> &Slot {
        &self.slot
    }

    pub(crate) fn slot_mut(&mut self) -> &mut Slot {
        &mut self.slot
    }

    pub(crate) fn last_seen(&self) -> Option<Ms> {
        self.last_seen
    }

    /// After restoring a raised camera alarm: when it was last seen, for the quiet clear.
    pub(crate) fn set_last_seen(&mut self, ts: Ms) {
        self.last_seen = Some(ts);
    }

    fn what<'a>(&'a self, l: &Labels<'a>) -> &'a str {
        self.what.as_deref().or(l.point).unwrap_or("event")
    }

    pub(crate) fn sample(
        &mut self,
        l: &Labels<'_>,
        values: &[Option<f64>],
        ts: Ms,
        out: &mut Vec<AlarmChange>,
    ) {
        match self.mode {
            Mode::Discrete => {
                let Some(v) = value_at(values, self.point) else {
                    return;
                };
                let verdict = if v != 0.0 {
                    Verdict::Trip {
                        value: v,
                        limit: 1.0,
                    }
                } else {
                    Verdict::Clear
                };
                match self.slot.judge(verdict, ts, 0) {
                    Step::Stay => {}
                    Step::Raise { value, limit } => {
                        let msg = format!("{} on {}", self.what(l), l.device);
                        self.slot.raise(l.alarm(value, limit, msg, ts), out);
                    }
                    Step::Clear => {
                        let msg = format!("{} ended on {}", self.what(l), l.device);
                        self.slot.clear(v, msg, ts, out);
                    }
                }
            }
            Mode::Camera { min_confidence, .. } => {
                self.tick(l, ts, out);
                let Some(v) = value_at(values, self.point) else {
                    return;
                };
                let limit = min_confidence.unwrap_or(0.0);
                if min_confidence.is_some_and(|m| v < m) {
                    return;
                }
                self.last_seen = Some(ts);
                let verdict = Verdict::Trip { value: v, limit };
                if let Step::Raise { value, limit } = self.slot.judge(verdict, ts, 0) {
                    let msg = format!(
                        "{} on {} (confidence {})",
                        self.what(l),
                        l.device,
                        num(value)
                    );
                    self.slot.raise(l.alarm(value, limit, msg, ts), out);
                }
            }
        }
    }

    /// Clears a camera event alarm that has been quiet for its `quiet_ms` by `now`.
    pub(crate) fn tick(&mut self, l: &Labels<'_>, now: Ms, out: &mut Vec<AlarmChange>) {
        let Mode::Camera { quiet_ms, .. } = self.mode else {
            return;
        };
        if !self.slot.is_raised() {
            return;
        }
        let quiet_since = self.last_seen.unwrap_or(Ms::MIN);
        if now.saturating_sub(quiet_since) < quiet_ms {
            return;
        }
        let msg = format!(
            "no {} on {} for {}",
            self.what(l),
            l.device,
            humantime::format_duration(std::time::Duration::from_millis(
                u64::try_from(quiet_ms).unwrap_or(0)
            ))
        );
        self.slot.clear(0.0, msg, now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::AlarmState;
    use crate::site::Severity;

    const L: Labels<'static> = Labels {
        rule: "forced",
        severity: Severity::Critical,
        device: "gate-n1",
        point: Some("forced_entry"),
        tag: "",
    };

    #[derive(Clone, Copy)]
    enum S {
        V(Ms, Option<f64>),
        Tick(Ms),
    }
    use AlarmState::{Cleared as C, Raised as R};
    use S::{Tick, V};

    fn check(mut e: Event, script: &[S], expected: &[(Ms, AlarmState)]) {
        let mut out = Vec::new();
        for s in script {
            match *s {
                V(ts, v) => e.sample(&L, &[v], ts, &mut out),
                Tick(ts) => e.tick(&L, ts, &mut out),
            }
        }
        let got: Vec<_> = out.iter().map(|c| (c.ts, c.state)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn discrete_edges() {
        let e = || Event::new(0, Mode::Discrete, None);
        check(
            e(),
            &[
                V(1, Some(0.0)),
                V(2, Some(1.0)),
                V(3, Some(1.0)),
                V(4, Some(0.0)),
                V(5, Some(0.0)),
            ],
            &[(2, R), (4, C)],
        );
        check(
            e(),
            &[V(1, Some(1.0)), V(2, None), V(3, Some(1.0)), Tick(999_999)],
            &[(1, R)],
        );
        check(
            e(),
            &[V(1, Some(1.0)), V(2, Some(0.0)), V(3, Some(1.0))],
            &[(1, R), (2, C), (3, R)],
        );
    }

    #[test]
    fn camera_events_raise_per_occurrence_and_clear_when_quiet() {
        let cam = || {
            Event::new(
                0,
                Mode::Camera {
                    min_confidence: Some(0.8),
                    quiet_ms: QUIET_MS,
                },
                Some("intrusion"),
            )
        };
        // Below the confidence floor: nothing.
        check(cam(), &[V(1, Some(0.5)), V(2, Some(0.79))], &[]);
        // Occurrences 30 s apart keep one alarm; a minute of quiet clears it on tick.
        check(
            cam(),
            &[
                V(0, Some(0.9)),
                V(30_000, Some(0.95)),
                Tick(60_000),
                Tick(89_999),
                Tick(90_000),
                Tick(200_000),
            ],
            &[(0, R), (90_000, C)],
        );
        // Without ticks, the next message after the quiet period clears, and a new
        // occurrence in it raises a new alarm.
        check(
            cam(),
            &[V(0, Some(0.9)), V(70_000, None), V(80_000, Some(0.85))],
            &[(0, R), (70_000, C), (80_000, R)],
        );
        check(
            cam(),
            &[V(0, Some(0.9)), V(61_000, Some(0.9))],
            &[(0, R), (61_000, C), (61_000, R)],
        );
    }

    #[test]
    fn messages_name_the_event() {
        let mut out = Vec::new();
        let mut e = Event::new(
            0,
            Mode::Camera {
                min_confidence: None,
                quiet_ms: QUIET_MS,
            },
            Some("intrusion"),
        );
        e.sample(&L, &[Some(0.91)], 0, &mut out);
        e.tick(&L, QUIET_MS, &mut out);
        let mut d = Event::new(0, Mode::Discrete, None);
        d.sample(&L, &[Some(1.0)], 0, &mut out);
        d.sample(&L, &[Some(0.0)], 1, &mut out);
        let msgs: Vec<_> = out.iter().map(|c| c.alarm.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "intrusion on gate-n1 (confidence 0.91)",
                "no intrusion on gate-n1 for 1m",
                "forced_entry on gate-n1",
                "forced_entry ended on gate-n1",
            ]
        );
    }
}
