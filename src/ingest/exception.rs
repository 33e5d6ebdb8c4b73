//! Report by exception: which samples of a device become a live report on
//! `P/live/{device}`, and when a keep-alive is due. Pure: `now` is a parameter.
//!
//! A gauge or counter is judged against the value last *reported* (not the last read),
//! so a slow drift is reported once it has moved more than the deadband in total. A
//! state, event or command point is reported on any change, and a point that stops or
//! starts reading (`None` ↔ a value) always counts as a change. A change found within
//! `min_interval` of the last report is held and sent, with the latest values, once the
//! interval is over; with no change, a keep-alive goes out every `max_interval`.

use crate::reading::Ms;
use crate::site::{Live, PointKind};

/// Why a report goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Change,
    KeepAlive,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Change => "change",
            Reason::KeepAlive => "keepalive",
        }
    }
}

/// One device's filter.
#[derive(Debug, Clone)]
pub struct Filter {
    live: Live,
    kinds: Vec<PointKind>,
    /// The values of the last report; None before the first.
    sent: Option<Vec<Option<f64>>>,
    sent_at: Ms,
    /// The latest values read and when (None before the first sample).
    latest: Option<(Ms, Vec<Option<f64>>)>,
    /// A change is waiting for `min_interval` to pass.
    pending: bool,
}

impl Filter {
    pub fn new(live: Live, kinds: Vec<PointKind>) -> Filter {
        Filter {
            live,
            kinds,
            sent: None,
            sent_at: 0,
            latest: None,
            pending: false,
        }
    }

    /// Takes in a sample's engineering values; Some when a report is due now.
    pub fn on_sample(&mut self, ts: Ms, values: &[Option<f64>]) -> Option<Reason> {
        let changed = match &self.sent {
            None => true,
            Some(sent) => self.moved(sent, values),
        };
        self.latest = Some((ts, values.to_vec()));
        self.pending |= changed;
        self.due(ts)
    }

    /// The housekeeping tick: a held change whose interval is over, or a keep-alive.
    pub fn on_tick(&mut self, now: Ms) -> Option<Reason> {
        self.latest.as_ref()?;
        self.due(now)
    }

    /// Marks the latest values as reported at `now` and returns them with their time.
    pub fn take(&mut self, now: Ms) -> Option<(Ms, Vec<Option<f64>>)> {
        let (ts, values) = self.latest.clone()?;
        self.sent = Some(values.clone());
        self.sent_at = now;
        self.pending = false;
        Some((ts, values))
    }

    fn due(&self, now: Ms) -> Option<Reason> {
        let since = now - self.sent_at;
        if self.pending && (self.sent.is_none() || since >= ms(self.live.min_interval)) {
            Some(Reason::Change)
        } else if self.sent.is_some() && since >= ms(self.live.max_interval) {
            Some(Reason::KeepAlive)
        } else {
            None
        }
    }

    fn moved(&self, sent: &[Option<f64>], now: &[Option<f64>]) -> bool {
        if sent.len() != now.len() {
            return true;
        }
        (self.kinds.iter().zip(sent.iter().zip(now))).any(|(kind, (a, b))| match (a, b) {
            (Some(a), Some(b)) => match kind {
                PointKind::Gauge | PointKind::Counter => (b - a).abs() > self.live.deadband,
                PointKind::State | PointKind::Event | PointKind::Command => a != b,
                // A text point carries no number (its text is in the summary).
                PointKind::Text => false,
            },
            (None, None) => false,
            _ => true,
        })
    }
}

