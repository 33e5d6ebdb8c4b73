//! One rate limit for repeated journal lines (a failing device, rejected camera messages,
//! refused commands): at most `burst` lines per `every` milliseconds, and the line that
//! ends a quiet spell says how many events were not logged. The health counters carry
//! the full count; the journal only needs to show that it happens and how often.

use crate::reading::Ms;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGate {
    every: Ms,
    burst: u32,
    /// When the current window began; None before the first event.
    window_start: Option<Ms>,
    logged: u32,
    suppressed: u64,
}

impl LogGate {
    pub const fn new(every: Ms, burst: u32) -> LogGate {
        LogGate {
            every,
            burst,
            window_start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// Records one event at `now`: `Some(suppressed)` when it is to be logged, with the
    /// events not logged since the previous line; `None` when it is to be counted only.
    /// A clock that steps back starts a new window rather than silencing the gate.
    pub fn admit(&mut self, now: Ms) -> Option<u64> {
        let new_window = self
            .window_start
            .is_none_or(|start| now < start || now - start >= self.every);
        if new_window {
            self.window_start = Some(now);
            self.logged = 0;
        }
        if self.logged < self.burst {
            self.logged += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }

    /// Forgets the history: the next event is logged at once.
    pub fn reset(&mut self) {
        *self = LogGate::new(self.every, self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_minute_then_the_count_of_what_was_not_logged() {
        let mut g = LogGate::new(60_000, 1);
        let got: Vec<Option<u64>> = [0, 1_000, 30_000, 59_999, 60_000, 60_001, 200_000]
            .into_iter()
            .map(|t| g.admit(t))
            .collect();
        assert_eq!(got, [Some(0), None, None, None, Some(3), None, Some(1)]);
    }

    #[test]
    fn a_burst_per_window() {
        let mut g = LogGate::new(10_000, 3);
        let got: Vec<Option<u64>> = (0..6).map(|i| g.admit(i)).collect();
        assert_eq!(got, [Some(0), Some(0), Some(0), None, None, None]);
        assert_eq!(g.admit(10_000), Some(3));
    }

    #[test]
    fn a_clock_stepping_back_opens_a_window_and_reset_forgets() {
        let mut g = LogGate::new(60_000, 1);
        assert_eq!(g.admit(100_000), Some(0));
        assert_eq!(g.admit(100_001), None);
        assert_eq!(g.admit(5_000), Some(1), "clock went back");
        assert_eq!(g.admit(5_001), None);
        g.reset();
        assert_eq!(g.admit(5_002), Some(0));
    }
}
