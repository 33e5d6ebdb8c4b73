//! Where every pending record of the outbox log is: runs of consecutive seqs that one
//! frame holds, with a bit per record for "still pending" and one for "replays first"
//! (alarm class). Pure memory; a record's kind and size are read from its frame when
//! needed, so the index costs ~100 bytes per frame, not per record (a week's backlog of
//! a 300-device site is ~10 000 frames).
//!
//! Runs never overlap and always start and end on a pending record: killing a record
//! trims or splits its run, and a run with nothing pending is removed.

use std::collections::BTreeMap;

/// Where a frame is: segment id and offset, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FrameAt {
    pub(crate) seg: u64,
    pub(crate) off: u64,
    pub(crate) len: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) frame: FrameAt,
    /// Index in the frame's records of the run's first record.
    pub(crate) pos: u32,
    pub(crate) first: u64,
    pub(crate) count: u32,
    live: Vec<u64>,
    /// Alarm-class records; empty when the run has none.
    alarm: Vec<u64>,
}

fn get(bits: &[u64], i: u32) -> bool {
    bits.get((i / 64) as usize)
        .is_some_and(|w| w >> (i % 64) & 1 == 1)
}

fn set(bits: &mut Vec<u64>, i: u32) {
    let w = (i / 64) as usize;
    if bits.len() <= w {
        bits.resize(w + 1, 0);
    }
    bits[w] |= 1 << (i % 64);
}

/// Bits `from..to` of `bits`, renumbered from 0.
fn slice(bits: &[u64], from: u32, to: u32) -> Vec<u64> {
    let mut out = Vec::new();
    for i in from..to {
        if get(bits, i) {
            set(&mut out, i - from);
        }
    }
    out
}

impl Run {
    pub(crate) fn is_live(&self, i: u32) -> bool {
        get(&self.live, i)
    }

    pub(crate) fn is_alarm(&self, i: u32) -> bool {
        get(&self.alarm, i)
    }

    pub(crate) fn has_alarms(&self) -> bool {
        self.alarm.iter().zip(&self.live).any(|(a, l)| a & l != 0)
    }

    pub(crate) fn has_others(&self) -> bool {
        self.live
            .iter()
            .enumerate()
            .any(|(w, l)| l & !self.alarm.get(w).copied().unwrap_or(0) != 0)
    }

    /// The seqs still pending, with their index in the frame.
    pub(crate) fn live(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0..self.count)
            .filter(|&i| self.is_live(i))
            .map(|i| (self.first + u64::from(i), self.pos + i))
    }

    /// The part `from..to` of this run (indexes within the run).
    fn part(&self, from: u32, to: u32) -> Run {
        Run {
            frame: self.frame,
            pos: self.pos + from,
            first: self.first + u64::from(from),
            count: to - from,
            live: slice(&self.live, from, to),
            alarm: slice(&self.alarm, from, to),
        }
    }
}

/// The pending records, by seq.
#[derive(Debug, Default)]
pub(crate) struct Index {
    runs: BTreeMap<u64, Run>,
    /// Per segment: records pending, records ever indexed in it.
    per_seg: BTreeMap<u64, (u64, u64)>,
}

impl Index {
    /// Adds the records of a frame: `seqs[i]` is the seq of the frame's record `i`,
    /// `alarm(i)` whether it replays first. A seq already pending elsewhere (a relocated
    /// record whose old copy survived a crash) moves here.
    pub(crate) fn add(&mut self, frame: FrameAt, seqs: &[u64], alarm: impl Fn(usize) -> bool) {
        for &s in seqs {
            self.kill(s);
        }
        let mut i = 0;
        while i < seqs.len() {
            let mut j = i + 1;
            while j < seqs.len() && seqs[j] == seqs[j - 1].wrapping_add(1) {
                j += 1;
            }
            let mut run = Run {
                frame,
                pos: i as u32,
                first: seqs[i],
                count: (j - i) as u32,
                live: Vec::new(),
                alarm: Vec::new(),
            };
            for k in i..j {
                set(&mut run.live, (k - i) as u32);
                if alarm(k) {
                    set(&mut run.alarm, (k - i) as u32);
                }
            }
            let n = self.per_seg.entry(frame.seg).or_default();
            n.0 += (j - i) as u64;
            n.1 += (j - i) as u64;
            self.runs.insert(run.first, run);
            i = j;
        }
    }

    /// Where pending `seq` is: its frame and index in the frame.
    pub(crate) fn find(&self, seq: u64) -> Option<(FrameAt, u32, bool)> {
        let (_, run) = self.runs.range(..=seq).next_back()?;
        let i = u32::try_from(seq.checked_sub(run.first)?).ok()?;
        (i < run.count && run.is_live(i)).then(|| (run.frame, run.pos + i, run.is_alarm(i)))
    }

