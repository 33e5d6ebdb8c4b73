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

/// Like `rec`, with a fixed-width seq so every record costs the same.
fn even(kind: Kind) -> NewRecord {
    NewRecord::new(kind, "t", false, 1_000, |seq| {
        format!("{{\"seq\":{seq:012}}}").into_bytes()
    })
}

fn even_cost() -> u64 {
    let r = crate::store::record::encode(
        Kind::Summary,
        "t",
        false,
        1_000,
        &even(Kind::Summary).build.as_ref()(1),
    );
    crate::store::record::cost(r.len())
}

fn seqs(v: &[Record]) -> Vec<u64> {
    v.iter().map(|r| r.seq).collect()
}

fn open(dir: &std::path::Path, max: u64) -> Outbox {
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
fn full_outbox_drops_summaries_first_and_alarms_last() {
    // Each record costs the same; the budget holds a handful of them.
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    let fit = ob.budget() / even_cost();
    // Alarms, command results and summaries interleaved, more than fit.
    let kinds = [
        Kind::Alarm,
        Kind::Summary,
        Kind::CmdResult,
        Kind::Summary,
        Kind::Zone,
    ];
    let n = (fit + fit / 2) as usize;
    let items = (0..n).map(|i| even(kinds[i % kinds.len()])).collect();
    let got = ob.append(items, &[]).unwrap();
    assert_eq!(got.len(), n);
    let st = ob.stats().unwrap();
    assert_eq!(st.pending.total(), fit);
    // Only summaries and zones went, oldest first: every survivor of those kinds is
    // newer than every dropped one.
    assert_eq!(
        st.dropped.get(Kind::Alarm) + st.dropped.get(Kind::CmdResult),
        0
    );
    assert_eq!(st.dropped.total(), n as u64 - fit);
    let others = ob.others_after(0, usize::MAX).unwrap();
    let first_kept_bulk = others
        .iter()
        .find(|r| r.kind != Kind::CmdResult)
        .unwrap()
        .seq;
    let dropped_bulk = (1..=n as u64)
        .filter(|s| {
            matches!(
                kinds[(*s as usize - 1) % kinds.len()],
                Kind::Summary | Kind::Zone
            )
        })
        .filter(|s| !others.iter().any(|r| r.seq == *s));
    assert!(dropped_bulk.clone().all(|s| s < first_kept_bulk));
    assert_eq!(dropped_bulk.count() as u64, st.dropped.total());
}

#[test]
fn alarms_go_only_when_nothing_else_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    let fit = ob.budget() / even_cost();
    ob.append(vec![even(Kind::Summary)], &[]).unwrap();
    let n = fit + 3;
    ob.append((0..n).map(|_| even(Kind::Alarm)).collect(), &[])
        .unwrap();
    let st = ob.stats().unwrap();
    assert_eq!(st.dropped.get(Kind::Summary), 1);
    // fit + 4 records for room for fit: the summary and the three oldest alarms go.
    assert_eq!(st.dropped.get(Kind::Alarm), 3, "{:?}", st.dropped);
    // The newest alarms survive.
    let alarms = ob.alarms_after(0, usize::MAX).unwrap();
    assert_eq!(alarms.last().unwrap().seq, n + 1);
    assert_eq!(alarms.len() as u64 + st.dropped.get(Kind::Alarm), n);
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
        ob.others_after(0, 10).unwrap()
    };
    let ob = open(tmp.path(), 1 << 20);
    let after = ob.others_after(0, 10).unwrap();
    assert_eq!(before, after);
    assert!(after[0].retain && !after[1].retain);
    assert_eq!(after[0].kind, Kind::Snapshot);
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

/// The budget leaves room for redb's own pages: a full outbox under steady churn
/// (new windows in, acks out, the excess dropped) keeps its file within max_bytes.
#[test]
fn file_stays_within_max_bytes_under_churn() {
    let tmp = tempfile::tempdir().unwrap();
    let max = 4 << 20;
    let ob = open(tmp.path(), max);
    let pad = "w".repeat(380);
    let mut largest = 0;
    for round in 0..300u64 {
        let items = (0..50)
            .map(|_| {
                let pad = pad.clone();
                NewRecord::new(
                    Kind::Summary,
                    "sw/s/g/summary/gate-1",
                    false,
                    0,
                    move |seq| format!("{{\"seq\":{seq},\"pad\":\"{pad}\"}}").into_bytes(),
                )
            })
            .collect();
        ob.append(items, &[]).unwrap();
        // The uplink acks a little less than arrives: the backlog grows to the bound.
        if round % 2 == 0 {
            let page = ob.others_after(0, 40).unwrap();
            ob.ack(&page.iter().map(|r| r.seq).collect::<Vec<_>>())
                .unwrap();
        }
        largest = largest.max(ob.stats().unwrap().bytes_on_disk);
    }
    let st = ob.stats().unwrap();
    println!(
        "churn: file peaked at {largest} bytes for max {max}, dropped {}",
        st.dropped.total()
    );
    assert!(
        st.dropped.get(Kind::Summary) > 0,
        "the bound was never reached"
    );
    assert!(largest <= max, "file {largest} > max_bytes {max}");
}
