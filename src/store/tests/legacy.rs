//! An upgrade from the redb outbox: the first start imports every pending record (same
//! seq, same bytes, alarms still first), the counters and the state entries, then removes
//! the old file; seqs continue above everything the old file used.

use crate::store::record::{self, Kind};
use crate::store::tables::{ALARMS, META, OTHERS, STATE};
use crate::store::{Outbox, disk};

/// Writes an outbox as the redb versions left it.
fn old_outbox(dir: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
    let db = redb::Database::create(dir.join("outbox.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    let mut recs = Vec::new();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("format", 1).unwrap();
        meta.insert("next_seq", 120).unwrap();
        meta.insert("dropped.summary", 7).unwrap();
        let mut alarms = txn.open_table(ALARMS).unwrap();
        let mut others = txn.open_table(OTHERS).unwrap();
        for seq in [100u64, 101, 105, 110] {
            let kind = if seq == 105 {
                Kind::Alarm
            } else {
                Kind::Summary
            };
            let b = record::encode(
                kind,
                "p/x",
                false,
                5,
                format!("{{\"seq\":{seq}}}").as_bytes(),
            );
            if kind == Kind::Alarm {
                alarms.insert(seq, b.as_slice()).unwrap();
            } else {
                others.insert(seq, b.as_slice()).unwrap();
            }
            recs.push((seq, b));
        }
        let mut st = txn.open_table(STATE).unwrap();
        st.insert("window.last_closed", b"60000".as_slice())
            .unwrap();
        st.insert("latest.p/alarms/active", 7u64.to_be_bytes().as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
    disk::write_floor(&dir.join("outbox.redb.seq"), 1 << 20).unwrap();
    recs
}

#[test]
fn an_old_redb_outbox_is_imported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = old_outbox(tmp.path());
    let ob = Outbox::open(&tmp.path().join("outbox"), 1 << 20).unwrap();
    let alarms = ob.alarms_after(0, 10).unwrap();
    let others = ob.others_after(0, 10).unwrap();
    assert_eq!(alarms.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![105]);
    assert_eq!(
        others.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![100, 101, 110]
    );
    for r in alarms.iter().chain(&others) {
        let (_, b) = recs.iter().find(|(s, _)| *s == r.seq).unwrap();
        assert_eq!(record::decode(r.seq, b).as_ref(), Some(r), "byte-identical");
    }
    assert_eq!(
        ob.state("window.last_closed").unwrap(),
        Some(b"60000".to_vec())
    );
    assert_eq!(
        ob.state("latest.p/alarms/active").unwrap(),
        None,
        "old bookkeeping stays behind"
    );
    let st = ob.stats().unwrap();
    assert_eq!(st.dropped.get(Kind::Summary), 7);
    assert!(
        st.next_seq >= 1 << 20,
        "seqs continue above the old floor: {}",
        st.next_seq
    );
    assert!(!tmp.path().join("outbox.redb").exists());
    assert!(!tmp.path().join("outbox.redb.seq").exists());
    assert!(ob.reanchored().is_none() && ob.quarantined().is_none());
    ob.ack(&[100, 101]).unwrap();
    drop(ob);
    // The second start finds no old file and the log as it was left.
    let ob = Outbox::open(&tmp.path().join("outbox"), 1 << 20).unwrap();
    assert_eq!(ob.stats().unwrap().pending.total(), 2);
    assert_eq!(
        ob.state("window.last_closed").unwrap(),
        Some(b"60000".to_vec())
    );
}

#[test]
fn an_unreadable_old_outbox_is_moved_aside_and_the_start_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("outbox.redb"), vec![0xA5; 10_000]).unwrap();
    let ob = Outbox::open(&tmp.path().join("outbox"), 1 << 20).unwrap();
    assert_eq!(ob.stats().unwrap().pending.total(), 0);
    let moved = std::fs::read_dir(tmp.path()).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with("outbox.redb.corrupt-")
    });
    assert!(moved, "the old file is kept for inspection");
}
