//! One frame of the outbox log: what an append, an ack batch, a relocation, a segment's
//! checkpoint or a clean close writes. Pure encoding; `segfile.rs` frames and stores it.
//!
//! Body: `type u8 (1) | flags u8 | at u64 LE | payload`, where `at` is the frame's own
//! offset in its segment (a scan that lost its way after damage finds the next frame by
//! it) and the payload, LZ4-compressed with its length in front when `flags & 1`, is:
//! `next_seq | dropped ×5 | records | state | gone`, all varints:
//! * records: count, then per record the seq (zigzag delta to the previous one) and the
//!   stored record (`record.rs`) as length and bytes;
//! * state: count, then key and value, each as length and bytes;
//! * gone: count, then ranges `[start, end)` of seqs acknowledged or dropped (start as a
//!   zigzag delta to the previous range's end, then the length).

use super::super::codec::{DecodeError, Reader, put_varint, unzigzag, zigzag};

const TYPE_ENTRY: u8 = 1;
const FLAG_LZ4: u8 = 1;
/// Written by a clean close: no seq at or above `next_seq` was handed out.
const FLAG_CLEAN: u8 = 2;
/// The first frame of a segment: carries every state entry, so older segments can go.
const FLAG_CHECKPOINT: u8 = 4;
/// Written with a sync: everything before it in the segment was durable before it was.
const FLAG_SYNCED: u8 = 8;
/// Payloads at least this long are compressed (window summaries shrink ~5-9×).
const COMPRESS_FROM: usize = 256;
/// Largest payload a compressed frame may claim to expand to.
const MAX_PAYLOAD: usize = 256 << 20;
/// type, flags, at.
pub(crate) const BODY_HEAD: usize = 1 + 1 + 8;

/// What one frame says. Every field is absolute (counters) or additive (records, state,
/// gone), so replaying the frames in order rebuilds the outbox.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) next_seq: u64,
    pub(crate) dropped: [u64; 5],
    /// `(seq, stored record)`.
    pub(crate) records: Vec<(u64, Vec<u8>)>,
    pub(crate) state: Vec<(String, Vec<u8>)>,
    /// Seq ranges `[start, end)` no longer pending.
    pub(crate) gone: Vec<(u64, u64)>,
    pub(crate) clean: bool,
    pub(crate) checkpoint: bool,
    /// Set by the writer for a frame it syncs.
    pub(crate) synced: bool,
}

impl Entry {
    /// The frame body for a frame written at offset `at`.
    pub(crate) fn encode(&self, at: u64) -> Vec<u8> {
        let mut p =
            Vec::with_capacity(64 + self.records.iter().map(|r| r.1.len() + 4).sum::<usize>());
        put_varint(&mut p, self.next_seq);
        for d in self.dropped {
            put_varint(&mut p, d);
        }
        put_varint(&mut p, self.records.len() as u64);
        let mut prev = 0u64;
        for (seq, bytes) in &self.records {
            put_varint(&mut p, zigzag(seq.wrapping_sub(prev) as i64));
            prev = *seq;
            put_bytes(&mut p, bytes);
        }
        put_varint(&mut p, self.state.len() as u64);
        for (k, v) in &self.state {
            put_bytes(&mut p, k.as_bytes());
            put_bytes(&mut p, v);
        }
        put_varint(&mut p, self.gone.len() as u64);
        let mut end = 0u64;
        for &(s, e) in &self.gone {
            put_varint(&mut p, zigzag(s.wrapping_sub(end) as i64));
            put_varint(&mut p, e.saturating_sub(s));
            end = e;
        }
        let mut flags = 0;
        if self.clean {
            flags |= FLAG_CLEAN;
        }
        if self.checkpoint {
            flags |= FLAG_CHECKPOINT;
        }
        if self.synced {
            flags |= FLAG_SYNCED;
        }
        let mut body = Vec::with_capacity(BODY_HEAD + p.len());
        body.push(TYPE_ENTRY);
        if p.len() >= COMPRESS_FROM {
            let packed = lz4_flex::block::compress(&p);
            if packed.len() + 4 < p.len() {
                body.push(flags | FLAG_LZ4);
                body.extend_from_slice(&at.to_le_bytes());
                body.extend_from_slice(&(p.len() as u32).to_le_bytes());
                body.extend_from_slice(&packed);
                return body;
            }
        }
        body.push(flags);
        body.extend_from_slice(&at.to_le_bytes());
        body.extend_from_slice(&p);
        body
    }

