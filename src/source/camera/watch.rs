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
}
