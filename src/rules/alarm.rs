//! The alarm lifecycle: one `Slot` per thing that can be alarmed (a rule on a device
//! point, or one level of a capacity rule), moving `Idle → Pending → Raised → Idle`.
//!
//! The slot owns the guarantee the platform relies on: an alarm is raised once and
//! cleared once, and never raised twice without a clear in between. Rule evaluators
//! only say what they see (`Verdict`); the slot decides whether that is a change. It never
//! formats text or reads a clock: the evaluator builds the `Alarm` only when the slot
//! answers `Step::Raise`, so the common no-change path allocates nothing.

use crate::reading::Ms;
use crate::site::Severity;

/// One alarm as the platform sees it on `P/alarm/{device}` and `P/alarms/active`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// Stable for one raise: `<rule>:<device>[:<point>][:<level>]:<raised ms>`.
    pub id: String,
    pub rule: String,
    /// The device id, or the zone name for capacity rules.
    pub device: String,
    pub point: Option<String>,
    pub severity: Severity,
    /// The value that raised the alarm (on a `Cleared` change: the value that cleared it).
    pub value: f64,
    /// The limit that was crossed.
    pub limit: f64,
    pub message: String,
    pub raised_at: Ms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Raised,
    Cleared,
}

impl AlarmState {
    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Raised => "raised",
            AlarmState::Cleared => "cleared",
        }
    }
}

/// A transition to publish: `alarm` carries the same id for its raise and its clear.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmChange {
    pub alarm: Alarm,
    pub state: AlarmState,
    pub ts: Ms,
}

/// What an evaluator sees in one judgement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// The alarm condition holds (e.g. the value is at or above the limit).
    Trip { value: f64, limit: f64 },
    /// The clear condition holds (e.g. the value is below the clear level).
    Clear,
    /// Neither: the value is inside the hysteresis band, so nothing changes while raised
    /// and a pending hold is abandoned.
    Band,
}

/// What the evaluator must do after `Slot::judge`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Step {
    Stay,
    /// Build the alarm and call `Slot::raise`.
    Raise {
        value: f64,
        limit: f64,
    },
    /// Call `Slot::clear`.
    Clear,
}

/// The names an alarm carries, borrowed from the compiled engine until a change happens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Labels<'a> {
    pub(crate) rule: &'a str,
    pub(crate) severity: Severity,
    pub(crate) device: &'a str,
    pub(crate) point: Option<&'a str>,
    /// Tells the alarms of one rule instance apart ("low", "critical", "reset"); empty
    /// when the instance has a single alarm.
    pub(crate) tag: &'static str,
}

impl Labels<'_> {
    /// A new alarm raised at `ts`.
    pub(crate) fn alarm(&self, value: f64, limit: f64, message: String, ts: Ms) -> Alarm {
        let mut id = format!("{}:{}", self.rule, self.device);
        if let Some(p) = self.point {
            id.push(':');
            id.push_str(p);
        }
        if !self.tag.is_empty() {
            id.push(':');
            id.push_str(self.tag);
        }
        id.push_str(&format!(":{ts}"));
        Alarm {
            id,
            rule: self.rule.to_owned(),
            device: self.device.to_owned(),
            point: self.point.map(str::to_owned),
            severity: self.severity,
            value,
            limit,
            message,
            raised_at: ts,
        }
    }
}

/// The lifecycle of one alarm key.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Slot {
    #[default]
    Idle,
    /// The condition holds since `since` but not yet for the hold time; `value` and
    /// `limit` are the latest seen, used if `tick` raises.
    Pending { since: Ms, value: f64, limit: f64 },
    /// Boxed so an idle slot stays two words.
    Raised(Box<Alarm>),
}

impl Slot {
    pub(crate) fn is_raised(&self) -> bool {
        matches!(self, Slot::Raised(_))
    }

    pub(crate) fn raised(&self) -> Option<&Alarm> {
        match self {
            Slot::Raised(a) => Some(a),
            _ => None,
        }
    }

