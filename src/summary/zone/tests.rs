//! Zone occupancy scripted as tables: gates feeding counters, windows closing, resets.

use super::*;
use crate::site::{BrokerUrl, Buffer, Gateway, PointKind, Uplink, Zone};
use crate::summary::tests::{device, point};
use std::path::PathBuf;

/// Some day at midnight UTC; the zone resets at 03:00.
const DAY: Ms = 20_000 * DAY_MS;
const H: Ms = 3_600_000;
const RESET: Ms = DAY + 3 * H;
const NOON: Ms = DAY + 12 * H;
const U32_MAX: f64 = 4_294_967_295.0;

/// Devices 0 and 1 are gates of `north`, 2 is a thermometer in `north`, 3 is a gate of
/// `south`.
fn site() -> Site {
    let gate = |id: &str, zone: &str| {
        device(
            id,
            Some(zone),
            vec![
                point("entries", PointKind::Counter, 1.0),
                point("exits", PointKind::Counter, 1.0),
                point("status", PointKind::State, 1.0),
            ],
        )
    };
    let zone = |name: &str, capacity| Zone {
        name: name.to_string(),
        capacity,
        daily_reset: Duration::from_secs(3 * 3_600),
    };
    Site {
        gateway: Gateway {
            site: "xitang".into(),
            id: "gw-north".into(),
            data_dir: PathBuf::new(),
            timezone: Default::default(),
        },
        uplink: Uplink {
            broker: BrokerUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1883,
            },
            username: None,
            password_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            topic_prefix: "sitewarden".into(),
            summary_interval: Duration::from_secs(60),
            inflight: 16,
            keep_alive: Duration::from_secs(30),
            commands: Default::default(),
        },
        buffer: Buffer {
            raw_max_bytes: 1 << 20,
            outbox_max_bytes: 1 << 20,
        },
        connections: vec![],
        devices: vec![
            gate("gate-n1", "north"),
            gate("gate-n2", "north"),
            device(
                "th-1",
                Some("north"),
                vec![point("temperature", PointKind::Gauge, 0.1)],
            ),
            gate("gate-s1", "south"),
        ],
        zones: vec![zone("north", 100), zone("south", 0)],
        cells: Vec::new(),
        patrols: Vec::new(),
        rules: vec![],
    }
}

/// One line of a script.
enum Do {
    /// A gate (device index) reports its raw entries and exits counters at ts.
    Feed(Ms, usize, f64, f64),
    /// `close(start, start + 60 s)`; expect north's (entries, exits, occupancy, clamped).
    Close(Ms, (u64, u64, u64, u64)),
    /// Expect north's occupancy now.
    Occupancy(u64),
    /// `roll(now)`.
    Roll(Ms),
    /// Save and restore the tracker, as across a restart.
    Restart,
}

fn feed(t: &mut ZoneTracker, site: &Site, ts: Ms, device: usize, values: Vec<Option<f64>>) {
    let sample = Sample {
        device,
        ts,
        values,
        error: None,
    };
    t.add(site, &sample);
}

fn check(name: &str, script: &[Do]) {
    let site = site();
    let mut t = ZoneTracker::new(&site);
    for (line, step) in script.iter().enumerate() {
        let at = format!("{name}, line {line}");
        match *step {
            Do::Feed(ts, dev, entries, exits) => {
                feed(
                    &mut t,
                    &site,
                    ts,
                    dev,
                    vec![Some(entries), Some(exits), Some(0.0)],
                );
            }
            Do::Close(start, (entries, exits, occupancy, clamped)) => {
                let got = t.close(start, start + 60_000);
                let north = got.iter().find(|z| z.zone == "north").expect("north");
                let want = ZoneSummary {
                    zone: "north".into(),
                    start,
                    end: start + 60_000,
                    entries,
                    exits,
                    occupancy,
                    capacity: 100,
                    utilisation: Some(occupancy as f64 / 100.0),
                    clamped,
                };
                assert_eq!(north, &want, "{at}");
            }
            Do::Occupancy(n) => assert_eq!(t.occupancy("north"), Some(n), "{at}"),
            Do::Roll(now) => t.roll(now),
            Do::Restart => {
                t = ZoneTracker::from_bytes(&site, &t.to_bytes()).expect(&at);
            }
        }
    }
}

#[test]
fn two_gates_add_up_through_a_rollover_on_one() {
    check(
        "rollover",
        &[
            // First readings only set the baselines.
            Do::Feed(NOON, 0, U32_MAX - 5.0, 0.0),
            Do::Feed(NOON, 1, 100.0, 50.0),
            Do::Occupancy(0),
            Do::Feed(NOON + 1_000, 0, U32_MAX - 1.0, 3.0),
            Do::Occupancy(1),
            // Gate 1's entries wrap: 2 up to the modulus, then 6 more.
            Do::Feed(NOON + 2_000, 0, 6.0, 3.0),
            Do::Feed(NOON + 2_000, 1, 110.0, 52.0),
            Do::Occupancy(17),
            Do::Close(NOON, (22, 5, 17, 0)),
            // The next window carries occupancy but not flows.
            Do::Feed(NOON + 61_000, 1, 110.0, 53.0),
            Do::Close(NOON + 60_000, (0, 1, 16, 0)),
        ],
    );
}

