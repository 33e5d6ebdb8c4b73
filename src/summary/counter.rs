//! Counter deltas: how much a device's running total grew between two readings, aware of
//! rollover (the register wrapped past its type's maximum) and of device resets (the
//! device restarted and counts from zero again).
//!
//! Works in the device's raw units, because the wrap-around happens there: a u32 counter
//! wraps at 2^32 raw counts whatever its scale. `super::DeviceWindow` converts the
//! results to engineering units; `super::zone` reuses [`step`] for turnstile gates, and
//! the counter rule may too.
//!
//! Never reads the clock and never sees a timestamp: only the order of readings matters.

use super::PointSummary;
use crate::site::Point;

/// Share of the modulus that counts as "near" it. A fall from the top quarter of the
/// range into the bottom quarter is a rollover; any other fall is a reset.
///
/// A counter read at least once per quarter of its range (16 384 counts for a u16,
/// about a billion for a u32) is therefore never mistaken for reset, and a device that
/// restarts from zero is never mistaken for a wrap unless it had already counted past
/// three quarters of its range.
pub const NEAR_SHARE: f64 = 0.25;

/// How a counter moved from one reading to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// The total grew (or stayed) by this much.
    Increase(f64),
    /// The register wrapped past its modulus; the increment is the wrapped distance.
    Rollover(f64),
    /// The total fell without wrapping: the device restarted and counted this much from 0.
    Reset(f64),
}

impl Step {
    /// The increment this step contributes to the delta.
    pub fn increment(self) -> f64 {
        match self {
            Step::Increase(d) | Step::Rollover(d) | Step::Reset(d) => d,
        }
    }
}

/// Classifies the move from `prev` to `new` (raw values) for a counter that wraps at
/// `modulus` (`None` for types that do not wrap, such as signed integers and floats).
///
/// A fall counts as a rollover when `prev` lies in the top [`NEAR_SHARE`] of the range
/// and `new` in the bottom one; otherwise it is a reset and `new` is taken as the count
/// since the device restarted from 0 (a negative `new` counts as 0).
pub fn step(prev: f64, new: f64, modulus: Option<f64>) -> Step {
    if new >= prev {
        return Step::Increase(new - prev);
    }
    if let Some(m) = modulus {
        let near = m * NEAR_SHARE;
        if prev >= m - near && new >= 0.0 && new < near {
            return Step::Rollover(m - prev + new);
        }
    }
    Step::Reset(new.max(0.0))
}

/// One counter point over one window, in raw units.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Counter {
    /// The last raw value seen, in this window or carried from an earlier one.
    prev: Option<f64>,
    first: Option<f64>,
    delta: f64,
    rollovers: u32,
    resets: u32,
}

impl Counter {
    /// A window that continues from `carried`, the last raw value of an earlier window.
    pub(super) fn new(carried: Option<f64>) -> Self {
        Counter {
            prev: carried,
            first: None,
            delta: 0.0,
            rollovers: 0,
            resets: 0,
        }
    }

    pub(super) fn add(&mut self, raw: f64, modulus: Option<f64>) {
        if let Some(prev) = self.prev {
            let s = step(prev, raw, modulus);
            match s {
                Step::Increase(_) => {}
                Step::Rollover(_) => self.rollovers += 1,
                Step::Reset(_) => self.resets += 1,
            }
            self.delta += s.increment();
        }
        self.first.get_or_insert(raw);
        self.prev = Some(raw);
    }

    /// The raw value the next window continues from.
    pub(super) fn carry(&self) -> Option<f64> {
        self.prev
    }

