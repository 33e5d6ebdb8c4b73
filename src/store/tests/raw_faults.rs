//! Faults of the raw ring: torn tails at every offset, bit flips at every byte, the
//! bound under pressure with an exact dropped count.

use super::raw_ring::{dir_bytes, sample, segments, three};
use super::{Rng, same};
use crate::reading::{Ms, Sample};
use crate::store::RawRing;
use std::path::Path;

/// Writes `blocks` flushes of a few samples each into one unsealed segment and returns
/// the samples per block and the byte offset where each block ends.
fn one_segment(dir: &Path, blocks: usize) -> (Vec<Vec<Sample>>, Vec<u64>, Vec<u8>) {
    let site = three();
    let mut ring = RawRing::open(dir, 1 << 20).unwrap();
    let mut per_block = Vec::new();
    let mut ends = Vec::new();
    let mut rng = Rng::new(7);
    for b in 0..blocks {
        let mut block = Vec::new();
        for i in 0..3 {
            let v = |r: &mut Rng| Some(r.below(4) as f64 + if r.chance(0.2) { 0.5 } else { 0.0 });
            let s = sample(
                if i == 1 { 2 } else { 0 },
                (b * 1000 + i) as Ms,
                &if i == 1 {
                    vec![v(&mut rng); 5]
                } else {
                    vec![v(&mut rng), v(&mut rng)]
                },
            );
            ring.append(&site, &s);
            block.push(s);
        }
        ring.flush().unwrap();
        per_block.push(block);
        ends.push(ring.bytes_on_disk());
    }
    drop(ring);
    let seg = &segments(dir)[0];
    (per_block, ends, std::fs::read(seg).unwrap())
}

/// Reopens a ring whose only segment holds `bytes` and returns what it replays, after
/// checking that it still takes new samples.
fn reopen_with(bytes: &[u8]) -> Vec<Sample> {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("raw-0000000000000000.seg"), bytes).unwrap();
    let site = three();
    let mut ring = RawRing::open(tmp.path(), 1 << 20).unwrap();
    let got = ring.replay_since(&site, Ms::MIN).unwrap();
    let extra = sample(0, 99_999, &[Some(1.0), Some(2.0)]);
    ring.append(&site, &extra);
    ring.flush().unwrap();
    let mut want = got.clone();
    want.push(extra);
    assert!(
        same(&ring.replay_since(&site, Ms::MIN).unwrap(), &want),
        "appends after repair"
    );
    got
}

#[test]
fn torn_tail_at_every_offset_keeps_earlier_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let (blocks, ends, bytes) = one_segment(tmp.path(), 6);
    assert_eq!(*ends.last().unwrap(), bytes.len() as u64);
    for cut in 0..=bytes.len() {
        let whole = ends.iter().filter(|&&e| e <= cut as u64).count();
        let want: Vec<Sample> = blocks[..whole].concat();
        let got = reopen_with(&bytes[..cut]);
        assert!(
            same(&got, &want),
            "cut at {cut}: got {} samples, want {}",
            got.len(),
            want.len()
        );
    }
}

fn bit_flips_are_detected(sealed: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let (blocks, ends, mut bytes) = one_segment(tmp.path(), 5);
    if sealed {
        // A reopen seals the segment; the seal is then trusted and replay must still
        // stop at the flipped block.
        drop(RawRing::open(tmp.path(), 1 << 20).unwrap());
        bytes = std::fs::read(&segments(tmp.path())[0]).unwrap();
    }
    let data_end = *ends.last().unwrap() as usize;
    for at in 0..data_end {
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << (at % 8);
        // Blocks that end at or before the flipped byte survive; the rest are skipped.
        let whole = ends.iter().filter(|&&e| e <= at as u64).count();
        let want: Vec<Sample> = blocks[..whole].concat();
        let got = reopen_with(&flipped);
        assert!(
            same(&got, &want),
            "flip at {at} (sealed {sealed}): got {} samples, want {}",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn bit_flip_in_unsealed_segment_is_detected() {
    bit_flips_are_detected(false);
}

#[test]
fn bit_flip_in_sealed_segment_is_detected() {
    bit_flips_are_detected(true);
}

#[test]
fn ring_bound_holds_and_dropped_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let site = three();
    let max = 16 << 10;
    let mut ring = RawRing::open(tmp.path(), max).unwrap();
    let mut rng = Rng::new(42);
    let mut all = Vec::new();
    for i in 0..4000 {
        let s = sample(
            2,
            i,
            &(0..5)
                .map(|_| Some(rng.below(1000) as f64))
                .collect::<Vec<_>>(),
        );
        ring.append(&site, &s);
        all.push(s);
        if i % 10 == 9 {
            ring.flush().unwrap();
            assert!(
                ring.bytes_on_disk() <= max,
                "{} > {max}",
                ring.bytes_on_disk()
            );
            assert_eq!(ring.bytes_on_disk(), dir_bytes(tmp.path()));
        }
    }
    let kept = ring.replay_since(&site, Ms::MIN).unwrap();
    assert!(
        kept.len() > 500 && kept.len() < all.len(),
        "kept {}",
        kept.len()
    );
    assert!(
        same(&kept, &all[all.len() - kept.len()..]),
        "kept is the newest suffix"
    );
    let readings = |v: &[Sample]| v.iter().map(|s| s.values.len() as u64).sum::<u64>();
    assert_eq!(ring.dropped(), readings(&all) - readings(&kept));
    drop(ring);

    let ring = RawRing::open(tmp.path(), max).unwrap();
    assert!(ring.bytes_on_disk() <= max);
    assert_eq!(ring.bytes_on_disk(), dir_bytes(tmp.path()));
    let after = ring.replay_since(&site, Ms::MIN).unwrap();
    assert!(same(&after, &kept[kept.len() - after.len()..]));
    assert_eq!(ring.dropped(), readings(&kept) - readings(&after));
}

/// Below the free-space mark the ring gives up its oldest segments, counted, down to
/// the one being written.
#[test]
fn low_disk_space_makes_the_ring_yield() {
    let tmp = tempfile::tempdir().unwrap();
    let site = three();
    let mut ring = RawRing::open(tmp.path(), 256 << 10).unwrap();
    let mut all = Vec::new();
    for i in 0..3000 {
        let s = sample(2, i, &[Some(i as f64 * 1.5); 5]);
        ring.append(&site, &s);
        all.push(s);
        if i % 100 == 99 {
            ring.flush().unwrap();
        }
    }
    assert!(segments(tmp.path()).len() > 2);
    ring.set_keep_free(u64::MAX);
    ring.append(&site, &sample(2, 3000, &[None; 5]));
    all.push(sample(2, 3000, &[None; 5]));
    ring.flush().unwrap();
    assert_eq!(
        segments(tmp.path()).len(),
        1,
        "only the segment being written is left"
    );
    // Still short of space: each flush starts a new segment and lets the last one go,
    // so the ring shrinks to about one flush of readings.
    for i in 3001..3004 {
        let s = sample(2, i, &[Some(1.0); 5]);
        ring.append(&site, &s);
        all.push(s);
        ring.flush().unwrap();
        assert_eq!(segments(tmp.path()).len(), 1);
    }
    let kept = ring.replay_since(&site, Ms::MIN).unwrap();
    assert_eq!(kept.len(), 1);
    assert!(same(&kept, &all[all.len() - kept.len()..]));
    let readings = |v: &[Sample]| v.iter().map(|s| s.values.len() as u64).sum::<u64>();
    assert_eq!(ring.dropped(), readings(&all) - readings(&kept));
}
