//! The demo's story: a day at the site in four minutes, as raw device numbers and camera
//! messages.
//!
//! Owns the compressed clock (`SiteTime`) and everything the simulated devices "measure":
//! the visitor flow through the turnstiles (a morning rush, a midday peak near capacity,
//! the evening exit), kiosk scans with an occasional fever, thermometers following the
//! sun, a tidal river with one frozen hour and one spike a day, a thermometer that loses
//! power for a while, forced entries, tailgating and camera counts with an intrusion.
//!
//! Pure and deterministic for a seed: time arrives as the real milliseconds since the
//! demo started (and `now` for the camera messages' `ts`); nothing here reads a clock,
//! touches a socket or knows how registers are encoded. `driver.rs` applies each
//! [`Frame`] to the simulated servers and cameras.
//!
//! The first day begins at the opening: a fever scan on `kiosk-n1` four seconds in makes
//! the first alarm, so even a 20 s run shows one.

use super::layout::{DEVICES, NORTH, SOUTH, ZONES};
use crate::reading::Ms;
use crate::sim::camera::{intrusion_payload, people_count_payload};
use std::fmt;

/// Real milliseconds of one simulated opening day, 06:00 to 20:00; the night is skipped.
pub(crate) const DAY_MS: u64 = 240_000;
const OPEN_MIN: f64 = 6.0 * 60.0;
const CLOSE_MIN: f64 = 20.0 * 60.0;
/// Simulated minutes per real millisecond (3.5 minutes a second).
const SIM_MIN_PER_MS: f64 = (CLOSE_MIN - OPEN_MIN) / DAY_MS as f64;

/// A moment of the compressed day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SiteTime {
    /// 1 for the first day.
    pub(crate) day: u32,
    /// Minutes after midnight, from 06:00 (360) to just before 20:00 (1200).
    pub(crate) minute: f64,
}

impl SiteTime {
    pub(crate) fn at(elapsed_ms: u64) -> SiteTime {
        SiteTime {
            day: (elapsed_ms / DAY_MS) as u32 + 1,
            minute: OPEN_MIN + (elapsed_ms % DAY_MS) as f64 * SIM_MIN_PER_MS,
        }
    }

    /// What the site is going through, for the live view's header.
    pub(crate) fn phase(self) -> &'static str {
        match self.minute / 60.0 {
            h if h < 8.0 => "opening",
            h if h < 10.5 => "morning rush",
            h if h < 14.0 => "midday peak",
            h if h < 16.5 => "afternoon",
            h if h < 19.0 => "evening exit",
            _ => "closing",
        }
    }
}

impl fmt::Display for SiteTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.minute as u32;
        write!(f, "day {} {:02}:{:02}", self.day, m / 60, m % 60)
    }
}

/// Visitors inside a zone over the day, as a share of its peak: (hour, share).
const CROWD: &[(f64, f64)] = &[
    (6.0, 0.0),
    (7.0, 0.03),
    (8.0, 0.12),
    (9.0, 0.40),
    (10.0, 0.62),
    (11.0, 0.80),
    (12.0, 0.95),
    (12.75, 1.0),
    (13.5, 0.97),
    (14.5, 0.85),
    (15.5, 0.70),
    (16.5, 0.55),
    (17.5, 0.35),
    (18.5, 0.12),
    (19.25, 0.03),
    (20.0, 0.0),
];

/// The peak occupancy of each zone as a share of its capacity: the north stays below
/// its critical level (a warning), the south overflows a little (critical).
const PEAK: &[(&str, f64)] = &[(NORTH, 0.92), (SOUTH, 1.03)];
/// Mean visit length, in simulated minutes: the turnover that keeps gates busy at noon.
const STAY_MIN: f64 = 90.0;

/// Linear interpolation in a table of (x, y) sorted by x, flat outside it.
pub(crate) fn interpolate(table: &[(f64, f64)], x: f64) -> f64 {
    let Some(&(x0, y0)) = table.first() else {
        return 0.0;
    };
    if x <= x0 {
        return y0;
    }
    for w in table.windows(2) {
        let ((xa, ya), (xb, yb)) = (w[0], w[1]);
        if x <= xb {
            return ya + (yb - ya) * (x - xa) / (xb - xa);
        }
    }
    table.last().map_or(0.0, |&(_, y)| y)
}