    /// Applies one verdict at `ts`; `hold` is how long a trip must last before it raises.
    pub(crate) fn judge(&mut self, verdict: Verdict, ts: Ms, hold: Ms) -> Step {
        match (&*self, verdict) {
            (Slot::Idle, Verdict::Trip { value, limit }) if hold <= 0 => {
                Step::Raise { value, limit }
            }
            (Slot::Idle, Verdict::Trip { value, limit }) => {
                *self = Slot::Pending {
                    since: ts,
                    value,
                    limit,
                };
                Step::Stay
            }
            (Slot::Pending { since, .. }, Verdict::Trip { value, limit }) => {
                let since = *since;
                if ts - since >= hold {
                    Step::Raise { value, limit }
                } else {
                    *self = Slot::Pending {
                        since,
                        value,
                        limit,
                    };
                    Step::Stay
                }
            }
            (Slot::Pending { .. }, _) => {
                *self = Slot::Idle;
                Step::Stay
            }
            (Slot::Raised(_), Verdict::Clear) => Step::Clear,
            (Slot::Idle, _) | (Slot::Raised(_), _) => Step::Stay,
        }
    }

    /// A pending trip whose hold time has run out by `now`: its latest value and limit.
    pub(crate) fn due(&self, now: Ms, hold: Ms) -> Option<(f64, f64)> {
        match self {
            Slot::Pending {
                since,
                value,
                limit,
            } if now - since >= hold => Some((*value, *limit)),
            _ => None,
        }
    }

    /// Idle or pending → raised. Refused (returns false, emits nothing) when already
    /// raised: that is the "never two raises without a clear" guard.
    pub(crate) fn raise(&mut self, alarm: Alarm, out: &mut Vec<AlarmChange>) -> bool {
        if self.is_raised() {
            return false;
        }
        out.push(AlarmChange {
            ts: alarm.raised_at,
            alarm: alarm.clone(),
            state: AlarmState::Raised,
        });
        *self = Slot::Raised(Box::new(alarm));
        true
    }

    /// Raised → idle, emitting the clear with the same id and the clearing value.
    /// Refused (returns false) when not raised.
    pub(crate) fn clear(
        &mut self,
        value: f64,
        message: String,
        ts: Ms,
        out: &mut Vec<AlarmChange>,
    ) -> bool {
        match std::mem::take(self) {
            Slot::Raised(alarm) => {
                let mut alarm = *alarm;
                alarm.value = value;
                alarm.message = message;
                out.push(AlarmChange {
                    alarm,
                    state: AlarmState::Cleared,
                    ts,
                });
                true
            }
            other => {
                *self = other;
                false
            }
        }
    }

    /// Puts back an alarm that was active before a restart.
    pub(crate) fn restore(&mut self, alarm: Alarm) {
        *self = Slot::Raised(Box::new(alarm));
    }
}

