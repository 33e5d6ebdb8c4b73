//! Scripted sequences for `threshold`: hysteresis, hold, both directions, per-scan judgement.

use super::*;
use crate::rules::AlarmState;
use crate::site::Severity;

const L: Labels<'static> = Labels {
    rule: "fever",
    severity: Severity::Critical,
    device: "kiosk-1",
    point: Some("body_temp"),
    tag: "",
};

/// One step of a script: a sample (value, trigger) at ts, or a tick at ts.
#[derive(Clone, Copy)]
enum S {
    V(Ms, f64),
    Scan(Ms, f64, f64),
    Tick(Ms),
}

/// Runs a script and returns the changes as (ts, state, tag, value) in order.
fn check(mut t: Threshold, script: &[S], expected: &[(Ms, AlarmState, &str, f64)]) {
    let mut out = Vec::new();
    for s in script {
        match *s {
            S::V(ts, v) => t.sample(&L, &[Some(v)], ts, &mut out),
            S::Scan(ts, v, n) => t.sample(&L, &[Some(v), Some(n)], ts, &mut out),
            S::Tick(ts) => t.tick(&L, ts, &mut out),
        }
    }
    let got: Vec<_> = out
        .iter()
        .map(|c| {
            let tag = c
                .alarm
                .id
                .split(':')
                .nth(3)
                .filter(|s| s.parse::<i64>().is_err());
            (c.ts, c.state, tag.unwrap_or(""), c.alarm.value)
        })
        .collect();
    let expected: Vec<_> = expected.to_vec();
    assert_eq!(got, expected);
}

fn fever() -> Threshold {
    let limits = Limits {
        above: Some(37.3),
        clear_below: Some(37.0),
        ..Limits::default()
    };
    Threshold::new(0, None, limits, 0)
}

use AlarmState::{Cleared as C, Raised as R};
use S::{Scan, Tick, V};

#[test]
fn noise_at_the_limit_does_not_flap() {
    let script: Vec<S> = (0..40)
        .map(|i| V(i, if i % 2 == 0 { 37.31 } else { 37.29 }))
        .chain([V(40, 36.9), V(41, 37.1), V(42, 36.95)])
        .collect();
    check(fever(), &script, &[(0, R, "", 37.31), (40, C, "", 36.9)]);
}

#[test]
fn the_limit_itself_trips_and_the_clear_level_itself_does_not_clear() {
    check(
        fever(),
        &[V(1, 37.3), V(2, 37.0), V(3, 36.99)],
        &[(1, R, "", 37.3), (3, C, "", 36.99)],
    );
}

#[test]
fn a_default_clear_level_gives_a_deadband_of_one_percent() {
    let t = Threshold::new(
        0,
        None,
        Limits {
            above: Some(100.0),
            ..Limits::default()
        },
        0,
    );
    let script = [V(1, 100.0), V(2, 99.5), V(3, 100.2), V(4, 98.9)];
    check(t, &script, &[(1, R, "", 100.0), (4, C, "", 98.9)]);
}

/// The config writes a clear level left out as the limit itself (`clear_below =
/// above`), which would leave no band: noise at the limit must still not flap.
#[test]
fn a_clear_level_at_the_limit_gets_the_default_deadband() {
    let noise = [
        V(1, 100.0),
        V(2, 99.99),
        V(3, 100.0),
        V(4, 99.5),
        V(5, 98.9),
    ];
    let high = Limits {
        above: Some(100.0),
        clear_below: Some(100.0),
        ..Limits::default()
    };
    check(
        Threshold::new(0, None, high, 0),
        &noise,
        &[(1, R, "", 100.0), (5, C, "", 98.9)],
    );
    let low = Limits {
        below: Some(-100.0),
        clear_above: Some(-100.0),
        ..Limits::default()
    };
    let noise = noise.map(|s| match s {
        V(ts, v) => V(ts, -v),
        other => other,
    });
    check(
        Threshold::new(0, None, low, 0),
        &noise,
        &[(1, R, "", -100.0), (5, C, "", -98.9)],
    );
}

