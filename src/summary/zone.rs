//! Zone occupancy: how many visitors are inside each zone, from its turnstiles.
//!
//! A zone's gates are the devices with `zone = name` that have both an `entries` and an
//! `exits` point. Each gate's counters feed increments through the same rollover- and
//! reset-aware [`super::step`] as the window summaries; the first reading of a gate only
//! sets its baseline (a counter's lifetime total is not today's visitors). Occupancy is
//! entries minus exits since the zone's daily reset (`Zone::daily_reset`, a time of day
//! in the site's time zone, daylight saving included), summed over the gates and never negative: an exit that would take it below
//! zero leaves it at 0 and is counted as a clamp (a visitor who came in before the reset,
//! or a miscounting gate).
//!
//! Flows (entries, exits, clamps) are kept per summary window until [`ZoneTracker::close`]
//! reports them, so a sample that arrives after its window closed is reported with the
//! next window instead of being lost. Occupancy is live (the capacity rules judge it at
//! once), but a window closes only a grace after its end, when the next window's first
//! readings are already counted: so the first reading of each new window notes the
//! occupancy at that window's start, readings stamped before it still add to the note,
//! and `close` reports the note, not the live value. The whole state (occupancy, gate baselines, open
//! windows, the last minute of entries) exports with [`ZoneTracker::to_bytes`], so a
//! restart does not zero occupancy, and the first reading after it counts the visitors
//! who passed while the daemon was down.
//!
//! Pure: time arrives in samples and as `now`; nothing here reads the clock.

use super::{STATE_VERSION, StateError, check_version, step, window};
use crate::localtime::LocalZone;
use crate::reading::{Ms, Sample};
use crate::site::{Device, Site};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

const DAY_MS: Ms = 86_400_000;
const MINUTE_MS: Ms = 60_000;

/// One zone over one window, ready to publish on `P/zone/{zone}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSummary {
    pub zone: String,
    pub start: Ms,
    /// Exclusive.
    pub end: Ms,
    /// Visitors in and out through all the zone's gates during the window.
    pub entries: u64,
    pub exits: u64,
    /// Visitors inside at the end of the window.
    pub occupancy: u64,
    pub capacity: u64,
    /// `occupancy / capacity` as a share (0.95 = 95 %); `None` for a capacity of 0.
    pub utilisation: Option<f64>,
    /// Exits during the window that would have taken occupancy below zero.
    pub clamped: u64,
}

/// Occupancy of every zone of a site.
#[derive(Debug, Clone)]
pub struct ZoneTracker {
    interval: Duration,
    zones: Vec<ZoneState>,
    /// Per device index: the (zone, gate) it feeds, if it is a gate.
    by_device: Vec<Option<(usize, usize)>>,
}

#[derive(Debug, Clone)]
struct ZoneState {
    name: String,
    capacity: u64,
    /// Seconds after local midnight at which occupancy restarts from 0.
    reset_secs: u32,
    /// The site's time zone, in which `reset_secs` is read (daylight saving included).
    tz: LocalZone,
    gates: Vec<Gate>,
    /// The reset instant that began the current period; `None` until the first update.
    period_start: Option<Ms>,
    occupancy: u64,
    /// Flows per window start, not yet reported by `close`.
    pending: BTreeMap<Ms, Flow>,
    /// Occupancy at the start of windows that have readings, by window start (the end
    /// of the window before), kept until the window ending there closes.
    ends: BTreeMap<Ms, u64>,
    /// Entries of the last minute, as (ts, count), oldest first; for the surge rule.
    recent: VecDeque<(Ms, u64)>,
}

#[derive(Debug, Clone)]
struct Gate {
    device_id: String,
    entries: usize,
    exits: usize,
    /// Last raw counter values, the baseline for the next increment.
    entries_prev: Option<f64>,
    exits_prev: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Flow {
    entries: u64,
    exits: u64,
    clamped: u64,
}

impl ZoneTracker {
    /// Every zone of `site` with occupancy 0 and no gate baselines.
    pub fn new(site: &Site) -> ZoneTracker {
        let mut by_device = vec![None; site.devices.len()];
        let zones = site
            .zones
            .iter()
            .enumerate()
            .map(|(z, zone)| {
                let mut gates = Vec::new();
                for (d, dev) in site.devices.iter().enumerate() {
                    if let Some(gate) = Gate::of(dev, &zone.name) {
                        by_device[d] = Some((z, gates.len()));
                        gates.push(gate);
                    }
                }
                ZoneState {
                    name: zone.name.clone(),
                    capacity: zone.capacity,
                    reset_secs: (zone.daily_reset.as_secs() % (DAY_MS as u64 / 1000)) as u32,
                    tz: site.gateway.timezone.clone(),
                    gates,
                    period_start: None,
                    occupancy: 0,
                    pending: BTreeMap::new(),
                    ends: BTreeMap::new(),
                    recent: VecDeque::new(),
                }
            })
            .collect();
        ZoneTracker {
            interval: site.uplink.summary_interval,
            zones,
            by_device,
        }
    }

