//! Grid cells and local time end to end (issue 12): the real daemon polls real Modbus
//! servers and publishes the retained `P/cell/{cell}` and `P/cells` rollups and alarms
//! carrying their cell to a real Mosquitto; rules with `active` windows judge by the
//! site's local time.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use std::time::Duration;

const CELLS: &str = r#"
[[cell]]
name = "river-1"
kind = "waterfront"
owner = "Li Wei"
key_point = true

[[cell]]
name = "street-1"
kind = "commercial-street"

[[rule]]
name = "offline"
type = "offline"
failed_polls = 3
"#;

/// Puts device `id` into `cell` in the config file written by `TestSite`.
fn place(config: &str, id: &str, cell: &str) -> String {
    let line = format!("id = \"{id}\"\n");
    let at = config.find(&line).expect("device in config") + line.len();
    let rest = &config[at..];
    // Drop a cell given before, then name the new one.
    let rest = match rest.strip_prefix("cell = \"") {
        Some(r) => &r[r.find('\n').expect("line end") + 1..],
        None => rest,
    };
    format!("{}cell = \"{cell}\"\n{rest}", &config[..at])
}

#[test]
fn a_silent_device_warns_its_cell_all_silent_is_blind_and_a_reload_moves_a_device() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th", "th-2:rs485-th", "th-3:rs485-th"]);
    let site = TestSite::with_extra(&broker, &sim, "1s", CELLS);
    let text = std::fs::read_to_string(&site.config).unwrap();
    let text = place(&text, "th-1", "river-1");
    let text = place(&text, "th-2", "river-1");
    let text = place(&text, "th-3", "street-1");
    std::fs::write(&site.config, &text).unwrap();
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-cells",
        false,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let river = format!("{}/cell/river-1", site.prefix);
    let street = format!("{}/cell/street-1", site.prefix);
    let cells = format!("{}/cells", site.prefix);
    let within = Duration::from_secs(20);

    let ok = sub.wait_for("river-1 ok", within, |m| {
        m.topic == river && m.json()["state"] == "ok" && m.json()["devices"]["ok"] == 2
    });
    let j = ok.json();
    assert_eq!(
        (
            &j["kind"],
            &j["owner"],
            &j["key_point"],
            &j["devices"]["total"]
        ),
        (
            &"waterfront".into(),
            &"Li Wei".into(),
            &true.into(),
            &2.into()
        )
    );
    assert_eq!(
        j["alarms"],
        serde_json::json!({"info": 0, "warning": 0, "critical": 0})
    );
    println!("river-1 ok: {j}");

    // One of two silent: the cell warns, the offline alarm names its cell.
    sim.silence("th-1");
    let alarm = sub.wait_for("th-1 offline", within, |m| {
        m.topic.ends_with("/alarm/th-1") && m.json()["state"] == "raised"
    });
    let a = alarm.json();
    assert_eq!(
        (&a["cell"], &a["cell_kind"], &a["owner"]),
        (&"river-1".into(), &"waterfront".into(), &"Li Wei".into())
    );
    println!("offline alarm: {a}");
    let warn = sub.wait_for("river-1 warning with the alarm", within, |m| {
        m.topic == river
            && m.json()["state"] == "warning"
            && m.json()["alarms"]["warning"] == 1
            && m.json()["devices"]["failing"] == 1
    });
    println!("river-1 warning: {}", warn.json());
    let active = sub.wait_for("the active snapshot carries the cell", within, |m| {
        m.topic.ends_with("/alarms/active")
            && m.json()["alarms"].as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(active.json()["alarms"][0]["cell"], "river-1");

    // Both silent: blind, and P/cells counts it by kind.
    sim.silence("th-2");
    sub.wait_for("river-1 blind", within, |m| {
        m.topic == river && m.json()["state"] == "blind" && m.json()["devices"]["failing"] == 2
    });
    let counts = sub.wait_for("P/cells counts the blind waterfront cell", within, |m| {
        m.topic == cells && m.json()["kinds"]["waterfront"]["blind"] == 1
    });
    assert_eq!(counts.json()["kinds"]["commercial-street"]["ok"], 1);
    println!("cells: {}", counts.json());
    // street-1 never saw a failing device.
    let street_states: Vec<String> = (sub.snapshot().iter())
        .filter(|m| m.topic == street)
        .map(|m| m.json()["state"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        !street_states.is_empty() && street_states.iter().all(|s| s == "ok"),
        "{street_states:?}"
    );

    // Back, then a reload moves th-3 to river-1: the rollups follow at once.
    sim.answer("th-1");
    sim.answer("th-2");
    sub.wait_for("river-1 ok again", within, |m| {
        m.topic == river && m.json()["state"] == "ok"
    });
    std::fs::write(&site.config, place(&text, "th-3", "river-1")).unwrap();
    daemon.signal(libc::SIGHUP);
    sub.wait_for("river-1 has three devices", within, |m| {
        m.topic == river && m.json()["devices"]["total"] == 3 && m.json()["state"] == "ok"
    });
    sub.wait_for("street-1 is empty", within, |m| {
        m.topic == street && m.json()["devices"]["total"] == 0
    });
    // Silence the moved device: the warning now shows in its new cell.
    sim.silence("th-3");
    sub.wait_for("river-1 warns for th-3", within, |m| {
        m.topic == river && m.json()["devices"]["failing"] == 1
    });
    let moved = sub.wait_for("th-3's alarm names its new cell", within, |m| {
        m.topic.ends_with("/alarm/th-3") && m.json()["state"] == "raised"
    });
    assert_eq!(moved.json()["cell"], "river-1");
    // A platform that connects now gets the grid map from retained messages alone.
    let late = Subscriber::start(
        broker.port,
        &format!("{}/cell/+", site.prefix),
        "platform-late",
        false,
    );
    let kept = late.wait_for("retained river-1", within, |m| m.topic == river);
    assert!(kept.retain, "cell rollups are retained");
    assert_eq!(kept.json()["devices"]["total"], 3);
    let late = Subscriber::start(broker.port, &cells, "platform-late-cells", false);
    let kept = late.wait_for("retained P/cells", within, |m| m.topic == cells);
    assert!(kept.retain, "P/cells is retained");
    daemon.stop_cleanly();
}

/// A `timezone` whose local time now has hour `hour` (an `Etc/GMT±N` zone; their sign
/// is the POSIX one, so `Etc/GMT-8` is UTC+8).
fn zone_with_local_hour(hour: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    let utc_hour = now.rem_euclid(86_400) / 3600;
    let mut east = (hour - utc_hour).rem_euclid(24);
    if east > 14 {
        east -= 24;
    }
    match east {
        0 => "UTC".to_string(),
        e if e > 0 => format!("Etc/GMT-{e}"),
        e => format!("Etc/GMT+{}", -e),
    }
}

const NIGHT_NOISE: &str = r#"
[[rule]]
name = "night-noise"
type = "threshold"
point = "temperature"
above = 30
active = ["22:00-06:00"]
"#;

/// Runs the daemon with local hour `hour` and a reading of 35 against the night rule;
/// returns the alarms seen over `windows` summary windows.
fn night_rule_at(hour: i64, windows: usize) -> Vec<serde_json::Value> {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "temperature", 350.0);
    let site = TestSite::with_extra(&broker, &sim, "1s", NIGHT_NOISE);
    let zone = zone_with_local_hour(hour);
    let text = std::fs::read_to_string(&site.config).unwrap();
    let text = text.replacen(
        "id = \"gw-1\"\n",
        &format!("id = \"gw-1\"\ntimezone = \"{zone}\"\n"),
        1,
    );
    std::fs::write(&site.config, text).unwrap();
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-night",
        false,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let summary = format!("{}/summary/th-1", site.prefix);
    sub.wait_until(
        "summaries with the loud reading",
        Duration::from_secs(20),
        |m| m.iter().filter(|m| m.topic == summary).count() >= windows,
    );
    daemon.stop_cleanly();
    sub.snapshot()
        .iter()
        .filter(|m| m.topic.ends_with("/alarm/th-1"))
        .map(|m| m.json())
        .collect()
}

#[test]
fn the_same_reading_raises_in_the_night_window_and_not_before_it() {
    // Whole hours: local 22:xx is inside 22:00-06:00; 20:xx is outside for the whole test.
    let before = night_rule_at(20, 4);
    assert!(
        before.is_empty(),
        "outside its window the rule raises nothing: {before:?}"
    );
    let inside = night_rule_at(22, 4);
    assert_eq!(inside.len(), 1, "{inside:?}");
    assert_eq!(
        (&inside[0]["state"], &inside[0]["rule"]),
        (&"raised".into(), &"night-noise".into())
    );
    println!("night alarm: {}", inside[0]);
}
