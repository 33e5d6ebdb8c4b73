use super::*;

const TICK_MS: u64 = 250;

/// Every frame of a run of `until_ms`, one per tick, with its elapsed time.
fn run(seed: u64, until_ms: u64) -> Vec<(u64, Frame)> {
    let mut s = Scenario::new(seed);
    (0..=until_ms / TICK_MS)
        .map(|i| (i * TICK_MS, s.step(i * TICK_MS, 0)))
        .collect()
}

fn value(f: &Frame, device: &str, point: &str) -> Option<f64> {
    f.writes
        .iter()
        .find(|(d, p, _)| *d == device && *p == point)
        .map(|w| w.2)
}

/// Real milliseconds of a simulated minute of the first day.
fn ms_of(minute: f64) -> u64 {
    ((minute - OPEN_MIN) / SIM_MIN_PER_MS) as u64
}

#[test]
fn site_time_compresses_the_opening_day_into_four_minutes_then_plays_the_night() {
    let check = |ms: u64, expected: &str| assert_eq!(SiteTime::at(ms).to_string(), expected);
    check(0, "day 1 06:00");
    check(4_000, "day 1 06:14");
    check(120_000, "day 1 13:00");
    check(239_999, "day 1 19:59");
    // Then the night, from 21:59 in real time.
    check(240_000, "day 1 21:59");
    check(300_000, "day 1 22:00");
    check(479_999, "day 1 22:02");
    check(480_000, "day 2 06:00");
    check(600_000, "day 2 13:00");
    assert_eq!(SiteTime::at(300_000).phase(), "night");
}

#[test]
fn phases_follow_the_hour() {
    let check = |minute: f64, expected: &str| {
        assert_eq!(SiteTime { day: 1, minute }.phase(), expected, "{minute}")
    };
    check(360.0, "opening");
    check(500.0, "morning rush");
    check(750.0, "midday peak");
    check(900.0, "afternoon");
    check(1100.0, "evening exit");
    check(1150.0, "closing");
}

#[test]
fn interpolation_is_linear_between_points_and_flat_outside() {
    let table = [(1.0, 10.0), (3.0, 30.0), (4.0, 0.0)];
    let check = |x: f64, expected: f64| assert_eq!(interpolate(&table, x), expected, "{x}");
    check(0.0, 10.0);
    check(1.0, 10.0);
    check(2.0, 20.0);
    check(3.5, 15.0);
    check(9.0, 0.0);
    assert_eq!(interpolate(&[], 1.0), 0.0);
}

#[test]
fn a_scheduled_minute_is_crossed_once_per_day() {
    let check = |minute: f64, from: u64, to: u64, expected: bool| {
        assert_eq!(
            crosses(minute, from, to),
            expected,
            "{minute} in ({from}, {to}]"
        )
    };
    check(374.0, 3_750, 4_000, true);
    check(374.0, 4_000, 4_250, false);
    check(374.0, 0, 3_750, false);
    check(374.0, CYCLE_MS + 3_750, CYCLE_MS + 4_000, true);
    // Into the night, and across it: the evening of day 1 to the morning of day 2.
    check(1199.5, DAY_MS - 250, DAY_MS + 250, true);
    check(360.5, DAY_MS - 250, DAY_MS + 250, false);
    check(360.5, CYCLE_MS - 250, CYCLE_MS + 250, true);
    check(400.0, CYCLE_MS - 250, CYCLE_MS + 250, false);
}

#[test]
fn a_day_has_a_morning_rush_a_peak_near_capacity_and_an_empty_evening() {
    let mut s = Scenario::new(7);
    let mut utilisation = Vec::new();
    for i in 0..=DAY_MS / TICK_MS {
        s.step(i * TICK_MS, 0);
        let u: Vec<f64> = s
            .inside()
            .iter()
            .zip(ZONES)
            .map(|(n, z)| *n as f64 / z.capacity as f64)
            .collect();
        utilisation.push((SiteTime::at(i * TICK_MS).minute, u));
    }
    let at = |minute: f64, zone: usize| {
        utilisation
            .iter()
            .find(|(m, _)| *m >= minute)
            .map_or(f64::NAN, |(_, u)| u[zone])
    };
    let peak = |zone: usize| utilisation.iter().map(|(_, u)| u[zone]).fold(0.0, f64::max);
    // North: over the 80 % warning, under the critical level. South: just over capacity.
    assert!((0.85..1.0).contains(&peak(0)), "north peak {}", peak(0));
    assert!((1.0..1.1).contains(&peak(1)), "south peak {}", peak(1));
    for zone in 0..ZONES.len() {
        assert!(at(420.0, zone) < 0.1, "quiet at 07:00");
        assert!(at(630.0, zone) - at(480.0, zone) > 0.4, "morning rush");
        assert!(at(1199.0, zone) < 0.01, "empty at closing");
    }
}

#[test]
fn counters_only_move_forward_and_gate_s4_wraps_around() {
    let frames = run(3, DAY_MS);
    let gates: Vec<&str> = DEVICES
        .iter()
        .filter(|d| d.profile == "turnstile")
        .map(|d| d.id)
        .collect();
    let mut wrapped = false;
    for w in frames.windows(2) {
        for g in &gates {
            for point in ["entries", "exits"] {
                let a = value(&w[0].1, g, point).unwrap_or(f64::NAN);
                let b = value(&w[1].1, g, point).unwrap_or(f64::NAN);
                let step = (b - a).rem_euclid(4_294_967_296.0);
                assert!(step < 200.0, "{g}.{point} jumped {a} → {b}");
                wrapped |= *g == "gate-s4" && point == "entries" && b < a;
            }
        }
    }
    assert!(wrapped, "gate-s4 entries never wrapped");
}

