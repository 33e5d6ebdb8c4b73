//! The demo's story: a day at the site in four minutes, as raw device numbers and camera
//! messages.
//!
//! Owns everything the simulated devices "measure": the visitor flow through the
//! turnstiles (a morning rush, a midday peak near capacity, the evening exit), kiosk scans
//! with an occasional fever, thermometers following the sun, a tidal river whose meter
//! freezes once and spikes once a day, a thermometer that loses power for a while, forced
//! entries, tailgating and camera counts with an intrusion. The compressed clock
//! (`SiteTime`) and the tables of when what happens are in `script`; this file plays them.
//! `story` (tests) plays a whole day through the real rule engine.
//!
//! Pure and deterministic for a seed: time arrives as the real milliseconds since the
//! demo started (and `now` for the camera messages' `ts`); nothing here reads a clock,
//! touches a socket or knows how registers are encoded. `driver.rs` applies each
//! [`Frame`] to the simulated servers and cameras.
//!
//! The first day begins at the opening: a fever scan on `kiosk-n1` four seconds in makes
//! the first alarm, so even a 20 s run shows one. After the day comes a night played in
//! real time: the bars of the bar street turn loud, and the night patrol taps its tag
//! readers by the gateway's local time (`now` and the site's UTC offset): a round that
//! completes, one that leaves a checkpoint out, one that completes again.

mod script;

pub(crate) use script::{CAMERAS, DAY_MS, SiteTime};

use super::layout::{DEVICES, ZONES};
use crate::reading::Ms;
use crate::sim::camera::{intrusion_payload, people_count_payload};
use crate::sim::rng::Rng;
use script::*;

/// What the devices read now: everything `driver.rs` applies in one go.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Frame {
    /// Raw device numbers (before scale): (device, point, raw).
    pub(crate) writes: Vec<(&'static str, &'static str, f64)>,
    /// Devices that do not answer now; every other device answers.
    pub(crate) silent: Vec<&'static str>,
    /// Messages to publish on a camera's events topic: (camera, payload).
    pub(crate) camera: Vec<(&'static str, String)>,
}

/// A turnstile's counters: u32 lifetime totals, as the device keeps them.
#[derive(Debug, Clone)]
struct Gate {
    id: &'static str,
    zone: usize,
    weight: f64,
    entries: u64,
    exits: u64,
    passed: bool,
}

/// One zone's visitor flow.
#[derive(Debug, Clone, Default)]
struct Flow {
    inside: u64,
    owed_in: f64,
    owed_out: f64,
}

#[derive(Debug, Clone)]
struct Kiosk {
    id: &'static str,
    scans: u64,
    /// The last body temperature, in °C; the kiosk repeats it until the next scan.
    temp: f64,
    next_scan_ms: u64,
}

/// The whole simulated site.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    rng: Rng,
    elapsed_ms: u64,
    gates: Vec<Gate>,
    flows: Vec<Flow>,
    kiosks: Vec<Kiosk>,
    river: f64,
    next_camera_ms: u64,
    /// The site's offset east of UTC, seconds: the night's taps follow local time.
    utc_offset_s: i64,
    /// `now` at the previous step, to see which taps fell in between.
    last_now: Option<Ms>,
    /// Each tag reader's tap counter and the last tag read, by `READERS` index.
    readers: Vec<(u64, u32)>,
}

/// The tag readers on the patrol route (Modbus: a tap counter and the last tag).
pub(crate) const READERS: [&str; 4] =
    ["tag-gate", "tag-bridge", "tag-bar-street", "tag-old-street"];

impl Scenario {
    pub(crate) fn new(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let gates = DEVICES
            .iter()
            .filter(|d| d.profile == "turnstile")
            .enumerate()
            .map(|(i, d)| Gate {
                id: d.id,
                zone: ZONES
                    .iter()
                    .position(|z| Some(z.name) == d.zone)
                    .unwrap_or(0),
                weight: 1.4 - 0.07 * i as f64,
                // Lifetime totals from years of service; gate-s4's entries are about to
                // wrap around, as a u32 counter does.
                entries: if d.id == "gate-s4" {
                    u64::from(u32::MAX) - 150
                } else {
                    rng.below(2_000_000) + 150_000
                },
                exits: rng.below(2_000_000) + 150_000,
                passed: false,
            })
            .collect();
        let kiosks = DEVICES
            .iter()
            .filter(|d| d.profile == "fever-kiosk")
            .map(|d| Kiosk {
                id: d.id,
                scans: rng.below(90_000),
                temp: 36.6,
                next_scan_ms: 1_000 + rng.below(1_500),
            })
            .collect();
        Scenario {
            rng,
            elapsed_ms: 0,
            gates,
            flows: vec![Flow::default(); ZONES.len()],
            kiosks,
            river: river_level(OPEN_MIN, 0.0),
            next_camera_ms: CAMERA_EVERY_MS,
            utc_offset_s: 0,
            last_now: None,
            // Readers count taps from their last power-up; no tag read yet.
            readers: (0..READERS.len()).map(|i| (40 + 7 * i as u64, 0)).collect(),
        }
    }

