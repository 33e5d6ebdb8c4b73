//! Window summaries: what a device did during one wall-clock window, and how full each
//! zone is.
//!
//! # Parts
//!
//! - `window`: which window a timestamp falls in (`start_of`, `end`), aligned to
//!   multiples of `summary_interval` since the epoch.
//! - `DeviceWindow` (this file): folds a device's `Sample`s into one `DeviceSummary`
//!   per window, delegating per point kind to `gauge`, `counter`, `state` and `event`.
//!   `Carry` hands the last raw value of each counter, state and event point to the
//!   next window, so deltas, transitions and edges span window boundaries.
//! - `zone`: `zone::ZoneTracker`, occupancy per zone from its turnstiles' counters.
//!
//! # Values and units
//!
//! Samples carry raw device numbers. Each is converted with `Point::engineering` exactly
//! once, where it is reported: gauges convert on the way in; counters and states keep
//! raw values (rollover happens in raw counts, and comparing raw integers is exact) and
//! convert what they report on the way out; events judge raw levels and report counts.
//! `Carry` holds raw values. Non-finite values (a NaN f32 from a confused device) are
//! ignored, as if the point had no value in that sample.
//!
//! A point with no value in the window reports `None` for every value field: gauge
//! `count` 0 with `min`/`max`/`mean`/`last` `None`; counter `first`/`last`/`delta`
//! `None`; state `last` `None` with 0 transitions; event `count` 0. Command points are
//! summarised as states.
//!
//! # Boundaries
//!
//! Pure: no async, no I/O, no clock reads; timestamps arrive in samples and as
//! parameters. It never decides when a window closes or which window a sample belongs
//! to (the caller routes samples with `window::start_of`, in timestamp order per device),
//! and it never serialises anything for the wire: `wire::payload` turns these types
//! into JSON. The only serialisation here is the local state of `Carry` and
//! `ZoneTracker`, so a restart keeps counting where it stopped.

mod counter;
mod event;
mod gauge;
pub mod cell;
mod state;
mod text;
pub mod window;
pub mod zone;

pub use counter::{NEAR_SHARE, Step, step};

use crate::reading::{Ms, Sample};
use crate::site::{Device, Point, PointKind, PointSource};
use serde::{Deserialize, Serialize};

/// One device over one window, ready to publish on `P/summary/{device}`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSummary {
    pub start: Ms,
    /// Exclusive.
    pub end: Ms,
    /// Every point of the device, in profile order, by name.
    pub points: Vec<(String, PointSummary)>,
    pub quality: Quality,
}

/// One point over one window, in engineering units.
#[derive(Debug, Clone, PartialEq)]
pub enum PointSummary {
    Gauge {
        count: u64,
        min: Option<f64>,
        max: Option<f64>,
        mean: Option<f64>,
        last: Option<f64>,
    },
    Counter {
        /// The first reading in the window.
        first: Option<f64>,
        last: Option<f64>,
        /// Sum of increments from the previous window's last reading through this
        /// window's readings, across rollovers and resets.
        delta: Option<f64>,
        /// Times the register wrapped past its type's maximum.
        rollovers: u32,
        /// Times the counter fell without wrapping (the device restarted).
        resets: u32,
    },
    /// State and command points.
    State {
        last: Option<f64>,
        /// Changes of value, including from the previous window's last value.
        transitions: u64,
    },
    /// Rising edges (Modbus) or messages (camera).
    Event { count: u64 },
    /// Text points: the last text read and changes of text, as a state's transitions.
    Text {
        last: Option<Box<str>>,
        transitions: u64,
    },
}

/// How well the device answered during the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quality {
    /// Samples received: one per poll (or per camera message).
    pub polls: u64,
    /// Samples that carried an error (a partial failure still counts as one).
    pub errors: u64,
    /// The text of the last error in the window.
    pub last_error: Option<String>,
}

/// What a window hands to the next: the last raw value of each counter, state and event
/// point and the last text of each text point, by point name (so a reordered profile
/// does not mix points up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Carry {
    last: Vec<(String, f64)>,
    /// The last text of each text point. Absent from state saved before text points
    /// existed, and not written when empty, so such state reads back the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    texts: Vec<(String, Box<str>)>,
}

/// Version of the saved-state format written by `to_bytes`.
const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SavedCarry {
    v: u32,
    carry: Carry,
}

