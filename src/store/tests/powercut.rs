//! Power cuts, simulated on the log's files: when the power goes, every segment keeps what
//! was synced (the length it had when the last append returned) plus a random part of
//! what was written since, the torn part possibly garbled (a card with a volatile cache
//! writes pages out of order). Every append that returned Ok must survive, byte for byte,
//! with its state entries; an ack that a later append made durable must stay acked; seqs
//! never go back. A negative control cuts below the synced length and must see loss,
//! proving the checker can.

use super::Rng;
use crate::store::{Kind, NewRecord, Outbox};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

fn payload(seq: u64) -> Vec<u8> {
    format!(
        "{{\"v\":1,\"seq\":{seq},\"pad\":\"{}\"}}",
        "p".repeat((seq * 7 % 300) as usize)
    )
    .into_bytes()
}

/// What the writer was told, and what the disk must therefore keep.
#[derive(Default)]
struct Truth {
    /// Accepted seqs not yet acked durably.
    pending: BTreeSet<u64>,
    /// Acked, but no append synced the ack yet: may come back.
    acked_unsynced: BTreeSet<u64>,
    /// Every seq handed out.
    highest: u64,
    /// The last `window.last_closed` an append carried.
    state: Option<Vec<u8>>,
    /// Each segment's length when the last append returned (durable).
    synced: HashMap<String, u64>,
}

fn lengths(dir: &Path) -> HashMap<String, u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect()
}

/// One random operation against `ob`, recorded in `t`.
fn step(ob: &Outbox, dir: &Path, t: &mut Truth, rng: &mut Rng, round: u64) {
    match rng.below(10) {
        0..=4 => {
            let n = 1 + rng.below(8) as usize;
            let items = (0..n)
                .map(|i| {
                    let kind = if i == 0 && rng.chance(0.3) {
                        Kind::Alarm
                    } else {
                        Kind::Summary
                    };
                    NewRecord::new(kind, "p/summary/d", false, 0, payload)
                })
                .collect();
            let state = round.to_le_bytes().to_vec();
            let seqs = ob
                .append(items, &[("window.last_closed", state.clone())])
                .unwrap();
            t.pending.extend(&seqs);
            t.highest = t.highest.max(*seqs.last().unwrap());
            t.acked_unsynced.clear();
            t.state = Some(state);
            t.synced = lengths(dir);
        }
        5..=8 => {
            let some: Vec<u64> = t
                .pending
                .iter()
                .copied()
                .filter(|_| rng.chance(0.4))
                .collect();
            ob.ack(&some).unwrap();
            for s in some {
                t.pending.remove(&s);
                t.acked_unsynced.insert(s);
            }
        }
        _ => t.highest = t.highest.max(ob.reserve_seq().unwrap()),
    }
}

/// The disk after a power cut: each segment cut at a random length from `low(synced)`
/// up to what was written, the bytes past the synced length possibly garbled.
fn cut(dir: &Path, to: &Path, t: &Truth, rng: &mut Rng, low: impl Fn(u64) -> u64) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut b = std::fs::read(e.path()).unwrap();
        if name.ends_with(".seg") {
            let synced = t
                .synced
                .get(&name)
                .copied()
                .unwrap_or(0)
                .min(b.len() as u64);
            let from = low(synced);
            let keep = from + rng.below(b.len() as u64 - from + 1);
            b.truncate(keep as usize);
            if rng.chance(0.5) {
                for x in &mut b[synced.min(keep) as usize..] {
                    if rng.chance(0.1) {
                        *x = rng.below(256) as u8;
                    }
                }
            }
        }
        std::fs::write(to.join(&name), b).unwrap();
    }
    let floor = "outbox.seq";
    std::fs::copy(
        dir.parent().unwrap().join(floor),
        to.parent().unwrap().join(floor),
    )
    .unwrap();
}

