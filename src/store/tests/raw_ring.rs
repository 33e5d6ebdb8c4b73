//! The raw ring's format: round trips, replay windows, catalogs, compactness.

use super::{Rng, same, site};
use crate::reading::{Ms, PollError, Sample};
use crate::site::Site;
use crate::store::RawRing;
use crate::store::codec::{Reader, unzigzag, zigzag};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

pub(super) fn three() -> Site {
    site(&[
        ("gate-1", &["entries", "exits"]),
        ("empty", &[]),
        ("th-1", &["a", "b", "c", "d", "e"]),
    ])
}

pub(super) fn sample(device: usize, ts: Ms, values: &[Option<f64>]) -> Sample {
    Sample {
        device,
        ts,
        values: values.to_vec(),
        texts: Vec::new(),
        error: None,
    }
}

pub(super) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

pub(super) fn dir_bytes(dir: &Path) -> u64 {
    segments(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn varints_and_zigzag_round_trip() {
    fn check(v: i64, encoded_len: usize) {
        let mut b = Vec::new();
        crate::store::codec::put_varint(&mut b, zigzag(v));
        assert_eq!(b.len(), encoded_len, "length of {v}");
        let mut r = Reader(&b);
        assert_eq!(unzigzag(r.varint().unwrap()), v);
        assert!(r.is_empty());
    }
    check(0, 1);
    check(-1, 1);
    check(63, 1);
    check(-64, 1);
    check(64, 2);
    check(1000, 2);
    check(i64::MAX, 10);
    check(i64::MIN, 10);
}

#[test]
fn malformed_varints_are_errors() {
    for bytes in [
        &[0x80u8][..],
        &[0xff; 11][..],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..],
    ] {
        assert!(Reader(bytes).varint().is_err(), "{bytes:?}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(Sample),
    Flush,
    Reopen,
}

fn arb_value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => (0i64..3).prop_map(|v| Some(v as f64)),
        1 => Just(None),
        1 => any::<i32>().prop_map(|v| Some(f64::from(v))),
        1 => any::<u64>().prop_map(|b| Some(f64::from_bits(b))),
        1 => prop::sample::select(vec![-0.0, 9_007_199_254_740_992.0, -9_007_199_254_740_994.0, 22.5, f64::NAN, f64::INFINITY])
            .prop_map(Some),
    ]
}

fn arb_error() -> impl Strategy<Value = Option<PollError>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some(PollError::Timeout)),
        1 => "[a-z é]{0,40}".prop_map(|t| Some(PollError::Transport(t))),
        1 => any::<u8>().prop_map(|c| Some(PollError::Exception(c))),
        1 => "[a-z]{0,10}".prop_map(|t| Some(PollError::Malformed(t))),
        1 => Just(Some(PollError::Silent)),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    let points = [2usize, 0, 5];
    let append = (0usize..3, -2000i64..5000, any::<bool>(), arb_error())
        .prop_flat_map(move |(device, dt, odd, error)| {
            // Now and then a sample whose length differs from the catalog's.
            let n = if odd {
                points[device] + 1
            } else {
                points[device]
            };
            (
                prop::collection::vec(arb_value(), n),
                Just((device, dt, error)),
            )
        })
        .prop_map(|(values, (device, dt, error))| {
            Op::Append(Sample {
                device,
                ts: dt,
                values,
                texts: Vec::new(),
                error,
            })
        });
    prop_oneof![8 => append, 2 => Just(Op::Flush), 1 => Just(Op::Reopen)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever was flushed comes back bit for bit after reopen; what was not flushed
    /// before a reopen is gone (the ring promises flushed samples only).
    #[test]
    fn flushed_samples_round_trip_through_reopen(ops in prop::collection::vec(arb_op(), 1..200)) {
        let tmp = tempfile::tempdir().unwrap();
        let site = three();
        let mut ring = RawRing::open(tmp.path(), 1 << 30).unwrap();
        let (mut durable, mut pending) = (Vec::new(), Vec::new());
        let mut ts: Ms = 1_700_000_000_000;
        for op in ops {
            match op {
                Op::Append(mut s) => {
                    ts += s.ts;
                    s.ts = ts;
                    ring.append(&site, &s);
                    // Replay maps values onto the site's points by name: a value the
                    // catalog has no name for is left out, a missing one reads None.
                    s.values.resize(site.devices[s.device].points.len(), None);
                    pending.push(s);
                }
                Op::Flush => {
                    ring.flush().unwrap();
                    durable.append(&mut pending);
                }
                Op::Reopen => {
                    drop(ring);
                    ring = RawRing::open(tmp.path(), 1 << 30).unwrap();
                    pending.clear();
                }
            }
        }
        ring.flush().unwrap();
        durable.append(&mut pending);
        let got = RawRing::open(tmp.path(), 1 << 30).unwrap().replay_since(&site, Ms::MIN).unwrap();
        prop_assert!(same(&got, &durable), "got {got:?}\nwant {durable:?}");
        prop_assert_eq!(ring.dropped(), 0);
    }
}

#[test]
fn replay_since_keeps_only_later_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let site = three();
    let mut ring = RawRing::open(tmp.path(), 1 << 20).unwrap();
    let all: Vec<Sample> = (0..50)
        .map(|i| sample(0, 1000 * i, &[Some(i as f64), None]))
        .collect();
    for (i, s) in all.iter().enumerate() {
        ring.append(&site, s);
        if i % 7 == 0 {
            ring.flush().unwrap();
        }
    }
    ring.flush().unwrap();
    for since in [Ms::MIN, 0, 1, 999, 1000, 24_500, 49_000, 49_001] {
        let want: Vec<Sample> = all.iter().filter(|s| s.ts >= since).cloned().collect();
        assert!(
            same(&ring.replay_since(&site, since).unwrap(), &want),
            "since {since}"
        );
    }
}

