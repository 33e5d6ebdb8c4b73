//! Live values: every device with `live = {…}` has an `exception::Filter`; the reports it
//! lets through go to the uplink over a bounded channel, which publishes them at QoS 0
//! on `P/live/{device}`. Nothing here is stored: the window summaries stay the durable
//! record, so a report that finds the channel full (the uplink busy or gone) is dropped
//! and counted (`P/health` `dropped.live`), never waited for.

use super::exception::{Filter, Reason};
use crate::health::{self, Health};
use crate::reading::Ms;
use crate::site::Site;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Reports in flight between ingest and the uplink; a second's worth at a large site.
pub const CHANNEL: usize = 256;

/// One live report, as ingest decided it; the uplink renders and sends it.
#[derive(Debug, Clone)]
pub struct LiveReport {
    /// The site the values were read against (a reload may follow before it is sent).
    pub site: Arc<Site>,
    /// Index into `site.devices`.
    pub device: usize,
    /// When the values were read.
    pub ts: Ms,
    /// Engineering values, in profile order.
    pub values: Vec<Option<f64>>,
    pub reason: Reason,
}

/// Every device's filter, and the way out.
pub(super) struct Lives {
    filters: Vec<Option<Filter>>,
    out: Option<mpsc::Sender<LiveReport>>,
}

impl Lives {
    pub(super) fn new(site: &Site, out: Option<mpsc::Sender<LiveReport>>) -> Lives {
        let filters = (site.devices.iter())
            .map(|d| {
                let kinds = d.points.iter().map(|p| p.kind).collect();
                d.live.map(|l| Filter::new(l, kinds))
            })
            .collect();
        Lives { filters, out }
    }

    /// After a reload: devices start afresh (their first sample is reported).
    pub(super) fn reload(self, site: &Site) -> Lives {
        Lives::new(site, self.out)
    }

    pub(super) fn on_sample(
        &mut self,
        site: &Arc<Site>,
        device: usize,
        ts: Ms,
        values: &[Option<f64>],
        health: &Health,
    ) {
        let Some(Some(f)) = self.filters.get_mut(device) else {
            return;
        };
        if let Some(reason) = f.on_sample(ts, values) {
            self.send(site, device, ts, reason, health);
        }
    }

    /// Held changes whose `min_interval` is over, and keep-alives.
    pub(super) fn tick(&mut self, site: &Arc<Site>, now: Ms, health: &Health) {
        for device in 0..self.filters.len() {
            let due = match &mut self.filters[device] {
                Some(f) => f.on_tick(now),
                None => None,
            };
            if let Some(reason) = due {
                self.send(site, device, now, reason, health);
            }
        }
    }

    fn send(&mut self, site: &Arc<Site>, device: usize, now: Ms, reason: Reason, health: &Health) {
        let Some(Some(f)) = self.filters.get_mut(device) else {
            return;
        };
        let Some((ts, values)) = f.take(now) else {
            return;
        };
        let Some(out) = &self.out else {
            return;
        };
        let report = LiveReport {
            site: Arc::clone(site),
            device,
            ts,
            values,
            reason,
        };
        if out.try_send(report).is_err() {
            health::bump(&health.live_dropped);
        }
    }
}
