//! A damaged outbox file never stops the daemon: it is quarantined and a fresh outbox
//! starts, with seqs that continue above every seq the damaged file could hold.

use super::Rng;
use super::outbox_basic::rec;
use crate::store::{Kind, Outbox, Record};
use std::path::Path;

/// Builds an outbox with some history (appends, acks) and returns its bytes and records.
fn pristine(dir: &Path) -> (Vec<u8>, Vec<Record>) {
    let path = dir.join("outbox.redb");
    let ob = Outbox::open(&path, 1 << 20).unwrap();
    for i in 0..20 {
        let items = (0..10)
            .map(|j| {
                rec(
                    if j == 0 { Kind::Alarm } else { Kind::Summary },
                    "p/summary/dev",
                    &"x".repeat(i * 10 + j),
                )
            })
            .collect();
        let seqs = ob
            .append(items, &[("window.last_closed", vec![i as u8])])
            .unwrap();
        ob.ack(&seqs[5..8]).unwrap();
    }
    let mut all = ob.alarms_after(0, usize::MAX).unwrap();
    all.extend(ob.others_after(0, usize::MAX).unwrap());
    drop(ob);
    (std::fs::read(&path).unwrap(), all)
}

/// Opens `bytes` as an outbox; returns whether it was quarantined. An outbox that opens
/// without quarantine must hold exactly `want`.
fn open_damaged(bytes: &[u8], want: &[Record]) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("outbox.redb");
    std::fs::write(&path, bytes).unwrap();
    std::fs::write(
        tmp.path().join("outbox.redb.seq"),
        crate::store::disk::floor_bytes(1 << 30),
    )
    .unwrap();
    let ob = Outbox::open(&path, 1 << 20).expect("a damaged outbox must still open");
    let q = ob.quarantined();
    if let Some(q) = &q {
        assert!(q.path.exists(), "the damaged file is kept for inspection");
        assert!(q.path.to_string_lossy().contains("outbox.redb.corrupt-"));
        assert!(
            !q.reason.contains("panicked"),
            "redb panicked instead of reporting: {}",
            q.reason
        );
        // What the salvage put back is exactly what the file held, byte for byte.
        let mut back = ob.alarms_after(0, usize::MAX).unwrap();
        back.extend(ob.others_after(0, usize::MAX).unwrap());
        for r in &back {
            assert!(
                want.contains(r),
                "salvaged a record the file never held: {r:?}"
            );
        }
        // Seqs continue above the floor, never from 1 again.
        assert_eq!(
            ob.append(vec![rec(Kind::Alarm, "t", "b")], &[]).unwrap(),
            vec![1 << 30]
        );
    } else {
        let mut got = ob.alarms_after(0, usize::MAX).unwrap();
        got.extend(ob.others_after(0, usize::MAX).unwrap());
        assert_eq!(got, want, "an outbox that opens must be intact");
        ob.append(vec![rec(Kind::Alarm, "t", "b")], &[]).unwrap();
    }
    q.is_some()
}

#[test]
fn truncated_outbox_is_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let (bytes, want) = pristine(tmp.path());
    let mut quarantined = 0;
    let cuts: Vec<usize> = (0..bytes.len())
        .step_by(4096)
        .chain([1, 100, 511, 4097, bytes.len() - 1])
        .collect();
    for &cut in &cuts {
        if cut == 0 {
            continue;
        }
        quarantined += usize::from(open_damaged(&bytes[..cut], &want));
    }
    assert!(quarantined > 0);
}

#[test]
fn flipped_bytes_are_detected_or_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let (bytes, want) = pristine(tmp.path());
    let mut rng = Rng::new(11);
    let mut quarantined = 0;
    let rounds = 150;
    for _ in 0..rounds {
        let mut damaged = bytes.clone();
        // Flip a few bytes, some in the header pages, where redb keeps its roots.
        for _ in 0..1 + rng.below(3) {
            let at = if rng.chance(0.3) {
                rng.below(4096)
            } else {
                rng.below(bytes.len() as u64)
            } as usize;
            damaged[at] ^= 1 + rng.below(255) as u8;
        }
        quarantined += usize::from(open_damaged(&damaged, &want));
    }
    println!("{quarantined} of {rounds} flipped files quarantined, the rest intact");
    assert!(quarantined > 0);
}

