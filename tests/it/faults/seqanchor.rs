//! seq never goes back (issue 10): after every corruption case (the outbox log's newest
//! segment truncated, its oldest overwritten, seq file missing, seq file zeroed, all at once), the daemon restarted on
//! the same data directory publishes nothing new under a seq at or below one the
//! platform's subscriber already received; only byte-identical replays may repeat one.

use crate::support::daemon::Daemon;
use crate::support::ledger::seq_of;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::{Msg, Subscriber};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The outbox log's segments, oldest first.
fn segments(outbox: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(outbox)
        .expect("outbox dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

fn damage(data: &Path, case: &str) {
    let segs = segments(&data.join("outbox"));
    let floors = [data.join("outbox.seq"), data.join("raw").join("seq.floor")];
    let truncate = || {
        let newest = segs.last().expect("a segment");
        let len = std::fs::metadata(newest).expect("segment").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(newest)
            .expect("open");
        f.set_len(len / 3).expect("truncate");
    };
    match case {
        "truncated" => truncate(),
        "overwritten" => {
            let mut b = std::fs::read(&segs[0]).expect("read");
            let n = b.len().min(8192);
            b[..n].fill(0xA5);
            std::fs::write(&segs[0], b).expect("write");
        }
        "seq file missing" => std::fs::remove_file(&floors[0]).expect("rm seq"),
        "seq file zeroed" => std::fs::write(&floors[0], [0u8; 12]).expect("zero"),
        "all at once" => {
            truncate();
            for f in &floors {
                std::fs::write(f, [0u8; 12]).expect("zero");
            }
        }
        other => panic!("no case {other}"),
    }
}

#[test]
fn seq_never_goes_back_after_any_corruption_of_the_data_directory() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "humidity", 400.0);
    sim.set("th-1", "temperature", 200.0);
    let site = TestSite::new(&broker, &sim, "1s");
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-seq",
        true,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    for case in [
        "truncated",
        "overwritten",
        "seq file missing",
        "seq file zeroed",
        "all at once",
    ] {
        // Let this run publish a few seqs of its own (status, summaries, health).
        let start = Instant::now();
        sub.wait_until("a run's messages", Duration::from_secs(20), |m| {
            m.iter()
                .filter(|m| m.at > start && m.topic.ends_with("/health"))
                .count()
                >= 2
        });
        // Taken before the kill: the kernel closes the daemon's socket before `kill9` has
        // reaped it, so on a loaded machine the broker's will can arrive before `kill9`
        // returns.
        let killed = Instant::now();
        daemon.kill9();
        // The broker publishes the dead run's last will (a seq it reserved) first.
        sub.wait_for("the last will", Duration::from_secs(10), |m| {
            m.at > killed && m.topic.ends_with("/status") && m.json()["state"] == "offline"
        });
        let before: Vec<Msg> = sub.snapshot();
        let highest = before
            .iter()
            .filter_map(seq_of)
            .max()
            .expect("seqs received");
        let bytes: HashMap<u64, Vec<u8>> = before
            .iter()
            .filter_map(|m| Some((seq_of(m)?, m.payload.clone())))
            .collect();
        damage(&site.data_dir(), case);
        let restart = Instant::now();
        daemon = Daemon::start(&site.config, site.dir.path());
        let status = sub.wait_for("the new run's status", Duration::from_secs(20), |m| {
            m.at > restart && m.topic.ends_with("/status") && m.json()["state"] == "online"
        });
        sub.wait_until("the new run's messages", Duration::from_secs(20), |m| {
            m.iter()
                .filter(|m| m.at > restart && m.topic.ends_with("/health"))
                .count()
                >= 2
        });
        let status_seq = seq_of(&status).expect("status seq");
        println!("{case}: highest before {highest}, new run's status at {status_seq}");
        assert!(
            status_seq > highest,
            "{case}: status seq {status_seq} <= {highest}"
        );
        for m in sub.snapshot().iter().filter(|m| m.at > restart) {
            let Some(seq) = seq_of(m) else { continue };
            if seq <= highest {
                assert_eq!(
                    bytes.get(&seq),
                    Some(&m.payload),
                    "{case}: seq {seq} on {} went back, and not as a replay",
                    m.topic
                );
            }
        }
        let reanchored = &status.json()["reanchored"];
        if case == "all at once" {
            assert!(
                reanchored["to"].as_u64() > Some(highest),
                "{case}: {}",
                status.json()
            );
            assert!(daemon.logs().contains("SEQ RE-ANCHORED"), "{case}");
        } else {
            assert!(
                reanchored.is_null(),
                "{case}: no jump needed: {}",
                status.json()
            );
        }
    }
    daemon.stop_cleanly();
}
