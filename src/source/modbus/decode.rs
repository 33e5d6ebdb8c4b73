//! Registers and bits ↔ raw numbers, for every `PointType` and `ByteOrder`; and
//! registers ↔ text for string points (`decode_text`, `encode_text`).
//!
//! Owns the one encode/decode pair of the crate: the poller decodes what a device
//! answered, the write path and the simulator encode what they send or serve. Pure: no
//! I/O, no clock. It never applies scale or offset: `Sample.values` carry the device's
//! raw number (see `reading`), and `site::Point::engineering` scales it once, in ingest.
//!
//! # Layout of a value
//!
//! Values wider than a register span 2 (`u32`, `i32`, `f32`) or 4 (`u64`, `i64`, `f64`)
//! registers. `ByteOrder` names the layout by its bytes, A the most significant:
//! - ABCD, the Modbus default: big-endian registers, most significant word first.
//! - BADC: the bytes of every register swapped, words in order.
//! - CDAB ("word swap"): least significant word first; for 4-register values every
//!   word is reversed (GHEFCDAB), as pymodbus and devices that swap words do.
//! - DCBA: both, so the bytes arrive little-endian.
//! - For 4-register values the halves can also be swapped on their own (EFGHABCD: a
//!   u64 counter as two u32 halves, low half first), spelled with eight letters.
//!
//! A `bool` read from a bit table (coil, discrete input) is the bit; read from a register
//! as `Bit(n)` it is bit n of the register (after any byte swap). Raw values are `f64`:
//! 64-bit integers above 2^53 lose their low bits, which no field counter reaches.
//!
//! A string (`Str(n)`) is n registers of ASCII, two characters each: AB puts the first
//! in the high byte, BA (`swap_bytes`) in the low one; words are never reordered. It
//! decodes to text, never to a number, and never fails: padding is trimmed and bytes
//! that are not printable ASCII are escaped.

use crate::site::{ByteOrder, PointType};

/// The answer did not have the shape the point needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{ty} needs {expected} registers, got {got}")]
    Length {
        ty: &'static str,
        expected: usize,
        got: usize,
    },
    /// A string point holds text, not a number (`decode_text` reads it).
    #[error("a string point holds text, not a number")]
    Text,
}

/// A raw value that the point's type cannot carry (a write or a simulated value).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("{value} is not a finite number")]
    NotFinite { value: f64 },
    #[error("{value} is out of range for {ty}")]
    OutOfRange { value: f64, ty: &'static str },
    #[error("{text:?} is not printable ASCII of at most {registers} registers")]
    NotText { text: String, registers: u16 },
}

/// The raw number held by `words` (exactly `ty.registers()` of them).
pub fn decode_words(ty: PointType, order: ByteOrder, words: &[u16]) -> Result<f64, DecodeError> {
    let expected = usize::from(ty.registers());
    if words.len() != expected {
        return Err(DecodeError::Length {
            ty: ty.name(),
            expected,
            got: words.len(),
        });
    }
    if let PointType::Str(_) = ty {
        return Err(DecodeError::Text);
    }
    let mut canonical = [0u16; 4];
    let canonical = &mut canonical[..expected];
    canonical.copy_from_slice(words);
    reorder(order, canonical);
    let bits = canonical
        .iter()
        .fold(0u64, |acc, w| (acc << 16) | u64::from(*w));
    Ok(match ty {
        PointType::Bool => f64::from(u8::from(bits != 0)),
        PointType::Bit(n) => f64::from(u8::from(bits & (1 << (n & 15)) != 0)),
        PointType::U16 => f64::from(bits as u16),
        PointType::I16 => f64::from(bits as u16 as i16),
        PointType::U32 => f64::from(bits as u32),
        PointType::I32 => f64::from(bits as u32 as i32),
        PointType::F32 => f64::from(f32::from_bits(bits as u32)),
        PointType::U64 => bits as f64,
        PointType::I64 => bits as i64 as f64,
        PointType::F64 => f64::from_bits(bits),
        PointType::Str(_) => return Err(DecodeError::Text),
    })
}

