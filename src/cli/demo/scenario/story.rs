//! The story against the real rules: a whole day of the scenario, polled as the daemon
//! polls it and judged by `rules::Engine` with the demo's own config. Pure: no sockets,
//! no clock; the alarms it raises are the ones the live view will show.

use super::super::layout::{TEST_OFFSET_S, ZONES, site_for_tests};
use super::*;
use crate::reading::PollError;
use crate::rules::{AlarmState, Engine};
use crate::site::{PointSource, Site};

const TICK_MS: u64 = 250;
const T0: Ms = 1_800_000_000_000;

/// The values a poll of `device` reads in `frame`, in point order (engineering units).
fn poll(site: &Site, device: usize, frame: &Frame) -> Vec<Option<f64>> {
    let d = &site.devices[device];
    d.points
        .iter()
        .map(|p| {
            let raw = frame
                .writes
                .iter()
                .find(|(id, point, _)| *id == d.id && *point == p.name)
                .map(|w| w.2)?;
            // The meter's register holds an f32.
            let raw = match &p.source {
                PointSource::Modbus {
                    ty: crate::site::PointType::F32,
                    ..
                } => f64::from(raw as f32),
                _ => raw,
            };
            Some(p.engineering(raw))
        })
        .collect()
}

/// A camera message as the camera source maps it: the matching point gets the value.
fn camera_values(site: &Site, device: usize, payload: &str) -> Vec<Option<f64>> {
    let json: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    site.devices[device]
        .points
        .iter()
        .map(|p| match &p.source {
            PointSource::Json { pointer, filter } => {
                let matches = filter
                    .iter()
                    .all(|(k, v)| json.pointer(k).and_then(|x| x.as_str()) == Some(v));
                matches
                    .then(|| json.pointer(pointer).and_then(|x| x.as_f64()))
                    .flatten()
            }
            PointSource::Modbus { .. } => None,
        })
        .collect()
}

/// Every alarm change of `until_ms` of story: (site time, rule, device, raised).
fn play(seed: u64, until_ms: u64) -> Vec<(String, String, String, bool)> {
    let site = site_for_tests();
    let mut engine = Engine::new(&site);
    let mut story = Scenario::new(seed).with_offset(TEST_OFFSET_S);
    let mut changes = Vec::new();
    let mut out = Vec::new();
    for i in 0..=until_ms / TICK_MS {
        let elapsed = i * TICK_MS;
        let ts = T0 + elapsed as Ms;
        let frame = story.step(elapsed, ts);
        for (index, d) in site.devices.iter().enumerate() {
            if d.camera.is_some() {
                for (_, payload) in frame.camera.iter().filter(|(cam, _)| *cam == d.id) {
                    let values = camera_values(&site, index, payload);
                    engine.on_sample(&site, index, ts, &values, None, &mut out);
                }
                continue;
            }
            if !elapsed.is_multiple_of(d.poll.as_millis() as u64) {
                continue;
            }
            if frame.silent.contains(&d.id.as_str()) {
                let none = vec![None; d.points.len()];
                engine.on_sample(&site, index, ts, &none, Some(&PollError::Timeout), &mut out);
            } else {
                engine.on_sample(
                    &site,
                    index,
                    ts,
                    &poll(&site, index, &frame),
                    None,
                    &mut out,
                );
            }
        }
        for (z, inside) in ZONES.iter().zip(story.inside()) {
            engine.on_zone(z.name, ts, inside as f64, z.capacity, 0.0, &mut out);
        }
        engine.tick(ts, &mut out);
        for c in out.drain(..) {
            let at = SiteTime::at((c.ts - T0) as u64);
            changes.push((
                at.to_string(),
                c.alarm.rule,
                c.alarm.device,
                c.state == AlarmState::Raised,
            ));
        }
    }
    changes
}

/// What one day raises, in any order: (rule, device).
const EXPECTED: &[(&str, &str)] = &[
    ("fever", "kiosk-n1"),
    ("intrusion", "cam-bridge"),
    ("tailgating", "gate-n6"),
    ("forced-entry", "gate-n3"),
    ("south-crowding", "south-entrance"),
    ("north-crowding", "north-entrance"),
    ("river-flatline", "river-level"),
    ("south-crowding", "south-entrance"),
    ("fever", "kiosk-s1"),
    ("tailgating", "gate-s1"),
    ("offline", "th-museum"),
    ("fever", "kiosk-n1"),
    ("river-spike", "river-level"),
    ("forced-entry", "gate-s2"),
    ("intrusion", "cam-river-bank"),
];

/// Plays one day with `seed` and checks every expected alarm is raised once and all but
/// the evening's intrusion (it clears a minute later, in the night) clear by closing.
fn check_day(seed: u64) {
    let changes = play(seed, DAY_MS - TICK_MS);
    let listing: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.0,
                c.1,
                c.2,
                if c.3 { "raised" } else { "cleared" }
            )
        })
        .collect();
    let listing = listing.join("\n");
    let mut raised: Vec<(&str, &str)> = changes
        .iter()
        .filter(|c| c.3)
        .map(|c| (c.1.as_str(), c.2.as_str()))
        .collect();
    raised.sort();
    let mut expected = EXPECTED.to_vec();
    expected.sort();
    assert_eq!(raised, expected, "seed {seed}:\n{listing}");
    let cleared = changes.iter().filter(|c| !c.3).count();
    assert_eq!(cleared, EXPECTED.len() - 1, "seed {seed}:\n{listing}");
}

