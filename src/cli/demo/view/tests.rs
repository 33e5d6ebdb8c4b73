use super::super::layout::site_for_tests;
use super::super::table::{self, Header};
use super::*;
use serde_json::json;
use std::time::Duration;

const P: &str = "sitewarden/xitang-demo/gw-demo";
const AT: SiteTime = SiteTime {
    day: 1,
    minute: 404.0,
};

fn view() -> View {
    View::new(Arc::new(site_for_tests()))
}

fn summary(device: &str, points: Value, quality: Value) -> Vec<u8> {
    json!({
        "v": 1, "seq": 7, "ts": "2026-11-23T10:00:05.000Z", "device": device,
        "start": "2026-11-23T10:00:00.000Z", "end": "2026-11-23T10:00:05.000Z",
        "points": points, "quality": quality,
    })
    .to_string()
    .into_bytes()
}

fn ok(polls: u64) -> Value {
    json!({"polls": polls, "errors": 0, "last_error": null})
}

#[test]
fn summaries_become_one_line_per_device_with_units_and_status_names() {
    let check = |device: &str, points: Value, quality: Value, expected: &str| {
        let mut v = view();
        let topic = format!("{P}/summary/{device}");
        let line = v.apply(&topic, &summary(device, points, quality), AT);
        assert_eq!(
            line,
            format!("[day 1 06:44] summary {device} 10:00:00–10:00:05 {expected}")
        );
        let row = v.devices.iter().find(|r| r.id == device).map(|r| {
            let pairs: Vec<String> = r.values.iter().map(|(p, v)| format!("{p} {v}")).collect();
            pairs.join("  ")
        });
        assert!(row.is_some_and(|r| expected.starts_with(&r)), "{device}");
    };
    check(
        "gate-n1",
        json!({
            "entries": {"kind": "counter", "first": 10.0, "last": 22.0, "delta": 12.0},
            "exits": {"kind": "counter", "first": 5.0, "last": 9.0, "delta": 4.0},
            "status": {"kind": "state", "last": 1.0, "transitions": 3},
            "forced_entry": {"kind": "event", "count": 0},
            "tailgating": {"kind": "event", "count": 1},
            "open": {"kind": "state", "last": 0.0, "transitions": 0},
        }),
        ok(5),
        "entries +12  exits +4  status passing  tailgating ×1 · ok 5/5",
    );
    check(
        "kiosk-n1",
        json!({
            "body_temp": {"kind": "gauge", "count": 10, "min": 36.4, "max": 38.2, "mean": 36.9, "last": 38.2},
            "scans": {"kind": "counter", "delta": 2.0},
        }),
        ok(10),
        "body_temp 38.20°C  scans +2 · ok 10/10",
    );
    check(
        "th-museum",
        json!({
            "humidity": {"kind": "gauge", "count": 0, "last": null},
            "temperature": {"kind": "gauge", "count": 0, "last": null},
        }),
        json!({"polls": 3, "errors": 3, "last_error": "timeout"}),
        "humidity —  temperature — · 3/3 failed: timeout",
    );
    check(
        "river-level",
        json!({"level_m": {"kind": "gauge", "count": 5, "last": 1.8342}}),
        ok(5),
        "level_m 1.83 m · ok 5/5",
    );
    check(
        "cam-bridge",
        json!({
            "people_count": {"kind": "gauge", "count": 2, "last": 87.0},
            "intrusion": {"kind": "event", "count": 0},
        }),
        json!({"polls": 2, "errors": 1, "last_error": null}),
        "people_count 87 people · 1/2 failed",
    );
}

#[test]
fn zones_keep_their_latest_window() {
    let mut v = view();
    let zone = |occupancy: u64, utilisation: f64| {
        json!({
            "v": 1, "seq": 9, "ts": "x", "zone": "north-entrance",
            "start": "2026-11-23T10:00:00.000Z", "end": "2026-11-23T10:00:05.000Z",
            "entries": 30, "exits": 2, "occupancy": occupancy, "capacity": 1200,
            "utilisation": utilisation,
        })
        .to_string()
    };
    let line = v.apply(
        &format!("{P}/zone/north-entrance"),
        zone(600, 0.5).as_bytes(),
        AT,
    );
    assert_eq!(
        line,
        "[day 1 06:44] zone north-entrance 10:00:00–10:00:05 occupancy 600/1200 (50 %) entries +30 exits +2"
    );
    v.apply(
        &format!("{P}/zone/north-entrance"),
        zone(1110, 0.925).as_bytes(),
        AT,
    );
    assert_eq!(v.zones.len(), 1);
    assert_eq!(
        (v.zones[0].occupancy, v.zones[0].utilisation),
        (1110, Some(0.925))
    );
    assert_eq!(v.counts.zones, 2);
}