#[test]
fn error_texts_are_cut_at_a_char_boundary() {
    let tmp = tempfile::tempdir().unwrap();
    let site = three();
    let mut ring = RawRing::open(tmp.path(), 1 << 20).unwrap();
    let mut s = sample(1, 5, &[]);
    s.error = Some(PollError::Transport("é".repeat(200)));
    ring.append(&site, &s);
    ring.flush().unwrap();
    let got = ring.replay_since(&site, Ms::MIN).unwrap();
    assert_eq!(got[0].error, Some(PollError::Transport("é".repeat(127))));
}

#[test]
fn replay_maps_devices_and_points_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let written = site(&[("g1", &["a", "b", "c"]), ("g2", &["x"])]);
    let mut ring = RawRing::open(tmp.path(), 1 << 20).unwrap();
    ring.append(&written, &sample(0, 1, &[Some(1.0), Some(2.0), Some(3.0)]));
    ring.append(&written, &sample(1, 2, &[Some(9.0)]));
    ring.flush().unwrap();

    fn check(ring: &RawRing, now: Site, want: &[Sample]) {
        let got = ring.replay_since(&now, Ms::MIN).unwrap();
        assert!(same(&got, want), "got {got:?}");
    }
    check(
        &ring,
        written.clone(),
        &[
            sample(0, 1, &[Some(1.0), Some(2.0), Some(3.0)]),
            sample(1, 2, &[Some(9.0)]),
        ],
    );
    check(
        &ring,
        site(&[("g2", &["x"]), ("g1", &["c", "a", "new"])]),
        &[
            sample(1, 1, &[Some(3.0), Some(1.0), None]),
            sample(0, 2, &[Some(9.0)]),
        ],
    );
    check(
        &ring,
        site(&[("g1", &["b"])]),
        &[sample(0, 1, &[Some(2.0)])],
    );
    check(&ring, site(&[("other", &["a"])]), &[]);
}

#[test]
fn a_changed_site_starts_a_new_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let old = site(&[("g1", &["a", "b"])]);
    let new = site(&[("g1", &["b", "a"])]);
    let mut ring = RawRing::open(tmp.path(), 1 << 20).unwrap();
    ring.append(&old, &sample(0, 1, &[Some(1.0), Some(2.0)]));
    ring.append(&new, &sample(0, 2, &[Some(20.0), Some(10.0)]));
    ring.flush().unwrap();
    assert_eq!(segments(tmp.path()).len(), 2);
    let got = ring.replay_since(&new, Ms::MIN).unwrap();
    assert!(same(
        &got,
        &[
            sample(0, 1, &[Some(2.0), Some(1.0)]),
            sample(0, 2, &[Some(20.0), Some(10.0)]),
        ]
    ));
}

#[test]
fn unknown_device_index_is_dropped_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let site = three();
    let mut ring = RawRing::open(tmp.path(), 1 << 20).unwrap();
    ring.append(&site, &sample(7, 1, &[Some(1.0), Some(2.0)]));
    ring.flush().unwrap();
    assert_eq!(ring.dropped(), 2);
    assert!(ring.replay_since(&site, Ms::MIN).unwrap().is_empty());
}

/// 300 turnstiles (7 points) polled every second for 10 minutes: counters move now and
/// then, states and bools rarely. The ring must stay far below the 0.5 MB/min budget.
#[test]
fn turnstile_workload_is_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("gate-{i}")).collect();
    let points: &[&str] = &[
        "entries",
        "exits",
        "status",
        "forced_entry",
        "tailgating",
        "open",
        "locked",
    ];
    let devs: Vec<(&str, &[&str])> = names.iter().map(|n| (n.as_str(), points)).collect();
    let site = site(&devs);
    let mut ring = RawRing::open(tmp.path(), 1 << 30).unwrap();
    let mut rng = Rng::new(3);
    let mut state: Vec<[f64; 7]> = (0..300)
        .map(|_| {
            [
                rng.below(1 << 20) as f64,
                rng.below(1 << 20) as f64,
                0.0,
                0.0,
                0.0,
                0.0,
                1.0,
            ]
        })
        .collect();
    let seconds = 600;
    for sec in 0..seconds {
        for (d, st) in state.iter_mut().enumerate() {
            if rng.chance(0.3) {
                st[0] += 1.0 + rng.below(2) as f64;
            }
            if rng.chance(0.3) {
                st[1] += 1.0;
            }
            if rng.chance(0.01) {
                st[2] = rng.below(4) as f64;
            }
            if rng.chance(0.002) {
                st[3] = 1.0 - st[3];
            }
            let ts = 1_700_000_000_000 + sec * 1000 + (d as Ms % 10) * 3;
            ring.append(
                &site,
                &Sample {
                    device: d,
                    ts,
                    values: st.iter().map(|v| Some(*v)).collect(),
                    texts: Vec::new(),
                    error: None,
                },
            );
        }
        ring.flush().unwrap();
    }
    let readings = (300 * 7 * seconds) as f64;
    let per_reading = ring.bytes_on_disk() as f64 / readings;
    let per_minute = ring.bytes_on_disk() as f64 / (seconds as f64 / 60.0);
    println!(
        "raw ring, turnstile workload: {per_reading:.3} bytes/reading, {:.0} KB/min of payload",
        per_minute / 1000.0
    );
    assert!(per_reading < 1.5, "{per_reading} bytes per reading");
}
