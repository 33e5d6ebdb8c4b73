//! Store-and-forward under faults (issue 3): broker outages, `kill -9`, crash loops and a
//! full outbox, against the real binary, a real Mosquitto and a persistent subscriber.
//!
//! Every test states its promise over the seq ledger (support::ledger): what the daemon
//! logged as accepted (durable outbox records) or reserved (status, will, health), against
//! what the platform's subscriber received.
//!
//! - `outage.rs`: a 30 s broker outage, and a crash while the broker is down;
//! - `crash.rs`: a crash loop with the broker up, and the last will's seq;
//! - `alarmflood.rs`: hundreds of alarm changes into a full outbox during an outage;
//! - `bound.rs`: a tiny outbox with the broker down, and `sitewarden outbox`;
//! - `diskfull.rs`: the data directory on a real filesystem that fills up;
//! - `seqanchor.rs`: seq after every corruption of the data directory;
//! - `resets.rs`: the uplink in-process against a peer that resets connections mid-flight.

mod bound;
mod alarmflood;
mod crash;
mod diskfull;
mod outage;
mod resets;
mod seqanchor;

use crate::support::daemon::logs_in;
use crate::support::ledger::{self, Ledger, seq_of};
use crate::support::mosquitto::Mosquitto;
use crate::support::site::TestSite;
use crate::support::subscriber::{Msg, Subscriber};
use sitewarden::store::Outbox;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The ledger of every daemon run in `site`'s directory so far.
fn ledger_of(site: &TestSite) -> Ledger {
    Ledger::from_logs(&logs_in(site.dir.path()))
}

