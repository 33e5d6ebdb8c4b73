//! How command text is judged and shown: the id charset, strict RFC 3339 times with a
//! zone, and the escaping every command value gets before it reaches a log line.
//!
//! Pure.

use crate::reading::Ms;

/// The longest id accepted.
pub const MAX_ID: usize = 64;
/// Shown values are cut after this many characters.
const SHOWN_CHARS: usize = 64;

/// Why `id` is not an acceptable command id (`[A-Za-z0-9._:-]{1,64}`), if it is not.
pub fn bad_id(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("empty id".into());
    }
    if id.len() > MAX_ID {
        return Some(format!("id of {} bytes is longer than {MAX_ID}", id.len()));
    }
    let ok = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    (!ok).then(|| {
        format!(
            "id {} holds characters outside A-Z a-z 0-9 . _ : -",
            shown(id)
        )
    })
}

/// `s` fit for a log line or an error message: printable ASCII stays, everything else
/// (newlines, ANSI escapes, other control or non-ASCII characters) becomes `\u{..}`, and
/// a long value is cut. Quoted, so an empty or space-padded value is visible.
pub fn shown(s: &str) -> String {
    shown_upto(s, SHOWN_CHARS)
}

/// As `shown`, with room for `chars` characters (for error texts that quote input).
pub fn shown_upto(s: &str, chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(chars) + 2);
    out.push('"');
    escape_into(&mut out, s, chars);
    out.push('"');
    out
}

/// Escapes a whole message (no quotes added), e.g. a parser's error naming a field.
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(400));
    escape_into(&mut out, s, 400);
    out
}

fn escape_into(out: &mut String, s: &str, chars: usize) {
    for (n, c) in s.chars().enumerate() {
        if n == chars {
            out.push_str(&format!("…({} bytes)", s.len()));
            return;
        }
        match c {
            ' '..='~' if c != '\\' => out.push(c),
            '\\' => out.push_str("\\\\"),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
}

/// Unix ms of an RFC 3339 date-time that names its zone: `2026-05-01T08:00:00Z`,
/// `…T10:00:00.250+02:00`. A time without a zone is refused: it means a different
/// instant on every gateway.
pub fn parse_time(s: &str) -> Result<Ms, String> {
    let bad = |why: &str| Err(format!("{} is not an RFC 3339 time: {why}", shown(s)));
    let b = s.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return bad("expected YYYY-MM-DDTHH:MM:SS and a zone (Z or ±HH:MM)");
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't') {
        return bad("expected YYYY-MM-DDTHH:MM:SS");
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0, 4),
        num(5, 2),
        num(8, 2),
        num(11, 2),
        num(14, 2),
        num(17, 2),
    ) else {
        return bad("expected digits in YYYY-MM-DDTHH:MM:SS");
    };
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
        return bad("no such date or time of day");
    }
    if sec > 60 {
        return bad("no such second");
    }
    let mut at = 19;
    let mut millis = 0;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return bad("a fraction needs digits");
        }
        let frac = &s[at + 1..at + 1 + digits.min(3)];
        millis = frac.parse::<i64>().unwrap_or(0) * 10_i64.pow(3 - frac.len() as u32);
        at += 1 + digits;
    }
    let offset_s = match &s[at..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && matches!(zone.as_bytes()[0], b'+' | b'-') => {
            let (Some(zh), Some(zm)) = (num(at + 1, 2), num(at + 4, 2)) else {
                return bad("a zone is Z or ±HH:MM");
            };
            if zone.as_bytes()[3] != b':' || zh > 23 || zm > 59 {
                return bad("a zone is Z or ±HH:MM");
            }
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (zh * 3600 + zm * 60)
        }
        "" => return bad("no zone (add Z or ±HH:MM)"),
        _ => return bad("a zone is Z or ±HH:MM"),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec.min(59) - offset_s;
    Ok(secs * 1000 + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_a_zone_parse_and_others_are_refused() {
        let ok: &[(&str, Ms)] = &[
            ("1970-01-01T00:00:00Z", 0),
            ("2026-12-03T15:00:00Z", 1_796_310_000_000),
            ("2026-12-03T17:00:00+02:00", 1_796_310_000_000),
            ("2026-12-03T10:30:00-04:30", 1_796_310_000_000),
            ("2026-12-03T15:00:00.25Z", 1_796_310_000_250),
            ("2024-02-29T00:00:00z", 1_709_164_800_000),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_time(s), Ok(*ms), "{s}");
        }
        for s in [
            "2099-01-01 00:00:00",
            "2099-01-01T00:00:00",
            "2099-01-01T00:00:00 Z",
            "2099-01-01 00:00:00Z",
            "2099-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2099-01-01T00:00:00+2:00",
            "2099-01-01T00:00:00.Z",
            "yesterday",
            "",
        ] {
            let e = parse_time(s).expect_err(s);
            assert!(e.contains("RFC 3339"), "{e}");
        }
    }

    #[test]
    fn ids_are_limited_to_a_safe_charset() {
        assert_eq!(bad_id("cmd-2026.12.03:0001_a"), None);
        assert_eq!(bad_id("").as_deref(), Some("empty id"));
        assert!(bad_id(&"a".repeat(65)).unwrap().contains("longer than 64"));
        let e = bad_id("x\n2026-12-03 sitewarden: gate opened\u{1b}[2K").unwrap();
        assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
        assert!(e.contains("\\u{a}") && e.contains("\\u{1b}"), "{e}");
    }

    #[test]
    fn shown_values_cannot_forge_lines() {
        assert_eq!(shown("gate-1"), "\"gate-1\"");
        assert_eq!(shown("a\r\nb"), "\"a\\u{d}\\u{a}b\"");
        assert_eq!(shown("\u{202e}x\\"), "\"\\u{202e}x\\\\\"");
        let long = shown(&"z".repeat(500));
        assert!(long.len() < 90 && long.contains("(500 bytes)"), "{long}");
    }
}
