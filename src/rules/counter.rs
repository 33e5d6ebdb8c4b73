//! `counter`: a total that went backwards (the device was reset) or rose faster than
//! `max_rate` per second allows (an impossible jump). Two alarms per instance, tagged
//! `reset` and `jump`.
//!
//! Both are momentary: raised by the offending sample and cleared by the next sample
//! that is not offending. A counter wrapping at its type's modulus (a u32 passing
//! 4 294 967 295) is not a reset when the wrapped increase is plausible for the elapsed
//! time. The modulus is in engineering units (raw modulus × |scale|).

use super::alarm::{Labels, Slot, Step, Verdict, num};
use super::{AlarmChange, value_at};
use crate::reading::Ms;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Sane,
    Reset,
    Jump { allowed: f64 },
}

#[derive(Debug, Clone)]
pub(crate) struct Counter {
    point: usize,
    max_rate: f64,
    modulus: Option<f64>,
    /// The previous value and its time.
    prev: Option<(f64, Ms)>,
    reset: Slot,
    jump: Slot,
}

impl Counter {
    pub(crate) fn new(point: usize, max_rate: f64, modulus: Option<f64>) -> Self {
        Counter {
            point,
            max_rate: max_rate.max(0.0),
            modulus: modulus.filter(|m| *m > 0.0),
            prev: None,
            reset: Slot::Idle,
            jump: Slot::Idle,
        }
    }

    pub(crate) fn slots(&self) -> Vec<(&'static str, &Slot)> {
        vec![("reset", &self.reset), ("jump", &self.jump)]
    }

    pub(crate) fn slot_mut(&mut self, tag: &str) -> Option<&mut Slot> {
        match tag {
            "reset" => Some(&mut self.reset),
            "jump" => Some(&mut self.jump),
            _ => None,
        }
    }

