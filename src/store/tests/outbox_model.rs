//! Model-based test of the outbox: random appends, acks, crashes (drop and reopen) and
//! drops on a full outbox, against an in-memory model written from the rules alone.

use crate::store::{Kind, NewRecord, Outbox};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(Kind, usize)>),
    Ack(Vec<prop::sample::Index>),
    Crash,
}

/// The rules, restated: a record costs its header (13 bytes), topic, payload and 32
/// bytes of bookkeeping; past the budget, records go in (class, seq) order, where the
/// class is 0 for summaries and zones, 1 for command results, 2 for snapshots, 3 for
/// alarms. A snapshot replaces the pending one (all records here share one topic).
#[derive(Debug, Default)]
struct Model {
    pending: BTreeMap<u64, (Kind, Vec<u8>)>,
    next_seq: u64,
    dropped: [u64; 5],
}

const TOPIC: &str = "p/x";

fn class(k: Kind) -> u8 {
    match k {
        Kind::Summary | Kind::Zone => 0,
        Kind::CmdResult => 1,
        Kind::Snapshot => 2,
        Kind::Alarm => 3,
    }
}

fn payload(seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("{{\"seq\":{seq}}}").into_bytes();
    p.resize(p.len() + size, b'.');
    p
}

impl Model {
    fn cost(&self) -> u64 {
        self.pending
            .values()
            .map(|(_, p)| (13 + TOPIC.len() + p.len() + 32) as u64)
            .sum()
    }

    fn append(&mut self, items: &[(Kind, usize)], budget: u64) -> Vec<u64> {
        let seqs: Vec<u64> = (self.next_seq..self.next_seq + items.len() as u64).collect();
        for (&seq, &(kind, size)) in seqs.iter().zip(items) {
            if kind == Kind::Snapshot {
                self.pending.retain(|_, (k, _)| *k != Kind::Snapshot);
            }
            self.pending.insert(seq, (kind, payload(seq, size)));
        }
        self.next_seq += items.len() as u64;
        let mut order: Vec<(u8, u64)> = self
            .pending
            .iter()
            .map(|(s, (k, _))| (class(*k), *s))
            .collect();
        order.sort();
        for (_, seq) in order {
            if self.cost() <= budget {
                break;
            }
            if let Some((kind, _)) = self.pending.remove(&seq) {
                self.dropped[kind as usize] += 1;
            }
        }
        seqs
    }
}

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Summary),
        1 => Just(Kind::Zone),
        2 => Just(Kind::Alarm),
        1 => Just(Kind::CmdResult),
        1 => Just(Kind::Snapshot),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((arb_kind(), 0usize..200), 0..12).prop_map(Op::Append),
        3 => prop::collection::vec(any::<prop::sample::Index>(), 0..8).prop_map(Op::Ack),
        1 => Just(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn outbox_matches_its_model(ops in prop::collection::vec(arb_op(), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("outbox.redb");
        let max = 8 << 10;
        let mut ob = Outbox::open(&path, max).unwrap();
        let budget = ob.budget();
        let mut model = Model { next_seq: 1, ..Model::default() };
        let mut last_seq = 0;
        for op in ops {
            match op {
                Op::Append(items) => {
                    let records = items
                        .iter()
                        .map(|&(kind, size)| NewRecord::new(kind, TOPIC, false, 7, move |seq| payload(seq, size)))
                        .collect();
                    let alarms_before = model.dropped[Kind::Alarm as usize];
                    let got = ob.append(records, &[]).unwrap();
                    let want = model.append(&items, budget);
                    prop_assert_eq!(&got, &want);
                    // Seqs strictly increase and are never reused, across crashes too.
                    for s in got {
                        prop_assert!(s > last_seq);
                        last_seq = s;
                    }
                    // Alarms go last: once one went, nothing else is left.
                    if model.dropped[Kind::Alarm as usize] > alarms_before {
                        prop_assert!(model.pending.values().all(|(k, _)| *k == Kind::Alarm));
                    }
                }
                Op::Ack(picks) => {
                    let keys: Vec<u64> = model.pending.keys().copied().collect();
                    let acks: Vec<u64> = if keys.is_empty() { vec![] } else { picks.iter().map(|i| keys[i.index(keys.len())]).collect() };
                    ob.ack(&acks).unwrap();
                    for s in acks {
                        model.pending.remove(&s);
                    }
                }
                Op::Crash => {
                    drop(ob);
                    ob = Outbox::open(&path, max).unwrap();
                    prop_assert!(ob.quarantined().is_none());
                }
            }
            let mut got: BTreeMap<u64, (Kind, Vec<u8>)> = BTreeMap::new();
            for r in ob.alarms_after(0, usize::MAX).unwrap().into_iter().chain(ob.others_after(0, usize::MAX).unwrap()) {
                prop_assert_eq!(matches!(r.kind, Kind::Alarm | Kind::Snapshot), ob.alarms_after(r.seq - 1, 1).unwrap().first().is_some_and(|a| a.seq == r.seq));
                got.insert(r.seq, (r.kind, r.payload));
            }
            prop_assert_eq!(&got, &model.pending);
            let st = ob.stats().unwrap();
            prop_assert_eq!(st.dropped.0, model.dropped);
            prop_assert_eq!(st.next_seq, model.next_seq);
            for k in Kind::ALL {
                prop_assert_eq!(st.pending.get(k), model.pending.values().filter(|(x, _)| *x == k).count() as u64);
            }
            let payload_bytes: u64 = model.pending.values().map(|(_, p)| p.len() as u64).sum();
            prop_assert_eq!(st.payload_bytes, payload_bytes);
        }
    }
}
