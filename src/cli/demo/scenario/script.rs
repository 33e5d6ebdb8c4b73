//! The day's script: the compressed clock, and when what happens at the site.
//!
//! Owns every number of the story (the crowd curve, the schedule of fevers, forced
//! entries, the frozen river meter, the thermometers' climate) as tables, and the small
//! pure functions that read them by simulated minute. `scenario.rs` plays them.

use super::super::layout::{NORTH, SOUTH};
use std::fmt;

/// Real milliseconds of one simulated opening day, 06:00 to 20:00, compressed.
pub(crate) const DAY_MS: u64 = 240_000;
/// Real milliseconds of the night that follows it: from 21:59 at the gateway, in real
/// time, because the gateway judges the night rules and the patrol by its own clock
/// (`layout::night_offset` gives the demo site a UTC offset that makes it 21:59 then).
/// The hours from 20:00 to 21:59, and after 22:03, are skipped.
pub(crate) const NIGHT_MS: u64 = 240_000;
/// A whole day and night.
pub(crate) const CYCLE_MS: u64 = DAY_MS + NIGHT_MS;
/// Where the night begins, minutes after midnight.
pub(crate) const NIGHT_MIN: f64 = 21.0 * 60.0 + 59.0;
pub(super) const OPEN_MIN: f64 = 6.0 * 60.0;
pub(super) const CLOSE_MIN: f64 = 20.0 * 60.0;
/// Simulated minutes per real millisecond (3.5 minutes a second).
pub(super) const SIM_MIN_PER_MS: f64 = (CLOSE_MIN - OPEN_MIN) / DAY_MS as f64;

/// A moment of the compressed day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SiteTime {
    /// 1 for the first day.
    pub(crate) day: u32,
    /// Minutes after midnight: from 06:00 (360) to just before 20:00 (1200) in the
    /// compressed day, then from 21:59 (1319) at one a minute in the night.
    pub(crate) minute: f64,
}

impl SiteTime {
    pub(crate) fn at(elapsed_ms: u64) -> SiteTime {
        let within = elapsed_ms % CYCLE_MS;
        let minute = if within < DAY_MS {
            OPEN_MIN + within as f64 * SIM_MIN_PER_MS
        } else {
            NIGHT_MIN + (within - DAY_MS) as f64 / 60_000.0
        };
        SiteTime {
            day: (elapsed_ms / CYCLE_MS) as u32 + 1,
            minute,
        }
    }

    /// In the night, the time of `local_secs` (seconds after midnight on the gateway's
    /// own clock, which the night's rules and patrol follow) instead of the story's.
    pub(crate) fn with_night_clock(self, local_secs: u32) -> SiteTime {
        if self.minute >= NIGHT_MIN {
            SiteTime {
                minute: f64::from(local_secs) / 60.0,
                ..self
            }
        } else {
            self
        }
    }

    /// Milliseconds into the night, if it is night.
    pub(crate) fn into_night(elapsed_ms: u64) -> Option<u64> {
        (elapsed_ms % CYCLE_MS).checked_sub(DAY_MS)
    }