    /// Feeds one sample; samples of devices that are not gates are ignored. Applies a
    /// daily reset due at the sample's timestamp first.
    pub fn add(&mut self, site: &Site, sample: &Sample) {
        let Some(&Some((z, g))) = self.by_device.get(sample.device) else {
            return;
        };
        let Some(device) = site.devices.get(sample.device) else {
            return;
        };
        let start = window::start_of(sample.ts, self.interval);
        let zone = &mut self.zones[z];
        zone.note_start(start);
        zone.roll(sample.ts);
        let gate = &mut zone.gates[g];
        let value = |i: usize| sample.values.get(i).copied().flatten();
        let entries = increment(
            device,
            gate.entries,
            &mut gate.entries_prev,
            value(gate.entries),
        );
        let exits = increment(device, gate.exits, &mut gate.exits_prev, value(gate.exits));
        zone.apply(sample.ts, start, entries, exits);
    }

    /// Applies the daily resets due by `now` to every zone. `add` and `close` do this
    /// themselves; call it on a timer so `occupancy` drops at the reset even when no gate
    /// reports.
    pub fn roll(&mut self, now: Ms) {
        for zone in &mut self.zones {
            zone.roll(now);
        }
    }

    /// Closes the window `[start, end)` of every zone: its flows (plus any from earlier
    /// windows that arrived late) and the occupancy at its last instant.
    pub fn close(&mut self, start: Ms, end: Ms) -> Vec<ZoneSummary> {
        self.zones
            .iter_mut()
            .map(|zone| {
                zone.roll(end.saturating_sub(1));
                let occupancy = zone
                    .ends
                    .range(end..)
                    .next()
                    .map_or(zone.occupancy, |(_, &o)| o);
                zone.ends = zone.ends.split_off(&end.saturating_add(1));
                let later = zone.pending.split_off(&end);
                let done = std::mem::replace(&mut zone.pending, later);
                let flow = done.values().fold(Flow::default(), |a, f| Flow {
                    entries: a.entries + f.entries,
                    exits: a.exits + f.exits,
                    clamped: a.clamped + f.clamped,
                });
                ZoneSummary {
                    zone: zone.name.clone(),
                    start,
                    end,
                    entries: flow.entries,
                    exits: flow.exits,
                    occupancy,
                    capacity: zone.capacity,
                    utilisation: (zone.capacity > 0)
                        .then(|| occupancy as f64 / zone.capacity as f64),
                    clamped: flow.clamped,
                }
            })
            .collect()
    }

    /// Visitors inside `zone` now; `None` for an unknown zone.
    pub fn occupancy(&self, zone: &str) -> Option<u64> {
        self.zone(zone).map(|z| z.occupancy)
    }

    /// Entries into `zone` during the minute up to and including `now`; `None` for an
    /// unknown zone.
    pub fn entries_per_min(&self, zone: &str, now: Ms) -> Option<u64> {
        let z = self.zone(zone)?;
        let from = now.saturating_sub(MINUTE_MS);
        Some(
            z.recent
                .iter()
                .filter(|&&(ts, _)| ts > from && ts <= now)
                .map(|&(_, n)| n)
                .sum(),
        )
    }