    /// Decodes a frame body found at offset `at`.
    pub(crate) fn decode(body: &[u8], at: u64) -> Result<Entry, DecodeError> {
        let mut r = Reader(body);
        if r.byte()? != TYPE_ENTRY {
            return Err(DecodeError::Bad("frame type"));
        }
        let flags = r.byte()?;
        if flags & !(FLAG_LZ4 | FLAG_CLEAN | FLAG_CHECKPOINT | FLAG_SYNCED) != 0 {
            return Err(DecodeError::Bad("frame flags"));
        }
        if u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")) != at {
            return Err(DecodeError::Bad("frame offset"));
        }
        let unpacked;
        let payload = if flags & FLAG_LZ4 != 0 {
            let n = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")) as usize;
            if n > MAX_PAYLOAD {
                return Err(DecodeError::Bad("compressed length"));
            }
            unpacked = lz4_flex::block::decompress(r.0, n)
                .map_err(|_| DecodeError::Bad("compressed payload"))?;
            &unpacked[..]
        } else {
            r.0
        };
        let mut e = decode_payload(&mut Reader(payload))?;
        e.clean = flags & FLAG_CLEAN != 0;
        e.checkpoint = flags & FLAG_CHECKPOINT != 0;
        e.synced = flags & FLAG_SYNCED != 0;
        Ok(e)
    }
}

fn decode_payload(r: &mut Reader<'_>) -> Result<Entry, DecodeError> {
    let mut e = Entry {
        next_seq: r.varint()?,
        ..Entry::default()
    };
    for d in &mut e.dropped {
        *d = r.varint()?;
    }
    let n = r.count()?;
    let mut prev = 0u64;
    e.records.reserve(n.min(1 << 16));
    for _ in 0..n {
        let seq = prev.wrapping_add(unzigzag(r.varint()?) as u64);
        prev = seq;
        let len = r.count()?;
        e.records.push((seq, r.take(len)?.to_vec()));
    }
    for _ in 0..r.count()? {
        let k = r.count()?;
        let key = String::from_utf8(r.take(k)?.to_vec()).map_err(|_| DecodeError::Bad("key"))?;
        let v = r.count()?;
        e.state.push((key, r.take(v)?.to_vec()));
    }
    let mut end = 0u64;
    for _ in 0..r.count()? {
        let start = end.wrapping_add(unzigzag(r.varint()?) as u64);
        end = start
            .checked_add(r.varint()?)
            .ok_or(DecodeError::Bad("range"))?;
        e.gone.push((start, end));
    }
    r.end()?;
    Ok(e)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Sorted seqs as ranges `[start, end)`.
pub(crate) fn ranges(seqs: &[u64]) -> Vec<(u64, u64)> {
    let mut v = seqs.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for s in v {
        match out.last_mut() {
            Some((_, e)) if *e == s => *e = s + 1,
            _ => out.push((s, s + 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Entry {
        Entry {
            next_seq: 1_000_301,
            dropped: [1, 2, 3, 4, 5],
            records: (1_000_000..1_000_300)
                .map(|s| {
                    (
                        s,
                        format!("{{\"seq\":{s},\"device\":\"th-1\"}}").into_bytes(),
                    )
                })
                .chain([(7, b"relocated".to_vec())])
                .collect(),
            state: vec![("window.last_closed".into(), b"60000".to_vec())],
            gone: vec![(5, 9), (3, 4), (1_000_100, 1_000_101)],
            clean: true,
            checkpoint: true,
            synced: true,
        }
    }

    #[test]
    fn entries_round_trip_compressed_and_plain() {
        let big = sample();
        let body = big.encode(4096);
        assert_eq!(
            body[1] & FLAG_LZ4,
            FLAG_LZ4,
            "a window of records is compressed"
        );
        assert!(body.len() * 4 < big.records.iter().map(|r| r.1.len()).sum::<usize>());
        assert_eq!(Entry::decode(&body, 4096).unwrap(), big);
        let small = Entry {
            next_seq: 9,
            gone: vec![(1, 3)],
            ..Entry::default()
        };
        let body = small.encode(8);
        assert_eq!(body[1] & FLAG_LZ4, 0);
        assert_eq!(Entry::decode(&body, 8).unwrap(), small);
    }

    #[test]
    fn a_frame_read_at_another_offset_is_refused() {
        let body = sample().encode(4096);
        assert!(Entry::decode(&body, 4097).is_err());
    }

    #[test]
    fn seqs_become_ranges() {
        assert_eq!(ranges(&[5, 1, 2, 3, 9, 2]), vec![(1, 4), (5, 6), (9, 10)]);
        assert!(ranges(&[]).is_empty());
    }

    proptest! {
        /// Whatever the bytes, decoding fails or succeeds; it never panics or hangs.
        #[test]
        fn arbitrary_bodies_never_panic(mut body in prop::collection::vec(any::<u8>(), 0..600), flip in any::<usize>()) {
            drop(Entry::decode(&body, 0));
            let mut good = sample().encode(0);
            let i = flip % good.len();
            good[i] ^= 0x5a;
            drop(Entry::decode(&good, 0));
            body.truncate(body.len() / 2);
            drop(Entry::decode(&body, 0));
        }
    }
}
