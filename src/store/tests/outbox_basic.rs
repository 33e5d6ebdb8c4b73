//! The outbox's contract, one behaviour per test: seqs, replay order, acks, state,
//! stats, the drop order, reopen, read-only access.

use crate::store::{Kind, NewRecord, Outbox, Record};

/// A record whose payload names its seq, as every upstream payload does.
pub(super) fn rec(kind: Kind, topic: &str, body: &str) -> NewRecord {
    let body = body.to_string();
    NewRecord::new(kind, topic, kind == Kind::Snapshot, 1_000, move |seq| {
        format!("{{\"seq\":{seq},\"b\":\"{body}\"}}").into_bytes()
    })
}

fn seqs(v: &[Record]) -> Vec<u64> {
    v.iter().map(|r| r.seq).collect()
}

pub(super) fn open(dir: &std::path::Path, max: u64) -> Outbox {
    Outbox::open(&dir.join("outbox.redb"), max).unwrap()
}

#[test]
fn seqs_are_consecutive_and_payloads_carry_them() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    let a = ob
        .append(
            vec![
                rec(Kind::Summary, "p/summary/g1", "x"),
                rec(Kind::Alarm, "p/alarm/g1", "y"),
            ],
            &[],
        )
        .unwrap();
    let b = ob
        .append(vec![rec(Kind::Zone, "p/zone/n", "z")], &[])
        .unwrap();
    assert_eq!(a, vec![1, 2]);
    assert_eq!(b, vec![3]);
    let alarms = ob.alarms_after(0, 10).unwrap();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0].payload, br#"{"seq":2,"b":"y"}"#);
    assert_eq!(alarms[0].topic, "p/alarm/g1");
    assert_eq!(alarms[0].created_ms, 1_000);
    assert_eq!(seqs(&ob.others_after(0, 10).unwrap()), vec![1, 3]);
}

#[test]
fn replay_queries_page_in_seq_order() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    let items = (0..10)
        .map(|i| {
            rec(
                if i % 3 == 0 {
                    Kind::Alarm
                } else {
                    Kind::Summary
                },
                "t",
                "b",
            )
        })
        .collect();
    ob.append(items, &[]).unwrap();
    fn check(ob: &Outbox, alarms: bool, after: u64, limit: usize, want: &[u64]) {
        let got = if alarms {
            ob.alarms_after(after, limit)
        } else {
            ob.others_after(after, limit)
        };
        assert_eq!(
            seqs(&got.unwrap()),
            want,
            "alarms {alarms} after {after} limit {limit}"
        );
    }
    check(&ob, true, 0, 10, &[1, 4, 7, 10]);
    check(&ob, true, 4, 2, &[7, 10]);
    check(&ob, true, 10, 5, &[]);
    check(&ob, true, u64::MAX, 5, &[]);
    check(&ob, false, 0, 3, &[2, 3, 5]);
    check(&ob, false, 5, 100, &[6, 8, 9]);
    check(&ob, false, 0, 0, &[]);
}

#[test]
fn ack_removes_exactly_the_given_seqs() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    ob.append((0..6).map(|_| rec(Kind::Summary, "t", "b")).collect(), &[])
        .unwrap();
    ob.append(vec![rec(Kind::Alarm, "t", "a")], &[]).unwrap();
    ob.ack(&[2, 4, 7, 99]).unwrap();
    assert_eq!(seqs(&ob.others_after(0, 10).unwrap()), vec![1, 3, 5, 6]);
    assert!(ob.alarms_after(0, 10).unwrap().is_empty());
    let st = ob.stats().unwrap();
    assert_eq!(st.pending.get(Kind::Summary), 4);
    assert_eq!(st.pending.get(Kind::Alarm), 0);
    assert_eq!(st.payload_bytes, 4 * br#"{"seq":1,"b":"b"}"#.len() as u64);
    // Acking twice is harmless.
    ob.ack(&[2, 4]).unwrap();
    assert_eq!(ob.stats().unwrap().pending.total(), 4);
}

#[test]
fn seq_counter_survives_a_drained_outbox_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let ob = open(tmp.path(), 1 << 20);
        let s = ob
            .append((0..5).map(|_| rec(Kind::Summary, "t", "b")).collect(), &[])
            .unwrap();
        ob.ack(&s).unwrap();
        assert_eq!(ob.stats().unwrap().pending.total(), 0);
    }
    let ob = open(tmp.path(), 1 << 20);
    assert_eq!(
        ob.append(vec![rec(Kind::Summary, "t", "b")], &[]).unwrap(),
        vec![6]
    );
    assert!(ob.quarantined().is_none());
}

#[test]
fn state_is_written_with_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let ob = open(tmp.path(), 1 << 20);
        assert_eq!(ob.state("window.last_closed").unwrap(), None);
        ob.append(
            vec![rec(Kind::Summary, "t", "b")],
            &[("window.last_closed", b"60000".to_vec())],
        )
        .unwrap();
        ob.append(
            vec![],
            &[
                ("window.last_closed", b"120000".to_vec()),
                ("alarms.active", b"[]".to_vec()),
            ],
        )
        .unwrap();
    }
    let ob = open(tmp.path(), 1 << 20);
    assert_eq!(
        ob.state("window.last_closed").unwrap(),
        Some(b"120000".to_vec())
    );
    assert_eq!(ob.state("alarms.active").unwrap(), Some(b"[]".to_vec()));
}

