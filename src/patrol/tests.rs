//! The round tracker against scripted taps: a night patrol of four checkpoints in
//! Berlin (a zone with daylight saving), every 2 h from 20:00 to 06:00, 10 minutes a
//! leg and an hour a round.

use super::*;
use crate::rules::AlarmState;

const SITE: &str = r#"
[gateway]
site = "s"
id = "gw"
timezone = "Europe/Berlin"

[uplink]
broker = "mqtt://127.0.0.1"

[[connection]]
name = "bus"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[connection]]
name = "lan"
type = "mqtt"
broker = "mqtt://127.0.0.1"

[[device]]
id = "cp-a"
profile = "tag-reader"
connection = "bus"
unit = 1

[[device]]
id = "cp-b"
profile = "tag-reader"
connection = "bus"
unit = 2

[[device]]
id = "cp-c"
profile = "tag-reader"
connection = "bus"
unit = 3

[[device]]
id = "cp-d"
profile = "tag-reader-mqtt"
connection = "lan"

[[patrol]]
name = "night"
checkpoints = ["cp-a", "cp-b", "cp-c", "cp-d"]
schedule = "every 2h from 20:00 to 06:00"
leg = "10m"
round = "1h"
tags = [1001, 1002]
"#;

const STAFF: u32 = 1001;
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