    fn classify(&self, prev: f64, v: f64, elapsed: Ms) -> Kind {
        let allowed = self.max_rate * elapsed.max(0) as f64 / 1000.0;
        // Room for float noise in scaled counters, not for real counts.
        let allowed_eps = allowed * (1.0 + 1e-9) + 1e-9;
        let delta = v - prev;
        if delta < 0.0 {
            match self.modulus {
                Some(m) if delta + m <= allowed_eps => Kind::Sane,
                _ => Kind::Reset,
            }
        } else if elapsed > 0 && delta > allowed_eps {
            Kind::Jump { allowed }
        } else {
            Kind::Sane
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
        let kind = match self.prev {
            Some((p, pts)) => self.classify(p, v, ts - pts),
            None => Kind::Sane,
        };
        let prev = self.prev.map_or(v, |(p, _)| p);
        let elapsed = self.prev.map_or(0, |(_, pts)| ts - pts);
        self.prev = Some((v, ts));
        let point = l.point.unwrap_or("value");

        let reset = match kind {
            Kind::Reset => Verdict::Trip {
                value: v,
                limit: prev,
            },
            _ => Verdict::Clear,
        };
        let l_reset = Labels { tag: "reset", ..*l };
        match self.reset.judge(reset, ts, 0) {
            Step::Stay => {}
            Step::Raise { value, limit } => {
                let msg = format!(
                    "{point} went backwards from {} to {} on {} (device reset)",
                    num(limit),
                    num(value),
                    l.device
                );
                self.reset.raise(l_reset.alarm(value, limit, msg, ts), out);
            }
            Step::Clear => {
                let msg = format!("{point} counting normally again on {}", l.device);
                self.reset.clear(v, msg, ts, out);
            }
        }

        let jump = match kind {
            Kind::Jump { allowed } => Verdict::Trip {
                value: v,
                limit: prev + allowed,
            },
            _ => Verdict::Clear,
        };
        let l_jump = Labels { tag: "jump", ..*l };
        match self.jump.judge(jump, ts, 0) {
            Step::Stay => {}
            Step::Raise { value, limit } => {
                let msg = format!(
                    "{point} jumped by {} in {} on {} (at most {} possible)",
                    num(value - prev),
                    humantime::format_duration(std::time::Duration::from_millis(
                        elapsed.max(0) as u64
                    )),
                    l.device,
                    num(limit - prev)
                );
                self.jump.raise(l_jump.alarm(value, limit, msg, ts), out);
            }
            Step::Clear => {
                let msg = format!("{point} counting normally again on {}", l.device);
                self.jump.clear(v, msg, ts, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::AlarmState;
    use crate::site::Severity;

    const L: Labels<'static> = Labels {
        rule: "entries-sane",
        severity: Severity::Warning,
        device: "gate-n1",
        point: Some("entries"),
        tag: "",
    };
    const U32: f64 = 4_294_967_296.0;

    /// Feeds values one second apart into a counter of at most 10 per second and
    /// returns (second, state, tag) per change.
    fn check(modulus: Option<f64>, values: &[f64], expected: &[(Ms, AlarmState, &str)]) {
        let mut c = Counter::new(0, 10.0, modulus);
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            c.sample(&L, &[Some(*v)], i as Ms * 1000, &mut out);
        }
        let got: Vec<_> = out
            .iter()
            .map(|c| {
                let tag = if c.alarm.id.contains(":reset:") {
                    "reset"
                } else {
                    "jump"
                };
                (c.ts / 1000, c.state, tag)
            })
            .collect();
        assert_eq!(got, expected, "{values:?}");
    }

    use AlarmState::{Cleared as C, Raised as R};

    #[test]
    fn counter_cases() {
        // Steady counting, standing still and the largest plausible step are sane.
        check(Some(U32), &[100.0, 105.0, 105.0, 115.0], &[]);
        // A reset to zero raises and the next sane sample clears.
        check(
            Some(U32),
            &[1200.0, 1205.0, 3.0, 7.0],
            &[(2, R, "reset"), (3, C, "reset")],
        );
        // A u32 wrapping is a rollover, not a reset.
        check(Some(U32), &[U32 - 4.0, 2.0, 9.0], &[]);
        // Without a modulus (an i32 or float counter) going backwards is a reset.
        check(
            None,
            &[U32 - 4.0, 2.0, 9.0],
            &[(1, R, "reset"), (2, C, "reset")],
        );
        // A wrap that would need more than max_rate is a reset.
        check(Some(U32), &[U32 - 4.0, 50.0], &[(1, R, "reset")]);
        // An impossible jump raises and clears on the next plausible step.
        check(
            Some(U32),
            &[100.0, 5000.0, 5005.0],
            &[(1, R, "jump"), (2, C, "jump")],
        );
        // Two offending samples in a row stay one alarm.
        check(
            Some(U32),
            &[100.0, 5000.0, 9000.0, 9001.0],
            &[(1, R, "jump"), (3, C, "jump")],
        );
        // A jump then a reset: the reset clears the jump and raises its own.
        check(
            Some(U32),
            &[100.0, 5000.0, 0.0, 1.0],
            &[
                (1, R, "jump"),
                (2, R, "reset"),
                (2, C, "jump"),
                (3, C, "reset"),
            ],
        );
    }

    #[test]
    fn a_u16_counter_wraps_at_65536() {
        check(Some(65_536.0), &[65_530.0, 3.0], &[]);
        check(Some(65_536.0), &[30_000.0, 3.0], &[(1, R, "reset")]);
    }

    #[test]
    fn messages_say_what_happened() {
        let mut c = Counter::new(0, 10.0, Some(U32));
        let mut out = Vec::new();
        for (ts, v) in [(0, 100.0), (2_000, 5000.0), (3_000, 12.0)] {
            c.sample(&L, &[Some(v)], ts, &mut out);
        }
        assert_eq!(
            out[0].alarm.message,
            "entries jumped by 4900 in 2s on gate-n1 (at most 20 possible)"
        );
        assert_eq!(out[0].alarm.limit, 120.0);
        assert_eq!(
            out[1].alarm.message,
            "entries went backwards from 5000 to 12 on gate-n1 (device reset)"
        );
        assert_eq!(out[1].alarm.limit, 5000.0);
    }
}