#[test]
fn hold_time_is_respected_by_samples_and_by_tick() {
    let t = || {
        Threshold::new(
            0,
            None,
            Limits {
                above: Some(10.0),
                ..Limits::default()
            },
            5_000,
        )
    };
    // Interrupted before the hold ran out: nothing.
    check(
        t(),
        &[
            V(0, 11.0),
            V(4_000, 11.0),
            V(4_500, 9.0),
            V(9_000, 11.0),
            Tick(13_000),
        ],
        &[],
    );
    // A sample after the hold raises with its own value.
    check(
        t(),
        &[V(0, 11.0), V(2_000, 12.0), V(5_000, 13.0)],
        &[(5_000, R, "", 13.0)],
    );
    // Tick raises with the latest value once the hold ran out, and only once.
    check(
        t(),
        &[
            V(0, 11.0),
            V(2_000, 12.0),
            Tick(4_999),
            Tick(5_000),
            Tick(6_000),
            V(7_000, 12.0),
        ],
        &[(5_000, R, "", 12.0)],
    );
}

#[test]
fn above_and_below_are_two_alarms() {
    let limits = Limits {
        above: Some(30.0),
        clear_below: Some(28.0),
        below: Some(0.0),
        clear_above: Some(2.0),
    };
    let t = Threshold::new(0, None, limits, 0);
    let script = [V(1, 31.0), V(2, 29.0), V(3, -1.0), V(4, 1.0), V(5, 3.0)];
    check(
        t,
        &script,
        &[
            (1, R, "", 31.0),
            (3, C, "", -1.0),
            (3, R, "low", -1.0),
            (5, C, "low", 3.0),
        ],
    );
}

#[test]
fn fever_is_judged_once_per_scan() {
    let limits = Limits {
        above: Some(37.3),
        clear_below: Some(37.0),
        ..Limits::default()
    };
    let t = || Threshold::new(0, Some(1), limits, 0);
    // The kiosk repeats 38.1 for many polls: one alarm. The next scan (36.6) clears.
    check(
        t(),
        &[
            Scan(1, 36.5, 10.0),
            Scan(2, 38.1, 11.0),
            Scan(3, 38.1, 11.0),
            Scan(4, 38.1, 11.0),
            Scan(5, 36.6, 12.0),
            Scan(6, 36.6, 12.0),
        ],
        &[(2, R, "", 38.1), (5, C, "", 36.6)],
    );
    // Two fever scans in a row are two visitors: two alarms, each cleared once.
    // A scan inside the hysteresis band is a normal visitor and clears.
    check(
        t(),
        &[Scan(1, 38.1, 1.0), Scan(2, 38.4, 2.0), Scan(3, 37.1, 3.0)],
        &[
            (1, R, "", 38.1),
            (2, C, "", 38.4),
            (2, R, "", 38.4),
            (3, C, "", 37.1),
        ],
    );
    // A poll without the trigger or the value judges nothing.
    let mut t = t();
    let mut out = Vec::new();
    t.sample(&L, &[Some(38.0), None], 1, &mut out);
    t.sample(&L, &[None, Some(5.0)], 2, &mut out);
    assert!(out.is_empty());
    t.sample(&L, &[Some(38.0), Some(5.0)], 3, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn messages_read_like_a_sentence() {
    let mut out = Vec::new();
    let mut t = fever();
    t.sample(&L, &[Some(38.1)], 1, &mut out);
    t.sample(&L, &[Some(36.8)], 2, &mut out);
    assert_eq!(out[0].alarm.message, "body_temp 38.1 above 37.3 on kiosk-1");
    assert_eq!(out[0].alarm.limit, 37.3);
    assert_eq!(
        out[1].alarm.message,
        "body_temp 36.8 back below 37 on kiosk-1"
    );
}

#[test]
fn a_below_only_rule_has_one_untagged_alarm() {
    let limits = Limits {
        below: Some(-10.0),
        ..Limits::default()
    };
    let mut t = Threshold::new(0, None, limits, 0);
    assert_eq!(
        t.slots().iter().map(|(tag, _)| *tag).collect::<Vec<_>>(),
        [""]
    );
    assert!(t.slot_mut("low").is_none());
    // The default clear level is 1 % of |limit| above it: -9.9.
    check(
        t,
        &[V(1, -10.0), V(2, -9.95), V(3, -9.8)],
        &[(1, R, "", -10.0), (3, C, "", -9.8)],
    );
}
