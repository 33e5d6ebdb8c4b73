//! The open summary window of every device, and when it closes.
//!
//! One window `[start, end)` is open for the whole site (the interval is site-wide and
//! aligned to the wall clock). A sample belongs to the window its `ts` falls in; `ts` is
//! the poll's tick, so a reply that arrives a little after `end` still belongs to the
//! window before. That is why a window closes only `grace` after its end, and samples of
//! the next window that arrive meanwhile are held and replayed into it.

use crate::reading::{Ms, Sample};
use crate::site::Site;
use crate::summary::window::{interval_ms, start_of};
use crate::summary::{Carry, DeviceSummary, DeviceWindow};

pub(crate) struct Windows {
    interval: std::time::Duration,
    pub(crate) start: Ms,
    pub(crate) end: Ms,
    devices: Vec<DeviceWindow>,
    /// Samples with `ts >= end`, waiting for the next window.
    held: Vec<Sample>,
    /// Samples folded into the current window.
    pub(crate) seen: u64,
}

/// What closing a window produced.
pub(crate) struct Closed {
    pub(crate) end: Ms,
    pub(crate) summaries: Vec<(usize, DeviceSummary)>,
    /// Per device, what the next window continues from (persisted with the summaries).
    pub(crate) carries: Vec<Carry>,
}

impl Windows {
    pub(crate) fn new(site: &Site, start: Ms, carries: Vec<Carry>) -> Windows {
        let interval = site.uplink.summary_interval;
        let end = start + interval_ms(interval);
        let mut carries = carries.into_iter();
        let devices = site
            .devices
            .iter()
            .map(|d| DeviceWindow::new(d, start, end, carries.next().unwrap_or_default()))
            .collect();
        Windows {
            interval,
            start,
            end,
            devices,
            held: Vec::new(),
            seen: 0,
        }
    }

    pub(crate) fn add(&mut self, site: &Site, sample: &Sample) {
        if sample.ts >= self.end {
            self.held.push(sample.clone());
            return;
        }
        if let (Some(w), Some(d)) = (
            self.devices.get_mut(sample.device),
            site.devices.get(sample.device),
        ) {
            w.add(d, sample);
            self.seen += 1;
        }
    }

    /// Closes the current window and opens the one holding `next_ts` (normally the
    /// very next window; later after a gap, so empty windows are skipped), replaying
    /// held samples into it. Samples held beyond the new window stay held.
    pub(crate) fn close(&mut self, site: &Site, next_ts: Ms) -> Closed {
        let next_start = start_of(next_ts.max(self.end), self.interval);
        let next_end = next_start + interval_ms(self.interval);
        let mut summaries = Vec::with_capacity(self.devices.len());
        let mut carries = Vec::with_capacity(self.devices.len());
        let old = std::mem::take(&mut self.devices);
        for (i, (w, d)) in old.into_iter().zip(&site.devices).enumerate() {
            let (summary, carry) = w.finish();
            summaries.push((i, summary));
            self.devices
                .push(DeviceWindow::new(d, next_start, next_end, carry.clone()));
            carries.push(carry);
        }
        let closed = Closed {
            end: self.end,
            summaries,
            carries,
        };
        self.start = next_start;
        self.end = next_end;
        self.seen = 0;
        for s in std::mem::take(&mut self.held) {
            self.add(site, &s);
        }
        closed
    }
}
