//! `kill -9` with the broker up: a crash loop (test 3), and what the broker's last will
//! says after one crash.

use super::{XorShift, assert_consistent, ledger_of, sleep_until_ms, wait_delivered};
use crate::support::daemon::Daemon;
use crate::support::ledger;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use sitewarden::summary::window::start_of;
use std::collections::BTreeSet;
use std::time::Duration;

const CRASHES: usize = 20;

#[test]
fn a_crash_loop_delivers_every_seq_ever_accepted() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["gate-1:turnstile", "th-1:rs485-th"]);
    sim.set("gate-1", "entries", 7.0);
    sim.set("th-1", "temperature", 215.0);
    let site = TestSite::new(&broker, &sim, "1s");
    let all = format!("{}/#", site.prefix);
    let sub = Subscriber::start(broker.port, &all, "platform-crash-loop", true);

    let mut rng = XorShift::from_clock();
    eprintln!("crash loop seed {}", rng.0);
    for round in 0..CRASHES {
        let mut daemon = Daemon::start(&site.config, site.dir.path());
        let run = rng.between(Duration::from_millis(200), Duration::from_millis(2000));
        std::thread::sleep(run);
        daemon.kill9();
        let log = daemon.logs();
        assert!(
            !log.contains("quarantined") && !log.contains("panicked"),
            "round {round} ({run:?}): the store did not survive:\n{log}"
        );
    }
    // One last clean run, until the backlog has drained.
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    daemon.wait_log("uplink connected", Duration::from_secs(15));
    let accepted: BTreeSet<u64> = ledger_of(&site).accepted.keys().copied().collect();
    // Runs shorter than the raw ring's first flush (1 s) leave nothing; the others
    // close windows or leave readings the next run rebuilds windows from.
    assert!(
        accepted.len() >= 10,
        "the runs accepted too few records to prove anything: {}",
        accepted.len()
    );
    wait_delivered(&sub, &site, &accepted, Duration::from_secs(30));
    daemon.stop_cleanly();

    let l = ledger_of(&site);
    let msgs = sub.snapshot();
    assert_eq!(
        ledger::missing(&accepted, &msgs),
        Vec::<u64>::new(),
        "accepted, never delivered"
    );
    assert_consistent(&l, &msgs);
}

#[test]
fn the_last_will_carries_a_seq_above_the_online_status_it_follows() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(&broker, &sim, "1s");
    let status = format!("{}/status", site.prefix);
    let sub = Subscriber::start(broker.port, &status, "platform-will", false);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let online = sub.wait_for("online", Duration::from_secs(15), |m| {
        m.json()["state"] == "online"
    });
    daemon.kill9();
    let will = sub.wait_for("the last will", Duration::from_secs(15), |m| {
        m.json()["state"] == "offline"
    });
    let (on, off) = (online.json()["seq"].as_u64(), will.json()["seq"].as_u64());
    assert!(
        off > on,
        "a platform ordering status by seq must see offline last: online {on:?}, will {off:?}"
    );
}

#[test]
fn a_crash_in_the_very_first_window_still_publishes_that_window() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "temperature", 215.0);
    let interval = Duration::from_secs(4);
    let site = TestSite::new(&broker, &sim, "4s");
    let topic = format!("{}/summary/th-1", site.prefix);
    let sub = Subscriber::start(broker.port, &topic, "platform-first-window", false);

    // A fresh install starts just after a window opens and dies 2.5 s into it: its
    // readings of that window are in the raw ring (flushed every second), no window has
    // ever closed.
    let open = start_of(sitewarden::clock::now_ms(), interval) + interval.as_millis() as i64;
    sleep_until_ms(open + 100);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    sleep_until_ms(open + 2600);
    daemon.kill9();
    assert!(ledger_of(&site).accepted.is_empty(), "no window closed yet");

    // Restarted after that window ended, only the raw ring can still produce it.
    sleep_until_ms(open + interval.as_millis() as i64 + 300);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let start = sitewarden::clock::rfc3339(open);
    let w = sub.wait_for("the first window", Duration::from_secs(15), |m| {
        m.json()["start"] == start.as_str()
    });
    assert!(
        w.json()["quality"]["polls"].as_u64() >= Some(2),
        "rebuilt from the polls before the crash: {}",
        w.json()
    );
    daemon.stop_cleanly();
}