    /// The same story for a site `secs` east of UTC (the night follows its local time).
    pub(crate) fn with_offset(mut self, secs: i64) -> Scenario {
        self.utc_offset_s = secs;
        self
    }

    /// Visitors inside each zone now, by `ZONES` index.
    #[cfg(test)]
    fn inside(&self) -> Vec<u64> {
        self.flows.iter().map(|f| f.inside).collect()
    }

    /// Advances the story to `elapsed_ms` after the start and returns what every device
    /// reads then. `now` only stamps the camera messages.
    pub(crate) fn step(&mut self, elapsed_ms: u64, now: Ms) -> Frame {
        let before = self.elapsed_ms.min(elapsed_ms);
        self.elapsed_ms = elapsed_ms;
        let t = SiteTime::at(elapsed_ms);
        let mut frame = Frame::default();
        self.visitors(before, elapsed_ms, t);
        self.kiosks(before, elapsed_ms, &mut frame);
        self.turnstiles(t, &mut frame);
        self.climate(t, &mut frame);
        self.river(elapsed_ms, t, &mut frame);
        self.cameras(before, elapsed_ms, now, &mut frame);
        self.bar_street(elapsed_ms, &mut frame);
        self.patrol(now, &mut frame);
        frame.silent.extend(active(SILENT, t.minute));
        frame
    }

    /// Street noise in the day; loud bars in the first minutes of the night.
    fn bar_street(&self, elapsed_ms: u64, frame: &mut Frame) {
        let loud = SiteTime::into_night(elapsed_ms)
            .is_some_and(|ms| (BARS_LOUD_MS.0..BARS_LOUD_MS.1).contains(&ms));
        let dba = if loud { BARS_DBA } else { STREET_DBA };
        frame
            .writes
            .push(("noise-bar-street", "noise_dba", dba * 10.0));
    }

    /// The patrol's taps that fell between the last step and `now`, local time.
    fn patrol(&mut self, now: Ms, frame: &mut Frame) {
        let local = |ms: Ms| (ms.div_euclid(1000) + self.utc_offset_s).rem_euclid(86_400);
        if let Some(before) = self.last_now.filter(|&b| b < now) {
            let (from, to) = (local(before), local(now));
            for &(at, reader, tag) in TAPS {
                let at = i64::from(at);
                let crossed = if from <= to {
                    from < at && at <= to
                } else {
                    at > from || at <= to
                };
                if let (true, Some(r)) = (crossed, READERS.iter().position(|&x| x == reader)) {
                    self.readers[r].0 += 1;
                    self.readers[r].1 = tag;
                }
            }
        }
        self.last_now = Some(now);
        for (id, &(taps, tag)) in READERS.iter().zip(&self.readers) {
            frame.writes.push((id, "taps", taps as f64));
            frame.writes.push((id, "tag", f64::from(tag)));
        }
    }

    /// Moves visitors in and out so each zone follows its crowd curve, with a steady
    /// turnover of visitors leaving, spread over the zone's gates by weight.
    fn visitors(&mut self, from_ms: u64, to_ms: u64, t: SiteTime) {
        let dt_min = (to_ms - from_ms) as f64 * SIM_MIN_PER_MS;
        for g in &mut self.gates {
            g.passed = false;
        }
        for (z, zone) in ZONES.iter().enumerate() {
            let peak = PEAK.iter().find(|p| p.0 == zone.name).map_or(0.9, |p| p.1);
            let target = interpolate(CROWD, t.minute / 60.0) * peak * zone.capacity as f64;
            let flow = &mut self.flows[z];
            let turnover = flow.inside as f64 * dt_min / STAY_MIN;
            let wanted = target - flow.inside as f64 + turnover;
            let (ins, outs) = if wanted >= 0.0 {
                (wanted, turnover)
            } else {
                (0.0, turnover - wanted)
            };
            flow.owed_in += ins;
            flow.owed_out += outs;
            let n_in = flow.owed_in.floor();
            flow.owed_in -= n_in;
            let n_out = flow.owed_out.floor().min(flow.inside as f64 + n_in);
            flow.owed_out -= flow.owed_out.floor();
            flow.inside = (flow.inside as f64 + n_in - n_out) as u64;
            let weights: Vec<f64> = self
                .gates
                .iter()
                .map(|g| if g.zone == z { g.weight } else { 0.0 })
                .collect();
            for _ in 0..n_in as u64 {
                let g = &mut self.gates[self.rng.pick(&weights)];
                g.entries += 1;
                g.passed = true;
            }
            for _ in 0..n_out as u64 {
                let g = &mut self.gates[self.rng.pick(&weights)];
                g.exits += 1;
                g.passed = true;
            }
        }
    }