fn ms(d: std::time::Duration) -> Ms {
    d.as_millis() as Ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn filter(deadband: f64, min_ms: u64, max_ms: u64) -> Filter {
        let live = Live {
            deadband,
            min_interval: Duration::from_millis(min_ms),
            max_interval: Duration::from_millis(max_ms),
        };
        Filter::new(live, vec![PointKind::Gauge, PointKind::State])
    }

    /// Feeds `(ts, gauge, state)` samples, ticking every 100 ms in between, and returns
    /// every report as (when, reason, the gauge reported).
    fn run(
        f: &mut Filter,
        samples: &[(Ms, Option<f64>, Option<f64>)],
        until: Ms,
    ) -> Vec<(Ms, &'static str, Option<f64>)> {
        let mut out = Vec::new();
        let mut next = samples.iter().peekable();
        let mut now = samples.first().map_or(0, |s| s.0);
        while now <= until {
            while let Some(&&(ts, g, s)) = next.peek() {
                if ts > now {
                    break;
                }
                next.next();
                if let Some(r) = f.on_sample(ts, &[g, s]) {
                    let (_, v) = f.take(ts).unwrap();
                    out.push((ts, r.name(), v[0]));
                }
            }
            if let Some(r) = f.on_tick(now) {
                let (_, v) = f.take(now).unwrap();
                out.push((now, r.name(), v[0]));
            }
            now += 100;
        }
        out
    }

    #[test]
    fn cases() {
        type Row = (
            &'static str,
            f64,
            u64,
            u64,
            &'static [(Ms, Option<f64>, Option<f64>)],
            Ms,
            &'static [(Ms, &'static str, Option<f64>)],
        );
        #[rustfmt::skip]
        let rows: &[Row] = &[
            ("the first sample is reported at once", 0.5, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0))], 500, &[(0, "change", Some(20.0))]),
            ("moves inside the deadband report nothing", 0.5, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0)), (1000, Some(20.4), Some(0.0)), (2000, Some(19.6), Some(0.0)), (3000, Some(20.5), Some(0.0))],
             3500, &[(0, "change", Some(20.0))]),
            ("a step out of the deadband is reported once", 0.5, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0)), (2000, Some(21.0), Some(0.0)), (3000, Some(21.0), Some(0.0)), (4000, Some(21.2), Some(0.0))],
             4500, &[(0, "change", Some(20.0)), (2000, "change", Some(21.0))]),
            ("a slow drift is judged against the value reported", 0.5, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0)), (1000, Some(20.3), Some(0.0)), (2000, Some(20.6), Some(0.0))],
             2500, &[(0, "change", Some(20.0)), (2000, "change", Some(20.6))]),
            ("any change of a state counts, whatever the deadband", 100.0, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0)), (2000, Some(20.0), Some(1.0))],
             2500, &[(0, "change", Some(20.0)), (2000, "change", Some(20.0))]),
            ("a point that stops reading is a change", 0.5, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0)), (2000, None, Some(0.0))],
             2500, &[(0, "change", Some(20.0)), (2000, "change", None)]),
            ("changes within min_interval wait for it, then go with the latest values", 0.5, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0)), (200, Some(22.0), Some(0.0)), (400, Some(24.0), Some(0.0))],
             1500, &[(0, "change", Some(20.0)), (1000, "change", Some(24.0))]),
            ("a change that went back within min_interval is still sent (it was seen)", 0.5, 1000, 60_000,
             &[(0, Some(20.0), Some(0.0)), (200, Some(22.0), Some(0.0)), (400, Some(20.0), Some(0.0))],
             1500, &[(0, "change", Some(20.0)), (1000, "change", Some(20.0))]),
            ("keep-alives every max_interval without a change", 0.5, 1000, 3000,
             &[(0, Some(20.0), Some(0.0)), (1000, Some(20.1), Some(0.0)), (5000, Some(20.2), Some(0.0))],
             9500, &[(0, "change", Some(20.0)), (3000, "keepalive", Some(20.1)), (6000, "keepalive", Some(20.2)), (9000, "keepalive", Some(20.2))]),
            ("a change restarts the keep-alive interval", 0.5, 1000, 3000,
             &[(0, Some(20.0), Some(0.0)), (2000, Some(25.0), Some(0.0))],
             5500, &[(0, "change", Some(20.0)), (2000, "change", Some(25.0)), (5000, "keepalive", Some(25.0))]),
        ];
        for (name, deadband, min, max, samples, until, want) in rows {
            let mut f = filter(*deadband, *min, *max);
            assert_eq!(run(&mut f, samples, *until), *want, "{name}");
        }
    }

    #[test]
    fn nothing_before_the_first_sample() {
        let mut f = filter(0.5, 1000, 3000);
        assert_eq!(f.on_tick(10_000), None);
        assert_eq!(f.take(10_000), None);
    }
}