fn site() -> Site {
    crate::config::load_from(SITE, "t.toml", &[], &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn at(s: &str) -> Ms {
    s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// 3 December 2026 (CET, UTC+1), `hh:mm:ss` local.
fn dec3(t: &str) -> Ms {
    at(&format!("2026-12-03T{t}+01:00"))
}

/// A tracker with scripted input, collecting everything it says.
struct Script {
    t: Tracker,
    changes: Vec<AlarmChange>,
    rounds: Vec<RoundOutcome>,
}

impl Script {
    /// A fresh tracker that has seen time `now` (so the first round is the next one).
    fn at(now: Ms) -> Script {
        let mut s = Script {
            t: Tracker::new(&site()),
            changes: Vec::new(),
            rounds: Vec::new(),
        };
        s.tick(now);
        s
    }

    fn tick(&mut self, now: Ms) {
        self.t.tick(now, &mut self.changes);
        self.rounds.extend(self.t.take_rounds());
    }

    /// Ticks every 10 s from `from` to `to` (as ingest does, more sparsely).
    fn run(&mut self, from: Ms, to: Ms) {
        let mut now = from;
        while now <= to {
            self.tick(now);
            now += 10_000;
        }
    }

    fn tap(&mut self, device: usize, tag: u32, ts: Ms) {
        self.t.tap(device, tag, ts, &mut self.changes);
        self.rounds.extend(self.t.take_rounds());
    }

    /// (state, point, device) of every alarm change so far, then forgets them.
    fn alarms(&mut self) -> Vec<(AlarmState, String, String)> {
        (self.changes.drain(..))
            .map(|c| {
                let point = c.alarm.point.clone().unwrap_or_default();
                (c.state, point, c.alarm.device.clone())
            })
            .collect()
    }
}

fn raised(point: &str, device: &str) -> (AlarmState, String, String) {
    (AlarmState::Raised, point.into(), device.into())
}

fn cleared(point: &str, device: &str) -> (AlarmState, String, String) {
    (AlarmState::Cleared, point.into(), device.into())
}

const MIN: Ms = 60_000;
const DAY: Ms = 86_400_000;

/// A clean round of the start at `start`: a tap every 5 minutes from a minute after.
fn clean_round(s: &mut Script, start: Ms) {
    for (i, cp) in [A, B, C, D].into_iter().enumerate() {
        s.tap(cp, STAFF, start + (1 + 5 * i as Ms) * MIN);
    }
}

#[test]
fn a_round_on_time_is_published_and_raises_nothing() {
    let mut s = Script::at(dec3("21:00:00"));
    s.run(dec3("21:59:00"), dec3("22:00:30"));
    clean_round(&mut s, dec3("22:00:00"));
    s.run(dec3("22:17:00"), dec3("23:00:00"));
    assert_eq!(s.alarms(), []);
    assert_eq!(s.rounds.len(), 1, "{:?}", s.rounds);
    let r = &s.rounds[0];
    assert_eq!(r.patrol, "night");
    assert_eq!(r.status, RoundStatus::Completed);
    assert_eq!(
        (r.scheduled, r.start, r.end),
        (dec3("22:00:00"), Some(dec3("22:01:00")), dec3("22:16:00"))
    );
    let visits: Vec<(&str, Option<Ms>, bool, bool)> = (r.visits.iter())
        .map(|v| (v.checkpoint.as_str(), v.leg_ms, v.in_order, v.late))
        .collect();
    assert_eq!(
        visits,
        [
            ("cp-a", None, true, false),
            ("cp-b", Some(300_000), true, false),
            ("cp-c", Some(300_000), true, false),
            ("cp-d", Some(300_000), true, false),
        ]
    );
    assert!(r.skipped.is_empty());
}

#[test]
fn a_late_leg_raises_once_and_clears_when_the_next_round_completes() {
    let mut s = Script::at(dec3("21:59:00"));
    s.tap(A, STAFF, dec3("22:01:00"));
    s.run(dec3("22:01:00"), dec3("22:11:00"));
    assert_eq!(s.alarms(), []);
    // More than 10 minutes since cp-a: late, on the checkpoint expected next.
    s.run(dec3("22:11:10"), dec3("22:20:00"));
    assert_eq!(s.alarms(), [raised("late", "cp-b")]);
    let late = s.t.active()[0].clone();
    assert_eq!(
        (late.value, late.limit, late.rule.as_str()),
        (10.0 * 60.0 + 10.0, 600.0, "patrol:night")
    );
    s.tap(B, STAFF, dec3("22:25:00"));
    s.tap(C, STAFF, dec3("22:27:00"));
    s.tap(D, STAFF, dec3("22:29:00"));
    assert_eq!(s.alarms(), [], "no second raise for the late tap");
    let r = &s.rounds[0];
    assert_eq!(r.status, RoundStatus::Completed);
    assert!(r.visits[1].late && !r.visits[2].late);
    // The round that raised it does not clear it; the next one, completed, does.
    s.run(dec3("23:59:50"), dec3("00:00:10") + DAY);
    clean_round(&mut s, dec3("00:00:00") + DAY);
    assert_eq!(s.alarms(), [cleared("late", "cp-b")]);
    assert!(s.t.active().is_empty());
}

#[test]
fn a_skipped_checkpoint_is_missed_at_the_end_of_the_route() {
    let mut s = Script::at(dec3("21:59:00"));
    s.tap(A, STAFF, dec3("22:01:00"));
    s.tap(C, STAFF, dec3("22:06:00"));
    s.tap(D, STAFF, dec3("22:09:00"));
    assert_eq!(s.alarms(), [raised("missed", "cp-b")]);
    let r = &s.rounds[0];
    assert_eq!(r.status, RoundStatus::Incomplete);
    assert_eq!(r.skipped, ["cp-b"]);
    // A later round skipping it again raises nothing new; a complete one clears it.
    s.run(dec3("23:59:50"), dec3("00:00:10") + DAY);
    let next = |t: &str| at(&format!("2026-12-04T{t}+01:00"));
    s.tap(A, STAFF, next("00:01:00"));
    s.tap(D, STAFF, next("00:05:00"));
    assert_eq!(s.alarms(), [raised("missed", "cp-c")]);
    s.run(next("01:59:50"), next("02:00:10"));
    for (i, cp) in [A, B, C, D].into_iter().enumerate() {
        s.tap(cp, STAFF, next(&format!("02:0{}:00", i + 1)));
    }
    assert_eq!(
        s.alarms(),
        [cleared("missed", "cp-b"), cleared("missed", "cp-c")]
    );
}

#[test]
fn taps_out_of_order_are_marked_and_the_round_completes() {
    let mut s = Script::at(dec3("21:59:00"));
    for (cp, t) in [
        (A, "22:01:00"),
        (C, "22:04:00"),
        (B, "22:07:00"),
        (D, "22:10:00"),
    ] {
        s.tap(cp, STAFF, dec3(t));
    }
    let r = &s.rounds[0];
    assert_eq!(r.status, RoundStatus::Completed);
    let order: Vec<(&str, bool)> = (r.visits.iter())
        .map(|v| (v.checkpoint.as_str(), v.in_order))
        .collect();
    assert_eq!(
        order,
        [
            ("cp-a", true),
            ("cp-c", true),
            ("cp-b", false),
            ("cp-d", true)
        ]
    );
    assert_eq!(s.alarms(), []);
}

#[test]
fn an_unknown_tag_raises_once_per_checkpoint_and_is_no_visit() {
    let mut s = Script::at(dec3("21:59:00"));
    s.tap(B, 4242, dec3("22:00:30"));
    s.tap(B, 4243, dec3("22:00:40"));
    s.tap(C, 4242, dec3("22:00:50"));
    assert_eq!(
        s.alarms(),
        [raised("unknown-tag", "cp-b"), raised("unknown-tag", "cp-c")]
    );
    let a = &s.t.active()[0];
    assert_eq!(a.value, 4242.0);
    assert!(
        a.message.contains("unknown tag 4242 at cp-b"),
        "{}",
        a.message
    );
    // Raised during this round: it stays when this round completes...
    clean_round(&mut s, dec3("22:00:00"));
    assert_eq!(s.alarms(), []);
    assert_eq!(s.rounds[0].visits.len(), 4);
    // ...and clears when the next one does.
    s.run(dec3("23:59:50"), dec3("00:00:10") + DAY);
    clean_round(&mut s, dec3("00:00:00") + DAY);
    assert_eq!(
        s.alarms(),
        [
            cleared("unknown-tag", "cp-b"),
            cleared("unknown-tag", "cp-c")
        ]
    );
}

#[test]
fn a_round_nobody_starts_raises_once_and_is_published_as_not_started() {
    let mut s = Script::at(dec3("21:59:00"));
    s.run(dec3("22:00:00"), dec3("22:09:50"));
    assert_eq!(s.alarms(), []);
    s.run(dec3("22:10:00"), dec3("23:10:00"));
    assert_eq!(s.alarms(), [raised("not-started", "cp-a")]);
    assert_eq!(s.rounds.len(), 1);
    assert_eq!(s.rounds[0].status, RoundStatus::NotStarted);
    assert_eq!(
        (s.rounds[0].start, s.rounds[0].end),
        (None, dec3("23:00:00"))
    );
    // The midnight round is missed too: still one alarm.
    s.run(dec3("23:10:10"), dec3("01:10:00") + DAY);
    assert_eq!(s.alarms(), []);
    assert_eq!(s.rounds.len(), 2);
}

#[test]
fn a_restart_mid_round_goes_on_with_it_and_raises_nothing_twice() {
    let mut s = Script::at(dec3("21:59:00"));
    s.tap(A, 4242, dec3("22:00:30"));
    s.tap(A, STAFF, dec3("22:01:00"));
    s.tap(B, STAFF, dec3("22:05:00"));
    assert_eq!(s.alarms(), [raised("unknown-tag", "cp-a")]);
    assert!(s.t.take_dirty());
    let saved = s.t.export_state();
    let before = s.t.active();

    // A new process: the same site, the saved state.
    let mut t = Tracker::new(&site());
    t.import_state(&saved).unwrap();
    assert_eq!(t.active(), before);
    let mut s = Script {
        t,
        changes: Vec::new(),
        rounds: Vec::new(),
    };
    s.run(dec3("22:06:00"), dec3("22:14:00"));
    s.tap(A, 4242, dec3("22:14:30"));
    s.tap(C, STAFF, dec3("22:14:40"));
    s.tap(D, STAFF, dec3("22:16:00"));
    assert_eq!(s.alarms(), [], "nothing raised again, nothing new");
    let r = &s.rounds[0];
    assert_eq!(r.status, RoundStatus::Completed);
    assert_eq!(r.start, Some(dec3("22:01:00")));
    assert_eq!(r.visits.len(), 4);
    // The leg over the restart (22:05 → 22:14:40) is within its 10 minutes.
    assert!(!r.visits[2].late, "{r:?}");
}

#[test]
fn the_schedule_runs_over_midnight() {
    let s = site();
    let tz = &s.gateway.timezone;
    let sch = &s.patrols[0].schedule;
    assert_eq!(sch.describe(), "every 2h from 20:00 to 06:00");
    assert_eq!(sch.per_day(), 5);
    let mut t = dec3("12:00:00");
    let mut starts = Vec::new();
    for _ in 0..6 {
        t = sch.next_after(tz, t);
        starts.push(tz.format(t));
    }
    assert_eq!(
        starts,
        [
            "2026-12-03 20:00",
            "2026-12-03 22:00",
            "2026-12-04 00:00",
            "2026-12-04 02:00",
            "2026-12-04 04:00",
            "2026-12-04 20:00"
        ]
    );
}

#[test]
fn the_schedule_follows_daylight_saving_in_berlin() {
    let s = site();
    let tz = &s.gateway.timezone;
    let sch = &s.patrols[0].schedule;
    let starts = |from: &str| {
        let mut t = at(from);
        (0..5)
            .map(|_| {
                t = sch.next_after(tz, t);
                jiff::Timestamp::from_millisecond(t).unwrap().to_string()
            })
            .collect::<Vec<_>>()
    };
    // 29 March 2026, 02:00 CET → 03:00 CEST: the 02:00 round starts at 03:00 local,
    // an hour after midnight's in real time; then 04:00 CEST.
    assert_eq!(
        starts("2026-03-28T12:00:00Z"),
        [
            "2026-03-28T19:00:00Z",
            "2026-03-28T21:00:00Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T02:00:00Z"
        ]
    );
    // 25 October 2026, 03:00 CEST → 02:00 CET: 02:00 happens twice, the round once.
    assert_eq!(
        starts("2026-10-24T12:00:00Z"),
        [
            "2026-10-24T18:00:00Z",
            "2026-10-24T20:00:00Z",
            "2026-10-24T22:00:00Z",
            "2026-10-25T00:00:00Z",
            "2026-10-25T03:00:00Z"
        ]
    );
}

#[test]
fn a_round_across_the_spring_change_times_out_on_real_time() {
    // The 02:00 round of 29 March starts at 03:00 CEST (01:00 UTC) and nobody comes:
    // the alarm is one leg after that, in real time.
    let mut s = Script::at(at("2026-03-29T00:30:00Z"));
    s.run(at("2026-03-29T00:59:50Z"), at("2026-03-29T01:09:50Z"));
    assert_eq!(s.alarms(), []);
    s.tick(at("2026-03-29T01:10:00Z"));
    assert_eq!(s.alarms(), [raised("not-started", "cp-a")]);
    let a = &s.t.active()[0];
    assert!(a.message.contains("the round of 03:00"), "{}", a.message);
}

#[test]
fn schedules_are_checked_as_written() {
    let cases: &[(&str, Result<usize, &str>)] = &[
        ("every 2h from 20:00 to 06:00", Ok(5)),
        ("every 30m from 00:00 to 24:00", Ok(48)),
        ("every 20s from 00:00 to 00:00", Ok(4320)),
        ("every 2h from 22:00 to 23:00", Ok(1)),
        ("every 5s from 00:00 to 24:00", Err("at least 10s apart")),
        ("every 2h from 20:00", Err("is not a schedule")),
        ("every 2h from 25:00 to 06:00", Err("is not a schedule")),
        ("every soon from 20:00 to 06:00", Err("is not a schedule")),
    ];
    for (text, want) in cases {
        let got = Schedule::every(text).map(|s| s.per_day());
        match (got, want) {
            (Ok(n), Ok(m)) => assert_eq!(n, *m, "{text}"),
            (Err(e), Err(frag)) => assert!(e.contains(frag), "{text}: {e}"),
            (got, want) => panic!("{text}: {got:?}, expected {want:?}"),
        }
    }
    let at = Schedule::at(&["23:30".into(), "20:00".into(), "20:00".into()]).unwrap();
    assert_eq!((at.describe(), at.per_day()), ("at 20:00, 23:30", 2));
    assert!(
        Schedule::at(&["8pm".into()])
            .unwrap_err()
            .contains("`8pm` is not a time of day")
    );
    assert!(Schedule::at(&[]).is_err());
}

#[test]
fn taps_are_seen_in_modbus_counters_and_json_messages() {
    let site = site();
    let mut t = Tracker::new(&site);
    let mut changes = Vec::new();
    t.tick(dec3("21:59:00"), &mut changes);
    // cp-a: [taps, tag]. The first reading sets the counter; no tap.
    assert_eq!(
        t.on_sample(
            A,
            dec3("22:00:01"),
            &[Some(7.0), Some(1001.0)],
            &mut changes,
        ),
        Ok(())
    );
    assert!(t.take_dirty());
    assert_eq!(
        t.on_sample(
            A,
            dec3("22:00:02"),
            &[Some(7.0), Some(1001.0)],
            &mut changes,
        ),
        Ok(())
    );
    assert!(!t.take_dirty(), "an unmoved counter changes nothing");
    assert_eq!(
        t.on_sample(
            A,
            dec3("22:00:03"),
            &[Some(8.0), Some(4242.0)],
            &mut changes,
        ),
        Ok(())
    );
    assert_eq!(changes.len(), 1, "the counter moved with an unknown tag");
    assert_eq!(changes[0].alarm.value, 4242.0);
    // A failed poll is nothing; a counter back at 0 (reader restarted) is no tap.
    assert_eq!(
        t.on_sample(A, dec3("22:00:04"), &[None, None], &mut changes),
        Ok(())
    );
    assert_eq!(
        t.on_sample(
            A,
            dec3("22:00:05"),
            &[Some(0.0), Some(4243.0)],
            &mut changes,
        ),
        Ok(())
    );
    assert_eq!(changes.len(), 1);
    // cp-d publishes JSON: each message with a tag is a tap (here the staff's).
    assert_eq!(
        t.on_sample(
            A,
            dec3("22:01:00"),
            &[Some(1.0), Some(1001.0)],
            &mut changes,
        ),
        Ok(())
    );
    assert_eq!(
        t.on_sample(D, dec3("22:02:00"), &[Some(1001.0)], &mut changes),
        Ok(())
    );
    assert_eq!(
        t.on_sample(D, dec3("22:02:30"), &[None], &mut changes),
        Ok(())
    );
    let rounds = t.take_rounds();
    assert_eq!(rounds.len(), 1, "cp-d ends the route");
    let seen: Vec<&str> = rounds[0]
        .visits
        .iter()
        .map(|v| v.checkpoint.as_str())
        .collect();
    assert_eq!(seen, ["cp-a", "cp-d"]);
}

#[test]
fn a_reload_keeps_the_round_and_clears_alarms_of_a_checkpoint_gone() {
    let mut s = Script::at(dec3("21:59:00"));
    s.tap(C, 4242, dec3("22:00:30"));
    s.tap(A, STAFF, dec3("22:01:00"));
    s.alarms();
    let saved = s.t.export_state();
    let text = SITE.replace(
        r#"["cp-a", "cp-b", "cp-c", "cp-d"]"#,
        r#"["cp-a", "cp-b", "cp-d"]"#,
    );
    let reloaded = crate::config::load_from(&text, "t.toml", &[], &[]).unwrap();
    let mut t = Tracker::new(&reloaded);
    t.import_state(&saved).unwrap();
    let mut changes = Vec::new();
    t.tick(dec3("22:02:00"), &mut changes);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].state, changes[0].alarm.device.as_str()),
        (AlarmState::Cleared, "cp-c")
    );
    t.tap(1, STAFF, dec3("22:03:00"), &mut changes);
    t.tap(3, STAFF, dec3("22:04:00"), &mut changes);
    let r = t.take_rounds();
    assert_eq!(r[0].status, RoundStatus::Completed, "{r:?}");
    assert!(t.import_state(b"{not json").is_err());
}

