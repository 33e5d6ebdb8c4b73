//! The seq ledger: what the daemon's logs say it allocated, against what the platform got.
//!
//! Every seq is handed out in one of two places, and both log it at debug level:
//! `accepted` (ingest committed outbox records: `what`, `first_seq`, `last_seq`) and
//! `seq reserved` (the uplink took one for a message it never stores: `what` is `status`,
//! `will` or `health`). A seq taken inside a transaction that a `kill -9` cut short is
//! in neither, and is handed out again by the next run (nobody ever saw it). So, for a
//! run without crashes, the ledger accounts for every seq from the first one on; with
//! crashes, for every seq whose commit finished before the log line was written.
//!
//! The checks are pure functions over the ledger and the received messages, so each
//! fault test states its promise in one line and a failure lists the offending seqs.

use super::subscriber::Msg;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the logs say about seqs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Outbox records, by seq: `window` (summaries, zones, cell rollups), `alarm` (alarm
    /// changes) or `snapshot` (the active-alarm snapshot that ends each alarm commit).
    pub accepted: BTreeMap<u64, String>,
    /// Seqs of messages that are published but never stored, by seq: `status`, `will`, `health`.
    pub reserved: BTreeMap<u64, String>,
    /// Seqs the logs name twice: must stay empty.
    pub doubly_logged: Vec<u64>,
}

impl Ledger {
    /// Reads every log given (in any order: seqs say the order).
    pub fn from_logs<S: AsRef<str>>(logs: &[S]) -> Ledger {
        let mut l = Ledger::default();
        for line in logs.iter().flat_map(|log| log.as_ref().lines()) {
            let field = |name: &str| field(line, name);
            if line.contains(" accepted ") || line.ends_with(" accepted") {
                let (Some(first), Some(last), Some(what)) = (
                    field("first_seq").and_then(|v| v.parse::<u64>().ok()),
                    field("last_seq").and_then(|v| v.parse::<u64>().ok()),
                    field("what"),
                ) else {
                    continue;
                };
                if first == 0 {
                    // A commit of state only: no records, no seqs.
                    continue;
                }
                for seq in first..=last {
                    // An alarm commit ends with the active-alarm snapshot (state: the
                    // outbox keeps only the latest pending one).
                    let what = match what {
                        "alarm" if seq == last => "snapshot",
                        w => w,
                    };
                    l.insert(seq, what, true);
                }
            } else if line.contains(" seq reserved ")
                && let (Some(seq), Some(what)) =
                    (field("seq").and_then(|v| v.parse().ok()), field("what"))
            {
                l.insert(seq, what, false);
            }
        }
        l
    }

    fn insert(&mut self, seq: u64, what: &str, accepted: bool) {
        let fresh = !self.accepted.contains_key(&seq) && !self.reserved.contains_key(&seq);
        if !fresh {
            self.doubly_logged.push(seq);
        }
        let map = if accepted {
            &mut self.accepted
        } else {
            &mut self.reserved
        };
        map.insert(seq, what.to_string());
    }

    /// Accepted seqs of one kind (`window` or `alarm`).
    pub fn accepted_as(&self, what: &str) -> BTreeSet<u64> {
        self.accepted
            .iter()
            .filter(|(_, w)| w.as_str() == what)
            .map(|(s, _)| *s)
            .collect()
    }

    /// Seqs in `lo..=hi` that no log line accounts for.
    pub fn unaccounted(&self, lo: u64, hi: u64) -> Vec<u64> {
        (lo..=hi)
            .filter(|s| !self.accepted.contains_key(s) && !self.reserved.contains_key(s))
            .collect()
    }

    /// Highest seq logged, of either kind.
    pub fn last(&self) -> Option<u64> {
        let a = self.accepted.keys().next_back();
        let r = self.reserved.keys().next_back();
        a.max(r).copied()
    }
}

/// The value of `name=value` in a log line (quotes stripped).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=");
    let at = line.find(&key)? + key.len();
    let rest = &line[at..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// One received message's seq, if its payload has one.
pub fn seq_of(m: &Msg) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(&m.payload)
        .ok()?
        .get("seq")?
        .as_u64()
}

/// Every seq received.
pub fn delivered(msgs: &[Msg]) -> BTreeSet<u64> {
    msgs.iter().filter_map(seq_of).collect()
}

/// `expected` seqs that never arrived.
pub fn missing(expected: &BTreeSet<u64>, msgs: &[Msg]) -> Vec<u64> {
    let got = delivered(msgs);
    expected.difference(&got).copied().collect()
}

