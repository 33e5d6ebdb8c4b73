//! The offline reader (`store::history`) beside a writing ring: rotations, torn tails,
//! windows, and nothing written to the directory.

use super::raw_ring::{sample, segments, three};
use super::same;
use crate::reading::{Ms, Sample};
use crate::store::RawRing;
use crate::store::history::read_window;
use std::io::Write;

fn read(dir: &std::path::Path, site: &crate::site::Site, since: Ms, until: Ms) -> Vec<Sample> {
    let mut got = Vec::new();
    read_window(dir, site, since, until, |s| got.push(s)).unwrap();
    got
}

#[test]
fn reads_every_flushed_sample_in_order_across_rotations_while_the_ring_is_open() {
    let tmp = tempfile::tempdir().unwrap();
    let site = three();
    // 32 KiB ring: 4 KiB segments, so this rotates (and drops old segments) many times.
    let mut ring = RawRing::open(tmp.path(), 32 << 10).unwrap();
    let mut flushed = Vec::new();
    for i in 0..3000i64 {
        let s = sample(
            0,
            1000 * i,
            &[Some((i * 7919 % 1000) as f64), Some(i as f64)],
        );
        ring.append(&site, &s);
        flushed.push(s);
        if i % 10 == 9 {
            ring.flush().unwrap();
        }
    }
    // Appended but not flushed: not durable, not read.
    ring.append(&site, &sample(0, 3_000_000, &[Some(1.0), None]));
    assert!(segments(tmp.path()).len() > 2);
    let got = read(tmp.path(), &site, Ms::MIN, Ms::MAX);
    // What the ring kept is a suffix of what was flushed, and the newest segment is read.
    assert!(!got.is_empty());
    let kept = &flushed[flushed.len() - got.len()..];
    assert!(
        same(&got, kept),
        "the reader's samples are the flushed suffix"
    );
    assert!(same(&got, &ring.replay_since(&site, Ms::MIN).unwrap()));
    // A window is inclusive at both ends.
    let (lo, hi) = (kept[5].ts, kept[20].ts);
    assert!(same(&read(tmp.path(), &site, lo, hi), &kept[5..=20]));
}

#[test]
fn a_torn_tail_ends_the_read_quietly_and_the_file_is_left_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let site = three();
    let mut ring = RawRing::open(tmp.path(), 1 << 20).unwrap();
    let all: Vec<Sample> = (0..40)
        .map(|i| sample(2, i, &[Some(i as f64), None, None, None, None]))
        .collect();
    for s in &all {
        ring.append(&site, s);
        ring.flush().unwrap();
    }
    // Half a frame, as a daemon killed in the middle of a write leaves it.
    let seg = segments(tmp.path()).pop().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 2, 1]).unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    assert!(same(&read(tmp.path(), &site, Ms::MIN, Ms::MAX), &all));
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        len,
        "the reader repairs nothing"
    );
    // No ring directory: nothing to read, not an error.
    assert!(read(&tmp.path().join("none"), &site, Ms::MIN, Ms::MAX).is_empty());
}