/// Scheduled happenings, in simulated minutes of every day: `(device, from, to)`.
const FORCED_ENTRY: &[(&str, f64, f64)] = &[("gate-n3", 640.0, 650.0), ("gate-s2", 1040.0, 1050.0)];
const TAILGATING: &[(&str, f64, f64)] = &[("gate-n6", 560.0, 570.0), ("gate-s1", 790.0, 800.0)];
/// A gate held open for a wheelchair group around noon.
const HELD_OPEN: &[(&str, f64, f64)] = &[("gate-n5", 720.0, 745.0)];
/// A thermometer's supply fails for 45 minutes.
const SILENT: &[(&str, f64, f64)] = &[("th-museum", 840.0, 885.0)];
/// The river meter freezes for 70 minutes (20 s, more than the flatline rule's 12 s)
/// at mid-tide. The level keeps falling meanwhile, so the spike rule's window holds
/// readings on both sides of the frozen one and the thaw is not taken for a spike (a
/// freeze near slack water would leave a tight cluster that makes the next rise look
/// like one).
const RIVER_FROZEN: (f64, f64) = (697.0, 767.0);
/// A wave or a floating log: one wild reading.
const RIVER_SPIKE: (f64, f64) = (1020.0, 1026.0);
/// Fever scans `(kiosk, minute, °C)`: the first makes the demo's first alarm.
const FEVERS: &[(&str, f64, f64)] = &[
    ("kiosk-n1", 374.0, 38.2),
    ("kiosk-s1", 760.0, 37.9),
    ("kiosk-n1", 965.0, 38.6),
];
/// Camera intrusions `(camera, minute, confidence)`; below 0.8 the rule ignores them.
const INTRUSIONS: &[(&str, f64, f64)] = &[
    ("cam-river-bank", 420.0, 0.64),
    ("cam-bridge", 525.0, 0.88),
    ("cam-river-bank", 1170.0, 0.93),
];
/// Cameras: (id, area named in their messages, zone whose crowd they see, share seen).
pub(crate) const CAMERAS: &[(&str, &str, &str, f64)] = &[
    ("cam-bridge", "bridge", NORTH, 0.12),
    ("cam-river-bank", "river-bank", SOUTH, 0.25),
];
const CAMERA_EVERY_MS: u64 = 2_000;
/// Thermometers: (id, °C at dawn, °C the afternoon adds, %RH at dawn).
const THERMOMETERS: &[(&str, f64, f64, f64)] = &[
    ("th-ticket-hall", 17.0, 7.0, 72.0),
    ("th-visitor-centre", 20.0, 4.0, 60.0),
    ("th-museum", 21.0, 0.6, 48.0),
    ("th-tea-house", 13.5, 12.0, 85.0),
];

fn active(table: &[(&'static str, f64, f64)], minute: f64) -> impl Iterator<Item = &'static str> {
    table
        .iter()
        .filter(move |(_, from, to)| (*from..*to).contains(&minute))
        .map(|(id, _, _)| *id)
}

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
}

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
        }
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
        self.river(t, &mut frame);
        self.cameras(before, elapsed_ms, now, &mut frame);
        frame.silent.extend(active(SILENT, t.minute));
        frame
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

    fn river(&mut self, t: SiteTime, frame: &mut Frame) {
        let frozen = (RIVER_FROZEN.0..RIVER_FROZEN.1).contains(&t.minute);
        if !frozen {
            let noise = (self.rng.below(21) as f64 - 10.0) / 1000.0;
            self.river = river_level(t.minute, noise);
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

/// The river: a semidiurnal tide around 1.8 m.
fn river_level(minute: f64, noise: f64) -> f64 {
    1.8 + 0.3 * (std::f64::consts::TAU * (minute - OPEN_MIN) / 745.0).sin() + noise
}

/// Whether the simulated `minute` of some day falls in the real interval (from, to].
fn crosses(minute: f64, from_ms: u64, to_ms: u64) -> bool {
    let abs = |ms: u64| {
        let t = SiteTime::at(ms);
        f64::from(t.day) * 1440.0 + t.minute
    };
    let (a, b) = (abs(from_ms), abs(to_ms));
    (SiteTime::at(from_ms).day..=SiteTime::at(to_ms).day).any(|day| {
        let m = f64::from(day) * 1440.0 + minute;
        a < m && m <= b
    })
}

/// A small seeded xorshift64* generator: the story is the same on every run.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // xorshift must not start at 0.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in 0..n (0 for n = 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// An index drawn with probability proportional to `weights` (all ≥ 0, one > 0).
    fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }
}

#[cfg(test)]
mod story;
#[cfg(test)]
mod tests;
