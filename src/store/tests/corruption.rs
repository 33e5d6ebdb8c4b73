//! A damaged outbox never stops the daemon: a torn tail is cut, damage elsewhere costs the
//! frames it hit and nothing else (the segment is moved aside, what was pending in it
//! copied forward), no altered record is ever read back, and seqs continue above every
//! seq the damaged log could hold.

use super::Rng;
use super::outbox_basic::rec;
use crate::store::{Kind, Outbox, Record};
use std::path::{Path, PathBuf};

/// Builds an outbox with some history (appends, acks) over several segments; returns its
/// directory and every record it ever held (acked ones included: damage to an ack frame
/// brings its records back, byte for byte).
fn pristine(dir: &Path) -> (PathBuf, Vec<Record>) {
    let path = dir.join("outbox");
    let ob = Outbox::open(&path, 1 << 20).unwrap();
    let mut rng = Rng::new(3);
    let mut all = Vec::new();
    for i in 0..100 {
        let items = (0..10)
            .map(|j| {
                let noise: String = (0..200 + i * 7 % 300)
                    .map(|_| char::from(b"0123456789abcdef"[rng.below(16) as usize]))
                    .collect();
                rec(
                    if j == 0 { Kind::Alarm } else { Kind::Summary },
                    "p/summary/dev",
                    &format!("{i}-{j}-{noise}"),
                )
            })
            .collect();
        let seqs = ob
            .append(items, &[("window.last_closed", vec![i as u8])])
            .unwrap();
        all.extend(pending(&ob).into_iter().filter(|r| seqs.contains(&r.seq)));
        ob.ack(&seqs[5..8]).unwrap();
    }
    drop(ob);
    (path, all)
}

fn pending(ob: &Outbox) -> Vec<Record> {
    let mut all = ob.alarms_after(0, usize::MAX).unwrap();
    all.extend(ob.others_after(0, usize::MAX).unwrap());
    all
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// Copies the outbox at `from`, lets `damage` change it, opens it; returns whether damage
/// was reported. Whatever it reads back must be records the log held, byte for byte, and
/// an undamaged open must read all of them.
fn open_damaged(from: &Path, want: &[Record], damage: impl FnOnce(&Path)) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("outbox");
    std::fs::create_dir_all(&path).unwrap();
    for s in segments(from) {
        std::fs::copy(&s, path.join(s.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        tmp.path().join("outbox.seq"),
        crate::store::disk::floor_bytes(1 << 30),
    )
    .unwrap();
    damage(&path);
    // As after a power cut: another boot, so nothing unsynced can be trusted.
    crate::store::anchor::TEST_BOOT.with(|b| *b.borrow_mut() = Some("after damage".into()));
    let opened = Outbox::open(&path, 1 << 20);
    crate::store::anchor::TEST_BOOT.with(|b| *b.borrow_mut() = None);
    let ob = opened.expect("a damaged outbox must still open");
    let back = pending(&ob);
    for r in &back {
        assert!(
            want.contains(r),
            "read back a record the log never held: {r:?}"
        );
    }
    let q = ob.quarantined();
    if let Some(q) = &q {
        assert!(
            q.path.exists(),
            "the damaged file is kept for inspection: {q:?}"
        );
        assert!(q.path.to_string_lossy().contains(".corrupt-"), "{q:?}");
    }
    // Seqs continue above the floor, never from 1 again.
    assert!(ob.append(vec![rec(Kind::Alarm, "t", "b")], &[]).unwrap()[0] >= 1 << 30);
    drop(ob);
    // Once set aside, the damage is not reported again.
    let ob = Outbox::open(&path, 1 << 20).unwrap();
    assert!(ob.quarantined().is_none());
    q.is_some()
}

#[test]
fn a_torn_tail_of_the_newest_segment_is_cut_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, want) = pristine(tmp.path());
    let segs = segments(&dir);
    assert!(segs.len() >= 3, "the history spans segments: {segs:?}");
    let newest = segs.last().unwrap().file_name().unwrap().to_owned();
    let len = std::fs::metadata(segs.last().unwrap()).unwrap().len();
    for cut in (9..len).step_by(997).chain([len - 1]) {
        let reported = open_damaged(&dir, &want, |p| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(p.join(&newest))
                .unwrap();
            f.set_len(cut).unwrap();
        });
        assert!(
            !reported,
            "a torn tail (cut at {cut}) is what a power cut leaves, not damage"
        );
    }
}

#[test]
fn a_cut_older_segment_is_damage_and_the_rest_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, want) = pristine(tmp.path());
    let oldest = segments(&dir)[0].file_name().unwrap().to_owned();
    assert!(open_damaged(&dir, &want, |p| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p.join(&oldest))
            .unwrap();
        f.set_len(f.metadata().unwrap().len() / 2).unwrap();
    }));
}

#[test]
fn flipped_bytes_are_detected_or_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, want) = pristine(tmp.path());
    let segs = segments(&dir);
    let mut rng = Rng::new(11);
    let mut reported = 0;
    let rounds = 120;
    for _ in 0..rounds {
        let seg = segs[rng.below(segs.len() as u64) as usize]
            .file_name()
            .unwrap()
            .to_owned();
        reported += usize::from(open_damaged(&dir, &want, |p| {
            let mut b = std::fs::read(p.join(&seg)).unwrap();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] ^= 1 + rng.below(255) as u8;
            }
            std::fs::write(p.join(&seg), b).unwrap();
        }));
    }
    println!("{reported} of {rounds} flipped logs reported damaged, none read back altered");
    assert!(reported > rounds / 2);
}

#[test]
fn zeroed_or_foreign_segment_is_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, want) = pristine(tmp.path());
    let seg = segments(&dir)[1].file_name().unwrap().to_owned();
    for bytes in [
        vec![0u8; 8192],
        b"not a segment at all".to_vec(),
        vec![0xff; 100_000],
    ] {
        assert!(open_damaged(&dir, &want, |p| std::fs::write(
            p.join(&seg),
            &bytes
        )
        .unwrap()));
    }
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
    let path = dir.join("outbox");
    let floors = crate::store::floor::floor_paths(&path);
    let segs = segments(&path);
    let truncate = || {
        let newest = segs.last().unwrap();
        let len = std::fs::metadata(newest).unwrap().len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(newest)
            .unwrap();
        f.set_len(len / 3).unwrap();
    };
    match d {
        Damage::Truncated => truncate(),
        Damage::Overwritten => {
            let mut b = std::fs::read(&segs[0]).unwrap();
            let n = b.len().min(8192);
            b[..n].fill(0xA5);
            std::fs::write(&segs[0], b).unwrap();
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
        let path = tmp.path().join("outbox");
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
