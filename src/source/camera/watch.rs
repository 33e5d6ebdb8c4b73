//! The timekeeping of a camera connection: heartbeat deadlines, the once-a-minute log
//! gate and the reconnect backoff. Pure: every method takes `now` (a monotonic
//! `Instant`, so a wall-clock step never makes a camera look silent) and nothing here
//! sleeps, logs or reads a clock.

use std::time::Duration;
use tokio::time::Instant;

/// When a camera must next be heard from, and whether it has gone quiet.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    timeout: Duration,
    deadline: Instant,
    silent: bool,
}

impl Heartbeat {
    /// A camera is given one full timeout from `now` (the start) to be heard.
    pub fn new(timeout: Duration, now: Instant) -> Heartbeat {
        // A zero timeout would turn the connection task into a busy loop.
        let timeout = timeout.max(Duration::from_millis(10));
        Heartbeat {
            timeout,
            deadline: now + timeout,
            silent: false,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn is_silent(&self) -> bool {
        self.silent
    }

    /// A message arrived: the deadline moves to `now + timeout`. True when the camera
    /// had been silent, i.e. it has just come back.
    pub fn heard(&mut self, now: Instant) -> bool {
        self.deadline = now + self.timeout;
        std::mem::replace(&mut self.silent, false)
    }

    /// True when the deadline has passed: one silent sample is due. The next one is due
    /// a timeout later, so a silent camera yields one per timeout period, not a burst
    /// after the task was held up.
    pub fn due(&mut self, now: Instant) -> bool {
        if now < self.deadline {
            return false;
        }
        self.silent = true;
        self.deadline = (self.deadline + self.timeout).max(now + self.timeout / 2);
        true
    }
}

/// At most one log line per `every`, carrying how many events it stands for.
#[derive(Debug, Clone)]
pub struct LogGate {
    every: Duration,
    last_line: Option<Instant>,
    /// Events since the last line, this one included once a line is due.
    pending: u64,
}

impl LogGate {
    pub fn new(every: Duration) -> LogGate {
        LogGate {
            every,
            last_line: None,
            pending: 0,
        }
    }

    /// Records one event; `Some(count)` when a line is due, `count` being the events
    /// since the previous line (this one included).
    pub fn record(&mut self, now: Instant) -> Option<u64> {
        self.pending += 1;
        let due = self
            .last_line
            .is_none_or(|at| now.saturating_duration_since(at) >= self.every);
        if !due {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

/// Reconnect delays: 0.5 s doubling to 30 s, each plus up to 25 % jitter so a fleet of
/// gateways (or cameras on one broker) does not reconnect in lockstep. rumqttc has no
/// backoff of its own: polling its event loop after an error reconnects at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const MIN: Duration = Duration::from_millis(500);
    pub const MAX: Duration = Duration::from_secs(30);

    pub fn new() -> Backoff {
        Backoff { next: Self::MIN }
    }

    pub fn reset(&mut self) {
        self.next = Self::MIN;
    }

    /// The next delay; `jitter` in `0.0..=1.0` picks where in the 25 % band it lands.
    pub fn next(&mut self, jitter: f64) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        base + base.mul_f64(jitter.clamp(0.0, 1.0) / 4.0)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn heartbeat_goes_silent_once_per_timeout_and_recovers_on_a_message() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ms(1000), t0);
        // (at ms, event, expected result): "due" asks for a silent sample, "heard" reports
        // whether the camera came back.
        let steps: &[(u64, &str, bool)] = &[
            (999, "due", false),
            (600, "heard", false), // a message pushes the deadline to 1600
            (1500, "due", false),
            (1600, "due", true), // silent: first sample
            (1700, "due", false),
            (2599, "due", false),
            (2600, "due", true),   // one per timeout while silent
            (2700, "heard", true), // back
            (3000, "due", false),
            (3700, "due", true),
        ];
        for &(at, event, expected) in steps {
            let now = t0 + ms(at);
            let got = match event {
                "due" => hb.due(now),
                _ => hb.heard(now),
            };
            assert_eq!(got, expected, "{event} at {at} ms");
        }
        assert!(hb.is_silent());
    }

    #[test]
    fn a_late_check_yields_one_silent_sample_not_a_burst() {
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ms(100), t0);
        assert!(hb.due(t0 + ms(1000)));
        assert!(!hb.due(t0 + ms(1001)));
        assert!(hb.deadline() >= t0 + ms(1050));
    }

    #[test]
    fn log_gate_lets_one_line_a_minute_through_with_the_count() {
        let t0 = Instant::now();
        let mut gate = LogGate::new(Duration::from_secs(60));
        let steps: &[(u64, Option<u64>)] = &[
            (0, Some(1)),
            (1, None),
            (30, None),
            (59, None),
            (60, Some(4)),
            (61, None),
            (200, Some(2)),
        ];
        for &(at, expected) in steps {
            assert_eq!(
                gate.record(t0 + Duration::from_secs(at)),
                expected,
                "at {at} s"
            );
        }
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_bounded_jitter_and_resets() {
        let mut b = Backoff::new();
        let plain: Vec<Duration> = (0..9).map(|_| b.next(0.0)).collect();
        let expected = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000].map(ms);
        assert_eq!(plain, expected);
        b.reset();
        assert_eq!(b.next(1.0), ms(625));
        assert_eq!(b.next(7.0), ms(1250), "jitter is clamped to 25 %");
    }
}