impl Carry {
    fn get(&self, name: &str) -> Option<f64> {
        self.last.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    fn text(&self, name: &str) -> Option<Box<str>> {
        (self.texts.iter().find(|(n, _)| n == name)).map(|(_, t)| t.clone())
    }

    /// The carry as bytes, to survive a restart.
    pub fn to_bytes(&self) -> Vec<u8> {
        let saved = SavedCarry {
            v: STATE_VERSION,
            carry: self.clone(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Carry, StateError> {
        let saved: SavedCarry = serde_json::from_slice(bytes)?;
        check_version(saved.v)?;
        Ok(saved.carry)
    }
}

/// Why saved summary state could not be restored. The caller starts afresh either way;
/// the variant only tells the log line what happened.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("saved summary state is not valid json: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("saved summary state has version {found}, expected {STATE_VERSION}")]
    Version { found: u32 },
}

fn check_version(found: u32) -> Result<(), StateError> {
    if found == STATE_VERSION {
        Ok(())
    } else {
        Err(StateError::Version { found })
    }
}

/// One device's window in progress.
#[derive(Debug, Clone)]
pub struct DeviceWindow {
    start: Ms,
    end: Ms,
    /// One accumulator per point of the device, with the point it reports for.
    points: Vec<(Point, Acc)>,
    quality: Quality,
}

#[derive(Debug, Clone)]
enum Acc {
    Gauge(gauge::Gauge),
    Counter(counter::Counter),
    State(state::State),
    Event(event::Event),
    Text(text::Text),
}

impl DeviceWindow {
    /// A window `[start, end)` for `device`, continuing from `carry` (use
    /// `Carry::default()` for the first window after a start without saved state).
    pub fn new(device: &Device, start: Ms, end: Ms, carry: Carry) -> DeviceWindow {
        let points = device
            .points
            .iter()
            .map(|p| {
                let carried = carry.get(&p.name);
                let acc = match p.kind {
                    PointKind::Gauge => Acc::Gauge(gauge::Gauge::default()),
                    PointKind::Counter => Acc::Counter(counter::Counter::new(carried)),
                    PointKind::State | PointKind::Command => Acc::State(state::State::new(carried)),
                    PointKind::Event => {
                        let camera = matches!(p.source, PointSource::Json { .. });
                        Acc::Event(event::Event::new(carried, camera))
                    }
                    PointKind::Text => Acc::Text(text::Text::new(carry.text(&p.name))),
                };
                (p.clone(), acc)
            })
            .collect();
        DeviceWindow {
            start,
            end,
            points,
            quality: Quality::default(),
        }
    }

    pub fn start(&self) -> Ms {
        self.start
    }

    pub fn end(&self) -> Ms {
        self.end
    }

    /// Folds one sample in. `device` must be the device the window was made for; values
    /// pair with its points by position. The sample's timestamp is not checked: routing
    /// samples to windows is the caller's job.
    pub fn add(&mut self, device: &Device, sample: &Sample) {
        self.quality.polls += 1;
        if let Some(e) = &sample.error {
            self.quality.errors += 1;
            self.quality.last_error = Some(e.to_string());
        }
        let values = sample.values.iter();
        for ((point, acc), value) in device.points.iter().zip(&mut self.points).zip(values) {
            let Some(raw) = value.filter(|v| v.is_finite()) else {
                continue;
            };
            match &mut acc.1 {
                Acc::Gauge(g) => g.add(point.engineering(raw)),
                Acc::Counter(c) => c.add(raw, point.counter_modulus()),
                Acc::State(s) => s.add(raw),
                Acc::Event(e) => e.add(raw),
                // Text points have no number; their texts come below.
                Acc::Text(_) => {}
            }
        }
        for (i, text) in &sample.texts {
            if let Some((_, Acc::Text(t))) = self.points.get_mut(*i) {
                t.add(text);
            }
        }
    }

    /// Closes the window: its summary, and what the next window continues from.
    pub fn finish(self) -> (DeviceSummary, Carry) {
        let mut carry = Carry::default();
        let mut points = Vec::with_capacity(self.points.len());
        for (point, acc) in self.points {
            let (summary, last) = match &acc {
                Acc::Gauge(g) => (g.finish(), None),
                Acc::Counter(c) => (c.finish(&point), c.carry()),
                Acc::State(s) => (s.finish(&point), s.carry()),
                Acc::Event(e) => (e.finish(), e.carry()),
                Acc::Text(t) => {
                    if let Some(last) = t.carry() {
                        carry.texts.push((point.name.clone(), last));
                    }
                    (t.finish(), None)
                }
            };
            if let Some(v) = last {
                carry.last.push((point.name.clone(), v));
            }
            points.push((point.name, summary));
        }
        let summary = DeviceSummary {
            start: self.start,
            end: self.end,
            points,
            quality: self.quality,
        };
        (summary, carry)
    }
}

#[cfg(test)]
mod tests;
