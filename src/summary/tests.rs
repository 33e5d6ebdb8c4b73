//! `DeviceWindow` over whole samples: kinds side by side, scale applied once, quality,
//! and the carry across windows. Per-kind edge cases live next to each kind.

use super::*;
use crate::reading::PollError;
use crate::site::{ByteOrder, PointType, Table};
use std::time::Duration;

/// A Modbus point: counters are u32, everything else u16; scale as given, no offset.
pub(crate) fn point(name: &str, kind: PointKind, scale: f64) -> Point {
    let ty = if kind == PointKind::Counter {
        PointType::U32
    } else {
        PointType::U16
    };
    Point {
        name: name.to_string(),
        source: PointSource::Modbus {
            table: Table::Input,
            address: 0,
            ty,
            order: ByteOrder::ABCD,
        },
        scale,
        offset: 0.0,
        unit: None,
        kind,
        writable: kind == PointKind::Command,
        labels: Vec::new(),
    }
}

pub(crate) fn device(id: &str, zone: Option<&str>, points: Vec<Point>) -> Device {
    Device {
        id: id.to_string(),
        profile: "test".to_string(),
        connection: 0,
        unit: 1,
        poll: Duration::from_secs(1),
        zone: zone.map(str::to_string),
        max_registers_per_read: 125,
        max_gap: 0,
        points: points.into(),
        camera: None,
        live: None,
    }
}

fn sample(ts: Ms, values: &[Option<f64>], error: Option<PollError>) -> Sample {
    Sample {
        device: 0,
        ts,
        values: values.to_vec(),
        texts: Vec::new(),
        error,
    }
}

/// The turnstile profile's kinds, plus a gauge with a 0.1 scale.
fn gate() -> Device {
    device(
        "gate-n1",
        None,
        vec![
            point("entries", PointKind::Counter, 1.0),
            point("status", PointKind::State, 1.0),
            point("forced_entry", PointKind::Event, 1.0),
            point("open", PointKind::Command, 1.0),
            point("temperature", PointKind::Gauge, 0.1),
        ],
    )
}

/// Runs one window over `rows` and returns its summary and carry.
fn run(dev: &Device, carry: Carry, rows: &[Sample]) -> (DeviceSummary, Carry) {
    let mut w = DeviceWindow::new(dev, 60_000, 120_000, carry);
    for s in rows {
        w.add(dev, s);
    }
    w.finish()
}

fn get<'a>(s: &'a DeviceSummary, name: &str) -> &'a PointSummary {
    &s.points.iter().find(|(n, _)| n == name).expect(name).1
}

#[test]
fn each_kind_is_summarised_side_by_side() {
    let dev = gate();
    let (s, _) = run(
        &dev,
        Carry::default(),
        &[
            sample(
                60_000,
                &[Some(100.0), Some(0.0), Some(0.0), Some(0.0), Some(223.0)],
                None,
            ),
            sample(
                61_000,
                &[Some(103.0), Some(1.0), Some(1.0), Some(1.0), Some(225.0)],
                None,
            ),
            sample(
                62_000,
                &[Some(104.0), Some(0.0), Some(1.0), Some(1.0), Some(218.0)],
                None,
            ),
        ],
    );
    assert_eq!((s.start, s.end), (60_000, 120_000));
    let names: Vec<&str> = s.points.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["entries", "status", "forced_entry", "open", "temperature"]
    );
    let expected = [
        PointSummary::Counter {
            first: Some(100.0),
            last: Some(104.0),
            delta: Some(4.0),
            rollovers: 0,
            resets: 0,
        },
        PointSummary::State {
            last: Some(0.0),
            transitions: 2,
        },
        PointSummary::Event { count: 1 },
        PointSummary::State {
            last: Some(1.0),
            transitions: 1,
        },
        // Scale applied exactly once, and 0.1 as a division: 223 reads 22.3.
        PointSummary::Gauge {
            count: 3,
            min: Some(21.8),
            max: Some(22.5),
            mean: Some((22.3 + 22.5 + 21.8) / 3.0),
            last: Some(21.8),
        },
    ];
    for ((name, got), want) in s.points.iter().zip(&expected) {
        assert_eq!(got, want, "point {name}");
    }
}

