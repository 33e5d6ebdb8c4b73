//! State points (and command outputs) over one window: the last value and how many times
//! the value changed, counting a change from the last value of the previous window.
//!
//! Raw values are compared exactly: states are small integers (a turnstile's 0 idle,
//! 1 passing, 2 held-open, 3 fault), not measurements with noise. `last` is reported in
//! engineering units.

use super::PointSummary;
use crate::site::Point;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct State {
    /// The last raw value seen, in this window or carried from an earlier one.
    prev: Option<f64>,
    seen: bool,
    transitions: u64,
}

impl State {
    pub(super) fn new(carried: Option<f64>) -> Self {
        State {
            prev: carried,
            seen: false,
            transitions: 0,
        }
    }

    pub(super) fn add(&mut self, raw: f64) {
        if self.prev.is_some_and(|p| p != raw) {
            self.transitions += 1;
        }
        self.prev = Some(raw);
        self.seen = true;
    }

    pub(super) fn carry(&self) -> Option<f64> {
        self.prev
    }

    /// `last` is `None` when the window holds no value, even if an earlier one did.
    pub(super) fn finish(&self, point: &Point) -> PointSummary {
        PointSummary::State {
            last: self
                .prev
                .filter(|_| self.seen)
                .map(|v| point.engineering(v)),
            transitions: self.transitions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::PointKind;
    use crate::summary::tests::point;

    fn check(carried: Option<f64>, values: &[f64], last: Option<f64>, transitions: u64) {
        let mut s = State::new(carried);
        for &v in values {
            s.add(v);
        }
        assert_eq!(
            s.finish(&point("status", PointKind::State, 1.0)),
            PointSummary::State { last, transitions },
            "carried {carried:?}, values {values:?}"
        );
    }

    #[test]
    fn transitions_count_changes_including_from_the_carried_value() {
        check(None, &[], None, 0);
        check(Some(2.0), &[], None, 0);
        check(None, &[1.0], Some(1.0), 0);
        check(None, &[0.0, 0.0, 1.0, 1.0, 0.0], Some(0.0), 2);
        check(None, &[0.0, 1.0, 2.0, 3.0], Some(3.0), 3);
        // A change across the window boundary counts in the new window.
        check(Some(0.0), &[1.0], Some(1.0), 1);
        check(Some(1.0), &[1.0, 1.0], Some(1.0), 0);
        check(Some(3.0), &[0.0, 3.0], Some(3.0), 2);
    }
}
