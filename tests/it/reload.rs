//! SIGHUP re-reads the configuration (issue 5): a valid one applies rule and poll changes
//! without losing the store, the outbox or the seq; an invalid one is refused and the
//! running configuration stays.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use std::time::Duration;

const RULE_30: &str = "\n[[rule]]\nname = \"hot\"\ndevices = [\"th-*\"]\npoint = \"temperature\"\ntype = \"threshold\"\nabove = 30.0\nseverity = \"warning\"\n";

#[test]
fn sighup_applies_a_new_threshold_and_poll_interval_and_refuses_a_bad_config() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "temperature", 250.0);
    sim.set("th-1", "humidity", 500.0);
    let site = TestSite::with_extra(&broker, &sim, "2s", RULE_30);
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-reload",
        false,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let summary = format!("{}/summary/th-1", site.prefix);
    sub.wait_for("two polls per 2 s window", Duration::from_secs(15), |m| {
        m.topic == summary && m.json()["quality"]["polls"] == 2
    });
    let before_bad = sub.snapshot().len();

    // 1. An invalid config is refused; the old one keeps running.
    let good = std::fs::read_to_string(&site.config).unwrap();
    std::fs::write(&site.config, good.replace("unit = 1", "unit = 300")).unwrap();
    daemon.signal(libc::SIGHUP);
    crate::support::wait_until("reload refused in the log", Duration::from_secs(10), || {
        daemon.logs().contains("reload refused")
    });
    assert!(
        daemon.logs().contains("device[0].unit"),
        "the error names the key:\n{}",
        daemon.logs()
    );
    sub.wait_until(
        "summaries go on after a refused reload",
        Duration::from_secs(10),
        |m| {
            m[before_bad..]
                .iter()
                .filter(|m| m.topic == summary)
                .count()
                >= 2
        },
    );
    assert!(
        !sub.snapshot().iter().any(|m| m.topic.contains("/alarm/")),
        "25 °C is below the running 30 °C threshold"
    );

    // 2. A valid one: threshold 20 °C and a 2 s poll.
    let next = good
        .replace("above = 30.0", "above = 20.0")
        .replace("poll = \"1s\"", "poll = \"2s\"");
    std::fs::write(&site.config, next).unwrap();
    let before = sub.snapshot().len();
    daemon.signal(libc::SIGHUP);
    let alarm = sub.wait_for(
        "alarm under the new threshold",
        Duration::from_secs(15),
        |m| m.topic == format!("{}/alarm/th-1", site.prefix),
    );
    assert_eq!(alarm.json()["state"], "raised");
    assert_eq!(alarm.json()["limit"], 20.0);
    sub.wait_until("one poll per 2 s window", Duration::from_secs(15), |m| {
        m[before..]
            .iter()
            .filter(|m| m.topic == summary)
            .filter(|m| m.json()["quality"]["polls"] == 1)
            .count()
            >= 2
    });

    // Nothing lost across both reloads: the outbox seqs seen form one unbroken run
    // (status and health seqs are reserved in the same counter, the last will's is not
    // published while the daemon lives).
    let msgs = sub.snapshot();
    let mut seqs: Vec<u64> = msgs
        .iter()
        .filter_map(|m| m.json()["seq"].as_u64())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let gaps: Vec<(u64, u64)> = seqs
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    assert!(
        gaps.len() <= 1,
        "only the pending last will's seq may be missing: {gaps:?}"
    );
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}