/// Waits until every seq in `expected` has reached `sub`; panics naming the missing ones
/// and, to tell a daemon fault from a broker one, which of them the outbox still holds
/// (never acknowledged) and which it deleted (acknowledged, then lost on the way).
fn wait_delivered(sub: &Subscriber, site: &TestSite, expected: &BTreeSet<u64>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let missing = ledger::missing(expected, &sub.snapshot());
        if missing.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let pending = pending_in(site);
            let (held, gone): (Vec<u64>, Vec<u64>) =
                missing.iter().partition(|s| pending.contains(s));
            panic!(
                "{} of {} accepted seqs not delivered within {within:?}; still in the \
                 outbox: {:?}; acknowledged and deleted: {:?}",
                missing.len(),
                expected.len(),
                &held[..held.len().min(40)],
                &gone[..gone.len().min(40)]
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The seqs pending in `site`'s outbox (read-only; empty if it cannot be read).
fn pending_in(site: &TestSite) -> BTreeSet<u64> {
    let Ok(ob) = Outbox::open_read_only(&site.data_dir().join("outbox")) else {
        return BTreeSet::new();
    };
    let alarms = ob.alarms_after(0, usize::MAX).unwrap_or_default();
    let others = ob.others_after(0, usize::MAX).unwrap_or_default();
    alarms.iter().chain(&others).map(|r| r.seq).collect()
}

/// Restarts the broker (same port, same persistence) and waits until the platform's
/// subscriber is subscribed again. Mosquitto 2.0 does not queue messages for a persistent
/// session restored from its persistence file until that client has reconnected, so a
/// daemon reconnecting first would lose messages to the harness, not to a fault of its
/// own: the tests time the restart against the daemon's backoff, and this asserts it.
fn restart_broker(broker: &mut Mosquitto, sub: &Subscriber, site: &TestSite) {
    let connected = || {
        logs_in(site.dir.path())
            .iter()
            .map(|l| l.matches("uplink connected").count())
            .sum::<usize>()
    };
    let (before, subscribed) = (connected(), sub.subscriptions());
    broker.restart();
    sub.wait_resubscribed(subscribed, Duration::from_secs(10));
    assert_eq!(
        connected(),
        before,
        "the daemon reconnected before the platform's subscriber was back"
    );
}

/// Waits until `pred` holds for the logs of the daemons run in `site`.
fn wait_logs(site: &TestSite, what: &str, within: Duration, pred: impl Fn(&Ledger) -> bool) {
    let deadline = Instant::now() + within;
    while !pred(&ledger_of(site)) {
        if Instant::now() > deadline {
            panic!(
                "`{what}` not in the daemon logs within {within:?}:\n{}",
                logs_in(site.dir.path()).join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Summary windows published under more than one seq, as (topic, start, seqs): a window
/// built twice. The same window replayed (same seq, same bytes) is fine.
fn windows_built_twice(msgs: &[Msg]) -> Vec<(String, String, BTreeSet<u64>)> {
    let mut by_window: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    for m in msgs.iter().filter(|m| m.topic.contains("/summary/")) {
        let v = m.json();
        if let (Some(start), Some(seq)) = (v["start"].as_str(), v["seq"].as_u64()) {
            by_window
                .entry((m.topic.clone(), start.to_string()))
                .or_default()
                .insert(seq);
        }
    }
    by_window
        .into_iter()
        .filter(|(_, seqs)| seqs.len() > 1)
        .map(|((t, s), seqs)| (t, s, seqs))
        .collect()
}

/// Messages whose topic does not fit what the ledger says their seq was for, as
/// (seq, topic, ledger entry).
fn topic_mismatches(l: &Ledger, msgs: &[Msg]) -> Vec<(u64, String, String)> {
    let fits = |what: &str, topic: &str| match what {
        "window" => {
            topic.contains("/summary/")
                || topic.contains("/zone/")
                || topic.contains("/cell/")
                || topic.ends_with("/cells")
        }
        "alarm" => topic.contains("/alarm/"),
        "snapshot" => topic.ends_with("/alarms/active"),
        "status" | "will" => topic.ends_with("/status"),
        "health" => topic.ends_with("/health"),
        "inventory" => topic.ends_with("/inventory"),
        _ => false,
    };
    msgs.iter()
        .filter_map(|m| {
            let seq = seq_of(m)?;
            let what = l.accepted.get(&seq).or_else(|| l.reserved.get(&seq))?;
            (!fits(what, &m.topic)).then(|| (seq, m.topic.clone(), what.clone()))
        })
        .collect()
}

/// The checks every fault test makes over everything received: no seq carries two
/// different messages, first arrivals are in seq order per topic, no window was built
/// twice, and each seq went out on a topic that fits what it was logged for.
fn assert_consistent(l: &Ledger, msgs: &[Msg]) {
    assert!(
        l.doubly_logged.is_empty(),
        "seqs handed out twice: {:?}",
        l.doubly_logged
    );
    assert_eq!(
        ledger::conflicts(msgs),
        Vec::<u64>::new(),
        "seqs reused for other bytes"
    );
    assert_eq!(
        ledger::out_of_order(msgs),
        Vec::<(String, u64)>::new(),
        "first arrivals out of seq order on a topic"
    );
    assert_eq!(
        windows_built_twice(msgs),
        vec![],
        "windows published under two seqs"
    );
    assert_eq!(topic_mismatches(l, msgs), vec![], "seqs on the wrong topic");
}

/// Sleeps until the wall clock reads `ms`: windows are cut on the wall clock, so a test
/// that must crash inside one waits for its instant (this is the scenario, not a wait
/// for the daemon).
fn sleep_until_ms(ms: i64) {
    let now = sitewarden::clock::now_ms();
    if ms > now {
        std::thread::sleep(Duration::from_millis((ms - now) as u64));
    }
}

/// A small deterministic generator for the crash loop's run times (the seed is printed,
/// so a failing sequence can be replayed).
struct XorShift(u64);

impl XorShift {
    fn from_clock() -> XorShift {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        XorShift(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A duration uniformly in `lo..hi`.
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = (hi - lo).as_millis() as u64;
        lo + Duration::from_millis(self.next() % span.max(1))
    }
}