    /// `first`, `last` and `delta` in engineering units; all three are `None` when the
    /// window holds no reading (a delta of 0 would claim that nothing was counted).
    pub(super) fn finish(&self, point: &Point) -> PointSummary {
        let seen = self.first.is_some();
        PointSummary::Counter {
            first: self.first.map(|v| point.engineering(v)),
            last: self.prev.filter(|_| seen).map(|v| point.engineering(v)),
            // The offset cancels in a difference; only the scale applies.
            delta: seen.then(|| point.engineering(self.delta) - point.offset),
            rollovers: self.rollovers,
            resets: self.resets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const U16: Option<f64> = Some(65_536.0);
    const U32: Option<f64> = Some(4_294_967_296.0);

    fn check(prev: f64, new: f64, modulus: Option<f64>, expected: Step) {
        assert_eq!(step(prev, new, modulus), expected, "{prev} -> {new}");
    }

    #[test]
    fn steps_are_classified_as_increase_rollover_or_reset() {
        let cases: &[(f64, f64, Option<f64>, Step)] = &[
            (10.0, 15.0, U32, Step::Increase(5.0)),
            (10.0, 10.0, U32, Step::Increase(0.0)),
            // u32 rollover: 4294967290 + 10 wraps to 4.
            (4_294_967_290.0, 4.0, U32, Step::Rollover(10.0)),
            (4_294_967_295.0, 0.0, U32, Step::Rollover(1.0)),
            // u16 rollover at the edges of "near": top quarter starts at 49152.
            (49_152.0, 0.0, U16, Step::Rollover(16_384.0)),
            (65_535.0, 16_383.0, U16, Step::Rollover(16_384.0)),
            // Falling from below the top quarter is a reset.
            (49_151.0, 0.0, U16, Step::Reset(0.0)),
            // Landing above the bottom quarter is a reset too.
            (65_535.0, 16_384.0, U16, Step::Reset(16_384.0)),
            // A device restarted at 1200 and has counted 3 since.
            (1_200.0, 3.0, U32, Step::Reset(3.0)),
            // Without a modulus every fall is a reset.
            (4_294_967_290.0, 4.0, None, Step::Reset(4.0)),
            // Signed counters may go negative; a fall below 0 counts as a reset to 0.
            (-5.0, -2.0, None, Step::Increase(3.0)),
            (5.0, -2.0, None, Step::Reset(0.0)),
        ];
        for &(prev, new, m, expected) in cases {
            check(prev, new, m, expected);
        }
    }

    fn run(carried: Option<f64>, values: &[f64], modulus: Option<f64>) -> Counter {
        let mut c = Counter::new(carried);
        for &v in values {
            c.add(v, modulus);
        }
        c
    }

    #[test]
    fn window_delta_spans_rollover_and_reset() {
        /// (carried, readings, delta, rollovers, resets)
        type Case = (Option<f64>, &'static [f64], f64, u32, u32);
        let cases: &[Case] = &[
            (None, &[], 0.0, 0, 0),
            (None, &[7.0], 0.0, 0, 0),
            (Some(5.0), &[7.0], 2.0, 0, 0),
            (None, &[1.0, 2.0, 5.0], 4.0, 0, 0),
            (
                None,
                &[4_294_967_290.0, 4_294_967_295.0, 3.0, 8.0],
                14.0,
                1,
                0,
            ),
            (Some(4_294_967_000.0), &[100.0], 396.0, 1, 0),
            (None, &[500.0, 510.0, 2.0, 6.0], 16.0, 0, 1),
            (Some(500.0), &[0.0, 0.0, 1.0], 1.0, 0, 1),
        ];
        for &(carried, values, delta, rollovers, resets) in cases {
            let c = run(carried, values, U32);
            assert_eq!(
                (c.delta, c.rollovers, c.resets),
                (delta, rollovers, resets),
                "carried {carried:?}, readings {values:?}"
            );
        }
    }

    proptest! {
        /// Feeding the running total (mod 2^16 or 2^32) of random increments, each smaller
        /// than a quarter of the range, gives back the true sum of increments, however
        /// often the register wraps and wherever the window boundaries fall.
        #[test]
        fn delta_equals_the_true_increments_through_wraps(
            wide in any::<bool>(),
            start_share in 0.0f64..1.0,
            incs in proptest::collection::vec(0u64..16_384, 1..200),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        ) {
            let m: u64 = if wide { 1 << 32 } else { 1 << 16 };
            let scale = if wide { 65_536 } else { 1 };
            let modulus = Some(m as f64);
            let mut total = (start_share * m as f64) as u64 % m;
            let mut readings = vec![total as f64];
            for inc in &incs {
                total = (total + inc * scale) % m;
                readings.push(total as f64);
            }
            let true_delta: u64 = incs.iter().map(|i| i * scale).sum();

            // Split the readings into windows at random cuts, passing the carry on.
            let mut cut_at: Vec<usize> = cuts.iter().map(|c| c.index(readings.len())).collect();
            cut_at.sort_unstable();
            let mut carried = None;
            let mut delta = 0.0;
            let mut from = 0;
            for to in cut_at.into_iter().chain([readings.len()]) {
                let c = run(carried, &readings[from..to], modulus);
                delta += c.delta;
                carried = c.carry();
                from = to;
            }
            prop_assert_eq!(delta, true_delta as f64);
        }

        /// After a reset to a small value the delta counts from zero, never backwards.
        #[test]
        fn delta_counts_from_zero_after_a_reset(
            before in 1_000u32..3_000_000_000,
            after in 0u32..1_000,
            more in 0u32..1_000,
        ) {
            let c = run(None, &[before as f64, after as f64, (after + more) as f64], U32);
            prop_assert_eq!(c.delta, (after + more) as f64);
            prop_assert_eq!(c.resets, 1);
        }
    }
}
