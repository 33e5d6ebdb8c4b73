//! Reconnect delays, one rule for every link the daemon opens (the uplink, a camera
//! broker, a Modbus connection): a delay that doubles from `min` to `max`, plus up to 25 %
//! jitter so a fleet of gateways, or the cameras on one broker, does not reconnect in
//! lockstep. Pure: the jitter is passed in (`clock_jitter` supplies one). rumqttc has no
//! backoff of its own (polling its event loop after an error reconnects at once), and
//! tokio-modbus none either, so this is the only one.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// The uplink's and the camera brokers': 0.5 s doubling to 30 s.
    pub const BROKER: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));
    /// A Modbus connection's: 100 ms doubling to 10 s (a field link is near; its devices
    /// are polled every second or so).
    pub const FIELD: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));

    pub fn new((min, max): (Duration, Duration)) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// After a connection that held: the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The delay before the next attempt; `jitter` in `0.0..=1.0` picks where in the
    /// 25 % band above the base delay it lands (0 for none).
    pub fn next(&mut self, jitter: f64) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base + base.mul_f64(jitter.clamp(0.0, 1.0) / 4.0)
    }
}

/// A number in `0.0..1.0` that differs between calls and between gateways (the clock's
/// sub-second nanoseconds): enough to spread reconnects, not a random generator.
pub fn clock_jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn broker_delays_double_to_a_cap_with_bounded_jitter_and_reset() {
        let mut b = Backoff::new(Backoff::BROKER);
        let d: Vec<Duration> = (0..9).map(|_| b.next(0.0)).collect();
        assert_eq!(d[..4], [ms(500), ms(1000), ms(2000), ms(4000)]);
        assert_eq!(d[8], ms(30_000), "capped");
        assert_eq!(b.next(1.0), ms(37_500), "jitter adds at most 25 %");
        assert_eq!(b.next(7.0), ms(37_500), "jitter is clamped");
        assert_eq!(b.next(-1.0), ms(30_000), "and never subtracts");
        b.reset();
        assert_eq!(b.next(0.5), ms(562) + Duration::from_micros(500));
    }

    #[test]
    fn field_delays_double_from_100_ms_to_10_s() {
        let mut b = Backoff::new(Backoff::FIELD);
        let seen: Vec<u128> = (0..10).map(|_| b.next(0.0).as_millis()).collect();
        assert_eq!(
            seen,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
    }

    #[test]
    fn clock_jitter_stays_in_its_band() {
        for _ in 0..100 {
            let j = clock_jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