#[test]
fn quality_counts_polls_and_errors_and_keeps_the_last_error() {
    let dev = device("th-1", None, vec![point("humidity", PointKind::Gauge, 0.1)]);
    // (samples as (value, error), polls, errors, last_error, gauge count)
    type Row = (Option<f64>, Option<PollError>);
    type Case = (Vec<Row>, u64, u64, Option<&'static str>, u64);
    let cases: Vec<Case> = vec![
        (vec![], 0, 0, None, 0),
        (
            vec![(Some(500.0), None), (Some(510.0), None)],
            2,
            0,
            None,
            2,
        ),
        (
            vec![
                (None, Some(PollError::Timeout)),
                (Some(500.0), None),
                (None, Some(PollError::Exception(2))),
            ],
            3,
            2,
            Some("exception 0x02 (illegal data address)"),
            1,
        ),
        // A partly failed poll is one error, and its values still count.
        (
            vec![(Some(480.0), Some(PollError::Malformed("bad crc".into())))],
            1,
            1,
            Some("malformed: bad crc"),
            1,
        ),
        // The last error is kept even when good polls follow it.
        (
            vec![(None, Some(PollError::Timeout)), (Some(1.0), None)],
            2,
            1,
            Some("timeout"),
            1,
        ),
    ];
    for (rows, polls, errors, last_error, count) in cases {
        let samples: Vec<Sample> = rows
            .iter()
            .enumerate()
            .map(|(i, (v, e))| sample(60_000 + i as Ms, &[*v], e.clone()))
            .collect();
        let (s, _) = run(&dev, Carry::default(), &samples);
        let want = Quality {
            polls,
            errors,
            last_error: last_error.map(str::to_string),
        };
        assert_eq!(s.quality, want, "rows {rows:?}");
        let PointSummary::Gauge { count: got, .. } = get(&s, "humidity") else {
            panic!("humidity is a gauge");
        };
        assert_eq!(*got, count, "rows {rows:?}");
    }
}

#[test]
fn counter_delta_state_and_edges_span_windows_through_the_carry() {
    let dev = gate();
    let row = |ts, entries, status, forced| {
        sample(
            ts,
            &[Some(entries), Some(status), Some(forced), None, None],
            None,
        )
    };
    // Window 1 ends just before the u32 wrap, with status 2 and the event bit low.
    let (_, carry) = run(
        &dev,
        Carry::default(),
        &[row(60_000, 4_294_967_290.0, 2.0, 0.0)],
    );
    // Window 2: the counter wraps to 5, status changes, the bit rises.
    let (s, carry) = run(
        &dev,
        carry,
        &[row(120_000, 5.0, 3.0, 1.0), row(121_000, 9.0, 3.0, 1.0)],
    );
    assert_eq!(
        get(&s, "entries"),
        &PointSummary::Counter {
            first: Some(5.0),
            last: Some(9.0),
            delta: Some(15.0),
            rollovers: 1,
            resets: 0,
        }
    );
    assert_eq!(
        get(&s, "status"),
        &PointSummary::State {
            last: Some(3.0),
            transitions: 1
        }
    );
    assert_eq!(get(&s, "forced_entry"), &PointSummary::Event { count: 1 });

    // Window 3 has no readings: nothing is claimed, and the carry passes through.
    let (s, carry) = run(
        &dev,
        carry,
        &[sample(180_000, &[None; 5], Some(PollError::Timeout))],
    );
    assert_eq!(
        get(&s, "entries"),
        &PointSummary::Counter {
            first: None,
            last: None,
            delta: None,
            rollovers: 0,
            resets: 0,
        }
    );
    assert_eq!(
        get(&s, "status"),
        &PointSummary::State {
            last: None,
            transitions: 0
        }
    );

    // Window 4: the device restarted and counted 2; the held bit is not a new edge.
    let (s, _) = run(&dev, carry, &[row(240_000, 2.0, 3.0, 1.0)]);
    assert_eq!(
        get(&s, "entries"),
        &PointSummary::Counter {
            first: Some(2.0),
            last: Some(2.0),
            delta: Some(2.0),
            rollovers: 0,
            resets: 1,
        }
    );
    assert_eq!(get(&s, "forced_entry"), &PointSummary::Event { count: 0 });
}

#[test]
fn carry_follows_points_by_name_and_survives_a_restart_as_bytes() {
    let dev = gate();
    let (_, carry) = run(
        &dev,
        Carry::default(),
        &[sample(
            60_000,
            &[Some(10.0), Some(1.0), Some(0.0), Some(0.0), Some(1.0)],
            None,
        )],
    );
    let restored = Carry::from_bytes(&carry.to_bytes()).expect("round trip");
    assert_eq!(restored, carry);

    // The profile was reordered; the counter still continues from 10.
    let mut points = dev.points.to_vec();
    points.reverse();
    let reordered = device("gate-n1", None, points);
    let (s, _) = run(
        &reordered,
        restored,
        &[sample(120_000, &[None, None, None, None, Some(12.0)], None)],
    );
    let PointSummary::Counter { delta, .. } = get(&s, "entries") else {
        panic!("entries is a counter");
    };
    assert_eq!(*delta, Some(2.0));
}

#[test]
fn saved_carry_in_another_format_is_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"not json", "saved summary state is not valid json"),
        (
            br#"{"v":2,"carry":{"last":[]}}"#,
            "saved summary state has version 2, expected 1",
        ),
    ];
    for (bytes, msg) in cases {
        let err = Carry::from_bytes(bytes).expect_err("must be refused");
        assert!(err.to_string().starts_with(msg), "{err}");
    }
}

