//! The outbox's bound: what goes when it is full (summaries first, alarms last, all
//! counted), and the file staying within `outbox_max_bytes`.

use super::outbox_basic::open;
use crate::store::{Kind, NewRecord};

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
