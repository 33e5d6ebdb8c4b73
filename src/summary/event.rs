//! Event points over one window: how many times the event happened.
//!
//! A Modbus event (a discrete input such as `forced_entry`) happens on each rising edge,
//! a change from 0 to non-zero; the previous level is carried across windows so an edge
//! at a boundary counts once. The first level ever seen (no carried value) only sets the
//! level: after a restart a bit that is already set is not a new event. A camera event
//! (a JSON point) happens once per message that carries the value, whatever the value.

use super::PointSummary;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Event {
    /// The last raw level seen, in this window or carried from an earlier one.
    prev: Option<f64>,
    /// Camera events: every value is an occurrence; no edges, no levels.
    every_value: bool,
    count: u64,
}

impl Event {
    pub(super) fn new(carried: Option<f64>, every_value: bool) -> Self {
        Event {
            prev: carried,
            every_value,
            count: 0,
        }
    }

    pub(super) fn add(&mut self, raw: f64) {
        let rising = self.prev.is_some_and(|p| p == 0.0) && raw != 0.0;
        if self.every_value || rising {
            self.count += 1;
        }
        self.prev = Some(raw);
    }

    pub(super) fn carry(&self) -> Option<f64> {
        if self.every_value { None } else { self.prev }
    }

    pub(super) fn finish(&self) -> PointSummary {
        PointSummary::Event { count: self.count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(carried: Option<f64>, every_value: bool, values: &[f64], count: u64) {
        let mut e = Event::new(carried, every_value);
        for &v in values {
            e.add(v);
        }
        assert_eq!(
            e.finish(),
            PointSummary::Event { count },
            "carried {carried:?}, every_value {every_value}, values {values:?}"
        );
    }

    #[test]
    fn events_count_rising_edges_or_every_camera_value() {
        // (carried, camera, values, count)
        let cases: &[(Option<f64>, bool, &[f64], u64)] = &[
            (None, false, &[], 0),
            (None, false, &[0.0, 1.0, 1.0, 0.0, 1.0], 2),
            // A level held high is one event, not one per poll.
            (Some(0.0), false, &[1.0, 1.0, 1.0], 1),
            (Some(1.0), false, &[1.0, 1.0], 0),
            // The edge across a window boundary counts in the window that sees it.
            (Some(0.0), false, &[1.0], 1),
            // The first level ever seen is not an edge.
            (None, false, &[1.0, 1.0], 0),
            (None, false, &[1.0, 0.0, 1.0], 1),
            // Any non-zero level is "high".
            (Some(0.0), false, &[2.0, 0.0, -1.0], 2),
            // Camera events: every message with the value is one occurrence.
            (None, true, &[0.91, 0.91, 0.5], 3),
            (None, true, &[0.0], 1),
        ];
        for &(carried, camera, values, count) in cases {
            check(carried, camera, values, count);
        }
    }
}
