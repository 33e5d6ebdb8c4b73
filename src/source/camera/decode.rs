//! Camera message → raw point values. Pure: no I/O, no clock, no logging.
//!
//! A message is checked for size *before* it is parsed, then parsed once as JSON. Each
//! point of the device (a `PointSource::Json`) then looks at it: the point applies when
//! every `(pointer, text)` pair of its filter matches, and then its `pointer` must lead
//! to a number (or a bool, read as 0/1). A message that no point applies to is not an
//! error; it just carries nothing for this device. A point that applies but finds no
//! number rejects the whole message, so a camera that changed its format shows up in
//! the counters instead of silently feeding half a reading.

use crate::site::{Device, PointSource};
use serde_json::Value;

/// Why a camera message was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reject {
    #[error("payload of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("not json: {0}")]
    Malformed(String),
    #[error("point {point}: `{pointer}` is {found}, not a number")]
    WrongType {
        point: String,
        pointer: String,
        found: &'static str,
    },
}

impl Reject {
    /// Bad JSON, as opposed to good JSON of the wrong shape or size.
    pub fn is_malformed(&self) -> bool {
        matches!(self, Reject::Malformed(_))
    }
}

/// Checks the size of a payload, then parses it.
pub fn parse(payload: &[u8], limit: usize) -> Result<Value, Reject> {
    if payload.len() > limit {
        return Err(Reject::TooLarge {
            size: payload.len(),
            limit,
        });
    }
    serde_json::from_slice(payload).map_err(|e| Reject::Malformed(e.to_string()))
}

/// The raw values `msg` carries for `device`, one slot per point in profile order, or
/// `None` when no point of the device applies to this message.
pub fn values(device: &Device, msg: &Value) -> Result<Option<Vec<Option<f64>>>, Reject> {
    let mut out = vec![None; device.points.len()];
    let mut any = false;
    for (slot, point) in out.iter_mut().zip(&device.points) {
        let PointSource::Json { pointer, filter } = &point.source else {
            continue;
        };
        if !filter.iter().all(|(p, want)| matches(msg.pointer(p), want)) {
            continue;
        }
        any = true;
        *slot = Some(
            number(msg.pointer(pointer)).map_err(|found| Reject::WrongType {
                point: point.name.clone(),
                pointer: pointer.clone(),
                found,
            })?,
        );
    }
    Ok(any.then_some(out))
}

/// A filter compares as text: a string by its contents, a number or bool as written.
fn matches(v: Option<&Value>, want: &str) -> bool {
    match v {
        Some(Value::String(s)) => s == want,
        Some(Value::Number(n)) => n.to_string() == want,
        Some(Value::Bool(b)) => (if *b { "true" } else { "false" }) == want,
        _ => false,
    }
}

