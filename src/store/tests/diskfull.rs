//! A full disk (ENOSPC) is survived: the outbox reopens, sheds the oldest summaries
//! (counted), keeps every alarm and goes on accepting records. Never a panic.

use super::Rng;
use super::powercut::{Disk, open_sized};
use crate::store::{Kind, NewRecord};

fn payload(seq: u64) -> Vec<u8> {
    format!("{{\"seq\":{seq},\"pad\":\"{}\"}}", "s".repeat(200)).into_bytes()
}

#[test]
fn full_disk_sheds_oldest_summaries_and_keeps_alarms() {
    let disk = Disk::new(Vec::new(), 5);
    disk.lock().unwrap().capacity = 512 << 10;
    let ob = open_sized(&disk, true, 1 << 30).unwrap();
    let mut rng = Rng::new(5);
    let (mut ok, mut failed) = (0, 0);
    let mut alarms = Vec::new();
    let mut tail_ok = 0;
    for _ in 0..600 {
        let with_alarm = rng.chance(0.05);
        let mut items: Vec<NewRecord> = (0..10)
            .map(|_| NewRecord::new(Kind::Summary, "p/summary/d", false, 0, payload))
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
        "disk full: {ok} appends ok, {failed} failed, {} recoveries, dropped {:?}",
        st.recoveries, st.dropped
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
    let kept: Vec<u64> = ob
        .alarms_after(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(kept, alarms);
    drop(ob);
    let ob = open_sized(&disk, true, 1 << 30).unwrap();
    assert_eq!(ob.stats().unwrap().dropped, st.dropped);
}
