//! Gauge statistics over one window: count, min, max, mean and last of engineering values.
//!
//! Holds running totals only (no sample list), so a window of any length costs the same
//! few words. Never sees raw values or timestamps.

use super::PointSummary;

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Gauge {
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    last: Option<f64>,
}

impl Gauge {
    /// Adds one finite engineering value.
    pub(super) fn add(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
        self.last = Some(v);
    }

    /// A window without values has `count` 0 and every statistic `None`.
    pub(super) fn finish(&self) -> PointSummary {
        let seen = self.count > 0;
        PointSummary::Gauge {
            count: self.count,
            min: seen.then_some(self.min),
            max: seen.then_some(self.max),
            mean: seen.then(|| self.sum / self.count as f64),
            last: self.last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[f64], expected: PointSummary) {
        let mut g = Gauge::default();
        for &v in values {
            g.add(v);
        }
        assert_eq!(g.finish(), expected, "values {values:?}");
    }

    fn gauge(count: u64, min: f64, max: f64, mean: f64, last: f64) -> PointSummary {
        PointSummary::Gauge {
            count,
            min: Some(min),
            max: Some(max),
            mean: Some(mean),
            last: Some(last),
        }
    }

    #[test]
    fn gauge_statistics_follow_the_values() {
        check(
            &[],
            PointSummary::Gauge {
                count: 0,
                min: None,
                max: None,
                mean: None,
                last: None,
            },
        );
        check(&[22.3], gauge(1, 22.3, 22.3, 22.3, 22.3));
        check(&[3.0, 1.0, 2.0], gauge(3, 1.0, 3.0, 2.0, 2.0));
        check(&[-4.5, -1.5], gauge(2, -4.5, -1.5, -3.0, -1.5));
        // The first value sets min and max even when it is not 0-like.
        check(&[100.0, 200.0], gauge(2, 100.0, 200.0, 150.0, 200.0));
        check(&[0.0, 0.0, 0.0, 4.0], gauge(4, 0.0, 4.0, 1.0, 4.0));
    }
}
