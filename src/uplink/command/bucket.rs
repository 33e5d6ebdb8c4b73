//! The per-gateway token bucket every command passes before it is even parsed.
//!
//! Pure: `now` is a parameter.

use crate::reading::Ms;

#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Ms,
    rate: f64,
    burst: f64,
}

impl Bucket {
    /// A full bucket of `burst` tokens refilled at `rate` per second.
    pub fn new(rate: f64, burst: u32, now: Ms) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            last: now,
            rate,
            burst: f64::from(burst),
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Ms) -> bool {
        let elapsed = (now - self.last).max(0) as f64 / 1000.0;
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let mut b = Bucket::new(2.0, 5, 0);
        assert_eq!((0..10).filter(|_| b.take(0)).count(), 5);
        // 1 s later: two more, not three.
        assert_eq!((0..10).filter(|_| b.take(1000)).count(), 2);
        // A long quiet time refills to the burst, no more.
        assert_eq!((0..10).filter(|_| b.take(60_000)).count(), 5);
        // A clock stepping back refills nothing.
        assert!(!b.take(30_000));
    }
}