    fn zone(&self, name: &str) -> Option<&ZoneState> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// The whole state as bytes, to survive a restart.
    pub fn to_bytes(&self) -> Vec<u8> {
        let saved = Saved {
            v: STATE_VERSION,
            zones: self.zones.iter().map(SavedZone::of).collect(),
        };
        // Serialising plain numbers and strings into memory cannot fail.
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// A tracker for `site` that continues from saved state. Zones and gates are matched
    /// by name and device id; those no longer configured are dropped, new ones start
    /// afresh, and capacities come from `site`.
    pub fn from_bytes(site: &Site, bytes: &[u8]) -> Result<ZoneTracker, StateError> {
        let saved: Saved = serde_json::from_slice(bytes)?;
        check_version(saved.v)?;
        let mut tracker = ZoneTracker::new(site);
        for sz in saved.zones {
            let Some(zone) = tracker.zones.iter_mut().find(|z| z.name == sz.name) else {
                continue;
            };
            zone.period_start = sz.period_start;
            zone.occupancy = sz.occupancy;
            zone.pending = sz.pending.into_iter().collect();
            zone.ends = sz.ends.into_iter().collect();
            zone.recent = sz.recent.into();
            for sg in sz.gates {
                if let Some(gate) = zone.gates.iter_mut().find(|g| g.device_id == sg.device) {
                    gate.entries_prev = sg.entries_prev;
                    gate.exits_prev = sg.exits_prev;
                }
            }
        }
        Ok(tracker)
    }
}

/// The saved form of a `ZoneTracker`, versioned with `STATE_VERSION`.
#[derive(Serialize, Deserialize)]
struct Saved {
    v: u32,
    zones: Vec<SavedZone>,
}

#[derive(Serialize, Deserialize)]
struct SavedZone {
    name: String,
    period_start: Option<Ms>,
    occupancy: u64,
    pending: Vec<(Ms, Flow)>,
    /// Absent in state saved before it existed.
    #[serde(default)]
    ends: Vec<(Ms, u64)>,
    recent: Vec<(Ms, u64)>,
    gates: Vec<SavedGate>,
}

#[derive(Serialize, Deserialize)]
struct SavedGate {
    device: String,
    entries_prev: Option<f64>,
    exits_prev: Option<f64>,
}

impl SavedZone {
    fn of(z: &ZoneState) -> SavedZone {
        SavedZone {
            name: z.name.clone(),
            period_start: z.period_start,
            occupancy: z.occupancy,
            pending: z.pending.iter().map(|(&k, &f)| (k, f)).collect(),
            ends: z.ends.iter().map(|(&k, &o)| (k, o)).collect(),
            recent: z.recent.iter().copied().collect(),
            gates: z
                .gates
                .iter()
                .map(|g| SavedGate {
                    device: g.device_id.clone(),
                    entries_prev: g.entries_prev,
                    exits_prev: g.exits_prev,
                })
                .collect(),
        }
    }
}

/// The increment (engineering units, whole visitors) of counter point `index` from its
/// baseline `prev` to `raw`, moving the baseline; 0 without a value or a baseline.
fn increment(device: &Device, index: usize, prev: &mut Option<f64>, raw: Option<f64>) -> u64 {
    let Some(raw) = raw.filter(|v| v.is_finite()) else {
        return 0;
    };
    let Some(point) = device.points.get(index) else {
        return 0;
    };
    let inc = prev.map_or(0.0, |p| step(p, raw, point.counter_modulus()).increment());
    *prev = Some(raw);
    // The offset cancels in a difference; only the scale applies. The cast saturates.
    (point.engineering(inc) - point.offset).round().max(0.0) as u64
}

impl Gate {
    fn of(device: &Device, zone: &str) -> Option<Gate> {
        if device.zone.as_deref() != Some(zone) {
            return None;
        }
        Some(Gate {
            device_id: device.id.clone(),
            entries: device.point_index("entries")?,
            exits: device.point_index("exits")?,
            entries_prev: None,
            exits_prev: None,
        })
    }
}

impl ZoneState {
    /// Starts a new period, with occupancy 0, when a reset instant has passed since the
    /// current one began. Time going backwards changes nothing.
    fn roll(&mut self, now: Ms) {
        let last_reset = self.tz.last_at(now, self.reset_secs);
        match self.period_start {
            Some(p) if p >= last_reset => {}
            Some(_) => {
                self.occupancy = 0;
                self.period_start = Some(last_reset);
            }
            None => self.period_start = Some(last_reset),
        }
    }

    /// The first reading of a window later than any noted notes the occupancy at its
    /// start, after the resets due before it.
    fn note_start(&mut self, window_start: Ms) {
        if self
            .ends
            .last_key_value()
            .is_some_and(|(&noted, _)| noted >= window_start)
        {
            return;
        }
        self.roll(window_start.saturating_sub(1));
        self.ends.insert(window_start, self.occupancy);
    }

    fn apply(&mut self, ts: Ms, window_start: Ms, entries: u64, exits: u64) {
        let before = self.occupancy;
        let inside = self.occupancy.saturating_add(entries);
        let clamped = exits > inside;
        self.occupancy = inside.saturating_sub(exits);
        // A reading stamped before a noted window start still counts in that note.
        for noted in self.ends.range_mut(ts.saturating_add(1)..).map(|(_, o)| o) {
            *noted = (*noted + self.occupancy).saturating_sub(before);
        }
        let flow = self.pending.entry(window_start).or_default();
        flow.entries += entries;
        flow.exits += exits;
        flow.clamped += u64::from(clamped);
        // Gates polled at the same tick share one entry: a minute holds at most one per
        // tick, whatever the number of gates (the saved state is rewritten every window).
        match self.recent.back_mut() {
            Some((t, n)) if *t == ts => *n += entries,
            _ if entries > 0 => self.recent.push_back((ts, entries)),
            _ => {}
        }
        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t <= ts.saturating_sub(MINUTE_MS))
        {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