/// Opens the image and checks it against what the writer was told; Err says what is wrong.
fn check(image: &Path, t: &Truth, want_bytes: impl Fn(u64) -> Vec<u8>) -> Result<(), String> {
    // The machine comes back from a power cut on a new boot.
    crate::store::anchor::TEST_BOOT
        .with(|b| *b.borrow_mut() = Some(format!("after-cut-{}", image.display())));
    let opened = Outbox::open(image, 1 << 30);
    crate::store::anchor::TEST_BOOT.with(|b| *b.borrow_mut() = None);
    let ob = opened.map_err(|e| format!("open: {e}"))?;
    if let Some(q) = ob.quarantined() {
        return Err(format!("a power cut is not damage: {q:?}"));
    }
    let mut found = BTreeMap::new();
    for r in ob
        .alarms_after(0, usize::MAX)
        .unwrap()
        .into_iter()
        .chain(ob.others_after(0, usize::MAX).unwrap())
    {
        found.insert(r.seq, r.payload);
    }
    for s in &t.pending {
        match found.get(s) {
            None => return Err(format!("accepted seq {s} lost")),
            Some(p) if *p != want_bytes(*s) => return Err(format!("seq {s} changed")),
            Some(_) => {}
        }
    }
    if let Some(s) = found
        .keys()
        .find(|s| !t.pending.contains(s) && !t.acked_unsynced.contains(s))
    {
        return Err(format!(
            "seq {s} came back although its ack was synced, or was never accepted"
        ));
    }
    let st = ob.stats().unwrap();
    if st.pending.total() != found.len() as u64 {
        return Err(format!(
            "counted {} pending, read {}",
            st.pending.total(),
            found.len()
        ));
    }
    if ob.state("window.last_closed").unwrap() != t.state {
        return Err("the last accepted state entry is gone".into());
    }
    let next = ob
        .append(
            vec![NewRecord::new(Kind::Alarm, "p/a", false, 0, payload)],
            &[],
        )
        .unwrap()[0];
    if next <= t.highest {
        return Err(format!(
            "seq {next} handed out again (highest used {})",
            t.highest
        ));
    }
    Ok(())
}

/// Runs `rounds` operations, cutting the power after a random few; returns the cuts checked.
fn run(seed: u64, rounds: u64) -> usize {
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("outbox");
    let ob = Outbox::open(&dir, 1 << 30).unwrap();
    let mut t = Truth::default();
    let mut cuts = 0;
    for round in 0..rounds {
        step(&ob, &dir, &mut t, &mut rng, round);
        if rng.chance(0.15) {
            let image = tmp.path().join(format!("cut-{round}")).join("outbox");
            cut(&dir, &image, &t, &mut rng, |synced| synced);
            if let Err(e) = check(&image, &t, payload) {
                panic!("seed {seed}, round {round}: {e}");
            }
            cuts += 1;
        }
    }
    cuts
}

#[test]
fn accepted_records_survive_power_cuts() {
    let mut cuts = 0;
    for seed in 1..=6 {
        cuts += run(seed, 250);
    }
    println!("{cuts} power cuts checked");
    assert!(cuts > 100, "too few cuts to prove anything: {cuts}");
}

/// The negative control: a disk that loses synced bytes (cut below the synced length)
/// must be caught by the same checker.
#[test]
fn the_checker_sees_loss_when_synced_bytes_are_lost() {
    let mut rng = Rng::new(77);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("outbox");
    let ob = Outbox::open(&dir, 1 << 30).unwrap();
    let mut t = Truth::default();
    let mut caught = 0;
    for round in 0..120 {
        step(&ob, &dir, &mut t, &mut rng, round);
        if round % 10 == 9 && !t.pending.is_empty() {
            let image = tmp.path().join(format!("cut-{round}")).join("outbox");
            cut(&dir, &image, &t, &mut rng, |synced| synced / 2);
            caught += usize::from(check(&image, &t, payload).is_err());
        }
    }
    assert!(
        caught >= 6,
        "losing synced bytes went unnoticed: {caught} of 12 caught"
    );
}
