//! A full disk (ENOSPC) is survived: the outbox sheds the oldest summaries (counted),
//! compacts what the acks and drops left, keeps every alarm and goes on accepting records.
//! Never a panic. The filesystem's size is simulated (`Outbox::set_capacity`).

use super::Rng;
use crate::store::{Kind, NewRecord, Outbox};

fn payload(seq: u64) -> Vec<u8> {
    format!("{{\"seq\":{seq},\"pad\":\"{}\"}}", "s".repeat(200)).into_bytes()
}

#[test]
fn full_disk_sheds_oldest_summaries_and_keeps_alarms() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("outbox");
    let ob = Outbox::open(&path, 1 << 30).unwrap();
    ob.set_capacity(512 << 10);
    let mut rng = Rng::new(5);
    let (mut ok, mut failed) = (0, 0);
    let mut alarms = Vec::new();
    let mut tail_ok = 0;
    for i in 0..600 {
        let with_alarm = rng.chance(0.05);
        // Incompressible: random hex after the padding, the same for the same seq.
        let salt = rng.below(1 << 40) + i;
        let mut items: Vec<NewRecord> = (0..10)
            .map(|_| {
                NewRecord::new(Kind::Summary, "p/summary/d", false, 0, move |s| {
                    let mut p = payload(s);
                    let mut r = Rng::new(salt ^ s);
                    p.extend((0..300).map(|_| b"0123456789abcdef"[r.below(16) as usize]));
                    p
                })
            })
            .collect();
        if with_alarm {
            items.push(NewRecord::new(Kind::Alarm, "p/alarm/d", false, 0, payload));
        }
        match ob.append(items, &[]) {
            Ok(seqs) => {
                ok += 1;
                tail_ok += 1;
                if with_alarm {
                    alarms.push(*seqs.last().unwrap());
                }
            }
            Err(_) => {
                failed += 1;
                tail_ok = 0;
            }
        }
    }
    let st = ob.stats().unwrap();
    println!(
        "disk full: {ok} appends ok, {failed} failed, {} recoveries, dropped {:?}, {} bytes on disk",
        st.recoveries, st.dropped, st.bytes_on_disk
    );
    assert!(
        st.recoveries > 0,
        "the disk never filled up: the test proves nothing"
    );
    assert!(st.dropped.get(Kind::Summary) > 0);
    assert_eq!(st.dropped.get(Kind::Alarm), 0);
    assert!(
        tail_ok >= 100,
        "the outbox stopped accepting: {tail_ok} ok in the tail"
    );
    assert!(st.bytes_on_disk <= 512 << 10);
    let kept: Vec<u64> = ob
        .alarms_after(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(kept, alarms);
    drop(ob);
    let ob = Outbox::open(&path, 1 << 30).unwrap();
    assert_eq!(ob.stats().unwrap().dropped, st.dropped);
    let kept: Vec<u64> = ob
        .alarms_after(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(kept, alarms, "the alarms survive a reopen");
}
