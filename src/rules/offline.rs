//! `offline`: a device that did not answer for `failed_polls` polls in a row, or a
//! camera whose heartbeat went missing (`PollError::Silent`, raised at once). The first
//! good sample clears.
//!
//! A sample counts as failed when it carries an error and no value at all; a partial
//! answer proves the device is there and counts as good. Never reads a clock: the
//! source turns a missing heartbeat into a `Silent` sample.

use super::AlarmChange;
use super::alarm::{Labels, Slot, Step, Verdict};
use crate::reading::{Ms, PollError};

#[derive(Debug, Clone)]
pub(crate) struct Offline {
    failed_polls: u32,
    /// Failed samples in a row.
    failures: u32,
    slot: Slot,
}

impl Offline {
    pub(crate) fn new(failed_polls: u32) -> Self {
        Offline {
            failed_polls: failed_polls.max(1),
            failures: 0,
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
        error: Option<&PollError>,
        ts: Ms,
        out: &mut Vec<AlarmChange>,
    ) {
        let failed = error.filter(|_| values.iter().all(Option::is_none));
        let Some(error) = failed else {
            self.failures = 0;
            if self.slot.judge(Verdict::Clear, ts, 0) == Step::Clear {
                self.slot
                    .clear(0.0, format!("{} answering again", l.device), ts, out);
            }
            return;
        };
        self.failures = self.failures.saturating_add(1);
        let silent = *error == PollError::Silent;
        if !silent && self.failures < self.failed_polls {
            return;
        }
        // A missing heartbeat is judged at once: its limit is one missed deadline.
        let verdict = Verdict::Trip {
            value: f64::from(self.failures),
            limit: if silent {
                1.0
            } else {
                f64::from(self.failed_polls)
            },
        };
        if let Step::Raise { value, limit } = self.slot.judge(verdict, ts, 0) {
            let msg = if silent {
                format!("{} offline: heartbeat missing", l.device)
            } else {
                format!(
                    "{} offline: {} failed polls in a row ({error})",
                    l.device, self.failures
                )
            };
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
        rule: "offline",
        severity: Severity::Warning,
        device: "gate-n1",
        point: None,
        tag: "",
    };

    #[derive(Clone, Copy)]
    enum P {
        Good,
        Partial,
        Timeout,
        Silent,
    }

    /// Feeds polls at ts 0, 1, 2… into an offline rule of 3 failed polls.
    fn check(polls: &[P], expected: &[(Ms, AlarmState)]) {
        let mut o = Offline::new(3);
        let mut out = Vec::new();
        for (i, p) in polls.iter().enumerate() {
            let (values, error) = match p {
                P::Good => (vec![Some(1.0), Some(2.0)], None),
                P::Partial => (vec![Some(1.0), None], Some(PollError::Exception(2))),
                P::Timeout => (vec![None, None], Some(PollError::Timeout)),
                P::Silent => (vec![None, None], Some(PollError::Silent)),
            };
            o.sample(&L, &values, error.as_ref(), i as Ms, &mut out);
        }
        let got: Vec<_> = out.iter().map(|c| (c.ts, c.state)).collect();
        assert_eq!(got, expected);
    }

    use AlarmState::{Cleared as C, Raised as R};
    use P::*;

    #[test]
    fn offline_cases() {
        check(&[Good, Timeout, Timeout], &[]);
        check(
            &[Good, Timeout, Timeout, Timeout, Timeout, Timeout],
            &[(3, R)],
        );
        check(&[Timeout, Timeout, Timeout, Good, Good], &[(2, R), (3, C)]);
        check(&[Timeout, Timeout, Good, Timeout, Timeout, Good], &[]);
        check(&[Timeout, Timeout, Partial, Timeout, Timeout], &[]);
        check(&[Timeout, Timeout, Timeout, Partial], &[(2, R), (3, C)]);
        check(&[Good, Silent, Silent, Good], &[(1, R), (3, C)]);
    }

    #[test]
    fn messages_name_the_device_and_the_last_error() {
        let mut o = Offline::new(2);
        let mut out = Vec::new();
        let t = Some(PollError::Timeout);
        o.sample(&L, &[None], t.as_ref(), 1, &mut out);
        o.sample(&L, &[None], t.as_ref(), 2, &mut out);
        o.sample(&L, &[Some(0.0)], None, 3, &mut out);
        assert_eq!(
            out[0].alarm.message,
            "gate-n1 offline: 2 failed polls in a row (timeout)"
        );
        assert_eq!(out[0].alarm.id, "offline:gate-n1:2");
        assert_eq!(out[1].alarm.message, "gate-n1 answering again");
    }
}