    fn turnstiles(&self, t: SiteTime, frame: &mut Frame) {
        for g in &self.gates {
            let held = active(HELD_OPEN, t.minute).any(|id| id == g.id);
            let status = if held {
                2.0
            } else {
                f64::from(u8::from(g.passed))
            };
            let forced = active(FORCED_ENTRY, t.minute).any(|id| id == g.id);
            let tailgating = active(TAILGATING, t.minute).any(|id| id == g.id);
            frame.writes.extend([
                (g.id, "entries", (g.entries % (1 << 32)) as f64),
                (g.id, "exits", (g.exits % (1 << 32)) as f64),
                (g.id, "status", status),
                (g.id, "forced_entry", f64::from(u8::from(forced))),
                (g.id, "tailgating", f64::from(u8::from(tailgating))),
            ]);
        }
    }

    /// Scans every couple of seconds with a healthy temperature, and the scheduled fevers.
    fn kiosks(&mut self, from_ms: u64, to_ms: u64, frame: &mut Frame) {
        for k in &mut self.kiosks {
            let fever = FEVERS
                .iter()
                .filter(|(id, _, _)| *id == k.id)
                .find(|(_, minute, _)| crosses(*minute, from_ms, to_ms));
            if let Some((_, _, temp)) = fever {
                k.scans += 1;
                k.temp = *temp;
                // Give the poller time to see the fever before the next person steps up.
                k.next_scan_ms = to_ms + 2_000;
            } else if to_ms >= k.next_scan_ms {
                k.scans += 1;
                k.temp = 36.3 + self.rng.below(7) as f64 / 10.0;
                k.next_scan_ms = to_ms + 1_500 + self.rng.below(2_000);
            }
            frame.writes.extend([
                (k.id, "body_temp", (k.temp * 100.0).round()),
                (k.id, "scans", (k.scans % (1 << 32)) as f64),
            ]);
        }
    }

    /// Air temperature warms towards mid-afternoon; humidity falls as it does.
    fn climate(&mut self, t: SiteTime, frame: &mut Frame) {
        let warmth = 0.5 - 0.5 * (std::f64::consts::TAU * (t.minute / 60.0 - 5.0) / 19.0).cos();
        for &(id, dawn, gain, rh) in THERMOMETERS {
            let noise = (self.rng.below(5) as f64 - 2.0) / 10.0;
            let temp = dawn + gain * warmth + noise;
            let humidity = (rh - 25.0 * warmth * gain / 12.0 + noise).clamp(5.0, 99.0);
            frame.writes.extend([
                (id, "temperature", (temp * 10.0).round()),
                (id, "humidity", (humidity * 10.0).round()),
            ]);
        }
    }

    fn river(&mut self, elapsed_ms: u64, t: SiteTime, frame: &mut Frame) {
        let frozen = (RIVER_FROZEN.0..RIVER_FROZEN.1).contains(&t.minute);
        if !frozen {
            let noise = (self.rng.below(21) as f64 - 10.0) / 1000.0;
            self.river = match SiteTime::into_night(elapsed_ms) {
                // Through the night the tide goes from the evening's level to the
                // morning's, so the next day does not start with a jump.
                Some(ms) => {
                    let (evening, morning) =
                        (river_level(CLOSE_MIN, 0.0), river_level(OPEN_MIN, 0.0));
                    evening + (morning - evening) * ms as f64 / NIGHT_MS as f64 + noise
                }
                None => river_level(t.minute, noise),
            };
        }
        let spike = (RIVER_SPIKE.0..RIVER_SPIKE.1).contains(&t.minute);
        let level = if spike { self.river + 1.5 } else { self.river };
        frame.writes.push(("river-level", "level_m", level));
    }

    fn cameras(&mut self, from_ms: u64, to_ms: u64, now: Ms, frame: &mut Frame) {
        for &(cam, minute, confidence) in INTRUSIONS {
            if crosses(minute, from_ms, to_ms)
                && let Some(&(_, area, _, _)) = CAMERAS.iter().find(|c| c.0 == cam)
            {
                frame
                    .camera
                    .push((cam, intrusion_payload(area, confidence, now)));
            }
        }
        if to_ms < self.next_camera_ms {
            return;
        }
        self.next_camera_ms = to_ms + CAMERA_EVERY_MS;
        for &(cam, area, zone, share) in CAMERAS {
            let inside = ZONES
                .iter()
                .position(|z| z.name == zone)
                .map_or(0, |z| self.flows[z].inside);
            let jitter = self.rng.below(7) as f64 - 3.0;
            let count = (inside as f64 * share + jitter).max(0.0).round() as u64;
            frame
                .camera
                .push((cam, people_count_payload(area, count, now)));
        }
    }
}

#[cfg(test)]
mod story;
#[cfg(test)]
mod tests;