/// Formats a number for a message: at most three decimals, no trailing zeros.
pub(crate) fn num(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    if r.is_finite() {
        format!("{r}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Ms = 5_000;

    fn labels() -> Labels<'static> {
        Labels {
            rule: "hot",
            severity: Severity::Warning,
            device: "th-1",
            point: Some("temperature"),
            tag: "",
        }
    }

    /// Runs (ts, verdict) steps through a slot with a hold, raising and clearing as the
    /// evaluators do, and returns the emitted (ts, state) pairs.
    fn run(hold: Ms, steps: &[(Ms, Verdict)]) -> Vec<(Ms, AlarmState)> {
        let mut slot = Slot::Idle;
        let mut out = Vec::new();
        for &(ts, v) in steps {
            match slot.judge(v, ts, hold) {
                Step::Stay => {}
                Step::Raise { value, limit } => {
                    let a = labels().alarm(value, limit, String::new(), ts);
                    assert!(slot.raise(a, &mut out));
                }
                Step::Clear => {
                    assert!(slot.clear(0.0, String::new(), ts, &mut out));
                }
            }
        }
        out.iter().map(|c| (c.ts, c.state)).collect()
    }

    const T: Verdict = Verdict::Trip {
        value: 31.0,
        limit: 30.0,
    };
    const C: Verdict = Verdict::Clear;
    const B: Verdict = Verdict::Band;
    use AlarmState::{Cleared as Cl, Raised as R};

    /// (name, hold, steps, expected changes).
    type Case = (
        &'static str,
        Ms,
        &'static [(Ms, Verdict)],
        &'static [(Ms, AlarmState)],
    );

    #[test]
    fn lifecycle_cases() {
        let cases: &[Case] = &[
            (
                "no hold raises at once",
                0,
                &[(1, T), (2, T), (3, C)],
                &[(1, R), (3, Cl)],
            ),
            (
                "band keeps a raised alarm",
                0,
                &[(1, T), (2, B), (3, T), (4, B)],
                &[(1, R)],
            ),
            (
                "clear while idle is nothing",
                0,
                &[(1, C), (2, B), (3, C)],
                &[],
            ),
            (
                "hold waits",
                HOLD,
                &[(0, T), (4_999, T), (5_000, T)],
                &[(5_000, R)],
            ),
            (
                "band cancels a hold",
                HOLD,
                &[(0, T), (3_000, B), (6_000, T), (10_000, T)],
                &[],
            ),
            (
                "clear cancels a hold",
                HOLD,
                &[(0, T), (3_000, C), (8_000, T)],
                &[],
            ),
            (
                "raise, clear, raise again",
                0,
                &[(1, T), (2, C), (3, T)],
                &[(1, R), (2, Cl), (3, R)],
            ),
        ];
        for (name, hold, steps, expected) in cases {
            assert_eq!(run(*hold, steps), *expected, "{name}");
        }
    }

    #[test]
    fn due_reports_a_pending_trip_once_the_hold_has_passed() {
        let mut slot = Slot::Idle;
        assert_eq!(slot.judge(T, 1_000, HOLD), Step::Stay);
        assert_eq!(slot.due(5_999, HOLD), None);
        assert_eq!(slot.due(6_000, HOLD), Some((31.0, 30.0)));
        assert_eq!(Slot::Idle.due(i64::MAX, HOLD), None);
    }

    #[test]
    fn a_raised_slot_refuses_a_second_raise_and_an_idle_one_a_clear() {
        let mut slot = Slot::Idle;
        let mut out = Vec::new();
        assert!(!slot.clear(1.0, String::new(), 1, &mut out));
        assert!(slot.raise(labels().alarm(31.0, 30.0, "a".into(), 2), &mut out));
        assert!(!slot.raise(labels().alarm(32.0, 30.0, "b".into(), 3), &mut out));
        assert!(slot.clear(29.0, "c".into(), 4, &mut out));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].alarm.id, out[1].alarm.id);
        assert_eq!(out[1].alarm.value, 29.0);
        assert_eq!(out[1].alarm.message, "c");
        assert_eq!(out[1].ts, 4);
        assert_eq!(out[1].alarm.raised_at, 2);
    }

    #[test]
    fn ids_name_rule_device_point_level_and_raise_time() {
        let check = |point: Option<&'static str>, tag: &'static str, expected: &str| {
            let l = Labels {
                point,
                tag,
                ..labels()
            };
            assert_eq!(l.alarm(0.0, 0.0, String::new(), 1_700).id, expected);
        };
        check(Some("temperature"), "", "hot:th-1:temperature:1700");
        check(Some("temperature"), "low", "hot:th-1:temperature:low:1700");
        check(None, "", "hot:th-1:1700");
    }

    #[test]
    fn numbers_in_messages_are_short() {
        for (v, s) in [
            (38.1, "38.1"),
            (37.300000000000004, "37.3"),
            (4000.0, "4000"),
            (1.23456, "1.235"),
        ] {
            assert_eq!(num(v), s);
        }
    }
}