#[test]
fn alarms_are_kept_newest_first_with_their_state() {
    let mut v = view();
    let alarm = |state: &str, rule: &str, device: &str| {
        json!({
            "v": 1, "seq": 3, "ts": "x", "state": state, "id": "a1", "rule": rule,
            "device": device, "point": "body_temp", "severity": "critical", "value": 38.2,
            "limit": 37.3, "message": "body_temp 38.2 above 37.3", "raised_at": "x",
        })
        .to_string()
    };
    let line = v.apply(
        &format!("{P}/alarm/kiosk-n1"),
        alarm("raised", "fever", "kiosk-n1").as_bytes(),
        AT,
    );
    assert_eq!(
        line,
        "[day 1 06:44] alarm raised critical fever kiosk-n1: body_temp 38.2 above 37.3"
    );
    v.apply(
        &format!("{P}/alarm/kiosk-n1"),
        alarm("cleared", "fever", "kiosk-n1").as_bytes(),
        AT,
    );
    let states: Vec<bool> = v.alarms.iter().map(|a| a.raised).collect();
    assert_eq!(states, [false, true]);
    for i in 0..60 {
        v.apply(
            &format!("{P}/alarm/x"),
            alarm("raised", &format!("r{i}"), "x").as_bytes(),
            AT,
        );
    }
    assert_eq!(v.alarms.len(), ALARMS_KEPT);
    assert_eq!(v.alarms[0].rule, "r59");
}

#[test]
fn status_health_active_alarms_and_strangers_each_have_a_line() {
    let check = |topic: &str, payload: &str, expected: &str| {
        let mut v = view();
        assert_eq!(
            v.apply(topic, payload.as_bytes(), AT),
            format!("[day 1 06:44] {expected}")
        );
    };
    check(
        &format!("{P}/status"),
        r#"{"state":"online","version":"0.1.0"}"#,
        "status online version 0.1.0",
    );
    check(
        &format!("{P}/alarms/active"),
        r#"{"alarms":[{},{}]}"#,
        "active alarms 2",
    );
    check(
        &format!("{P}/health"),
        r#"{"devices":{"ok":20,"failing":1},"backlog":{"alarms":1,"messages":2},"polls_per_s":23.46}"#,
        "health 20/21 devices ok · 23.5 polls/s · backlog 3",
    );
    check(&format!("{P}/cmd/result"), "{}", "cmd/result {}");
    // Not JSON at all: shown, never fatal.
    check(
        &format!("{P}/summary/gate-n1"),
        "garbage",
        "summary gate-n1 —–— entries —  exits —  status — · ok 0/0",
    );
}