/// Turns registers as they arrive in `order` into most-significant-first big-endian
/// registers, in place. Every swap is its own inverse and they commute, so the same
/// function turns canonical registers back into `order`.
fn reorder(order: ByteOrder, words: &mut [u16]) {
    if order.swap_bytes {
        for w in words.iter_mut() {
            *w = w.swap_bytes();
        }
    }
    if words.len() == 4 && order.swap_halves {
        words.rotate_left(2);
    }
    if words.len() >= 2 && order.swap_words {
        for half in words.chunks_mut(2) {
            half.reverse();
        }
    }
}

/// The text a string point's registers hold (`order.swap_bytes`: BA, the second byte of
/// each register first; else AB, the first character in the high byte).
///
/// Padding is trimmed: NULs and spaces at the end, NULs at the start. What is left is
/// shown as it is where it is printable ASCII; any other byte (a control character, a
/// byte ≥ 0x80, a NUL inside the text) and the backslash are escaped (`\x07`, `\\`),
/// so a garbled register never fails the poll and the text stays one plain line.
pub fn decode_text(order: ByteOrder, words: &[u16]) -> String {
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| {
            let [hi, lo] = w.to_be_bytes();
            if order.swap_bytes { [lo, hi] } else { [hi, lo] }
        })
        .collect();
    let end = bytes
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    let start = bytes[..end].iter().position(|&b| b != 0).unwrap_or(end);
    let mut text = String::with_capacity(end - start);
    for &b in &bytes[start..end] {
        match b {
            b'\\' => text.push_str("\\\\"),
            b' '..=b'~' => text.push(char::from(b)),
            _ => text.push_str(&format!("\\x{b:02x}")),
        }
    }
    text
}

/// The registers that hold `text` in a string point of `registers` registers, padded
/// with NULs: the inverse of `decode_text` for printable ASCII (the simulator's side).
pub fn encode_text(order: ByteOrder, registers: u16, text: &str) -> Result<Vec<u16>, EncodeError> {
    let room = 2 * usize::from(registers);
    if text.len() > room || !text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(EncodeError::NotText {
            text: text.to_string(),
            registers,
        });
    }
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(room, 0);
    Ok(bytes
        .chunks(2)
        .map(|c| {
            let w = u16::from_be_bytes([c[0], c[1]]);
            if order.swap_bytes { w.swap_bytes() } else { w }
        })
        .collect())
}

/// The raw number of a bit (coil or discrete input): 1 or 0.
pub fn decode_bit(bit: bool) -> f64 {
    f64::from(u8::from(bit))
}

