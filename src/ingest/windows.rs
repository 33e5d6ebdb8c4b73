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

    /// Follows a reloaded site: devices whose id and points are unchanged keep their open
    /// window; new or changed devices start an empty one; removed devices are dropped (their
    /// readings stay in the raw ring). A new interval applies from the next window on.
    pub(crate) fn reconfigure(&mut self, old: &Site, new: &Site) {
        let mut old_windows: Vec<Option<DeviceWindow>> = std::mem::take(&mut self.devices)
            .into_iter()
            .map(Some)
            .collect();
        self.devices = new
            .devices
            .iter()
            .map(|d| {
                let same = old
                    .devices
                    .iter()
                    .position(|o| o.id == d.id && o.points == d.points);
                same.and_then(|i| old_windows.get_mut(i).and_then(Option::take))
                    .unwrap_or_else(|| DeviceWindow::new(d, self.start, self.end, Carry::default()))
            })
            .collect();
        self.interval = new.uplink.summary_interval;
        // Held samples carry old device indices: re-index them by id.
        let held = std::mem::take(&mut self.held);
        self.held = held
            .into_iter()
            .filter_map(|mut s| {
                let id = &old.devices.get(s.device)?.id;
                s.device = new.device_index(id)?;
                Some(s)
            })
            .collect();
    }

    /// Closes the current window and opens the one holding `next_ts` (normally the
    /// very next window; later after a gap, so empty windows are skipped), replaying
    /// held samples into it. Samples held beyond the new window stay held.
    pub(crate) fn close(&mut self, site: &Site, next_ts: Ms) -> Closed {
        // After an interval change the first window may start unaligned (never before the
        // old end); it ends on the new grid and every later window is aligned.
        let next_start = start_of(next_ts.max(self.end), self.interval).max(self.end);
        let next_end = start_of(next_start, self.interval) + interval_ms(self.interval);
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