#[test]
fn the_table_fits_the_terminal_and_shows_every_part() {
    let mut v = view();
    v.apply(&format!("{P}/status"), br#"{"state":"online"}"#, AT);
    v.apply(
        &format!("{P}/zone/south-entrance"),
        br#"{"occupancy":412,"capacity":400,"utilisation":1.03,"entries":9,"exits":1}"#,
        AT,
    );
    for i in 0..30 {
        let body = format!(
            r#"{{"state":"raised","severity":"warning","rule":"r{i}","device":"gate-n1","message":"m"}}"#
        );
        v.apply(&format!("{P}/alarm/gate-n1"), body.as_bytes(), AT);
    }
    let header = Header {
        clock: AT,
        elapsed: Duration::from_secs(42),
        until: Some(Duration::from_secs(240)),
        broker: "127.0.0.1:1883".into(),
        log: "/tmp/demo.log".into(),
    };
    let check = |width: usize, height: usize, device_rows: usize| {
        let lines = table::render(&v, &header, width, height, false);
        assert!(lines.len() <= height, "{} lines for {height}", lines.len());
        assert!(
            lines.iter().all(|l| l.chars().count() <= width),
            "wider than {width}"
        );
        let screen = lines.join("\n");
        for part in [
            "site clock day 1 06:44 (opening)",
            "gateway online",
            "── zones",
            "south-entrance",
            "103 %",
            "Ctrl-C",
        ] {
            assert!(screen.contains(part), "no {part:?} in\n{screen}");
        }
        let rows = lines
            .iter()
            .filter(|l| l.contains("gate-n1") || l.contains("cam-river-bank"))
            .count();
        assert!(rows >= device_rows, "{rows} device rows\n{screen}");
        // Newest alarm on top of the list.
        let first = lines.iter().position(|l| l.contains("r29"));
        let second = lines.iter().position(|l| l.contains("r28"));
        assert!(first < second, "{screen}");
    };
    check(160, 50, 1);
    check(100, 40, 2);
    check(80, 30, 2);
}

#[test]
fn a_short_terminal_keeps_five_alarms_and_says_how_many_devices_it_hides() {
    let mut v = view();
    for i in 0..8 {
        let body = format!(
            r#"{{"state":"raised","severity":"critical","rule":"r{i}","device":"kiosk-n1","message":"m"}}"#
        );
        v.apply(&format!("{P}/alarm/kiosk-n1"), body.as_bytes(), AT);
    }
    let header = Header {
        clock: AT,
        elapsed: Duration::ZERO,
        until: None,
        broker: String::new(),
        log: String::new(),
    };
    let check = |width: usize, height: usize, hidden: Option<usize>| {
        let lines = table::render(&v, &header, width, height, false);
        let screen = lines.join("\n");
        assert!(lines.len() <= height, "{screen}");
        for rule in ["r7", "r6", "r5", "r4", "r3"] {
            assert!(
                screen.contains(&format!("{rule}: m")),
                "{rule} hidden:\n{screen}"
            );
        }
        let note = hidden.map(|n| format!("… and {n} more devices"));
        match note {
            Some(n) => assert!(screen.contains(&n), "no {n:?}:\n{screen}"),
            None => assert!(!screen.contains("more devices"), "{screen}"),
        }
    };
    // 26 devices. Header, rules, footer, a zone line and five alarms take 12 rows; 24
    // rows leave 12 for the devices: 11 shown and the note.
    check(80, 24, Some(15));
    // Two columns of 13 rows fit in 40 × 120; 24 × 120 leaves 12 rows: 11 lines of two
    // and the note.
    check(120, 40, None);
    check(120, 24, Some(4));
    // 20 rows leave 8: 7 lines of two and the note.
    check(120, 20, Some(12));
}

#[test]
fn patrol_rounds_and_cells_become_lines_and_rows() {
    let mut v = View::new(Arc::new(site_for_tests()));
    // The tests' site is 10:05 behind UTC: 08:06 UTC is 22:01 there.
    let round = br#"{"v":1,"seq":9,"ts":"2027-01-15T08:06:20.000Z","patrol":"night","status":"incomplete","route":["tag-gate","tag-bridge","tag-bar-street","tag-old-street"],"scheduled":"2027-01-15T08:06:00.000Z","start":"2027-01-15T08:06:04.000Z","end":"2027-01-15T08:06:18.000Z","checkpoints":[{"checkpoint":"tag-gate"},{"checkpoint":"tag-bar-street"},{"checkpoint":"tag-old-street"}],"skipped":["tag-bridge"],"out_of_order":[],"late_legs":[]}"#;
    let line = v.apply(&format!("{P}/patrol/night"), round, AT);
    assert!(
        line.ends_with("patrol night 22:01 incomplete, 3 tapped, skipped tag-bridge"),
        "{line}"
    );
    let cells = br#"{"v":1,"seq":10,"ts":"2027-01-15T08:06:20.000Z","kinds":{"scenic-core":{"ok":2,"warning":0,"critical":0,"blind":0},"waterfront":{"ok":0,"warning":1,"critical":0,"blind":0}}}"#;
    let line = v.apply(&format!("{P}/cells"), cells, AT);
    assert!(
        line.ends_with("cells scenic-core 2 ok · waterfront 1 warning"),
        "{line}"
    );
    let header = Header {
        clock: AT,
        elapsed: Duration::ZERO,
        until: None,
        broker: String::new(),
        log: String::new(),
    };
    let screen = table::render(&v, &header, 120, 60, false).join("\n");
    assert!(
        screen.contains("patrol: night 22:01 incomplete"),
        "{screen}"
    );
    assert!(screen.contains("cells: scenic-core 2 ok"), "{screen}");
}
