//! `flatline`: a value that stayed within `epsilon` of where it started for `duration`
//! (a frozen river-level meter). Cleared by the first value that moves away.
//!
//! Judged on samples only, never on `tick`: time without values is the `offline` rule's
//! business, and a device that stops answering must not also look frozen. Drift is
//! measured from the start of the flat run, so a slow creep eventually counts as change.

use super::alarm::{Labels, Slot, Step, Verdict, num};
use super::{AlarmChange, value_at};
use crate::reading::Ms;

#[derive(Debug, Clone)]
pub(crate) struct Flatline {
    point: usize,
    duration: Ms,
    epsilon: f64,
    /// The value the current flat run started with, and when.
    run: Option<(f64, Ms)>,
    slot: Slot,
}

impl Flatline {
    pub(crate) fn new(point: usize, duration: Ms, epsilon: f64) -> Self {
        Flatline {
            point,
            duration,
            epsilon: epsilon.max(0.0),
            run: None,
            slot: Slot::Idle,
        }
    }

    pub(crate) fn slot(&self) -> &Slot {
        &self.slot
    }

    pub(crate) fn slot_mut(&mut self) -> &mut Slot {
        &mut self.slot
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
        let (start, since) = match self.run {
            Some((start, since)) if (v - start).abs() <= self.epsilon => (start, since),
            Some(_) => {
                self.run = Some((v, ts));
                if self.slot.judge(Verdict::Clear, ts, 0) == Step::Clear {
                    let msg = format!(
                        "{} moving again on {}: {}",
                        l.point.unwrap_or("value"),
                        l.device,
                        num(v)
                    );
                    self.slot.clear(v, msg, ts, out);
                }
                return;
            }
            None => {
                // The first value (or the first after a restart) starts a run; a raised
                // alarm restored from before the restart waits for a real change.
                self.run = Some((v, ts));
                (v, ts)
            }
        };
        if ts - since < self.duration {
            return;
        }
        let verdict = Verdict::Trip {
            value: v,
            limit: self.duration as f64 / 1000.0,
        };
        if let Step::Raise { value, limit } = self.slot.judge(verdict, ts, 0) {
            let msg = format!(
                "{} stuck at {} for {} on {}",
                l.point.unwrap_or("value"),
                num(start),
                humantime::format_duration(std::time::Duration::from_millis(
                    (ts - since).max(0) as u64 / 1000 * 1000
                )),
                l.device
            );
            self.slot.raise(l.alarm(value, limit, msg, ts), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::AlarmState;
    use crate::site::Severity;

    const L: Labels<'static> = Labels {
        rule: "level-flat",
        severity: Severity::Warning,
        device: "wl-1",
        point: Some("level_m"),
        tag: "",
    };
    const MIN: Ms = 60_000;

    /// Feeds (ts, value) pairs into a flatline of 10 min, epsilon 0.005, and compares
    /// the (ts, state) changes.
    fn check(script: &[(Ms, Option<f64>)], expected: &[(Ms, AlarmState)]) {
        let mut f = Flatline::new(0, 10 * MIN, 0.005);
        let mut out = Vec::new();
        for &(ts, v) in script {
            f.sample(&L, &[v], ts, &mut out);
        }
        let got: Vec<_> = out.iter().map(|c| (c.ts, c.state)).collect();
        assert_eq!(got, expected);
    }

    use AlarmState::{Cleared as C, Raised as R};

    #[test]
    fn flatline_cases() {
        // Frozen for ten minutes: raised once at the ten-minute sample, not again.
        check(
            &[
                (0, Some(1.23)),
                (5 * MIN, Some(1.23)),
                (10 * MIN, Some(1.23)),
                (11 * MIN, Some(1.23)),
            ],
            &[(10 * MIN, R)],
        );
        // Jitter within epsilon is still flat; a real change clears.
        check(
            &[
                (0, Some(1.230)),
                (5 * MIN, Some(1.233)),
                (10 * MIN, Some(1.228)),
                (12 * MIN, Some(1.30)),
            ],
            &[(10 * MIN, R), (12 * MIN, C)],
        );
        // A change before the duration restarts the run.
        check(
            &[(0, Some(1.0)), (9 * MIN, Some(1.1)), (18 * MIN, Some(1.1))],
            &[],
        );
        // Missing values (failed polls) neither extend nor break a run.
        check(&[(0, Some(1.0)), (5 * MIN, None), (10 * MIN, None)], &[]);
        // A slow creep of 0.002 per step leaves epsilon after three steps.
        check(
            &[
                (0, Some(1.000)),
                (4 * MIN, Some(1.002)),
                (8 * MIN, Some(1.004)),
                (12 * MIN, Some(1.006)),
            ],
            &[],
        );
    }

    #[test]
    fn the_message_names_the_frozen_value_and_how_long() {
        let mut f = Flatline::new(0, 2 * 60 * MIN, 0.0);
        let mut out = Vec::new();
        f.sample(&L, &[Some(2.5)], 0, &mut out);
        f.sample(&L, &[Some(2.5)], 2 * 60 * MIN + 400, &mut out);
        assert_eq!(out[0].alarm.message, "level_m stuck at 2.5 for 2h on wl-1");
        assert_eq!(out[0].alarm.limit, 7200.0);
    }
}
