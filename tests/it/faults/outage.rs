//! The broker goes away: for 30 s while the daemon runs (test 1), and while the daemon is
//! killed and restarted (test 2). Nothing accepted may go missing, nothing may be built
//! twice, and the window open at a crash is rebuilt from the raw ring.

use super::{
    assert_consistent, ledger_of, restart_broker, sleep_until_ms, wait_delivered, wait_logs,
};
use crate::support::daemon::Daemon;
use crate::support::ledger;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use sitewarden::summary::window::start_of;
use std::collections::BTreeSet;
use std::time::Duration;

/// The spec's outage.
const OUTAGE: Duration = Duration::from_secs(30);

fn sim() -> SimSite {
    let sim = SimSite::start(&["gate-1:turnstile", "th-1:rs485-th"]);
    sim.set("gate-1", "entries", 100.0);
    sim.set("th-1", "temperature", 215.0);
    sim.set("th-1", "humidity", 400.0);
    sim
}

#[test]
fn a_30s_broker_outage_loses_no_seq_and_keeps_order_per_topic() {
    let mut broker = Mosquitto::start();
    let sim = sim();
    let site = TestSite::new(&broker, &sim, "1s");
    let all = format!("{}/#", site.prefix);
    let sub = Subscriber::start(broker.port, &all, "platform-outage", true);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_logs(
        &site,
        "two windows accepted",
        Duration::from_secs(15),
        |l| l.accepted_as("window").len() >= 4,
    );
    wait_delivered(
        &sub,
        &site,
        &ledger_of(&site).accepted.keys().copied().collect(),
        Duration::from_secs(10),
    );

    broker.stop();
    let down = ledger_of(&site).last().unwrap_or(0);
    std::thread::sleep(OUTAGE);
    // The daemon's backoff (0.5 s doubling to 16 s by now) puts its next try ≥ 1.5 s
    // after the 30 s mark: the subscriber is back well before.
    restart_broker(&mut broker, &sub, &site);

    // What was accepted while the broker was away is the backlog the reconnect replays.
    let at_return = ledger_of(&site);
    let backlog: BTreeSet<u64> = at_return
        .accepted
        .range(down + 1..)
        .map(|(s, _)| *s)
        .collect();
    let windows_in_outage = at_return
        .accepted
        .range(down + 1..)
        .filter(|(_, w)| w.as_str() == "window")
        .count();
    assert!(
        windows_in_outage >= 2 * 25,
        "about 30 windows of 2 summaries were accepted in the outage, not {windows_in_outage}"
    );
    // The uplink backs off up to 16 s (plus jitter) before it tries again.
    wait_delivered(&sub, &site, &backlog, Duration::from_secs(60));
    let last = at_return.last().unwrap_or(0);
    let expected: BTreeSet<u64> = at_return.accepted.keys().copied().collect();
    wait_delivered(&sub, &site, &expected, Duration::from_secs(10));
    daemon.stop_cleanly();

    let l = ledger_of(&site);
    let msgs = sub.snapshot();
    // No crash: the logs account for every seq from the very first, and every record
    // that was made durable reached the platform.
    assert_eq!(
        l.unaccounted(1, last),
        Vec::<u64>::new(),
        "seqs nobody logged"
    );
    assert_eq!(
        ledger::missing(&expected, &msgs),
        Vec::<u64>::new(),
        "accepted, never delivered"
    );
    assert_consistent(&l, &msgs);
}

#[test]
fn a_crash_during_an_outage_rebuilds_the_open_window_and_loses_no_seq() {
    let mut broker = Mosquitto::start();
    let sim = sim();
    let interval = Duration::from_secs(4);
    let site = TestSite::new(&broker, &sim, "4s");
    let all = format!("{}/#", site.prefix);
    let sub = Subscriber::start(broker.port, &all, "platform-crash-outage", true);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_logs(&site, "a window accepted", Duration::from_secs(15), |l| {
        !l.accepted_as("window").is_empty()
    });
    broker.stop();

    // Kill 2.5 s into the next window, so at least two polls of it are in the raw ring
    // (flushed every second) and none of it is in the outbox.
    let now = sitewarden::clock::now_ms();
    let open = start_of(now, interval) + interval.as_millis() as i64;
    sleep_until_ms(open + 2500);
    daemon.kill9();
    let window_end = open + interval.as_millis() as i64;
    // Restart once that window is over: only the raw ring can still produce it.
    sleep_until_ms(window_end + 500);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    daemon.wait_log(
        "open window rebuilt from the raw ring",
        Duration::from_secs(10),
    );
    // After its third failed try the daemon waits ≥ 2 s: the broker returns meanwhile.
    daemon.wait_log_times("uplink connect failed", 3, Duration::from_secs(10));
    restart_broker(&mut broker, &sub, &site);

    let l = ledger_of(&site);
    let expected: BTreeSet<u64> = l.accepted.keys().copied().collect();
    wait_delivered(&sub, &site, &expected, Duration::from_secs(60));
    let msgs = sub.snapshot();
    daemon.stop_cleanly();

    // The window open at the crash: published, from the readings the ring kept.
    let start_text = sitewarden::clock::rfc3339(open);
    for device in ["gate-1", "th-1"] {
        let topic = format!("{}/summary/{device}", site.prefix);
        let w = msgs
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.json())
            .find(|v| v["start"] == start_text.as_str())
            .unwrap_or_else(|| panic!("{device}: no summary of the window open at the crash"));
        assert!(
            w["quality"]["polls"].as_u64() >= Some(2),
            "{device}: the rebuilt window has the polls before the crash: {w}"
        );
    }
    // No gap: every seq up to the last delivered was logged, or (a commit the kill cut
    // off before its log line) delivered anyway.
    let l = ledger_of(&site);
    let got = ledger::delivered(&msgs);
    let last = *expected.last().expect("records accepted");
    let gaps: Vec<u64> = l
        .unaccounted(1, last)
        .into_iter()
        .filter(|s| !got.contains(s))
        .collect();
    assert_eq!(gaps, Vec::<u64>::new(), "seqs neither logged nor delivered");
    assert_consistent(&l, &msgs);
}