#[test]
fn occupancy_restarts_at_the_daily_reset() {
    check(
        "reset",
        &[
            Do::Feed(RESET - 50_000, 0, 1_000.0, 500.0),
            Do::Feed(RESET - 2_000, 0, 1_030.0, 505.0),
            // The window ending exactly at the reset still shows the day's occupancy.
            Do::Close(RESET - 60_000, (30, 5, 25, 0)),
            // The first reading after the reset counts from 0.
            Do::Feed(RESET + 1_000, 0, 1_032.0, 506.0),
            Do::Occupancy(1),
            Do::Close(RESET, (2, 1, 1, 0)),
            // A whole day later, with no gate reporting, closing the window that holds
            // the next reset zeroes occupancy.
            Do::Close(RESET + DAY_MS - 60_000, (0, 0, 1, 0)),
            Do::Close(RESET + DAY_MS, (0, 0, 0, 0)),
        ],
    );
    check(
        "roll without samples",
        &[
            Do::Feed(RESET - 10_000, 0, 0.0, 0.0),
            Do::Feed(RESET - 5_000, 0, 7.0, 0.0),
            Do::Roll(RESET - 1),
            Do::Occupancy(7),
            Do::Roll(RESET),
            Do::Occupancy(0),
            // Time stepping back does not undo or repeat the reset.
            Do::Feed(RESET - 3_000, 0, 9.0, 0.0),
            Do::Occupancy(2),
            Do::Roll(RESET + 5_000),
            Do::Occupancy(2),
        ],
    );
}

#[test]
fn occupancy_never_goes_negative_and_clamps_are_counted() {
    check(
        "clamp",
        &[
            Do::Feed(NOON, 0, 10.0, 10.0),
            Do::Feed(NOON + 1_000, 0, 12.0, 10.0),
            // Five leave but only two are inside.
            Do::Feed(NOON + 2_000, 1, 0.0, 0.0),
            Do::Feed(NOON + 3_000, 1, 0.0, 5.0),
            Do::Occupancy(0),
            Do::Feed(NOON + 4_000, 0, 13.0, 10.0),
            Do::Close(NOON, (3, 5, 1, 1)),
        ],
    );
}

#[test]
fn a_gate_that_restarts_counts_from_zero() {
    check(
        "device reset",
        &[
            Do::Feed(NOON, 0, 5_000.0, 4_000.0),
            Do::Feed(NOON + 1_000, 0, 5_010.0, 4_000.0),
            // The gate rebooted: both counters restart, having counted 3 and 1 since.
            Do::Feed(NOON + 2_000, 0, 3.0, 1.0),
            Do::Close(NOON, (13, 1, 12, 0)),
        ],
    );
}

#[test]
fn a_late_sample_is_reported_with_the_next_window() {
    check(
        "late",
        &[
            Do::Feed(NOON, 0, 0.0, 0.0),
            Do::Close(NOON, (0, 0, 0, 0)),
            // Stamped in the closed window, delivered after it closed.
            Do::Feed(NOON + 59_000, 0, 4.0, 0.0),
            Do::Feed(NOON + 61_000, 0, 5.0, 0.0),
            Do::Close(NOON + 60_000, (5, 0, 5, 0)),
        ],
    );
}

/// A window closes a grace after its end, when the next window's first readings are
/// already in: its occupancy is still the one at its own end.
#[test]
fn a_window_reports_its_own_occupancy_not_the_next_windows() {
    check(
        "next window first",
        &[
            Do::Feed(NOON, 0, 0.0, 0.0),
            Do::Feed(NOON, 1, 0.0, 0.0),
            Do::Feed(NOON + 30_000, 0, 8.0, 0.0),
            Do::Feed(NOON + 60_000, 0, 10.0, 1.0),
            // Stamped in the first window, delivered after the next one's reading.
            Do::Feed(NOON + 59_000, 1, 3.0, 0.0),
            Do::Occupancy(12),
            Do::Close(NOON, (11, 0, 11, 0)),
            Do::Close(NOON + 60_000, (2, 1, 12, 0)),
        ],
    );
    check(
        "next window after the reset",
        &[
            Do::Feed(RESET - 50_000, 0, 1_000.0, 500.0),
            Do::Feed(RESET - 2_000, 0, 1_030.0, 505.0),
            Do::Feed(RESET + 1_000, 0, 1_032.0, 506.0),
            Do::Occupancy(1),
            Do::Close(RESET - 60_000, (30, 5, 25, 0)),
            Do::Close(RESET, (2, 1, 1, 0)),
        ],
    );
}