    /// What the site is going through, for the live view's header.
    pub(crate) fn phase(self) -> &'static str {
        match self.minute / 60.0 {
            h if h < 8.0 => "opening",
            h if h < 10.5 => "morning rush",
            h if h < 14.0 => "midday peak",
            h if h < 16.5 => "afternoon",
            h if h < 19.0 => "evening exit",
            h if h < 21.0 => "closing",
            _ => "night",
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
pub(super) const CROWD: &[(f64, f64)] = &[
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
pub(super) const PEAK: &[(&str, f64)] = &[(NORTH, 0.92), (SOUTH, 1.03)];
/// Mean visit length, in simulated minutes: the turnover that keeps gates busy at noon.
pub(super) const STAY_MIN: f64 = 90.0;

/// Linear interpolation in a table of (x, y) sorted by x, flat outside it.
pub(super) fn interpolate(table: &[(f64, f64)], x: f64) -> f64 {
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
pub(super) const FORCED_ENTRY: &[(&str, f64, f64)] =
    &[("gate-n3", 640.0, 650.0), ("gate-s2", 1040.0, 1050.0)];
pub(super) const TAILGATING: &[(&str, f64, f64)] =
    &[("gate-n6", 560.0, 570.0), ("gate-s1", 790.0, 800.0)];
/// A gate held open for a wheelchair group around noon.
pub(super) const HELD_OPEN: &[(&str, f64, f64)] = &[("gate-n5", 720.0, 745.0)];
/// A thermometer's supply fails for 45 minutes.
pub(super) const SILENT: &[(&str, f64, f64)] = &[("th-museum", 840.0, 885.0)];
/// The river meter freezes for 70 minutes (20 s, more than the flatline rule's 12 s)
/// at mid-tide. The level keeps falling meanwhile, so the spike rule's window holds
/// readings on both sides of the frozen one and the thaw is not taken for a spike (a
/// freeze near slack water would leave a tight cluster that makes the next rise look
/// like one).
pub(super) const RIVER_FROZEN: (f64, f64) = (697.0, 767.0);
/// A wave or a floating log: one wild reading.
pub(super) const RIVER_SPIKE: (f64, f64) = (1020.0, 1026.0);
/// Fever scans `(kiosk, minute, °C)`: the first makes the demo's first alarm.
pub(super) const FEVERS: &[(&str, f64, f64)] = &[
    ("kiosk-n1", 374.0, 38.2),
    ("kiosk-s1", 760.0, 37.9),
    ("kiosk-n1", 965.0, 38.6),
];
/// Camera intrusions `(camera, minute, confidence)`; below 0.8 the rule ignores them.
pub(super) const INTRUSIONS: &[(&str, f64, f64)] = &[
    ("cam-river-bank", 420.0, 0.64),
    ("cam-bridge", 525.0, 0.88),
    ("cam-river-bank", 1170.0, 0.93),
];
/// Cameras: (id, area named in their messages, zone whose crowd they see, share seen).
pub(crate) const CAMERAS: &[(&str, &str, &str, f64)] = &[
    ("cam-bridge", "bridge", NORTH, 0.12),
    ("cam-river-bank", "river-bank", SOUTH, 0.25),
];
pub(super) const CAMERA_EVERY_MS: u64 = 2_000;
/// Thermometers: (id, °C at dawn, °C the afternoon adds, %RH at dawn).
pub(super) const THERMOMETERS: &[(&str, f64, f64, f64)] = &[
    ("th-ticket-hall", 17.0, 7.0, 72.0),
    ("th-visitor-centre", 20.0, 4.0, 60.0),
    ("th-museum", 21.0, 0.6, 48.0),
    ("th-tea-house", 13.5, 12.0, 85.0),
];

/// The bar street's sound level, dB(A): street noise in the day; in the night the bars
/// play loud `(from, to)` ms into it (the first four minutes), then close.
pub(super) const STREET_DBA: f64 = 49.0;
pub(super) const BARS_DBA: f64 = 64.0;
pub(super) const BARS_LOUD_MS: (u64, u64) = (0, 200_000);
/// Patrol taps by the gateway's local time: (seconds after midnight, reader, tag). The
/// patrol's rounds start at 22:00, 22:01 and 22:02 (`layout`); the 22:01 round leaves
/// the bridge out, so the bridge is missed, and the 22:02 round's completion clears it.
pub(super) const TAPS: &[(u32, &str, u32)] = &[
    (79_204, "tag-gate", 1001),
    (79_209, "tag-bridge", 1001),
    (79_214, "tag-bar-street", 1001),
    (79_219, "tag-old-street", 1001),
    (79_264, "tag-gate", 1002),
    (79_272, "tag-bar-street", 1002),
    (79_278, "tag-old-street", 1002),
    (79_324, "tag-gate", 1001),
    (79_329, "tag-bridge", 1001),
    (79_334, "tag-bar-street", 1001),
    (79_339, "tag-old-street", 1001),
];

pub(super) fn active(
    table: &[(&'static str, f64, f64)],
    minute: f64,
) -> impl Iterator<Item = &'static str> {
    table
        .iter()
        .filter(move |(_, from, to)| (*from..*to).contains(&minute))
        .map(|(id, _, _)| *id)
}

/// The river: a semidiurnal tide around 1.8 m.
pub(super) fn river_level(minute: f64, noise: f64) -> f64 {
    1.8 + 0.3 * (std::f64::consts::TAU * (minute - OPEN_MIN) / 745.0).sin() + noise
}

/// Whether the simulated `minute` of some day falls in the real interval (from, to].
pub(super) fn crosses(minute: f64, from_ms: u64, to_ms: u64) -> bool {
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
