//! Alarms before everything: the active-alarm snapshot is state (one pending, the latest),
//! alarm events go only when nothing else is left, and a raise that goes takes its later
//! clear with it.

use super::outbox_basic::open;
use crate::store::{Kind, NewRecord};

fn event(id: usize, state: &'static str) -> NewRecord {
    NewRecord::new(Kind::Alarm, "p/alarm/d", false, 1_000, move |seq| {
        format!(
            "{{\"seq\":{seq},\"state\":\"{state}\",\"alarm\":{{\"id\":\"hot:d:{id}\",\"pad\":\"{}\"}}}}",
            "x".repeat(300)
        )
        .into_bytes()
    })
}

fn snapshot(n: usize) -> NewRecord {
    NewRecord::new(Kind::Snapshot, "p/alarms/active", true, 1_000, move |seq| {
        format!("{{\"seq\":{seq},\"alarms\":\"{}\"}}", "a".repeat(n)).into_bytes()
    })
}

fn summary() -> NewRecord {
    NewRecord::new(Kind::Summary, "p/summary/d", false, 1_000, |seq| {
        format!("{{\"seq\":{seq},\"pad\":\"{}\"}}", "s".repeat(300)).into_bytes()
    })
}

#[test]
fn each_snapshot_replaces_the_pending_one_and_is_no_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    let mut last = 0;
    for i in 0..200 {
        let seqs = ob
            .append(vec![event(i, "raised"), snapshot(2000)], &[])
            .unwrap();
        last = seqs[1];
    }
    let pending = ob.alarms_after(0, usize::MAX).unwrap();
    let snaps: Vec<u64> = pending
        .iter()
        .filter(|r| r.kind == Kind::Snapshot)
        .map(|r| r.seq)
        .collect();
    assert_eq!(snaps, vec![last], "only the latest snapshot is pending");
    let st = ob.stats().unwrap();
    assert_eq!(st.pending.get(Kind::Alarm), 200);
    assert_eq!(st.pending.get(Kind::Snapshot), 1);
    assert_eq!(st.dropped.total(), 0, "{:?}", st.dropped);
    // It replays after every event committed before it, in seq order.
    assert_eq!(pending.last().map(|r| r.seq), Some(last));
}

#[test]
fn no_alarm_goes_while_a_summary_or_snapshot_is_held() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    // Big snapshots and many summaries, alarms interleaved: far over the budget.
    for i in 0..1500 {
        let mut items: Vec<NewRecord> = (0..3).map(|_| summary()).collect();
        if i % 5 == 0 {
            items.push(event(i, "raised"));
            items.push(snapshot(60_000));
        }
        ob.append(items, &[]).unwrap();
    }
    let st = ob.stats().unwrap();
    assert!(st.dropped.get(Kind::Summary) > 0, "over budget: {st:?}");
    assert_eq!(st.dropped.get(Kind::Alarm), 0, "{st:?}");
    assert_eq!(st.pending.get(Kind::Alarm), 300);
}

#[test]
fn a_dropped_raise_takes_its_clear_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ob = open(tmp.path(), 1 << 20);
    // Only alarm events, far more than fit: raise i, then later its clear.
    let n = 900;
    for i in 0..n {
        ob.append(vec![event(i, "raised")], &[]).unwrap();
        if i >= 10 {
            ob.append(vec![event(i - 10, "cleared")], &[]).unwrap();
        }
    }
    let st = ob.stats().unwrap();
    assert!(
        st.dropped.get(Kind::Alarm) > 0,
        "the test must overflow: {st:?}"
    );
    let pending = ob.alarms_after(0, usize::MAX).unwrap();
    let mut raised = std::collections::HashSet::new();
    for r in &pending {
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        let id = v["alarm"]["id"].as_str().unwrap().to_string();
        if v["state"] == "raised" {
            raised.insert(id);
        } else {
            assert!(
                raised.contains(&id),
                "a clear is pending for a raise that was dropped: {id}"
            );
        }
    }
    assert!(!raised.is_empty());
}
