//! How a point's byte layout is spelled: `byte_order` / `word_order` values.
//!
//! Pure: text and the point's type in, a `ByteOrder` or a lowercase message out.
//! Letters are case-insensitive. Every type takes the four 32-bit names (ABCD, BADC,
//! CDAB, DCBA; for 64-bit values they mean what they mean to pymodbus, CDAB reversing
//! all four registers); one-register types also take AB and BA; 64-bit types take the
//! eight-letter names of every layout (EFGHABCD: two u32 halves, low half first). The
//! older `hi-first` and `lo-first` stay as ABCD and CDAB, so existing profiles load.
//! Strings take only AB and BA: whether each register's bytes are swapped.

use crate::site::{ByteOrder, PointType};

/// Every layout `ByteOrder` can express.
const ALL: [ByteOrder; 8] = [
    ByteOrder::new(false, false, false),
    ByteOrder::new(true, false, false),
    ByteOrder::new(false, true, true),
    ByteOrder::new(true, true, true),
    ByteOrder::new(false, false, true),
    ByteOrder::new(false, true, false),
    ByteOrder::new(true, false, true),
    ByteOrder::new(true, true, false),
];

/// The order written as `given` for a point of type `ty`.
pub(super) fn parse_order(given: &str, ty: PointType) -> Result<ByteOrder, String> {
    let upper = given.to_ascii_uppercase();
    if let PointType::Str(_) = ty {
        return match upper.as_str() {
            "AB" => Ok(ByteOrder::ABCD),
            "BA" => Ok(ByteOrder::BADC),
            _ => Err(format!(
                "a string takes byte_order \"AB\" (first character in the high byte, the \
                 default) or \"BA\" (the two bytes of each register swapped), not `{given}`"
            )),
        };
    }
    match upper.as_str() {
        "HI-FIRST" => return Ok(ByteOrder::ABCD),
        "LO-FIRST" => return Ok(ByteOrder::CDAB),
        "ABCD" => return Ok(ByteOrder::ABCD),
        "BADC" => return Ok(ByteOrder::BADC),
        "CDAB" => return Ok(ByteOrder::CDAB),
        "DCBA" => return Ok(ByteOrder::DCBA),
        _ => {}
    }
    let registers = ty.registers();
    if upper.len() == 2 && registers == 1 {
        return match upper.as_str() {
            "AB" => Ok(ByteOrder::ABCD),
            "BA" => Ok(ByteOrder::BADC),
            _ => Err(unknown(given)),
        };
    }
    if upper.len() == 8 {
        if registers != 4 {
            return Err(format!(
                "`{given}` is an order of 8 bytes, but {} spans {} register(s); use ABCD, BADC, CDAB or DCBA",
                ty.name(),
                registers
            ));
        }
        return ALL
            .into_iter()
            .find(|o| o.name(4) == upper)
            .ok_or_else(|| unknown(given));
    }
    Err(unknown(given))
}

fn unknown(given: &str) -> String {
    format!(
        "unknown byte order `{given}`, expected ABCD, BADC, CDAB or DCBA (or hi-first / \
         lo-first; AB / BA for one register; eight letters such as EFGHABCD for a 64-bit value)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use PointType::*;

    #[test]
    fn every_spelling_names_its_layout() {
        let ok: &[(&str, PointType, ByteOrder)] = &[
            ("ABCD", U32, ByteOrder::ABCD),
            ("abcd", F32, ByteOrder::ABCD),
            ("hi-first", U32, ByteOrder::ABCD),
            ("Lo-First", U32, ByteOrder::CDAB),
            ("badc", I32, ByteOrder::BADC),
            ("CDAB", F32, ByteOrder::CDAB),
            ("DcBa", F64, ByteOrder::DCBA),
            ("BA", U16, ByteOrder::BADC),
            ("ab", I16, ByteOrder::ABCD),
            ("ABCDEFGH", U64, ByteOrder::ABCD),
            ("GHEFCDAB", U64, ByteOrder::CDAB),
            ("HGFEDCBA", I64, ByteOrder::DCBA),
            ("BADCFEHG", F64, ByteOrder::BADC),
            ("efghabcd", U64, ByteOrder::new(false, false, true)),
            ("CDABGHEF", U64, ByteOrder::new(false, true, false)),
            ("AB", Str(10), ByteOrder::ABCD),
            ("ba", Str(10), ByteOrder::BADC),
            ("BA", Str(1), ByteOrder::BADC),
        ];
        for &(text, ty, want) in ok {
            assert_eq!(parse_order(text, ty), Ok(want), "{text} for {ty:?}");
        }
        // Every layout's own name reads back as itself.
        for o in ALL {
            assert_eq!(parse_order(&o.name(4), U64), Ok(o), "{}", o.name(4));
        }
        let refused: &[(&str, PointType, &str)] = &[
            ("ABDC", U32, "unknown byte order `ABDC`"),
            ("BA", U32, "unknown byte order"),
            ("EFGHABCD", U32, "order of 8 bytes, but u32 spans 2"),
            ("ABCDEFHG", U64, "unknown byte order"),
            ("big", U32, "expected ABCD, BADC, CDAB or DCBA"),
            ("ABCD", Str(2), "a string takes byte_order \"AB\""),
            (
                "CDAB",
                Str(10),
                "or \"BA\" (the two bytes of each register swapped), not `CDAB`",
            ),
        ];
        for &(text, ty, part) in refused {
            let err = parse_order(text, ty).expect_err(text);
            assert!(err.contains(part), "{text}: {err}");
        }
    }
}
