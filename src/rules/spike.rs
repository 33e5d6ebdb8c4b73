//! `spike`: a value far from the recent ones, judged by a robust z-score over a rolling
//! window: |x − median| / (1.4826 · MAD).
//!
//! Median and MAD ignore a lone outlier, so one bad reading in the window neither hides
//! a later real jump nor makes normal values look like spikes; every value enters the
//! window, so a lasting level shift is flagged and then, once it fills half the window,
//! becomes the new normal and clears. Nothing is judged before `min_samples` values.
//! When MAD is 0 (a quantised, mostly constant signal) the mean absolute deviation
//! (× 1.2533) stands in, as in the usual modified z-score. That stand-in comes from the
//! few values off the median and is tiny, so under it a value the window already holds
//! (within its lowest and highest) is never a spike: a meter wobbling by its last digit
//! after a still run must not flap. No allocation per sample: the window and the
//! scratch buffer are sized once.

use super::alarm::{Labels, Slot, Step, Verdict, num};
use super::{AlarmChange, value_at};
use crate::reading::Ms;
use std::collections::VecDeque;

/// A raised spike clears once its z-score falls below this share of the threshold.
pub(crate) const CLEAR_SHARE: f64 = 0.8;

#[derive(Debug, Clone)]
pub(crate) struct Spike {
    point: usize,
    window: usize,
    min_samples: usize,
    threshold: f64,
    values: VecDeque<f64>,
    scratch: Vec<f64>,
    slot: Slot,
}

/// Median and robust scale of a window (None when the window has no spread at all),
/// and whether the scale is the mean-deviation stand-in (MAD is 0).
fn robust(scratch: &mut [f64]) -> (f64, Option<f64>, bool) {
    let n = scratch.len();
    let median = median_of(scratch);
    let mean_ad = scratch.iter().map(|x| (x - median).abs()).sum::<f64>() / n as f64;
    for x in scratch.iter_mut() {
        *x = (*x - median).abs();
    }
    let mad = median_of(scratch);
    let scale = if mad > 0.0 {
        1.4826 * mad
    } else {
        1.2533 * mean_ad
    };
    (median, (scale > 0.0).then_some(scale), mad <= 0.0)
}

