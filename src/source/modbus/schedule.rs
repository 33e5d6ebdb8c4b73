//! When to poll, when to give a failing device a rest, when to say so in the journal.
//!
//! Pure: every function takes `now` (wall-clock ms) as a parameter and reads no clock.
//! The connection task (`mod.rs`) owns one `Rest` and one `LogGate` per device.
//!
//! Ticks sit on wall-clock multiples of the poll interval, so every 1 s device on every
//! connection fires at the same instant: the runtime wakes once per second instead of
//! once per device (docs/design-facts.md §4: ×3.4 CPU for spreading them).

use std::time::Duration;

use crate::reading::Ms;

/// The longest rest a failing device gets between attempts, unless its own poll
/// interval is longer: one attempt per 10 s costs a bus little and still notices a
/// repaired device within seconds.
pub const MAX_DEVICE_BACKOFF_MS: Ms = 10_000;

/// A poll interval in whole milliseconds, at least 1.
pub fn period_ms(poll: Duration) -> Ms {
    Ms::try_from(poll.as_millis()).unwrap_or(Ms::MAX).max(1)
}

/// The first tick strictly after `now`.
pub fn next_tick(now: Ms, period: Ms) -> Ms {
    (now.div_euclid(period) + 1) * period
}

/// The latest tick at or before `now`: the timestamp of a poll that runs late.
pub fn floor_tick(now: Ms, period: Ms) -> Ms {
    now.div_euclid(period) * period
}

/// Rests a device that does not answer: the first failure is retried at the next tick,
/// then the rest doubles (2, 4, 8… poll intervals) up to `MAX_DEVICE_BACKOFF_MS`. The
/// first answer ends it. Exceptions are answers and never count, except a gateway's
/// 0x0A/0x0B, which report the device behind it silent (`conn::no_answer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rest {
    /// Consecutive polls without an answer.
    pub failures: u32,
    /// No attempt before this tick.
    pub retry_at: Ms,
}

impl Rest {
    pub fn allows(&self, tick: Ms) -> bool {
        tick >= self.retry_at
    }

    /// Records the outcome of the poll made at `tick`.
    pub fn record(&mut self, tick: Ms, period: Ms, answered: bool) {
        if answered {
            *self = Rest::default();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let cap = MAX_DEVICE_BACKOFF_MS.max(period);
        let rest = match self.failures {
            0 | 1 => period,
            n => period.saturating_mul(1 << (n - 1).min(20)).min(cap),
        };
        self.retry_at = tick.saturating_add(rest);
    }
}

/// What to write to the journal about one poll's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogAction {
    Quiet,
    /// Warn; `suppressed` failures were not logged since the last warning.
    Warn {
        suppressed: u64,
    },
    /// Info: the device answers again after failing since `since`.
    Recovered {
        since: Ms,
    },
}

/// Rate-limits a device's failure lines: the first failure, then at most one a minute
/// (`crate::loggate`), and one line on recovery. The counters in `health` carry the full
/// story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGate {
    failing_since: Option<Ms>,
    gate: crate::loggate::LogGate,
}

/// Minimum time between two warnings about the same device.
pub const WARN_EVERY_MS: Ms = 60_000;

impl Default for LogGate {
    fn default() -> Self {
        LogGate {
            failing_since: None,
            gate: crate::loggate::LogGate::new(WARN_EVERY_MS, 1),
        }
    }
}

impl LogGate {
    pub fn record(&mut self, now: Ms, failed: bool) -> LogAction {
        match (failed, self.failing_since) {
            (false, None) => LogAction::Quiet,
            (false, Some(since)) => {
                *self = LogGate::default();
                LogAction::Recovered { since }
            }
            (true, since) => {
                self.failing_since = since.or(Some(now));
                match self.gate.admit(now) {
                    Some(suppressed) => LogAction::Warn { suppressed },
                    None => LogAction::Quiet,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_sit_on_wall_clock_multiples() {
        // (now, period, next, floor)
        let cases = [
            (0, 1000, 1000, 0),
            (999, 1000, 1000, 0),
            (1000, 1000, 2000, 1000),
            (
                1_795_000_000_123,
                1000,
                1_795_000_001_000,
                1_795_000_000_000,
            ),
            (
                1_795_000_000_123,
                60_000,
                1_795_000_020_000,
                1_794_999_960_000,
            ),
            (12_345, 250, 12_500, 12_250),
            (5, 1, 6, 5),
        ];
        for (now, period, next, floor) in cases {
            assert_eq!(next_tick(now, period), next, "next_tick({now}, {period})");
            assert_eq!(
                floor_tick(now, period),
                floor,
                "floor_tick({now}, {period})"
            );
        }
    }

    #[test]
    fn period_is_whole_milliseconds_and_never_zero() {
        assert_eq!(period_ms(Duration::from_secs(1)), 1000);
        assert_eq!(period_ms(Duration::from_micros(1500)), 1);
        assert_eq!(period_ms(Duration::ZERO), 1);
    }

    #[test]
    fn a_device_that_does_not_answer_is_rested_and_recovers_at_once() {
        // Poll every second; each step: (tick of the poll, answered, retry_at after it).
        let steps = [
            (1_000, false, 2_000),
            (2_000, false, 4_000),
            (4_000, false, 8_000),
            (8_000, false, 16_000),
            (16_000, false, 26_000),
            (26_000, false, 36_000),
            (36_000, true, 0),
            (37_000, false, 38_000),
        ];
        let mut b = Rest::default();
        for (tick, answered, retry_at) in steps {
            assert!(b.allows(tick), "tick {tick} must be allowed");
            b.record(tick, 1000, answered);
            assert_eq!(b.retry_at, retry_at, "after tick {tick}");
            if !answered {
                assert!(!b.allows(retry_at - 1), "rested until {retry_at}");
            }
        }
    }

    #[test]
    fn slow_devices_are_never_polled_more_often_than_their_interval() {
        let mut b = Rest::default();
        for tick in [0, 60_000, 120_000] {
            b.record(tick, 60_000, false);
            assert_eq!(b.retry_at, tick + 60_000);
        }
    }

    #[test]
    fn failure_lines_are_rate_limited_per_minute() {
        // (now, failed, action)
        let steps = [
            (0, false, LogAction::Quiet),
            (1_000, true, LogAction::Warn { suppressed: 0 }),
            (2_000, true, LogAction::Quiet),
            (30_000, true, LogAction::Quiet),
            (60_999, true, LogAction::Quiet),
            (61_000, true, LogAction::Warn { suppressed: 3 }),
            (62_000, true, LogAction::Quiet),
            (63_000, false, LogAction::Recovered { since: 1_000 }),
            (64_000, false, LogAction::Quiet),
            (65_000, true, LogAction::Warn { suppressed: 0 }),
        ];
        let mut g = LogGate::default();
        for (now, failed, action) in steps {
            assert_eq!(g.record(now, failed), action, "at {now}");
        }
    }
}
