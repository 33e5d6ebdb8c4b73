//! What the daemon knows right now, per device, for `sitewarden status` and the status
//! page: last poll, poll and error counts, the last error in words, the last engineering
//! values; the active alarms and zone occupancy.
//!
//! Ingest writes it (one short lock per sample; alarms on change; zones once a second);
//! the status socket and the HTTP page read it. Nothing on the data path reads it back.

use crate::reading::{Ms, PollError};
use crate::rules::Alarm;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Live {
    inner: Mutex<State>,
}

#[derive(Debug, Default, Clone)]
pub struct State {
    /// One per `Site::devices`, in order.
    pub devices: Vec<DeviceLive>,
    pub alarms: Vec<Alarm>,
    /// (zone, occupancy now).
    pub zones: Vec<(String, u64)>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeviceLive {
    /// Wall-clock ms of the last sample (0: none yet).
    pub last_poll: Ms,
    pub polls: u64,
    pub errors: u64,
    /// Did the last poll fail, wholly or in part?
    pub failing: bool,
    pub last_error: Option<String>,
    pub last_error_at: Ms,
    /// Last engineering value per point (a failed read keeps the previous one).
    pub values: Vec<Option<f64>>,
    /// Last text of each string point read so far, by point index.
    pub texts: Vec<(usize, Box<str>)>,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-sizes the device table (start, reload): counts restart for every device.
    pub fn resize(&self, devices: usize) {
        self.lock().devices = vec![DeviceLive::default(); devices];
    }

    /// One sample, its values already in engineering units.
    pub fn on_sample(
        &self,
        device: usize,
        ts: Ms,
        values: &[Option<f64>],
        error: Option<&PollError>,
    ) {
        let mut s = self.lock();
        let Some(d) = s.devices.get_mut(device) else {
            return;
        };
        d.last_poll = ts;
        d.polls += 1;
        d.failing = error.is_some();
        if let Some(e) = error {
            d.errors += 1;
            d.last_error = Some(describe(e));
            d.last_error_at = ts;
        }
        if d.values.len() != values.len() {
            d.values = vec![None; values.len()];
        }
        for (slot, v) in d.values.iter_mut().zip(values) {
            if v.is_some() {
                *slot = *v;
            }
        }
    }

    /// The texts of a sample's string points (after its `on_sample`); a point not read
    /// this time keeps its previous text.
    pub fn on_texts(&self, device: usize, texts: &[(usize, Box<str>)]) {
        let mut s = self.lock();
        let Some(d) = s.devices.get_mut(device) else {
            return;
        };
        for (point, text) in texts {
            match d.texts.iter_mut().find(|(p, _)| p == point) {
                Some((_, t)) => t.clone_from(text),
                None => d.texts.push((*point, text.clone())),
            }
        }
    }

    pub fn set_alarms(&self, alarms: Vec<Alarm>) {
        self.lock().alarms = alarms;
    }

    pub fn set_zones(&self, zones: Vec<(String, u64)>) {
        self.lock().zones = zones;
    }

    /// A copy, so readers hold the lock only for the copy.
    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }
}

/// A poll error spelled out for a technician.
pub fn describe(e: &PollError) -> String {
    match e {
        PollError::Timeout => "timeout: the device did not answer in time".into(),
        PollError::Transport(t) => format!("connection: {t}"),
        PollError::Exception(c) => format!(
            "the device answered with Modbus exception {c} ({})",
            PollError::exception_name(*c)
        ),
        PollError::Malformed(m) => format!("garbled answer: {m}"),
        PollError::Silent => "silent: no message or heartbeat in time".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_poll_keeps_the_last_values_and_names_the_error() {
        let live = Live::default();
        live.resize(2);
        live.on_sample(1, 1_000, &[Some(21.5), Some(40.0)], None);
        live.on_sample(1, 2_000, &[None, None], Some(&PollError::Exception(2)));
        live.on_sample(5, 2_000, &[None], None); // unknown device: ignored
        let s = live.snapshot();
        let d = &s.devices[1];
        assert_eq!(
            (d.polls, d.errors, d.failing, d.last_poll),
            (2, 1, true, 2_000)
        );
        assert_eq!(d.values, vec![Some(21.5), Some(40.0)]);
        assert_eq!(
            d.last_error.as_deref(),
            Some("the device answered with Modbus exception 2 (illegal data address)")
        );
        assert_eq!(s.devices[0], DeviceLive::default());
    }

    #[test]
    fn texts_keep_the_last_read_per_point() {
        let live = Live::default();
        live.resize(1);
        live.on_texts(0, &[(2, "SN-1".into()), (3, "TAG-7".into())]);
        live.on_texts(0, &[(3, "TAG-8".into())]);
        live.on_texts(4, &[(0, "x".into())]); // unknown device: ignored
        let d = &live.snapshot().devices[0];
        assert_eq!(d.texts, vec![(2, "SN-1".into()), (3, "TAG-8".into())]);
    }
}
