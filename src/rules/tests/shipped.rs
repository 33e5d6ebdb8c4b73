//! The rules of the shipped `config/sitewarden.toml`, judged on the shipped profiles:
//! the defaults a site starts from do what issue 4 asks (fever at 37.3 °C, crowding at
//! 80 % and 100 %, forced entry, offline after 3 failed polls, a river that jumps or
//! freezes, an intrusion).

use super::*;
use crate::reading::PollError;

const EXAMPLE: &str = include_str!("../../../config/sitewarden.toml");

fn shipped() -> Site {
    crate::config::load_from(EXAMPLE, "sitewarden.toml", &[], &[])
        .unwrap_or_else(|e| panic!("the shipped config loads: {e}"))
}

/// A sample of `device` with the named points set (engineering values), others absent.
fn values(site: &Site, device: usize, set: &[(&str, f64)]) -> Vec<Option<f64>> {
    let d = &site.devices[device];
    let mut v = vec![None; d.points.len()];
    for (name, x) in set {
        let i = d
            .point_index(name)
            .unwrap_or_else(|| panic!("{} has {name}", d.id));
        v[i] = Some(*x);
    }
    v
}

/// Point values of one sample, by name; `None` is a failed poll.
type Set<'a> = Option<&'a [(&'a str, f64)]>;

/// Feeds `script` — (ts, point values) or a failed poll (`None`) — for one device and
/// returns the changes as `state rule point value`.
fn judge(device: &str, script: &[(Ms, Set<'_>)]) -> Vec<String> {
    let site = shipped();
    let mut e = Engine::new(&site);
    let d = site.device_index(device).expect("shipped device");
    let mut out = Vec::new();
    for (ts, set) in script {
        match set {
            Some(set) => e.on_sample(&site, d, *ts, &values(&site, d, set), None, &mut out),
            None => {
                let none = vec![None; site.devices[d].points.len()];
                e.on_sample(&site, d, *ts, &none, Some(&PollError::Timeout), &mut out);
            }
        }
    }
    out.iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.state.name(),
                c.alarm.rule,
                c.alarm.point.as_deref().unwrap_or("-"),
                alarm::num(c.alarm.value)
            )
        })
        .collect()
}

#[test]
fn a_kiosk_raises_fever_at_37_3_once_per_scan() {
    let scan = |t: f64, n: f64| [("body_temp", t), ("scans", n)];
    let (a, b, c, d) = (
        scan(36.8, 1.0),
        scan(37.2, 2.0),
        scan(37.3, 3.0),
        scan(36.9, 4.0),
    );
    let got = judge(
        "kiosk-n1",
        &[
            (0, Some(&a)),
            (500, Some(&b)),
            (1_000, Some(&c)),
            (1_500, Some(&c)),
            (2_000, Some(&d)),
        ],
    );
    assert_eq!(
        got,
        [
            "raised fever body_temp 37.3",
            "cleared fever body_temp 36.9"
        ]
    );
}

#[test]
fn a_gate_raises_forced_entry_and_goes_offline_after_three_failed_polls() {
    let (idle, forced) = ([("forced_entry", 0.0)], [("forced_entry", 1.0)]);
    let got = judge(
        "gate-n1",
        &[
            (0, Some(&idle)),
            (1_000, Some(&forced)),
            (2_000, Some(&idle)),
            (3_000, None),
            (4_000, None),
            (6_000, None),
            (10_000, Some(&idle)),
        ],
    );
    assert_eq!(
        got,
        [
            "raised forced-entry forced_entry 1",
            "cleared forced-entry forced_entry 0",
            "raised offline - 3",
            "cleared offline - 0",
        ]
    );
}

#[test]
fn the_north_entrance_warns_at_80_percent_and_is_critical_at_100() {
    let site = shipped();
    let mut e = Engine::new(&site);
    let mut out = Vec::new();
    for (ts, occupancy) in [(0, 3_999.0), (1, 4_000.0), (2, 5_000.0), (3, 3_000.0)] {
        e.on_zone("north-entrance", ts, occupancy, 5_000, 0.0, &mut out);
    }
    let got: Vec<_> = out
        .iter()
        .map(|c| (c.ts, c.state, c.alarm.severity, c.alarm.limit))
        .collect();
    use AlarmState::{Cleared, Raised};
    use Severity::{Critical, Warning};
    assert_eq!(
        got,
        [
            (1, Raised, Warning, 4_000.0),
            (2, Raised, Critical, 5_000.0),
            (3, Cleared, Warning, 4_000.0),
            (3, Cleared, Critical, 5_000.0),
        ]
    );
}

#[test]
fn the_river_level_is_judged_for_spikes_and_for_freezing() {
    // Noise around 1.20 m for a while, one jump, then a meter stuck for two hours.
    let mut script: Vec<(Ms, f64)> = (0..30)
        .map(|i| (i * 5_000, 1.20 + 0.01 * f64::from((i % 5) as i32 - 2)))
        .collect();
    script.push((150_000, 2.50));
    script.push((155_000, 1.21));
    let frozen_from = 160_000;
    script.extend((0..=1_440).map(|i| (frozen_from + i * 5_000, 1.234)));
    let steps: Vec<[(&str, f64); 1]> = script.iter().map(|&(_, v)| [("level_m", v)]).collect();
    let script: Vec<(Ms, Set<'_>)> = script
        .iter()
        .zip(&steps)
        .map(|(&(ts, _), s)| (ts, Some(&s[..])))
        .collect();
    let got = judge("river-level", &script);
    assert_eq!(
        got,
        [
            "raised river-spike level_m 2.5",
            "cleared river-spike level_m 1.21",
            "raised river-flatline level_m 1.234",
        ]
    );
}

#[test]
fn an_intrusion_on_the_river_bank_camera_raises_above_its_confidence() {
    let (low, high) = ([("intrusion", 0.5)], [("intrusion", 0.91)]);
    let got = judge("cam-river-bank", &[(0, Some(&low)), (1_000, Some(&high))]);
    assert_eq!(got, ["raised river-bank-intrusion intrusion 0.91"]);
}
