//! Properties over random operation sequences on the test site, which has one rule of
//! every type: an alarm key is never raised twice without a clear in between, a clear
//! carries the id of its raise, and `active()` is exactly what was raised and not
//! cleared, also across restarts (export, new engine, import) at random points.

use super::super::*;
use super::fixture::site;
use crate::reading::PollError;
use crate::site::PointSource;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
enum Op {
    /// A poll of a device, `dt` ms after the previous operation; `failed` empties it.
    Sample {
        device: usize,
        values: Vec<Option<f64>>,
        failed: bool,
        dt: Ms,
    },
    /// The device's previous values again (flat lines, repeated kiosk scans).
    Repeat {
        device: usize,
        dt: Ms,
    },
    Tick {
        dt: Ms,
    },
    Zone {
        occupancy: f64,
        entries_per_min: f64,
        dt: Ms,
    },
    Restart,
}

/// Values that straddle the limits of the site's rules: bits, confidences, body
/// temperatures, water levels, counter totals.
fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        1 => Just(None),
        2 => Just(Some(0.0)),
        2 => Just(Some(1.0)),
        2 => (0.0..1.0f64).prop_map(Some),
        3 => (36.0..39.0f64).prop_map(Some),
        2 => (0.0..6.0f64).prop_map(Some),
        2 => (0.0..5000.0f64).prop_map(Some),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..6usize, vec(value(), 2), prop::bool::weighted(0.2), 0..60_000i64)
            .prop_map(|(device, values, failed, dt)| Op::Sample { device, values, failed, dt }),
        4 => (0..6usize, 0..300_000i64).prop_map(|(device, dt)| Op::Repeat { device, dt }),
        2 => (0..120_000i64).prop_map(|dt| Op::Tick { dt }),
        2 => (0.0..1200.0f64, 0.0..200.0f64, 0..60_000i64)
            .prop_map(|(occupancy, entries_per_min, dt)| Op::Zone { occupancy, entries_per_min, dt }),
        1 => Just(Op::Restart),
    ]
}

/// Runs the operations and checks the lifecycle; returns every change, or the first
/// violation.
fn run(ops: &[Op]) -> Result<Vec<AlarmChange>, String> {
    let s = site();
    let mut e = Engine::new(&s);
    let mut last: Vec<Vec<Option<f64>>> = vec![vec![None, None]; s.devices.len()];
    let mut now: Ms = 1_800_000_000_000;
    let mut all = Vec::new();
    // Alarm key (the id without its raise time) → id of the raise now open.
    let mut open: BTreeMap<String, String> = BTreeMap::new();
    for op in ops {
        let mut out = Vec::new();
        match op {
            Op::Sample {
                device,
                values,
                failed,
                dt,
            } => {
                now += dt;
                let camera = s.devices[*device]
                    .points
                    .iter()
                    .any(|p| matches!(p.source, PointSource::Json { .. }));
                let (values, error) = match (*failed, camera) {
                    (false, _) => (values.clone(), None),
                    (true, false) => (vec![None, None], Some(PollError::Timeout)),
                    (true, true) => (vec![None, None], Some(PollError::Silent)),
                };
                e.on_sample(&s, *device, now, &values, error.as_ref(), &mut out);
                last[*device] = values;
            }
            Op::Repeat { device, dt } => {
                now += dt;
                e.on_sample(&s, *device, now, &last[*device], None, &mut out);
            }
            Op::Tick { dt } => {
                now += dt;
                e.tick(now, &mut out);
            }
            Op::Zone {
                occupancy,
                entries_per_min,
                dt,
            } => {
                now += dt;
                e.on_zone(
                    "north-entrance",
                    now,
                    *occupancy,
                    1000,
                    *entries_per_min,
                    &mut out,
                );
            }
            Op::Restart => {
                let state = e.export_state();
                e = Engine::new(&s);
                e.import_state(&state)?;
            }
        }
        for c in &out {
            let key = c
                .alarm
                .id
                .rsplit_once(':')
                .map_or("", |(k, _)| k)
                .to_owned();
            match c.state {
                AlarmState::Raised => {
                    if let Some(prev) = open.insert(key, c.alarm.id.clone()) {
                        return Err(format!("{} raised while {prev} is open", c.alarm.id));
                    }
                }
                AlarmState::Cleared => match open.remove(&key) {
                    Some(id) if id == c.alarm.id => {}
                    other => return Err(format!("{} cleared while open is {other:?}", c.alarm.id)),
                },
            }
            if c.ts != now {
                return Err(format!("{} stamped {} at {now}", c.alarm.id, c.ts));
            }
        }
        let active: BTreeSet<String> = e.active().into_iter().map(|a| a.id).collect();
        let expected: BTreeSet<String> = open.values().cloned().collect();
        if active != expected {
            return Err(format!("active {active:?} but open {expected:?}"));
        }
        all.extend(out);
    }
    Ok(all)
}

proptest! {
    #![proptest_config(Config { cases: 300, ..Config::default() })]

    #[test]
    fn never_two_raises_without_a_clear(ops in vec(op(), 1..200)) {
        if let Err(e) = run(&ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The property above means something only if its random sequences raise alarms of
/// every rule type; this checks that with a fixed seed.
#[test]
fn the_random_sequences_raise_every_rule_type() {
    let mut runner = TestRunner::deterministic();
    let strategy = vec(op(), 100..200);
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        let ops = strategy
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        let changes = run(&ops).expect("lifecycle holds");
        seen.extend(
            changes
                .into_iter()
                .filter(|c| c.state == AlarmState::Raised)
                .map(|c| c.alarm.rule),
        );
    }
    let all: BTreeSet<String> = site().rules.iter().map(|r| r.name.clone()).collect();
    assert_eq!(seen, all);
}