/// Seqs received with different topics or bytes (a replay must be byte-identical).
pub fn conflicts(msgs: &[Msg]) -> Vec<u64> {
    let mut first: HashMap<u64, &Msg> = HashMap::new();
    let mut bad = BTreeSet::new();
    for m in msgs {
        let Some(seq) = seq_of(m) else { continue };
        match first.get(&seq) {
            Some(f) if f.topic != m.topic || f.payload != m.payload => {
                bad.insert(seq);
            }
            Some(_) => {}
            None => {
                first.insert(seq, m);
            }
        }
    }
    bad.into_iter().collect()
}

/// Per topic, seqs whose FIRST arrival came after a higher seq's first arrival on the same
/// topic, as (topic, seq). Repeats of a seq already seen are replays and don't count.
pub fn out_of_order(msgs: &[Msg]) -> Vec<(String, u64)> {
    let mut seen: HashMap<&str, (BTreeSet<u64>, u64)> = HashMap::new();
    let mut bad = Vec::new();
    for m in msgs {
        let Some(seq) = seq_of(m) else { continue };
        let (set, high) = seen.entry(m.topic.as_str()).or_default();
        if !set.insert(seq) {
            continue;
        }
        if seq < *high {
            bad.push((m.topic.clone(), seq));
        }
        *high = (*high).max(seq);
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, seq: u64, body: &str) -> Msg {
        Msg {
            topic: topic.to_string(),
            retain: false,
            payload: format!(r#"{{"v":1,"seq":{seq},"x":"{body}"}}"#).into_bytes(),
            at: std::time::Instant::now(),
        }
    }

    #[test]
    fn ledger_reads_accepted_ranges_and_reserved_seqs() {
        let log = "\
2026-11-23T18:56:33.643150Z DEBUG accepted what=\"window\" records=3 first_seq=4 last_seq=6
2026-11-23T18:56:33.643150Z DEBUG seq reserved seq=7 what=\"health\"
2026-11-23T18:56:33.643150Z DEBUG accepted what=\"alarm\" records=2 first_seq=8 last_seq=9
2026-11-23T18:56:33.643150Z  INFO uplink connected broker=mqtt://127.0.0.1:1
2026-11-23T18:56:33.643150Z DEBUG seq reserved seq=7 what=\"will\"";
        let l = Ledger::from_logs(&[log]);
        assert_eq!(l.accepted_as("window"), BTreeSet::from([4, 5, 6]));
        assert_eq!(l.accepted_as("alarm"), BTreeSet::from([8]));
        assert_eq!(l.accepted_as("snapshot"), BTreeSet::from([9]));
        assert_eq!(l.reserved.get(&7).map(String::as_str), Some("will"));
        assert_eq!(l.doubly_logged, vec![7]);
        assert_eq!(l.unaccounted(3, 10), vec![3, 10]);
        assert_eq!(l.last(), Some(9));
    }

    #[test]
    fn checks_find_missing_conflicting_and_reordered_seqs() {
        // (received, missing of 1..=3, conflicting seqs, first arrivals out of order)
        type Case = (Vec<Msg>, Vec<u64>, Vec<u64>, Vec<(String, u64)>);
        let cases: Vec<Case> = vec![
            // A replay of the same bytes is fine.
            (
                vec![msg("a", 1, "x"), msg("a", 2, "y"), msg("a", 1, "x")],
                vec![3],
                vec![],
                vec![],
            ),
            // The same seq with other bytes, or on another topic, is a conflict.
            (
                vec![
                    msg("a", 1, "x"),
                    msg("a", 1, "z"),
                    msg("b", 2, "y"),
                    msg("c", 2, "y"),
                ],
                vec![3],
                vec![1, 2],
                vec![],
            ),
            // Order is per topic: another topic may carry lower seqs later (alarms go
            // first), but on one topic a lower seq arriving first after a higher is wrong.
            (
                vec![msg("a", 5, "x"), msg("b", 2, "y"), msg("a", 3, "z")],
                vec![1],
                vec![],
                vec![("a".to_string(), 3)],
            ),
        ];
        let expected: BTreeSet<u64> = (1..=3).collect();
        for (msgs, miss, conf, order) in cases {
            assert_eq!(missing(&expected, &msgs), miss);
            assert_eq!(conflicts(&msgs), conf);
            assert_eq!(out_of_order(&msgs), order);
        }
    }
}