    /// Marks `seq` no longer pending; returns where it was.
    pub(crate) fn kill(&mut self, seq: u64) -> Option<(FrameAt, u32)> {
        let (&key, run) = self.runs.range(..=seq).next_back()?;
        let i = u32::try_from(seq.checked_sub(run.first)?).ok()?;
        if i >= run.count || !run.is_live(i) {
            return None;
        }
        let run = self.runs.remove(&key).expect("found above");
        let at = (run.frame, run.pos + i);
        if let Some(n) = self.per_seg.get_mut(&run.frame.seg) {
            n.0 -= 1;
        }
        for (from, to) in [(0, i), (i + 1, run.count)] {
            // Trim each side to its pending records.
            let Some(a) = (from..to).find(|&k| run.is_live(k)) else {
                continue;
            };
            let b = (from..to)
                .rev()
                .find(|&k| run.is_live(k))
                .expect("a exists")
                + 1;
            let part = run.part(a, b);
            self.runs.insert(part.first, part);
        }
        Some(at)
    }

    /// Runs holding a pending record with seq > `after`, in seq order.
    pub(crate) fn after(&self, after: u64) -> impl Iterator<Item = &Run> {
        let start = self
            .runs
            .range(..=after)
            .next_back()
            .filter(|(_, r)| r.first + u64::from(r.count) > after.saturating_add(1))
            .map_or(after.saturating_add(1), |(k, _)| *k);
        self.runs.range(start..).map(|(_, r)| r)
    }

    /// Every run in seq order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.values()
    }

    /// Pending records in segment `seg`.
    pub(crate) fn pending_in(&self, seg: u64) -> u64 {
        self.per_seg.get(&seg).map_or(0, |n| n.0)
    }

    /// Records ever indexed in segment `seg` (pending or not).
    pub(crate) fn held_in(&self, seg: u64) -> u64 {
        self.per_seg.get(&seg).map_or(0, |n| n.1)
    }

    pub(crate) fn forget_segment(&mut self, seg: u64) {
        self.per_seg.remove(&seg);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn at(seg: u64) -> FrameAt {
        FrameAt {
            seg,
            off: 8,
            len: 100,
        }
    }

    #[test]
    fn kills_trim_and_split_runs() {
        let mut ix = Index::default();
        ix.add(at(1), &[10, 11, 12, 13, 20], |i| i == 2);
        assert_eq!(ix.find(12), Some((at(1), 2, true)));
        assert_eq!(ix.find(20), Some((at(1), 4, false)));
        assert_eq!(ix.kill(11), Some((at(1), 1)));
        assert_eq!(ix.kill(11), None);
        assert_eq!(ix.find(13), Some((at(1), 3, false)));
        let after: Vec<u64> = ix
            .after(10)
            .flat_map(|r| r.live().map(|l| l.0).collect::<Vec<_>>())
            .collect();
        assert_eq!(after, vec![12, 13, 20]);
        assert_eq!(ix.pending_in(1), 4);
        // A relocated copy takes over.
        ix.add(at(2), &[12], |_| true);
        assert_eq!(ix.find(12), Some((at(2), 0, true)));
        assert_eq!((ix.pending_in(1), ix.pending_in(2)), (3, 1));
    }

    proptest! {
        /// The index agrees with a plain set of pending seqs through any adds and kills.
        #[test]
        fn index_matches_a_set(ops in prop::collection::vec((any::<bool>(), 0u64..200, 1usize..20), 1..60)) {
            let mut ix = Index::default();
            let mut model = BTreeSet::new();
            let mut next = 0u64;
            for (add, s, n) in ops {
                if add {
                    let seqs: Vec<u64> = (next..next + n as u64).collect();
                    next += n as u64 + s % 3;
                    ix.add(at(s % 4), &seqs, |i| i % 3 == 0);
                    model.extend(seqs);
                } else {
                    prop_assert_eq!(ix.kill(s).is_some(), model.remove(&s));
                }
                let all: Vec<u64> = ix.runs().flat_map(|r| r.live().map(|l| l.0).collect::<Vec<_>>()).collect();
                prop_assert_eq!(&all, &model.iter().copied().collect::<Vec<_>>());
                let after: Vec<u64> = ix.after(s).flat_map(|r| r.live().map(|l| l.0).collect::<Vec<_>>()).filter(|&q| q > s).collect();
                prop_assert_eq!(after, model.range(s + 1..).copied().collect::<Vec<_>>());
            }
        }
    }
}