#[test]
fn zeroed_or_foreign_file_is_quarantined() {
    for bytes in [
        vec![0u8; 8192],
        b"not a database at all".to_vec(),
        vec![0xff; 100_000],
    ] {
        assert!(open_damaged(&bytes, &[]));
    }
}

#[test]
fn repeated_crashes_during_open_quarantine_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (bytes, _) = pristine(tmp.path());
    let path = tmp.path().join("outbox.redb");
    std::fs::write(&path, &bytes).unwrap();
    // Three opens that started and never finished (the process died in them).
    std::fs::write(tmp.path().join("outbox.redb.opening"), "3\n").unwrap();
    let ob = Outbox::open(&path, 1 << 20).unwrap();
    let q = ob.quarantined().expect("quarantined");
    assert!(q.reason.contains("did not finish"), "{}", q.reason);
    assert!(!tmp.path().join("outbox.redb.opening").exists());
    drop(ob);
    // Two unfinished opens are not enough: a kill -9 during open is no verdict.
    std::fs::write(tmp.path().join("outbox.redb.opening"), "2\n").unwrap();
    assert!(
        Outbox::open(&path, 1 << 20)
            .unwrap()
            .quarantined()
            .is_none()
    );
}

/// Which files a corruption case damages.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncated,
    Overwritten,
    SeqMissing,
    SeqZeroed,
    AllAtOnce,
}

fn damage(dir: &Path, d: Damage) {
    let path = dir.join("outbox.redb");
    let floors = crate::store::floor::floor_paths(&path);
    let truncate = || {
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len / 3).unwrap();
    };
    match d {
        Damage::Truncated => truncate(),
        Damage::Overwritten => {
            let mut b = std::fs::read(&path).unwrap();
            for x in &mut b[..8192] {
                *x = 0xA5;
            }
            std::fs::write(&path, b).unwrap();
        }
        Damage::SeqMissing => std::fs::remove_file(&floors[0]).unwrap(),
        Damage::SeqZeroed => std::fs::write(&floors[0], [0u8; 12]).unwrap(),
        Damage::AllAtOnce => {
            truncate();
            for f in &floors {
                std::fs::write(f, [0u8; 12]).unwrap();
            }
        }
    }
}

#[test]
fn seq_never_goes_back_after_any_corruption() {
    for d in [
        Damage::Truncated,
        Damage::Overwritten,
        Damage::SeqMissing,
        Damage::SeqZeroed,
        Damage::AllAtOnce,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("outbox.redb");
        let mut highest = 0;
        {
            let ob = Outbox::open(&path, 1 << 20).unwrap();
            for _ in 0..30 {
                let seqs = ob
                    .append(
                        (0..5).map(|_| rec(Kind::Summary, "p/s", "x")).collect(),
                        &[],
                    )
                    .unwrap();
                highest = highest.max(*seqs.last().unwrap());
                highest = highest.max(ob.reserve_seq().unwrap());
            }
        }
        damage(tmp.path(), d);
        let ob = Outbox::open(&path, 1 << 20).expect("opens whatever the damage");
        let next = ob.append(vec![rec(Kind::Alarm, "p/a", "y")], &[]).unwrap()[0];
        assert!(next > highest, "{d:?}: seq {next} after {highest} was used");
        assert!(ob.reserve_seq().unwrap() > next);
        let re = ob.reanchored();
        match d {
            Damage::AllAtOnce => {
                let re = re.expect("all at once: nothing vouches, so it re-anchors");
                assert!(
                    re.to > highest && re.reason.contains("seq floor lost"),
                    "{re:?}"
                );
            }
            _ => assert_eq!(re, None, "{d:?}: an anchor survived, no jump needed"),
        }
        drop(ob);
        // The anchors are whole again: a second open continues without a jump.
        let ob = Outbox::open(&path, 1 << 20).unwrap();
        assert!(
            ob.quarantined().is_none() && ob.reanchored().is_none(),
            "{d:?}"
        );
        assert!(ob.reserve_seq().unwrap() > next);
    }
}