#[test]
fn the_first_alarm_is_a_fever_within_ten_seconds_held_for_two_polls() {
    let frames = run(1, 12_000);
    let fever: Vec<u64> = frames
        .iter()
        .filter(|(_, f)| value(f, "kiosk-n1", "body_temp").is_some_and(|t| t >= 3730.0))
        .map(|(ms, _)| *ms)
        .collect();
    let (first, last) = (fever.first().copied(), fever.last().copied());
    assert!(first.is_some_and(|ms| ms < 10_000), "fever at {first:?}");
    assert!(
        last.zip(first).is_some_and(|(l, f)| l - f >= 1_000),
        "{fever:?}"
    );
    // A scan is one judgement: the count moves exactly when the fever appears.
    let scans = |ms: u64| {
        frames
            .iter()
            .find(|f| f.0 == ms)
            .and_then(|f| value(&f.1, "kiosk-n1", "scans"))
    };
    let before = first.and_then(|ms| scans(ms - TICK_MS));
    assert_eq!(first.and_then(scans), before.map(|s| s + 1.0));
}

#[test]
fn the_daily_happenings_come_at_their_hour() {
    let frames = run(5, DAY_MS);
    let during = |from: f64, to: f64| {
        frames
            .iter()
            .filter(move |(ms, _)| (ms_of(from)..ms_of(to)).contains(ms))
            .map(|(_, f)| f)
    };
    let outside = |from: f64, to: f64| {
        frames
            .iter()
            .filter(move |(ms, _)| !(ms_of(from) - TICK_MS..ms_of(to) + TICK_MS).contains(ms))
            .map(|(_, f)| f)
    };
    // Bits, states and silence: (device, point or "silent", from, to, value while on).
    let cases: &[(&str, &str, f64, f64, f64)] = &[
        ("gate-n3", "forced_entry", 640.0, 650.0, 1.0),
        ("gate-s2", "forced_entry", 1040.0, 1050.0, 1.0),
        ("gate-n6", "tailgating", 560.0, 570.0, 1.0),
        ("gate-n5", "status", 720.0, 745.0, 2.0),
    ];
    for &(device, point, from, to, on) in cases {
        assert!(
            during(from, to).all(|f| value(f, device, point) == Some(on)),
            "{device}.{point}"
        );
        assert!(
            outside(from, to).all(|f| value(f, device, point) != Some(on)),
            "{device}.{point}"
        );
    }
    let silent = |f: &Frame| f.silent.contains(&"th-museum");
    assert!(during(840.0, 885.0).all(silent));
    assert!(outside(840.0, 885.0).all(|f| !silent(f)));

    let river: Vec<f64> = during(697.0, 767.0)
        .filter_map(|f| value(f, "river-level", "level_m"))
        .collect();
    assert!(river.windows(2).all(|w| w[0] == w[1]), "frozen meter moved");
    let outside_river: Vec<f64> = outside(697.0, 767.0)
        .filter_map(|f| value(f, "river-level", "level_m"))
        .collect();
    assert!(outside_river.windows(2).filter(|w| w[0] == w[1]).count() < outside_river.len() / 10);
    let spike: Vec<f64> = during(1020.0, 1026.0)
        .filter_map(|f| value(f, "river-level", "level_m"))
        .collect();
    assert!(
        spike.len() >= 4 && spike.iter().all(|l| *l > 2.8),
        "{spike:?}"
    );

    let intrusions: Vec<String> = frames
        .iter()
        .flat_map(|(_, f)| f.camera.iter())
        .filter(|(_, p)| p.contains("intrusion"))
        .map(|(cam, p)| format!("{cam} {p}"))
        .collect();
    assert_eq!(intrusions.len(), 3, "{intrusions:?}");
    let counts = frames
        .iter()
        .flat_map(|(_, f)| f.camera.iter())
        .filter(|(cam, p)| *cam == "cam-bridge" && p.contains("people_count"))
        .count() as u64;
    assert!(
        counts.abs_diff(DAY_MS / CAMERA_EVERY_MS) <= 1,
        "{counts} counts"
    );
}

#[test]
fn the_same_seed_tells_the_same_story() {
    assert_eq!(run(9, 30_000), run(9, 30_000));
    assert_ne!(run(9, 30_000), run(10, 30_000));
}

#[test]
fn weighted_picks_follow_their_weights() {
    let mut rng = Rng::new(1);
    let weights = [0.0, 3.0, 1.0, 0.0];
    let mut seen = [0u32; 4];
    for _ in 0..4_000 {
        seen[rng.pick(&weights)] += 1;
    }
    assert_eq!((seen[0], seen[3]), (0, 0));
    assert!((2_800..3_200).contains(&seen[1]), "{seen:?}");
}

#[test]
fn the_night_shows_the_gateway_clock_and_the_day_the_story_clock() {
    // 22:00:30 at the gateway.
    let local = 79_230;
    assert_eq!(
        SiteTime::at(250_000).with_night_clock(local).to_string(),
        "day 1 22:00"
    );
    assert_eq!(
        SiteTime::at(100_000).with_night_clock(local).to_string(),
        "day 1 11:50"
    );
}
