//! Wall-clock window alignment: which summary window a timestamp belongs to.
//!
//! Windows are half-open, `[start, end)`, and aligned to whole multiples of the interval
//! counted from the Unix epoch, so every gateway with the same `summary_interval` cuts
//! time at the same instants (a 60 s window always starts on a minute). An interval that
//! does not divide a day (7 s, 90 s) is still counted from the epoch, not from midnight.
//!
//! Never reads the clock: timestamps come in as parameters.

use crate::reading::Ms;
use std::time::Duration;

/// The interval in milliseconds, at least 1 ms and at most `Ms::MAX`.
///
/// A sub-millisecond (or zero) interval would make every timestamp its own window or
/// divide by zero, so it is treated as 1 ms.
pub fn interval_ms(interval: Duration) -> Ms {
    Ms::try_from(interval.as_millis()).unwrap_or(Ms::MAX).max(1)
}

/// Start of the window holding `ts`: the largest multiple of `interval` not after `ts`.
///
/// Timestamps before the epoch round down too (towards minus infinity), so a window
/// never straddles the epoch. A start below `Ms::MIN` saturates there.
pub fn start_of(ts: Ms, interval: Duration) -> Ms {
    let iv = interval_ms(interval);
    ts.saturating_sub(ts.rem_euclid(iv))
}

/// End (exclusive) of the window holding `ts`: `start_of(ts) + interval`, saturating at
/// `Ms::MAX`. For an aligned start this is simply the next window's start.
pub fn end(ts: Ms, interval: Duration) -> Ms {
    start_of(ts, interval).saturating_add(interval_ms(interval))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(ts: Ms, interval: Duration, expected: (Ms, Ms)) {
        assert_eq!(
            (start_of(ts, interval), end(ts, interval)),
            expected,
            "ts {ts}, interval {interval:?}"
        );
    }

    #[test]
    fn windows_are_aligned_to_multiples_of_the_interval_since_the_epoch() {
        let minute = Duration::from_secs(60);
        let cases: &[(Ms, Duration, (Ms, Ms))] = &[
            // On a boundary the window starts there: windows are [start, end).
            (0, minute, (0, 60_000)),
            (60_000, minute, (60_000, 120_000)),
            // One millisecond before a boundary is still the previous window.
            (59_999, minute, (0, 60_000)),
            (
                1_795_000_012_345,
                minute,
                (1_794_999_960_000, 1_795_000_020_000),
            ),
            // Before the epoch, windows round down, not towards zero.
            (-1, minute, (-60_000, 0)),
            (-60_000, minute, (-60_000, 0)),
            (-60_001, minute, (-120_000, -60_000)),
            // Odd intervals count from the epoch, not from midnight or the minute.
            (10_000, Duration::from_secs(7), (7_000, 14_000)),
            (-1, Duration::from_secs(7), (-7_000, 0)),
            (2_250, Duration::from_millis(1_500), (1_500, 3_000)),
            // Sub-millisecond parts are dropped: 1.9 ms counts as 1 ms.
            (5, Duration::from_micros(1_900), (5, 6)),
            // A zero or sub-millisecond interval is treated as 1 ms.
            (42, Duration::ZERO, (42, 43)),
            (42, Duration::from_nanos(10), (42, 43)),
            // Hour and day windows.
            (3_599_999, Duration::from_secs(3_600), (0, 3_600_000)),
            (
                86_400_000 + 1,
                Duration::from_secs(86_400),
                (86_400_000, 172_800_000),
            ),
        ];
        for &(ts, iv, expected) in cases {
            check(ts, iv, expected);
        }
    }

    #[test]
    fn extreme_timestamps_saturate_instead_of_overflowing() {
        let minute = Duration::from_secs(60);
        let huge = Duration::from_secs(u64::MAX);
        check(5, huge, (0, Ms::MAX));
        check(-5, huge, (-Ms::MAX, 0));
        check(Ms::MAX, minute, (Ms::MAX - Ms::MAX % 60_000, Ms::MAX));
        // The true start lies below `Ms::MIN`; it saturates and the window still holds ts.
        check(Ms::MIN, minute, (Ms::MIN, Ms::MIN + 60_000));
    }

    proptest! {
        /// Every timestamp lies in exactly one window, whose start is a multiple of the
        /// interval and whose neighbours meet it without gap or overlap.
        #[test]
        fn every_timestamp_lies_in_one_aligned_window(
            ts in -4_000_000_000_000i64..4_000_000_000_000,
            iv in 1u64..100_000_000,
        ) {
            let interval = Duration::from_millis(iv);
            let (s, e) = (start_of(ts, interval), end(ts, interval));
            prop_assert!(s <= ts && ts < e);
            prop_assert_eq!(s.rem_euclid(iv as Ms), 0);
            prop_assert_eq!(e - s, iv as Ms);
            prop_assert_eq!(start_of(s - 1, interval), s - iv as Ms);
            prop_assert_eq!(start_of(e, interval), e);
        }
    }
}