fn median_of(xs: &mut [f64]) -> f64 {
    let n = xs.len();
    let (_, hi, _) = xs.select_nth_unstable_by(n / 2, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        hi
    } else {
        let lo = xs[..n / 2]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

impl Spike {
    pub(crate) fn new(point: usize, window: usize, min_samples: usize, threshold: f64) -> Self {
        let window = window.max(1);
        Spike {
            point,
            window,
            min_samples: min_samples.clamp(1, window),
            threshold,
            values: VecDeque::with_capacity(window),
            scratch: Vec::with_capacity(window),
            slot: Slot::Idle,
        }
    }

    pub(crate) fn slot(&self) -> &Slot {
        &self.slot
    }

    pub(crate) fn slot_mut(&mut self) -> &mut Slot {
        &mut self.slot
    }

    pub(crate) fn sample(
        &mut self,
        l: &Labels<'_>,
        values: &[Option<f64>],
        ts: Ms,
        out: &mut Vec<AlarmChange>,
    ) {
        let Some(v) = value_at(values, self.point) else {
            return;
        };
        if self.values.len() >= self.min_samples {
            self.scratch.clear();
            self.scratch.extend(self.values.iter().copied());
            let (lo, hi) = (self.scratch.iter())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                });
            let (median, scale, stand_in) = robust(&mut self.scratch);
            let dev = v - median;
            let z = match scale {
                Some(_) if stand_in && (lo..=hi).contains(&v) => 0.0,
                Some(s) => dev.abs() / s,
                None if dev == 0.0 => 0.0,
                None => f64::INFINITY,
            };
            let bound = |s: f64| median + dev.signum() * self.threshold * s;
            let verdict = if z > self.threshold {
                Verdict::Trip {
                    value: v,
                    limit: scale.map_or(median, bound),
                }
            } else if z < self.threshold * CLEAR_SHARE {
                Verdict::Clear
            } else {
                Verdict::Band
            };
            match self.slot.judge(verdict, ts, 0) {
                Step::Stay => {}
                Step::Raise { value, limit } => {
                    let msg = format!(
                        "{} {} spike on {}: beyond {} (median {})",
                        l.point.unwrap_or("value"),
                        num(value),
                        l.device,
                        num(limit),
                        num(median)
                    );
                    self.slot.raise(l.alarm(value, limit, msg, ts), out);
                }
                Step::Clear => {
                    let msg = format!(
                        "{} {} back within the usual range on {} (median {})",
                        l.point.unwrap_or("value"),
                        num(v),
                        l.device,
                        num(median)
                    );
                    self.slot.clear(v, msg, ts, out);
                }
            }
        }
        if self.values.len() == self.window {
            self.values.pop_front();
        }
        self.values.push_back(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::AlarmState;
    use crate::site::Severity;

    const L: Labels<'static> = Labels {
        rule: "level-spike",
        severity: Severity::Warning,
        device: "wl-1",
        point: Some("level_m"),
        tag: "",
    };

    /// Feeds values at ts 0, 1, 2… and returns (index, state) of each change.
    fn run(s: &mut Spike, values: &[f64]) -> Vec<(Ms, AlarmState)> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            s.sample(&L, &[Some(*v)], i as Ms, &mut out);
        }
        out.iter().map(|c| (c.ts, c.state)).collect()
    }

    /// A river level wobbling by a few millimetres around 1.20 m.
    fn calm(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 1.20 + [0.0, 0.004, -0.003, 0.002, -0.005][i % 5])
            .collect()
    }

    use AlarmState::{Cleared as C, Raised as R};

    #[test]
    fn median_and_mad_of_small_windows() {
        let cases: &[(&[f64], f64, Option<f64>, bool)] = &[
            (&[1.0, 2.0, 3.0], 2.0, Some(1.4826), false),
            (&[4.0, 1.0, 3.0, 2.0], 2.5, Some(1.4826), false),
            (&[5.0, 5.0, 5.0], 5.0, None, true),
            (&[5.0, 5.0, 5.0, 9.0], 5.0, Some(1.2533), true),
        ];
        for (xs, median, scale, stand_in) in cases {
            let mut v = xs.to_vec();
            assert_eq!(robust(&mut v), (*median, *scale, *stand_in), "{xs:?}");
        }
    }

    #[test]
    fn nothing_is_judged_before_min_samples() {
        let mut s = Spike::new(0, 20, 10, 4.0);
        let mut v = calm(5);
        v.push(9.0);
        assert_eq!(run(&mut s, &v), vec![]);
    }

    #[test]
    fn one_outlier_is_flagged_once_and_does_not_poison_the_window() {
        let mut s = Spike::new(0, 20, 10, 4.0);
        let mut v = calm(15);
        v.push(3.5);
        v.extend(calm(15));
        assert_eq!(run(&mut s, &v), vec![(15, R), (16, C)]);
    }

    #[test]
    fn an_old_outlier_in_the_window_does_not_hide_a_real_jump() {
        let mut s = Spike::new(0, 20, 10, 4.0);
        let mut v = calm(10);
        v.push(9.0);
        v.extend(calm(5));
        v.push(1.5);
        let changes = run(&mut s, &v);
        assert_eq!(changes, vec![(10, R), (11, C), (16, R)]);
    }

    #[test]
    fn a_lasting_level_shift_is_flagged_once_then_becomes_normal() {
        let mut s = Spike::new(0, 20, 10, 4.0);
        let mut v = calm(20);
        v.extend(calm(20).iter().map(|x| x + 0.5));
        let changes = run(&mut s, &v);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0], (20, R));
        assert_eq!(changes[1].1, C);
        assert!(changes[1].0 > 25 && changes[1].0 <= 32, "{changes:?}");
    }

    /// A meter that read 1.250 for a long while, then wobbles by its last digit: the
    /// spread is a stand-in from a handful of values, and must not flap.
    #[test]
    fn quantised_noise_after_a_still_run_does_not_flap() {
        let mut s = Spike::new(0, 30, 10, 6.0);
        let mut v = vec![1.250; 30];
        v.extend([1.251, 1.250, 1.251, 1.250, 1.251, 1.251, 1.250, 1.251]);
        // The first change after a still run has no spread to compare with: one alarm,
        // cleared by the next value, and then no more.
        assert_eq!(run(&mut s, &v), vec![(30, R), (31, C)]);
        // A real jump is still a spike.
        v.push(1.9);
        let mut s = Spike::new(0, 30, 10, 6.0);
        let changes = run(&mut s, &v);
        assert_eq!(changes.last(), Some(&(38, R)), "{changes:?}");
    }

    #[test]
    fn the_alarm_names_the_bound_that_was_crossed() {
        let mut s = Spike::new(0, 5, 5, 3.0);
        let mut out = Vec::new();
        for (i, v) in [1.0, 2.0, 3.0, 2.0, 1.0, 10.0].iter().enumerate() {
            s.sample(&L, &[Some(*v)], i as Ms, &mut out);
        }
        assert_eq!(out.len(), 1);
        let a = &out[0].alarm;
        // Median 2, MAD 1: the upper bound is 2 + 3 × 1.4826.
        assert!((a.limit - 6.4478).abs() < 1e-9, "{}", a.limit);
        assert_eq!(
            a.message,
            "level_m 10 spike on wl-1: beyond 6.448 (median 2)"
        );
    }
}