#[test]
fn a_fresh_start_in_the_middle_of_a_round_joins_it() {
    // Installed (or its state lost) at 22:05: the 22:00 round is still under way.
    let mut s = Script::at(dec3("22:05:00"));
    s.tap(A, STAFF, dec3("22:06:00"));
    s.tap(B, STAFF, dec3("22:08:00"));
    s.tap(C, STAFF, dec3("22:10:00"));
    s.tap(D, STAFF, dec3("22:12:00"));
    assert_eq!(s.rounds.len(), 1);
    assert_eq!(
        (s.rounds[0].scheduled, s.rounds[0].status),
        (dec3("22:00:00"), RoundStatus::Completed)
    );
    assert_eq!(s.alarms(), []);
}

#[test]
fn a_tag_that_is_no_tag_id_is_refused_and_is_no_tap() {
    let mut t = Tracker::new(&site());
    let mut changes = Vec::new();
    t.tick(dec3("21:59:00"), &mut changes);
    for bad in [12.5, -1.0, 5e9] {
        assert_eq!(
            t.on_sample(D, dec3("22:00:01"), &[Some(bad)], &mut changes),
            Err(bad)
        );
    }
    // A Modbus reader: refused only with a tap (the counter moving).
    assert_eq!(
        t.on_sample(A, dec3("22:00:02"), &[Some(1.0), Some(0.5)], &mut changes),
        Ok(())
    );
    assert_eq!(
        t.on_sample(A, dec3("22:00:03"), &[Some(2.0), Some(0.5)], &mut changes),
        Err(0.5)
    );
    assert!(changes.is_empty());
    assert!(t.take_rounds().is_empty());
    assert_eq!(
        t.on_sample(D, dec3("22:00:04"), &[Some(1001.0)], &mut changes),
        Ok(())
    );
}