/// A number, or a bool as 0/1; otherwise what was found instead, for the message.
fn number(v: Option<&Value>) -> Result<f64, &'static str> {
    match v {
        Some(Value::Number(n)) => n.as_f64().ok_or("a number out of range"),
        Some(Value::Bool(b)) => Ok(if *b { 1.0 } else { 0.0 }),
        Some(Value::String(_)) => Err("a string"),
        Some(Value::Object(_)) => Err("an object"),
        Some(Value::Array(_)) => Err("an array"),
        Some(Value::Null) => Err("null"),
        None => Err("missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{Point, PointKind};

    fn json_point(name: &str, pointer: &str, filter: &[(&str, &str)]) -> Point {
        Point {
            name: name.into(),
            source: PointSource::Json {
                pointer: pointer.into(),
                filter: filter
                    .iter()
                    .map(|(p, v)| (p.to_string(), v.to_string()))
                    .collect(),
            },
            scale: 1.0,
            offset: 0.0,
            unit: None,
            kind: PointKind::Gauge,
            writable: false,
            labels: Vec::new(),
        }
    }

    /// The shipped camera profile's two points, plus one on a nested, numeric filter.
    fn camera() -> Device {
        Device {
            id: "cam-1".into(),
            profile: "camera".into(),
            connection: 0,
            unit: 0,
            poll: std::time::Duration::from_secs(1),
            zone: None,
            max_registers_per_read: 125,
            max_gap: 0,
            points: vec![
                json_point("people_count", "/count", &[("/type", "people_count")]),
                json_point("intrusion", "/confidence", &[("/type", "intrusion")]),
                json_point(
                    "door",
                    "/door/open",
                    &[("/type", "door"), ("/door/id", "2")],
                ),
            ]
            .into(),
            camera: None,
            live: None,
        }
    }

    type Decoded = Result<Option<Vec<Option<f64>>>, Reject>;

    fn check(payload: &str, expected: Decoded) {
        let got = parse(payload.as_bytes(), 1024).and_then(|msg| values(&camera(), &msg));
        assert_eq!(got, expected, "{payload}");
    }

    fn wrong(point: &str, pointer: &str, found: &'static str) -> Reject {
        Reject::WrongType {
            point: point.into(),
            pointer: pointer.into(),
            found,
        }
    }

    #[test]
    fn messages_feed_the_points_whose_filters_match() {
        let cases: &[(&str, Decoded)] = &[
            (
                r#"{"type":"people_count","zone":"bridge","count":37,"ts":"x"}"#,
                Ok(Some(vec![Some(37.0), None, None])),
            ),
            (
                r#"{"type":"intrusion","zone":"river-bank","confidence":0.91}"#,
                Ok(Some(vec![None, Some(0.91), None])),
            ),
            // A numeric filter value compares as text; a bool reads as 0/1.
            (
                r#"{"type":"door","door":{"id":2,"open":true}}"#,
                Ok(Some(vec![None, None, Some(1.0)])),
            ),
            (
                r#"{"type":"door","door":{"id":"2","open":false}}"#,
                Ok(Some(vec![None, None, Some(0.0)])),
            ),
            // No filter matches: nothing for this device, and no error.
            (r#"{"type":"door","door":{"id":3,"open":true}}"#, Ok(None)),
            (r#"{"type":"loitering","count":4}"#, Ok(None)),
            (r#"{"count":4}"#, Ok(None)),
            (r#"[1,2,3]"#, Ok(None)),
            (r#"42"#, Ok(None)),
            // A filter on a string never matches an object or null.
            (r#"{"type":{"k":"people_count"},"count":1}"#, Ok(None)),
            (r#"{"type":null,"count":1}"#, Ok(None)),
        ];
        for (payload, expected) in cases {
            check(payload, expected.clone());
        }
    }

    #[test]
    fn a_matching_point_without_a_number_rejects_the_message() {
        let cases: &[(&str, Reject)] = &[
            (
                r#"{"type":"people_count","count":"37"}"#,
                wrong("people_count", "/count", "a string"),
            ),
            (
                r#"{"type":"people_count","count":{"n":37}}"#,
                wrong("people_count", "/count", "an object"),
            ),
            (
                r#"{"type":"people_count","count":[37]}"#,
                wrong("people_count", "/count", "an array"),
            ),
            (
                r#"{"type":"people_count","count":null}"#,
                wrong("people_count", "/count", "null"),
            ),
            (
                r#"{"type":"intrusion","zone":"river-bank"}"#,
                wrong("intrusion", "/confidence", "missing"),
            ),
        ];
        for (payload, expected) in cases {
            check(payload, Err(expected.clone()));
        }
    }

    #[test]
    fn bad_json_and_oversized_payloads_are_refused_before_mapping() {
        for payload in [
            "",
            "{",
            r#"{"type":"people_count","count":37"#,
            "not json",
            "\u{0}",
        ] {
            let got = parse(payload.as_bytes(), 1024);
            assert!(
                matches!(&got, Err(r) if r.is_malformed()),
                "{payload:?} gave {got:?}"
            );
        }
        let big = format!(
            r#"{{"type":"people_count","count":1,"pad":"{}"}}"#,
            "x".repeat(100)
        );
        let limit = big.len() - 1;
        assert_eq!(
            parse(big.as_bytes(), limit),
            Err(Reject::TooLarge {
                size: big.len(),
                limit
            })
        );
        // Exactly at the limit is allowed.
        assert!(parse(big.as_bytes(), big.len()).is_ok());
        // The size is checked first: an oversized payload is never parsed.
        let junk = vec![b'{'; 2048];
        assert!(matches!(parse(&junk, 1024), Err(Reject::TooLarge { .. })));
    }

    #[test]
    fn reject_messages_read_as_sentences() {
        let cases = [
            (
                Reject::TooLarge {
                    size: 70_000,
                    limit: 65_536,
                },
                "payload of 70000 bytes is over the 65536-byte limit",
            ),
            (
                wrong("people_count", "/count", "a string"),
                "point people_count: `/count` is a string, not a number",
            ),
        ];
        for (r, text) in cases {
            assert_eq!(r.to_string(), text);
            assert!(!r.is_malformed());
        }
    }
}
