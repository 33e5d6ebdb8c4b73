//! The carries saved with each closed window: per device id, the state the next window
//! continues from (`summary::Carry`), in one JSON object.
//!
//! Owns this encoding only; ingest decides when it is written (in the window's commit).
//! Keyed by device id, so a reordered config keeps its carries. Each carry is JSON already
//! and is nested as JSON. The first format nested each carry's bytes as an array of
//! numbers, over three times larger (67 KB per window at 300 devices, rewritten every window:
//! a dozen flash pages a minute); it is still read, so an upgrade keeps its carries.

use crate::site::Site;
use crate::summary::Carry;
use serde_json::Value;
use std::collections::HashMap;

/// `{"device-id": <carry JSON>, …}` in device order. Written out directly: a `Value` tree
/// of 300 carries is a 400 KB transient at every window close.
pub(super) fn encode(site: &Site, carries: &[Carry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * carries.len() + 2);
    out.push(b'{');
    for (id, c) in super::records::device_ids(site).zip(carries) {
        let carry = c.to_bytes();
        // Empty only if it could not be serialised: that device starts afresh.
        if carry.is_empty() {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        // A &str always serialises.
        serde_json::to_writer(&mut out, id).ok();
        out.push(b':');
        out.extend_from_slice(&carry);
    }
    out.push(b'}');
    out
}

/// One carry per device of `site`; a device without a readable saved carry starts afresh.
pub(super) fn decode(site: &Site, bytes: &[u8]) -> Vec<Carry> {
    let map: HashMap<String, Value> = serde_json::from_slice(bytes).unwrap_or_default();
    site.devices
        .iter()
        .map(|d| {
            map.get(&d.id)
                .and_then(carry_bytes)
                .and_then(|b| Carry::from_bytes(&b).ok())
                .unwrap_or_default()
        })
        .collect()
}

/// The carry's own bytes: the JSON itself, or (first format) an array of byte values.
fn carry_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Object(_) => serde_json::to_vec(v).ok(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        let text = r#"
[gateway]
site = "s"
id = "g"
[uplink]
broker = "mqtt://127.0.0.1:1"
[[connection]]
name = "c"
type = "modbus-tcp"
address = "127.0.0.1:1502"
[[device]]
id = "gate-1"
profile = "turnstile"
connection = "c"
unit = 1
[[device]]
id = "th-1"
profile = "rs485-th"
connection = "c"
unit = 2
"#;
        crate::config::load_from(text, "t.toml", &[], &[]).expect("test site")
    }

    fn carry(json: &str) -> Carry {
        Carry::from_bytes(json.as_bytes()).expect("test carry")
    }

    /// The first format: each carry's bytes as an array of numbers.
    fn first_format(site: &Site, carries: &[Carry]) -> Vec<u8> {
        let map: HashMap<&str, Vec<u8>> = site
            .devices
            .iter()
            .zip(carries)
            .map(|(d, c)| (d.id.as_str(), c.to_bytes()))
            .collect();
        serde_json::to_vec(&map).expect("encodes")
    }

    #[test]
    fn carries_survive_the_round_trip_in_either_format() {
        let site = site();
        let carries = vec![
            carry(r#"{"v":1,"carry":{"last":[["entries",108882.0],["exits",5056.0]]}}"#),
            Carry::default(),
        ];
        assert_eq!(decode(&site, &encode(&site, &carries)), carries);
        assert_eq!(decode(&site, &first_format(&site, &carries)), carries);
    }

    #[test]
    fn the_encoding_is_nested_json_and_less_than_half_the_first() {
        let site = site();
        let carries = vec![
            carry(r#"{"v":1,"carry":{"last":[["entries",108882.0],["status",1.0]]}}"#),
            Carry::default(),
        ];
        let bytes = encode(&site, &carries);
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["gate-1"]["carry"]["last"][0][1], 108882.0);
        assert!(bytes.len() * 2 < first_format(&site, &carries).len());
    }

    #[test]
    fn unreadable_or_missing_carries_start_afresh() {
        let site = site();
        let kept = carry(r#"{"v":1,"carry":{"last":[["entries",7.0]]}}"#);
        // (saved bytes, expected carries)
        let cases: Vec<(Vec<u8>, Vec<Carry>)> = vec![
            (b"not json".to_vec(), vec![Carry::default(); 2]),
            (b"{}".to_vec(), vec![Carry::default(); 2]),
            (
                br#"{"th-1":"nonsense","gate-1":[1,2,300]}"#.to_vec(),
                vec![Carry::default(); 2],
            ),
            (
                format!(
                    r#"{{"gone-9":{},"gate-1":{}}}"#,
                    String::from_utf8_lossy(&kept.to_bytes()),
                    String::from_utf8_lossy(&kept.to_bytes())
                )
                .into_bytes(),
                vec![kept.clone(), Carry::default()],
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                decode(&site, &bytes),
                expected,
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}