#[test]
fn a_restart_keeps_occupancy_baselines_and_open_flows() {
    check(
        "restart",
        &[
            Do::Feed(NOON, 0, 100.0, 10.0),
            Do::Feed(NOON + 1_000, 0, 140.0, 20.0),
            Do::Restart,
            Do::Occupancy(30),
            // Visitors who passed while the daemon was down are counted.
            Do::Feed(NOON + 30_000, 0, 150.0, 20.0),
            Do::Close(NOON, (50, 10, 40, 0)),
            Do::Restart,
            // A reset that fell while the daemon was down is applied on return.
            Do::Feed(RESET + DAY_MS + 1_000, 0, 151.0, 20.0),
            Do::Occupancy(1),
        ],
    );
}

#[test]
fn other_devices_and_zones_are_kept_apart() {
    let site = site();
    let mut t = ZoneTracker::new(&site);
    feed(&mut t, &site, NOON, 3, vec![Some(0.0), Some(0.0), None]);
    feed(
        &mut t,
        &site,
        NOON + 1_000,
        3,
        vec![Some(8.0), Some(1.0), None],
    );
    // A thermometer in the zone, an unknown device index and a gate without values.
    feed(&mut t, &site, NOON + 1_000, 2, vec![Some(231.0)]);
    feed(&mut t, &site, NOON + 1_000, 9, vec![Some(5.0), Some(0.0)]);
    feed(&mut t, &site, NOON + 1_000, 0, vec![]);
    assert_eq!(t.occupancy("north"), Some(0));
    assert_eq!(t.occupancy("south"), Some(7));
    assert_eq!(t.occupancy("east"), None);
    let south = t.close(NOON, NOON + 60_000).pop().expect("two zones");
    // A capacity of 0 has no utilisation.
    assert_eq!(
        (south.zone.as_str(), south.entries, south.utilisation),
        ("south", 8, None)
    );
}

#[test]
fn entries_per_minute_counts_the_last_sixty_seconds() {
    let site = site();
    let mut t = ZoneTracker::new(&site);
    // (reading at, entries counter, [(now, entries in (now - 60 s, now])])
    type Line = (Ms, f64, &'static [(Ms, u64)]);
    let script: &[Line] = &[
        (0, 0.0, &[(0, 0)]),
        (1_000, 10.0, &[(1_000, 10), (999, 0)]),
        (30_000, 15.0, &[(30_000, 15), (60_999, 15)]),
        (61_000, 16.0, &[(61_000, 6), (90_000, 1), (121_000, 0)]),
    ];
    for &(dt, entries, queries) in script {
        feed(
            &mut t,
            &site,
            NOON + dt,
            0,
            vec![Some(entries), Some(0.0), None],
        );
        for &(now, want) in queries {
            assert_eq!(
                t.entries_per_min("north", NOON + now),
                Some(want),
                "now +{now}"
            );
        }
    }
    assert_eq!(t.entries_per_min("east", NOON), None);
}

#[test]
fn saved_state_in_another_format_is_refused() {
    let site = site();
    assert!(matches!(
        ZoneTracker::from_bytes(&site, b"{"),
        Err(StateError::Decode(_))
    ));
    assert!(matches!(
        ZoneTracker::from_bytes(&site, br#"{"v":9,"zones":[]}"#),
        Err(StateError::Version { found: 9 })
    ));
}

/// The reset is a local time of day: in Berlin 03:00 is 02:00 UTC in winter and 01:00
/// UTC in summer, and the day of the change to summer time has only 23 hours.
#[test]
fn the_daily_reset_follows_local_time_across_daylight_saving() {
    let mut site = site();
    site.gateway.timezone = crate::localtime::LocalZone::named("Europe/Berlin").unwrap();
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let mut t = ZoneTracker::new(&site);
    let feed_at = |t: &mut ZoneTracker, ts: Ms, entries: f64| {
        feed(t, &site, ts, 0, vec![Some(entries), Some(0.0), Some(0.0)]);
    };
    // Saturday 2026-03-28, winter time: 10 visitors in, then the reset at 03:00 CET.
    feed_at(&mut t, at("2026-03-28T12:00:00+01:00"), 100.0);
    feed_at(&mut t, at("2026-03-28T13:00:00+01:00"), 110.0);
    assert_eq!(t.occupancy("north"), Some(10));
    // The last second of winter time (00:59:59 UTC): no reset yet.
    t.roll(at("2026-03-29T01:59:59+01:00"));
    assert_eq!(t.occupancy("north"), Some(10));
    // Clocks jump 02:00 → 03:00 CEST: 03:00 local is 01:00 UTC that night.
    t.roll(at("2026-03-29T03:00:00+02:00"));
    assert_eq!(t.occupancy("north"), Some(0));
    feed_at(&mut t, at("2026-03-29T12:00:00+02:00"), 115.0);
    assert_eq!(t.occupancy("north"), Some(5));
    // The next reset is 03:00 CEST, 24 hours later; one second before, nothing yet.
    t.roll(at("2026-03-30T02:59:59+02:00"));
    assert_eq!(t.occupancy("north"), Some(5));
    t.roll(at("2026-03-30T03:00:00+02:00"));
    assert_eq!(t.occupancy("north"), Some(0));
}