#[test]
fn a_round_that_times_out_when_the_next_is_due_is_cleared_by_that_one() {
    // Rounds every 20 s with 30 s allowed: the next start ends a round.
    let text = SITE
        .replace(
            "every 2h from 20:00 to 06:00",
            "every 20s from 00:00 to 24:00",
        )
        .replace("round = \"1h\"", "round = \"30s\"")
        .replace("leg = \"10m\"", "leg = \"15s\"");
    let site = crate::config::load_from(&text, "t.toml", &[], &[]).unwrap();
    let mut t = Tracker::new(&site);
    let mut changes = Vec::new();
    t.tick(dec3("22:00:05"), &mut changes);
    t.tap(A, STAFF, dec3("22:00:06"), &mut changes);
    t.tap(B, STAFF, dec3("22:00:08"), &mut changes);
    // 22:00:20: the next round is due; this one ends without cp-c and cp-d.
    t.tick(dec3("22:00:20"), &mut changes);
    let raised: Vec<&str> = changes.iter().map(|c| c.alarm.device.as_str()).collect();
    assert_eq!(raised, ["cp-c", "cp-d"]);
    assert!(
        changes
            .iter()
            .all(|c| c.alarm.raised_at == dec3("22:00:20"))
    );
    changes.clear();
    for (i, cp) in [A, B, C, D].into_iter().enumerate() {
        t.tap(cp, STAFF, dec3("22:00:21") + i as Ms * 1000, &mut changes);
    }
    let cleared: Vec<(AlarmState, &str)> = (changes.iter())
        .map(|c| (c.state, c.alarm.device.as_str()))
        .collect();
    assert_eq!(
        cleared,
        [(AlarmState::Cleared, "cp-c"), (AlarmState::Cleared, "cp-d")]
    );
}

#[test]
fn the_last_start_is_found_over_midnight_and_the_spring_change() {
    let s = site();
    let (tz, sch) = (&s.gateway.timezone, &s.patrols[0].schedule);
    let last = |t: &str| {
        let ms = sch.last_at_or_before(tz, at(t));
        jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
    };
    // 01:30 CET on 4 December: the midnight round; 00:00 exactly is its own start.
    assert_eq!(last("2026-12-04T00:30:00Z"), "2026-12-03T23:00:00Z");
    assert_eq!(last("2026-12-03T23:00:00Z"), "2026-12-03T23:00:00Z");
    // Noon: the 04:00 round of the morning.
    assert_eq!(last("2026-12-04T11:00:00Z"), "2026-12-04T03:00:00Z");
    // 29 March, 03:30 CEST: the 02:00 round, moved to 03:00 CEST.
    assert_eq!(last("2026-03-29T01:30:00Z"), "2026-03-29T01:00:00Z");
}
