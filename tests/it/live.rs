//! Live values (issue 11): `P/live/{device}` by exception, QoS 0, not stored. A gauge
//! moving inside its deadband publishes nothing, a step out of it publishes once, and
//! keep-alives come every `max_interval`.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::{Msg, Subscriber};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn reports(sub: &Subscriber, topic: &str) -> Vec<Msg> {
    sub.snapshot()
        .into_iter()
        .filter(|m| m.topic == topic)
        .collect()
}

fn reason(m: &Msg) -> String {
    m.json()["reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn live_values_report_a_step_once_ignore_the_deadband_and_keep_alive() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "temperature", 200.0); // 20.0 °C
    sim.set("th-1", "humidity", 500.0);
    // The device is the config's last table, so the extra key lands in it. 0.5 °C
    // deadband; a keep-alive every 3 s without a change.
    let live = "live = { deadband = 0.5, min_interval = \"1s\", max_interval = \"3s\" }\n";
    let site = TestSite::with_extra(&broker, &sim, "1s", live);
    let topic = format!("{}/live/th-1", site.prefix);
    let sub = Subscriber::start(broker.port, &format!("{}/#", site.prefix), "live-1", false);
    let mut daemon = Daemon::start(&site.config, site.dir.path());

    // The first reading is reported at once, with units, not retained.
    let first = sub.wait_for("the first live report", WAIT, |m| m.topic == topic);
    let j = first.json();
    assert_eq!(j["reason"], "change", "{j}");
    assert_eq!(j["device"], "th-1");
    assert_eq!(j["points"]["temperature"]["value"], 20.0, "{j}");
    assert_eq!(j["points"]["temperature"]["unit"], "°C");
    assert_eq!(j["points"]["temperature"]["kind"], "gauge");
    assert_eq!(j["points"]["humidity"]["value"], 50.0);
    assert!(
        j.get("seq").is_none(),
        "live reports are not stored: no seq"
    );
    assert!(!first.retain);

    // Inside the deadband for 3.5 s (three polls): no change is reported.
    for raw in [203.0, 197.0, 204.0] {
        sim.set("th-1", "temperature", raw);
        std::thread::sleep(Duration::from_millis(1200));
    }
    let changes: Vec<serde_json::Value> = reports(&sub, &topic)
        .iter()
        .filter(|m| reason(m) == "change")
        .map(Msg::json)
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "moves within ±0.5 °C are not changes: {changes:?}"
    );

    // A step out of it: reported once.
    let before = reports(&sub, &topic).len();
    sim.set("th-1", "temperature", 230.0);
    let step = sub.wait_for("the step reported", Duration::from_secs(5), |m| {
        m.topic == topic
            && m.json()["reason"] == "change"
            && m.json()["points"]["temperature"]["value"] == 23.0
    });
    std::thread::sleep(Duration::from_millis(2500));
    let after: Vec<Msg> = reports(&sub, &topic)[before..].to_vec();
    let step_changes = after.iter().filter(|m| reason(m) == "change").count();
    assert_eq!(
        step_changes,
        1,
        "one step, one report: {:?}",
        after.iter().map(Msg::json).collect::<Vec<_>>()
    );

    // Keep-alives: with the value steady, one every 3 s after the step.
    sub.wait_until(
        "two keep-alives after the step",
        Duration::from_secs(10),
        |msgs| {
            msgs.iter()
                .filter(|m| m.topic == topic && m.at > step.at)
                .filter(|m| reason(m) == "keepalive")
                .count()
                >= 2
        },
    );
    let mut times = vec![step.at];
    times.extend(
        reports(&sub, &topic)
            .iter()
            .filter(|m| m.at > step.at && reason(m) == "keepalive")
            .take(2)
            .map(|m| m.at),
    );
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(2700) && gap <= Duration::from_millis(3700),
            "keep-alive {gap:?} after the last report, max_interval is 3 s"
        );
    }
    let last = reports(&sub, &topic).last().unwrap().json();
    assert_eq!(last["points"]["temperature"]["value"], 23.0, "{last}");
    // Nothing was dropped on the way.
    let health = sub
        .snapshot()
        .into_iter()
        .rev()
        .find(|m| m.topic.ends_with("/health"))
        .expect("a health report")
        .json();
    assert_eq!(health["dropped"]["live"], 0, "{health}");
    sub.assert_contract();
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}