/// The registers that carry `raw` as `ty` in `order`: the inverse of `decode_words`.
///
/// Integer types round to the nearest integer first (a scaled write of 22.3 with scale 0.1
/// is 222.99999999999997) and refuse values outside the type. `bool` is 1 for any
/// non-zero value. `f32` refuses finite values it would turn into infinity.
pub fn encode_words(ty: PointType, order: ByteOrder, raw: f64) -> Result<Vec<u16>, EncodeError> {
    if !raw.is_finite() {
        return Err(EncodeError::NotFinite { value: raw });
    }
    let out_of_range = || EncodeError::OutOfRange {
        value: raw,
        ty: ty.name(),
    };
    let r = raw.round();
    let in_range = |lo: f64, hi: f64| (lo..=hi).contains(&r);
    let bits: u64 = match ty {
        PointType::Bool => u64::from(raw != 0.0),
        PointType::Bit(n) => u64::from(raw != 0.0) << (n & 15),
        PointType::U16 if in_range(0.0, 65_535.0) => r as u64,
        PointType::I16 if in_range(-32_768.0, 32_767.0) => u64::from(r as i16 as u16),
        PointType::U32 if in_range(0.0, 4_294_967_295.0) => r as u64,
        PointType::I32 if in_range(-2_147_483_648.0, 2_147_483_647.0) => u64::from(r as i32 as u32),
        PointType::F32 => {
            let f = raw as f32;
            if !f.is_finite() {
                return Err(out_of_range());
            }
            u64::from(f.to_bits())
        }
        // 2^64 and 2^63 are exact in f64; the upper bounds are exclusive.
        PointType::U64 if (0.0..18_446_744_073_709_551_616.0).contains(&r) => r as u64,
        PointType::I64
            if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r) =>
        {
            r as i64 as u64
        }
        PointType::F64 => raw.to_bits(),
        _ => return Err(out_of_range()),
    };
    let n = usize::from(ty.registers());
    // Most significant word first, then reordered for the wire.
    let mut words: Vec<u16> = (0..n).rev().map(|i| (bits >> (16 * i)) as u16).collect();
    reorder(order, &mut words);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PointType::*;
    const AB: ByteOrder = ByteOrder::ABCD;
    const BA: ByteOrder = ByteOrder::CDAB;
    use proptest::prelude::*;

    fn check(ty: PointType, order: ByteOrder, words: &[u16], expected: f64) {
        let got = decode_words(ty, order, words).expect("decodes");
        assert_eq!(got, expected, "decode {ty:?} {order:?} {words:04X?}");
        // Every case is also an encode case: the pair must agree both ways.
        let back = encode_words(ty, order, expected).expect("encodes");
        let canonical = decode_words(ty, order, &back).expect("decodes");
        assert_eq!(
            canonical, expected,
            "round trip {ty:?} {order:?} {words:04X?}"
        );
    }

    #[test]
    fn decodes_every_type_and_word_order() {
        let cases: &[(PointType, ByteOrder, &[u16], f64)] = &[
            (Bool, AB, &[0x0000], 0.0),
            (Bool, AB, &[0x0001], 1.0),
            (Bool, AB, &[0x8000], 1.0),
            (U16, AB, &[0x0000], 0.0),
            (U16, AB, &[0x00DF], 223.0),
            (U16, AB, &[0xFFFF], 65_535.0),
            (I16, AB, &[0x00DF], 223.0),
            (I16, AB, &[0xFFFF], -1.0),
            (I16, AB, &[0xFF9C], -100.0),
            (I16, AB, &[0x8000], -32_768.0),
            (I16, AB, &[0x7FFF], 32_767.0),
            (U32, AB, &[0x0001, 0x0002], 65_538.0),
            (U32, BA, &[0x0002, 0x0001], 65_538.0),
            (U32, AB, &[0xFFFF, 0xFFFF], 4_294_967_295.0),
            (U32, AB, &[0xFFFF, 0xFFFE], 4_294_967_294.0),
            (U32, BA, &[0xFFFE, 0xFFFF], 4_294_967_294.0),
            (U32, AB, &[0x0000, 0x0000], 0.0),
            (I32, AB, &[0xFFFF, 0xFFFF], -1.0),
            (I32, BA, &[0xFFFE, 0xFFFF], -2.0),
            (I32, AB, &[0x8000, 0x0000], -2_147_483_648.0),
            (I32, AB, &[0x0000, 0x0064], 100.0),
            (F32, AB, &[0x41B2, 0x6666], f64::from(22.3_f32)),
            (F32, BA, &[0x6666, 0x41B2], f64::from(22.3_f32)),
            (F32, BA, &[0x0000, 0x3FC0], 1.5),
            (F32, AB, &[0xC2C8, 0x0000], -100.0),
            (U64, AB, &[0x0000, 0x0000, 0x0001, 0x0000], 65_536.0),
            (U64, BA, &[0x0000, 0x0001, 0x0000, 0x0000], 65_536.0),
            (
                U64,
                AB,
                &[0x0001, 0x0000, 0x0000, 0x0000],
                281_474_976_710_656.0,
            ),
            (
                U64,
                BA,
                &[0x0004, 0x0003, 0x0002, 0x0001],
                281_483_566_841_860.0,
            ),
            (I64, AB, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], -1.0),
            (I64, BA, &[0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF], -2.0),
            (F64, AB, &[0x4036, 0x4CCC, 0xCCCC, 0xCCCD], 22.3),
            (F64, BA, &[0xCCCD, 0xCCCC, 0x4CCC, 0x4036], 22.3),
            (F64, AB, &[0xC059, 0x0000, 0x0000, 0x0000], -100.0),
        ];
        for &(ty, order, words, expected) in cases {
            check(ty, order, words, expected);
        }
    }

    #[test]
    fn decodes_byte_swapped_and_half_swapped_layouts() {
        let badc = ByteOrder::BADC;
        let dcba = ByteOrder::DCBA;
        let halves_lo_first = ByteOrder::new(false, false, true);
        let cases: &[(PointType, ByteOrder, &[u16], f64)] = &[
            // 22.3 as f32 is 0x41B26666.
            (F32, badc, &[0xB241, 0x6666], f64::from(22.3_f32)),
            (F32, dcba, &[0x6666, 0xB241], f64::from(22.3_f32)),
            (U32, badc, &[0x0100, 0x0200], 65_538.0),
            (U32, dcba, &[0x0200, 0x0100], 65_538.0),
            (I32, dcba, &[0xFEFF, 0xFFFF], -2.0),
            (U16, badc, &[0xDF00], 223.0),
            (I16, badc, &[0xFEFF], -2.0),
            // 0x0001_0002_0003_0004 in each layout.
            (
                U64,
                badc,
                &[0x0100, 0x0200, 0x0300, 0x0400],
                281_483_566_841_860.0,
            ),
            (
                U64,
                dcba,
                &[0x0400, 0x0300, 0x0200, 0x0100],
                281_483_566_841_860.0,
            ),
            (
                U64,
                halves_lo_first,
                &[0x0003, 0x0004, 0x0001, 0x0002],
                281_483_566_841_860.0,
            ),
            (
                U64,
                ByteOrder::new(false, true, false),
                &[0x0002, 0x0001, 0x0004, 0x0003],
                281_483_566_841_860.0,
            ),
            (F64, dcba, &[0xCDCC, 0xCCCC, 0xCC4C, 0x3640], 22.3),
            (I64, badc, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF], -2.0),
            // Bits of a status word, counted from the least significant.
            (Bit(0), AB, &[0x0001], 1.0),
            (Bit(0), AB, &[0xFFFE], 0.0),
            (Bit(15), AB, &[0x8000], 1.0),
            (Bit(3), AB, &[0x0008], 1.0),
            (Bit(3), AB, &[0xFFF7], 0.0),
            (Bit(8), badc, &[0x0001], 1.0),
        ];
        for &(ty, order, words, expected) in cases {
            check(ty, order, words, expected);
            assert_eq!(
                encode_words(ty, order, expected)
                    .ok()
                    .filter(|_| !matches!(ty, Bit(_))),
                (!matches!(ty, Bit(_))).then(|| words.to_vec()),
                "encode {ty:?} {order:?}"
            );
        }
    }

    #[test]
    fn a_bit_encodes_alone_in_its_register() {
        assert_eq!(encode_words(Bit(3), AB, 1.0), Ok(vec![0x0008]));
        assert_eq!(encode_words(Bit(3), AB, 0.0), Ok(vec![0x0000]));
        assert_eq!(encode_words(Bit(8), ByteOrder::BADC, 1.0), Ok(vec![0x0001]));
    }

    #[test]
    fn word_order_does_not_matter_for_one_register() {
        for ty in [Bool, U16, I16] {
            assert_eq!(
                decode_words(ty, AB, &[0xFF9C]),
                decode_words(ty, BA, &[0xFF9C])
            );
        }
    }

    #[test]
    fn refuses_the_wrong_number_of_registers() {
        let cases: &[(PointType, &[u16])] =
            &[(U16, &[]), (U16, &[1, 2]), (F32, &[1]), (U64, &[1, 2, 3])];
        for &(ty, words) in cases {
            let err = decode_words(ty, AB, words).expect_err("refused");
            let want = DecodeError::Length {
                ty: ty.name(),
                expected: usize::from(ty.registers()),
                got: words.len(),
            };
            assert_eq!(err, want);
        }
        // A string is text: `decode_text` reads it, never `decode_words`.
        assert_eq!(
            decode_words(Str(2), AB, &[0x4142, 0x4344]),
            Err(DecodeError::Text)
        );
    }

    #[test]
    fn decodes_strings_in_both_byte_orders_trimming_padding() {
        let ba = ByteOrder::BADC;
        let cases: &[(ByteOrder, &[u16], &str)] = &[
            // "SN-1234" as pymodbus lays it out: first character in the high byte, an
            // odd length padded with a NUL.
            (AB, &[0x534E, 0x2D31, 0x3233, 0x3400], "SN-1234"),
            (ba, &[0x4E53, 0x312D, 0x3332, 0x0034], "SN-1234"),
            // Even length, no padding at all.
            (AB, &[0x4142, 0x4344], "ABCD"),
            (ba, &[0x4241, 0x4443], "ABCD"),
            // Trailing spaces and NULs, mixed, and leading NULs.
            (AB, &[0x4142, 0x2020, 0x0020, 0x0000], "AB"),
            (AB, &[0x0000, 0x0041, 0x4200], "AB"),
            (ba, &[0x0000, 0x4100, 0x0042], "AB"),
            // Spaces inside and at the start are the text's own.
            (AB, &[0x2041, 0x2042, 0x2020], " A B"),
            // All padding: the empty text.
            (AB, &[0x0000, 0x0000], ""),
            (AB, &[0x2020], ""),
            (AB, &[], ""),
            // One register, odd length either way round.
            (AB, &[0x5A00], "Z"),
            (ba, &[0x005A], "Z"),
            (ba, &[0x5A00], "Z"),
        ];
        for &(order, words, want) in cases {
            assert_eq!(
                decode_text(order, words),
                want,
                "{} {words:04X?}",
                order.name(1)
            );
        }
    }

    #[test]
    fn bytes_that_are_not_printable_ascii_are_escaped_not_refused() {
        let cases: &[(ByteOrder, &[u16], &str)] = &[
            (AB, &[0x4107], "A\\x07"),
            (AB, &[0x41FF, 0x4200], "A\\xffB"),
            // A NUL inside the text is not padding.
            (AB, &[0x4100, 0x4200], "A\\x00B"),
            (ByteOrder::BADC, &[0x0741], "A\\x07"),
            // UTF-8 is not ASCII: each byte shown.
            (AB, &[0xC3A9], "\\xc3\\xa9"),
            // A backslash is escaped too, so an escape in the text is unambiguous.
            (AB, &[0x5C78, 0x3037], "\\\\x07"),
            (AB, &[0x0D0A], "\\x0d\\x0a"),
        ];
        for &(order, words, want) in cases {
            assert_eq!(decode_text(order, words), want, "{words:04X?}");
        }
    }

    #[test]
    fn encodes_text_padded_with_nuls_and_refuses_what_does_not_fit() {
        assert_eq!(
            encode_text(AB, 4, "SN-1234"),
            Ok(vec![0x534E, 0x2D31, 0x3233, 0x3400])
        );
        assert_eq!(
            encode_text(ByteOrder::BADC, 2, "ABC"),
            Ok(vec![0x4241, 0x0043])
        );
        assert_eq!(encode_text(AB, 1, ""), Ok(vec![0x0000]));
        assert!(encode_text(AB, 1, "ABC").is_err(), "too long");
        assert!(encode_text(AB, 2, "é").is_err(), "not ASCII");
        assert!(encode_text(AB, 2, "A\n").is_err(), "not printable");
    }

    #[test]
    fn encodes_with_rounding_and_refuses_what_does_not_fit() {
        let ok: &[(PointType, ByteOrder, f64, &[u16])] = &[
            (U16, AB, 222.999_999_999_999_97, &[223]),
            (I16, AB, -1.0, &[0xFFFF]),
            (Bool, AB, 5.0, &[1]),
            (U32, BA, 65_538.0, &[0x0002, 0x0001]),
            (I64, AB, -2.0, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE]),
        ];
        for &(ty, order, raw, words) in ok {
            assert_eq!(
                encode_words(ty, order, raw).as_deref(),
                Ok(words),
                "{ty:?} {raw}"
            );
        }
        let refused: &[(PointType, f64)] = &[
            (U16, -1.0),
            (U16, 65_536.0),
            (I16, 32_768.0),
            (U32, 4_294_967_296.0),
            (I32, -2_147_483_649.0),
            (U64, -1.0),
            (U64, 18_446_744_073_709_551_616.0),
            (I64, 9_223_372_036_854_775_808.0),
            (F32, 1e39),
            (F64, f64::NAN),
            (U16, f64::INFINITY),
        ];
        for &(ty, raw) in refused {
            assert!(
                encode_words(ty, AB, raw).is_err(),
                "{ty:?} {raw} must be refused"
            );
        }
    }

    #[test]
    fn bits_decode_to_one_or_zero() {
        assert_eq!(decode_bit(true), 1.0);
        assert_eq!(decode_bit(false), 0.0);
    }

    fn any_order() -> impl Strategy<Value = ByteOrder> {
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(b, w, h)| ByteOrder::new(b, w, h))
    }

    /// Printable ASCII with no padding to trim: what a device's text reads back as.
    fn plain_text(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("([!-~]([ -~]{{0,{}}}[!-~])?)?", max - 2))
            .expect("regex")
    }

    proptest! {
        #[test]
        fn text_round_trips_in_either_order(registers in 1u16..=64, swap in any::<bool>(),
                                             text in plain_text(128)) {
            prop_assume!(text.len() <= 2 * usize::from(registers));
            prop_assume!(!text.contains('\\'));
            let order = ByteOrder::new(swap, false, false);
            let words = encode_text(order, registers, &text).expect("fits");
            prop_assert_eq!(words.len(), usize::from(registers));
            prop_assert_eq!(decode_text(order, &words), text);
        }

        #[test]
        fn any_registers_decode_to_one_plain_line(swap in any::<bool>(),
                                                   words in proptest::collection::vec(any::<u16>(), 0..64)) {
            let text = decode_text(ByteOrder::new(swap, false, false), &words);
            prop_assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "{text:?}");
            prop_assert!(text.len() <= 4 * 2 * words.len());
            prop_assert!(!text.ends_with(' '));
        }

        #[test]
        fn integers_round_trip(order in any_order(), u16v in any::<u16>(), i16v in any::<i16>(),
                               u32v in any::<u32>(), i32v in any::<i32>(),
                               u64v in 0u64..(1 << 53), i64v in -(1i64 << 53)..(1 << 53)) {
            let cases = [
                (U16, f64::from(u16v)), (I16, f64::from(i16v)), (U32, f64::from(u32v)),
                (I32, f64::from(i32v)), (U64, u64v as f64), (I64, i64v as f64),
            ];
            for (ty, raw) in cases {
                let words = encode_words(ty, order, raw).expect("in range");
                prop_assert_eq!(words.len(), usize::from(ty.registers()));
                prop_assert_eq!(decode_words(ty, order, &words).expect("decodes"), raw);
            }
        }

        #[test]
        fn floats_round_trip(order in any_order(), f in any::<f32>(), d in any::<f64>()) {
            prop_assume!(f.is_finite() && d.is_finite());
            let w32 = encode_words(F32, order, f64::from(f)).expect("finite");
            prop_assert_eq!(decode_words(F32, order, &w32).expect("decodes"), f64::from(f));
            let w64 = encode_words(F64, order, d).expect("finite");
            prop_assert_eq!(decode_words(F64, order, &w64).expect("decodes"), d);
        }

        #[test]
        fn any_registers_decode_and_re_encode_to_themselves(order in any_order(),
                                                            words in proptest::collection::vec(any::<u16>(), 4)) {
            // Integers are exact up to 2^53, so restrict the 64-bit case to that range.
            for ty in [U16, I16, U32, I32] {
                let n = usize::from(ty.registers());
                let raw = decode_words(ty, order, &words[..n]).expect("decodes");
                prop_assert_eq!(encode_words(ty, order, raw).expect("fits"), words[..n].to_vec());
            }
        }
    }
}