#[test]
fn stats_report_backlog_and_oldest() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    let st = ob.stats().unwrap();
    assert_eq!(
        (st.pending.total(), st.oldest_pending_ms, st.next_seq),
        (0, None, 1)
    );
    let mut a = rec(Kind::Alarm, "t", "a");
    a.created_ms = 500;
    let mut s = rec(Kind::Summary, "t", "s");
    s.created_ms = 700;
    ob.append(vec![s, a], &[]).unwrap();
    let st = ob.stats().unwrap();
    assert_eq!(st.pending.get(Kind::Alarm), 1);
    assert_eq!(st.pending.get(Kind::Summary), 1);
    // The lowest seq (the summary) is the oldest pending.
    assert_eq!(st.oldest_pending_ms, Some(700));
    assert_eq!(st.next_seq, 3);
    assert!(st.bytes_on_disk > 0);
}

#[test]
fn records_are_byte_identical_across_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let before = {
        let ob = open(tmp.path(), 1 << 20);
        ob.append(
            vec![
                rec(Kind::Snapshot, "p/alarms/active", "[1,2]"),
                rec(Kind::CmdResult, "p/cmd/result", "ok"),
            ],
            &[],
        )
        .unwrap();
        (
            ob.alarms_after(0, 10).unwrap(),
            ob.others_after(0, 10).unwrap(),
        )
    };
    let ob = open(tmp.path(), 1 << 20);
    let after = (
        ob.alarms_after(0, 10).unwrap(),
        ob.others_after(0, 10).unwrap(),
    );
    assert_eq!(before, after);
    // The snapshot replays with the alarms, before the backlog.
    assert!(after.0[0].retain && !after.1[0].retain);
    assert_eq!(after.0[0].kind, Kind::Snapshot);
}

#[test]
fn read_only_view_follows_the_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("outbox.redb");
    assert!(matches!(
        Outbox::open_read_only(&path),
        Err(crate::store::StoreError::Unavailable(_))
    ));
    let ob = Outbox::open(&path, 1 << 20).unwrap();
    ob.append(vec![rec(Kind::Summary, "t", "b")], &[]).unwrap();
    let ro = Outbox::open_read_only(&path).unwrap();
    assert_eq!(ro.stats().unwrap().pending.total(), 1);
    ob.append(vec![rec(Kind::Alarm, "t", "b")], &[]).unwrap();
    assert_eq!(ro.stats().unwrap().pending.total(), 2);
    assert!(matches!(
        ro.append(vec![rec(Kind::Alarm, "t", "b")], &[]),
        Err(crate::store::StoreError::ReadOnly)
    ));
    assert!(matches!(
        ro.ack(&[1]),
        Err(crate::store::StoreError::ReadOnly)
    ));
}

#[test]
fn outbox_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Outbox>();
}

#[test]
fn a_second_writer_is_refused_without_quarantine() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("outbox.redb");
    let ob = Outbox::open(&path, 1 << 20).unwrap();
    ob.append(vec![rec(Kind::Alarm, "t", "a")], &[]).unwrap();
    match Outbox::open(&path, 1 << 20) {
        Err(crate::store::StoreError::Unavailable(_)) => {}
        Err(e) => panic!("wrong error for a held outbox: {e}"),
        Ok(_) => panic!("two writers on one outbox"),
    }
    assert!(path.exists());
    assert_eq!(ob.alarms_after(0, 10).unwrap().len(), 1);
    drop(ob);
    let ob = Outbox::open(&path, 1 << 20).unwrap();
    assert!(ob.quarantined().is_none());
    assert_eq!(ob.alarms_after(0, 10).unwrap().len(), 1);
}

/// Ingest appends while the uplink acks from another thread: the counters stay exact.
#[test]
fn concurrent_appends_and_acks_keep_counts_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = std::sync::Arc::new(open(tmp.path(), 1 << 30));
    let writer = {
        let ob = std::sync::Arc::clone(&ob);
        std::thread::spawn(move || {
            let mut all = Vec::new();
            for i in 0..100 {
                let kind = if i % 5 == 0 {
                    Kind::Alarm
                } else {
                    Kind::Summary
                };
                all.extend(
                    ob.append(vec![rec(kind, "t", "b"), rec(Kind::Zone, "t", "z")], &[])
                        .unwrap(),
                );
            }
            all
        })
    };
    let mut acked = std::collections::BTreeSet::new();
    loop {
        // Read `done` before the page: an empty page after the writer finished means
        // everything it appended has been seen.
        let done = writer.is_finished();
        let mut page = ob.alarms_after(0, 7).unwrap();
        page.extend(ob.others_after(0, 7).unwrap());
        let seqs: Vec<u64> = page.iter().map(|r| r.seq).collect();
        ob.ack(&seqs).unwrap();
        acked.extend(seqs);
        if done && page.is_empty() {
            break;
        }
    }
    let appended: std::collections::BTreeSet<u64> = writer.join().unwrap().into_iter().collect();
    assert_eq!(appended, acked);
    let st = ob.stats().unwrap();
    assert_eq!(
        (st.pending.total(), st.payload_bytes, st.dropped.total()),
        (0, 0, 0)
    );
    assert_eq!(st.next_seq, 201);
}