#[test]
fn the_demo_day_raises_every_kind_of_alarm_once_and_clears_them() {
    check_day(super::super::SEED);
}

#[test]
fn the_story_does_not_depend_on_a_lucky_seed() {
    for seed in 1..=12 {
        check_day(seed);
    }
}

#[test]
fn the_first_alarm_is_raised_within_five_seconds() {
    let changes = play(super::super::SEED, 10_000);
    assert_eq!(
        changes.first().map(|c| (c.1.as_str(), c.3)),
        Some(("fever", true))
    );
    assert!(
        changes
            .first()
            .is_some_and(|c| c.0.as_str() <= "day 1 06:17"),
        "{changes:?}"
    );
}

/// The night after the first day, through the rules and the patrol tracker: (site time,
/// rule, device, point, raised) of every alarm change, and each round's status and
/// skipped checkpoints.
#[allow(clippy::type_complexity)]
fn play_night(
    seed: u64,
) -> (
    Vec<(String, String, String, String, bool)>,
    Vec<(String, Vec<String>)>,
) {
    let site = site_for_tests();
    let mut engine = Engine::new(&site);
    let mut patrol = crate::patrol::Tracker::new(&site);
    let mut story = Scenario::new(seed).with_offset(TEST_OFFSET_S);
    let (mut out, mut changes, mut rounds) = (Vec::new(), Vec::new(), Vec::new());
    let from = DAY_MS - 20_000;
    for i in 0..=(CYCLE_MS - from) / TICK_MS {
        let elapsed = from + i * TICK_MS;
        let ts = T0 + elapsed as Ms;
        let frame = story.step(elapsed, ts);
        for (index, d) in site.devices.iter().enumerate() {
            if d.camera.is_some() || !elapsed.is_multiple_of(d.poll.as_millis() as u64) {
                continue;
            }
            let values = poll(&site, index, &frame);
            engine.on_sample(&site, index, ts, &values, None, &mut out);
            assert_eq!(patrol.on_sample(index, ts, &values, &mut out), Ok(()));
        }
        engine.tick(ts, &mut out);
        patrol.tick(ts, &mut out);
        rounds.extend(
            patrol
                .take_rounds()
                .into_iter()
                .map(|r| (r.status.name().to_string(), r.skipped)),
        );
        // The first 20 s only warm the rules up (a fresh engine sees the day's last
        // fever scan held on a kiosk's display).
        for c in out.drain(..).filter(|c| c.ts >= T0 + DAY_MS as Ms) {
            changes.push((
                SiteTime::at((c.ts - T0) as u64).to_string(),
                c.alarm.rule,
                c.alarm.device,
                c.alarm.point.unwrap_or_default(),
                c.state == AlarmState::Raised,
            ));
        }
    }
    (changes, rounds)
}

#[test]
fn the_night_has_a_loud_bar_street_and_a_patrol_that_misses_the_bridge_once() {
    let (changes, rounds) = play_night(super::super::SEED);
    let listing = format!("{changes:#?}");
    let of = |rule: &str| -> Vec<(&str, &str, bool)> {
        (changes.iter())
            .filter(|c| c.1 == rule)
            .map(|c| (c.0.as_str(), c.2.as_str(), c.4))
            .collect()
    };
    // 64 dB(A) from 21:59: nothing until 22:00, then raised once the hold has run; the
    // bars close and it clears.
    let noise = of("bar-noise-night");
    assert_eq!(noise.len(), 2, "{listing}");
    assert_eq!(
        (noise[0].1, noise[0].2, noise[1].2),
        ("noise-bar-street", true, false)
    );
    assert_eq!(noise[0].0, "day 1 22:00", "{listing}");
    assert!(of("bar-noise-day").is_empty(), "{listing}");
    // Three rounds: complete, the bridge left out, complete.
    let skipped: Vec<(&str, Vec<&str>)> = (rounds.iter())
        .map(|(s, k)| (s.as_str(), k.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("completed", vec![]),
            ("incomplete", vec!["tag-bridge"]),
            ("completed", vec![])
        ]
    );
    let patrol: Vec<(&str, &str, bool)> = (changes.iter())
        .filter(|c| c.1 == "patrol:night")
        .map(|c| (c.2.as_str(), c.3.as_str(), c.4))
        .collect();
    assert_eq!(
        patrol,
        [
            ("tag-bridge", "missed", true),
            ("tag-bridge", "missed", false)
        ],
        "{listing}"
    );
    // Nothing else: the readers and the meter answer all night.
    assert_eq!(changes.len(), 4, "{listing}");
}