#[test]
fn camera_events_count_every_message_and_nan_values_are_ignored() {
    let mut cam_point = point("intrusion", PointKind::Event, 1.0);
    cam_point.source = PointSource::Json {
        pointer: "/confidence".into(),
        filter: vec![("/type".into(), "intrusion".into())],
    };
    let dev = device(
        "cam-1",
        None,
        vec![cam_point, point("level_m", PointKind::Gauge, 1.0)],
    );
    let (s, carry) = run(
        &dev,
        Carry::default(),
        &[
            sample(60_000, &[Some(0.91), None], None),
            sample(60_500, &[Some(0.4), Some(f64::NAN)], None),
            sample(61_000, &[None, Some(f64::INFINITY)], None),
            sample(61_500, &[Some(0.95), Some(1.25)], None),
        ],
    );
    assert_eq!(get(&s, "intrusion"), &PointSummary::Event { count: 3 });
    assert_eq!(
        get(&s, "level_m"),
        &PointSummary::Gauge {
            count: 1,
            min: Some(1.25),
            max: Some(1.25),
            mean: Some(1.25),
            last: Some(1.25),
        }
    );
    // Camera events and gauges carry nothing.
    assert_eq!(carry, Carry::default());
}

#[test]
fn text_points_report_the_last_text_and_changes_across_windows() {
    let dev = device(
        "meter-1",
        None,
        vec![
            point("volts", PointKind::Gauge, 0.1),
            point("serial", PointKind::Text, 1.0),
        ],
    );
    let texted = |ts: Ms, volts: f64, serial: Option<&str>| {
        let mut s = sample(ts, &[Some(volts), None], None);
        s.texts = serial.map(|t| (1, t.into())).into_iter().collect();
        s
    };
    let rows = [
        texted(60_000, 2301.0, Some("SN-1")),
        texted(61_000, 2302.0, Some("SN-1")),
        // A poll that read no text (the read failed) changes nothing.
        texted(62_000, 2303.0, None),
        texted(63_000, 2304.0, Some("SN-2")),
    ];
    let (summary, carry) = run(&dev, Carry::default(), &rows);
    assert_eq!(
        summary.points[1],
        (
            "serial".to_string(),
            PointSummary::Text {
                last: Some("SN-2".into()),
                transitions: 1
            }
        )
    );
    // Numbers beside the text are untouched by it.
    assert!(matches!(
        summary.points[0].1,
        PointSummary::Gauge { count: 4, .. }
    ));
    // The carry survives a restart, and the next window counts the change from it.
    let carry = Carry::from_bytes(&carry.to_bytes()).expect("reads back");
    let (next, _) = run(&dev, carry, &[texted(120_000, 2300.0, Some("SN-3"))]);
    assert_eq!(
        next.points[1].1,
        PointSummary::Text {
            last: Some("SN-3".into()),
            transitions: 1
        }
    );
}

#[test]
fn a_carry_saved_before_text_points_reads_back_and_is_written_the_same() {
    let old = br#"{"v":1,"carry":{"last":[["entries",120.0]]}}"#;
    let carry = Carry::from_bytes(old).expect("old state loads");
    assert_eq!(carry.to_bytes(), old.to_vec());
}
