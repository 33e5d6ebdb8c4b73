//! ThingsBoard's gateway MQTT API: our records as `v1/gateway/*` messages, and
//! `v1/gateway/rpc` requests as `P/cmd` commands.
//!
//! | record (our contract) | ThingsBoard topic | payload |
//! |---|---|---|
//! | `summary/{device}` | `v1/gateway/telemetry` | `{device: [{ts: window end, values}]}` |
//! | `zone/{zone}` | `v1/gateway/telemetry` | under the device `zone:{zone}` |
//! | `alarm/{device}` | `v1/gateway/telemetry` | `alarm_*` values at the event's time |
//! | `alarms/active` | `v1/gateway/attributes` | `active_alarms` of every device |
//! | `cmd/result` | `v1/gateway/rpc` | the reply `{device, id, data}` |
//! | `inventory` | `v1/gateway/attributes` | profile, connection, zone, cell, points |
//! | `live/{device}` | `v1/gateway/telemetry` | the values at the time they were read |
//! | `status`, `cell/…`, `cells` | `v1/devices/me/attributes` | the gateway's own |
//! | `health` | `v1/devices/me/telemetry` | flattened (`errors.polls`) |
//!
//! Pure: the same record always gives the same bytes. `serde_json::Value` is built
//! here from payloads `wire::payload` already rendered; nothing here derives `Serialize`.

use super::{Out, Stamp};
use crate::site::Site;
use crate::uplink::command::text::parse_time;
use serde_json::{Map, Value, json};

pub const CONNECT: &str = "v1/gateway/connect";
pub const DISCONNECT: &str = "v1/gateway/disconnect";
pub const ATTRIBUTES: &str = "v1/gateway/attributes";
pub const TELEMETRY: &str = "v1/gateway/telemetry";
pub const RPC: &str = "v1/gateway/rpc";
pub const OWN_ATTRIBUTES: &str = "v1/devices/me/attributes";
pub const OWN_TELEMETRY: &str = "v1/devices/me/telemetry";
/// The one RPC method: `params` are a `P/cmd` without `id` and `device`.
pub const WRITE: &str = "write";

fn out(topic: &str, v: &Value) -> Out {
    Out {
        topic: topic.to_string(),
        payload: serde_json::to_vec(v).unwrap_or_default(),
        // ThingsBoard keeps attributes itself; its MQTT transport has no retained messages.
        retain: false,
        stamp: Stamp::None,
    }
}

/// Unix ms of one of our RFC 3339 fields (0 when absent: never for our own payloads).
fn ms(v: &Value, key: &str) -> i64 {
    v[key]
        .as_str()
        .and_then(|s| parse_time(s).ok())
        .unwrap_or(0)
}

/// The ThingsBoard device a zone's telemetry and capacity alarms go to.
fn zone_device(zone: &str) -> String {
    format!("zone:{zone}")
}

/// Our record `rest` (the topic after `P/`) with its bytes, as ThingsBoard reads it.
pub fn outbound(site: &Site, rest: &str, payload: &[u8]) -> Out {
    let v: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["summary", device] => telemetry(device, ms(&v, "end"), summary_values(&v)),
        ["zone", zone] => telemetry(&zone_device(zone), ms(&v, "end"), zone_values(&v)),
        ["alarm", device] => {
            let name = tb_device(site, device);
            telemetry(&name, ms(&v, "ts"), alarm_values(&v))
        }
        ["alarms", "active"] => out(ATTRIBUTES, &active_alarms(site, &v)),
        ["cmd", "result"] => out(RPC, &rpc_reply(&v)),
        ["inventory"] => out(ATTRIBUTES, &inventory(&v)),
        ["live", device] => telemetry(device, ms(&v, "read_at"), live_values(&v)),
        ["health"] => {
            let mut values = Map::new();
            flatten("", &strip_head(&v), &mut values);
            out(
                OWN_TELEMETRY,
                &json!({"ts": ms(&v, "ts"), "values": values}),
            )
        }
        ["cell", cell] => out(
            OWN_ATTRIBUTES,
            &json!({ format!("cell:{cell}"): strip_head(&v) }),
        ),
        ["cells"] => out(OWN_ATTRIBUTES, &json!({"cells": v["kinds"]})),
        // The latest round of each patrol, beside the cells.
        ["patrol", name] => out(
            OWN_ATTRIBUTES,
            &json!({ format!("patrol:{name}"): strip_head(&v) }),
        ),
        // `status` and anything newer: the gateway's own attributes, as they are.
        _ => out(OWN_ATTRIBUTES, &strip_head(&v)),
    }
}

/// `{device: [{ts, values}]}` on the telemetry topic.
fn telemetry(device: &str, ts: i64, values: Map<String, Value>) -> Out {
    out(
        TELEMETRY,
        &json!({ device: [{"ts": ts, "values": values}] }),
    )
}

/// A payload without `v`, `seq` and `ts`.
fn strip_head(v: &Value) -> Value {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for k in ["v", "seq", "ts"] {
        m.remove(k);
    }
    Value::Object(m)
}

/// An alarm's device as a ThingsBoard device: a zone's capacity alarm goes to the zone.
fn tb_device(site: &Site, name: &str) -> String {
    if site.device_index(name).is_some() {
        name.to_string()
    } else {
        zone_device(name)
    }
}

fn put(m: &mut Map<String, Value>, key: String, v: &Value) {
    // ThingsBoard refuses null values: a value not read is left out.
    if !v.is_null() {
        m.insert(key, v.clone());
    }
}

/// A summary's points: gauges as `name` (last), `name_min`, `name_max`, `name_mean`;
/// counters as `name` (last) and `name_delta`; states as `name` and `name_label`; events
/// as `name_count`; texts as `name` (the last string); and the window's `polls` and
/// `errors`.
fn summary_values(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(points) = v["points"].as_object() {
        for (name, p) in points {
            match p["kind"].as_str() {
                Some("gauge") => {
                    put(&mut m, name.clone(), &p["last"]);
                    for s in ["min", "max", "mean"] {
                        put(&mut m, format!("{name}_{s}"), &p[s]);
                    }
                }
                Some("counter") => {
                    put(&mut m, name.clone(), &p["last"]);
                    put(&mut m, format!("{name}_delta"), &p["delta"]);
                }
                Some("state") => {
                    put(&mut m, name.clone(), &p["last"]);
                    put(&mut m, format!("{name}_label"), &p["label"]);
                }
                Some("event") => put(&mut m, format!("{name}_count"), &p["count"]),
                Some("text") => put(&mut m, name.clone(), &p["last"]),
                _ => {}
            }
        }
    }
    put(&mut m, "polls".into(), &v["quality"]["polls"]);
    put(&mut m, "errors".into(), &v["quality"]["errors"]);
    m
}

fn zone_values(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    for k in ["entries", "exits", "occupancy", "capacity", "utilisation"] {
        put(&mut m, k.to_string(), &v[k]);
    }
    m
}

fn alarm_values(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    for k in [
        "state", "id", "rule", "point", "severity", "value", "limit", "message",
    ] {
        put(&mut m, format!("alarm_{k}"), &v[k]);
    }
    m
}

fn live_values(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(points) = v["points"].as_object() {
        for (name, p) in points {
            put(&mut m, name.clone(), &p["value"]);
            put(&mut m, format!("{name}_label"), &p["label"]);
        }
    }
    m
}

/// `active_alarms` for every device of the site (an empty list clears the attribute)
/// and for the zones that have one raised.
fn active_alarms(site: &Site, v: &Value) -> Value {
    let mut by: Map<String, Value> = Map::new();
    for d in &site.devices {
        by.insert(d.id.clone(), json!({"active_alarms": []}));
    }
    for a in v["alarms"].as_array().into_iter().flatten() {
        let name = tb_device(site, a["device"].as_str().unwrap_or_default());
        let entry = by
            .entry(name)
            .or_insert_with(|| json!({"active_alarms": []}));
        if let Some(list) = entry["active_alarms"].as_array_mut() {
            list.push(a.clone());
        }
    }
    Value::Object(by)
}

fn inventory(v: &Value) -> Value {
    let mut by = Map::new();
    for d in v["devices"].as_array().into_iter().flatten() {
        let mut attrs = d.as_object().cloned().unwrap_or_default();
        let Some(Value::String(id)) = attrs.remove("id") else {
            continue;
        };
        attrs.retain(|_, v| !v.is_null());
        by.insert(id, Value::Object(attrs));
    }
    Value::Object(by)
}

/// Health as `errors.polls`-style keys, so every counter is its own time series.
fn flatten(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Null => {}
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// The id a ThingsBoard RPC gets on our command path: `tb:{device}:{rpc id}` and, when
/// the request has a readable `expires`, `:{its unix ms}`. ThingsBoard numbers RPCs per
/// device from 0 again after its restart, so the id alone would be "seen before"; with
/// the expiry, only a redelivery of the same request is.
fn command_id(device: &str, rpc_id: u64, expires: Option<&str>) -> String {
    match expires.and_then(|e| parse_time(e).ok()) {
        Some(ms) => format!("tb:{device}:{rpc_id}:{ms}"),
        None => format!("tb:{device}:{rpc_id}"),
    }
}

/// The ThingsBoard device and request id a command id of ours was made from.
fn rpc_origin(id: &str) -> Option<(&str, u64)> {
    let mut parts = id.strip_prefix("tb:")?.split(':');
    let device = parts.next()?;
    let n = parts.next()?.parse().ok()?;
    Some((device, n))
}

/// What came in on `v1/gateway/rpc`: a request as a `P/cmd` payload, nothing (our own
/// replies come back on the same topic: a `data` without `method`), or a message that
/// is no RPC at all (not JSON, no `data`), which is refused like a malformed command.
pub fn rpc_inbound(payload: &[u8]) -> Option<super::Inbound> {
    let is_reply = serde_json::from_slice::<Value>(payload)
        .is_ok_and(|v| v["data"].is_object() && v["data"].get("method").is_none());
    match rpc_to_command(payload) {
        Some(cmd) => Some(super::Inbound::Command(cmd)),
        None if is_reply => None,
        None => Some(super::Inbound::Unreadable(
            "a ThingsBoard RPC that is not JSON with `data.method`".into(),
        )),
    }
}

/// A `v1/gateway/rpc` request `{device, data: {id, method, params}}` as a `P/cmd`
/// payload, for the command path's checks and refusals; None for a message that is no
/// request.
pub fn rpc_to_command(payload: &[u8]) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let data = v.get("data")?;
    let method = data.get("method")?;
    let device = v["device"].as_str().unwrap_or_default();
    let rpc_id = data["id"].as_u64().unwrap_or(0);
    let params = data.get("params").cloned().unwrap_or(Value::Null);
    let mut cmd = match params {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let id = command_id(device, rpc_id, cmd.get("expires").and_then(Value::as_str));
    cmd.insert("id".into(), Value::String(id));
    cmd.insert("device".into(), Value::String(device.to_string()));
    if method != WRITE {
        // Left in, so the command path refuses it (an unknown field) and answers.
        cmd.insert("method".into(), method.clone());
    }
    serde_json::to_vec(&Value::Object(cmd)).ok()
}

/// A `P/cmd/result` as the RPC reply `{device, id, data}`: `data` is the result
/// without its head.
fn rpc_reply(v: &Value) -> Value {
    let id = v["id"].as_str().unwrap_or_default();
    let data = strip_head(v);
    match rpc_origin(id) {
        Some((device, n)) => json!({"device": device, "id": n, "data": data}),
        None => json!({"device": v["device"], "id": id, "data": data}),
    }
}

/// `v1/gateway/connect` for every device (with its profile as the ThingsBoard device
/// type) and every zone, and `v1/gateway/disconnect` for those `before` had and the
/// site no longer has.
pub fn announce(site: &Site, before: Option<&Site>) -> Vec<Out> {
    let mut now: Vec<(String, String)> = (site.devices.iter())
        .map(|d| (d.id.clone(), d.profile.clone()))
        .collect();
    now.extend((site.zones.iter()).map(|z| (zone_device(&z.name), "zone".to_string())));
    let mut outs: Vec<Out> = Vec::new();
    if let Some(old) = before {
        let gone = (old.devices.iter().map(|d| d.id.clone()))
            .chain(old.zones.iter().map(|z| zone_device(&z.name)))
            .filter(|name| !now.iter().any(|(n, _)| n == name));
        outs.extend(gone.map(|name| out(DISCONNECT, &json!({"device": name}))));
    }
    outs.extend(
        now.iter()
            .map(|(name, ty)| out(CONNECT, &json!({"device": name, "type": ty}))),
    );
    outs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rpc_becomes_a_command_and_its_result_the_reply_on_the_same_id() {
        let req = br#"{"device":"gate-1","data":{"id":42,"method":"write","params":{"point":"open","value":true,"expires":"2026-12-03T10:00:00Z"}}}"#;
        let cmd: Value = serde_json::from_slice(&rpc_to_command(req).unwrap()).unwrap();
        assert_eq!(
            cmd,
            json!({"id": "tb:gate-1:42:1796292000000", "device": "gate-1", "point": "open", "value": true, "expires": "2026-12-03T10:00:00Z"})
        );
        let result = br#"{"v":1,"seq":9,"ts":"2026-12-03T09:59:00.000Z","id":"tb:gate-1:42:1796292000000","ok":true,"error":null,"device":"gate-1","point":"open","readback":1.0,"held":true}"#;
        let reply: Value =
            serde_json::from_slice(&outbound(&empty(), "cmd/result", result).payload).unwrap();
        assert_eq!(reply["device"], "gate-1");
        assert_eq!(reply["id"], 42);
        assert_eq!(reply["data"]["ok"], true);
        assert!(reply["data"].get("seq").is_none());
    }

    #[test]
    fn our_own_reply_echoed_back_is_no_request_and_other_methods_are_left_to_refuse() {
        assert_eq!(
            rpc_to_command(br#"{"device":"g","id":1,"data":{"ok":true}}"#),
            None
        );
        assert_eq!(rpc_to_command(b"not json"), None);
        // Our reply echoed back is ignored; what is no RPC at all is refused, not dropped.
        let reply = br#"{"device":"g","id":1,"data":{"ok":true}}"#;
        assert_eq!(rpc_inbound(reply), None);
        for junk in [&b"not json"[..], br#"{"device":"g"}"#, b"[1,2]"] {
            assert!(
                matches!(
                    rpc_inbound(junk),
                    Some(super::super::Inbound::Unreadable(_))
                ),
                "{}",
                String::from_utf8_lossy(junk)
            );
        }
        let other =
            rpc_to_command(br#"{"device":"g","data":{"id":1,"method":"reboot","params":{}}}"#)
                .unwrap();
        let v: Value = serde_json::from_slice(&other).unwrap();
        assert_eq!(v["method"], "reboot");
        assert_eq!(v["id"], "tb:g:1");
    }

    #[test]
    fn a_text_is_its_last_string_and_a_patrol_round_an_attribute_of_its_own() {
        let s = br#"{"v":1,"seq":6,"ts":"2026-12-03T17:21:32.586Z","device":"m-1","start":"2026-12-03T17:21:31.000Z","end":"2026-12-03T17:21:32.000Z","points":{"serial":{"kind":"text","last":"SN-42","transitions":0}},"quality":{"polls":1,"errors":0,"last_error":null}}"#;
        let v: Value =
            serde_json::from_slice(&outbound(&empty(), "summary/m-1", s).payload).unwrap();
        assert_eq!(v["m-1"][0]["values"]["serial"], "SN-42");
        let r = br#"{"v":1,"seq":9,"ts":"2026-12-03T22:40:00.000Z","patrol":"night","status":"complete","start":"2026-12-03T22:00:00.000Z","checkpoints":[]}"#;
        let o = outbound(&empty(), "patrol/night", r);
        assert_eq!(o.topic, OWN_ATTRIBUTES);
        let v: Value = serde_json::from_slice(&o.payload).unwrap();
        assert_eq!(v["patrol:night"]["status"], "complete");
        assert!(v["patrol:night"].get("seq").is_none(), "{v}");
    }

    #[test]
    fn a_summary_is_telemetry_at_the_window_end_without_nulls() {
        let s = br#"{"v":1,"seq":6,"ts":"2026-12-03T17:21:32.586Z","device":"th-1","start":"2026-12-03T17:21:31.000Z","end":"2026-12-03T17:21:32.000Z","points":{"temperature":{"kind":"gauge","unit":"C","count":1,"min":20.0,"max":21.0,"mean":20.5,"last":21.0},"status":{"kind":"state","last":1.0,"label":"passing","transitions":0},"n":{"kind":"counter","first":null,"last":null,"delta":null,"rollovers":0,"resets":0}},"quality":{"polls":1,"errors":0,"last_error":null}}"#;
        let o = outbound(&empty(), "summary/th-1", s);
        assert_eq!(o.topic, TELEMETRY);
        let v: Value = serde_json::from_slice(&o.payload).unwrap();
        assert_eq!(
            v,
            json!({"th-1": [{"ts": 1796318492000i64, "values": {
                "temperature": 21.0, "temperature_min": 20.0, "temperature_max": 21.0, "temperature_mean": 20.5,
                "status": 1.0, "status_label": "passing", "polls": 1, "errors": 0}}]})
        );
        assert_eq!(
            outbound(&empty(), "summary/th-1", s),
            o,
            "the same record, the same bytes"
        );
    }

    #[test]
    fn a_reload_disconnects_what_it_removed_and_connects_everything_it_has() {
        let two = site_with(&["gate-1", "th-1"], Some("north"));
        let one = site_with(&["th-1"], None);
        let shown = |outs: Vec<Out>| -> Vec<(String, String)> {
            outs.into_iter()
                .map(|o| (o.topic, String::from_utf8(o.payload).unwrap()))
                .collect()
        };
        assert_eq!(
            shown(announce(&one, Some(&two))),
            [
                (DISCONNECT, r#"{"device":"gate-1"}"#),
                (DISCONNECT, r#"{"device":"zone:north"}"#),
                (CONNECT, r#"{"device":"th-1","type":"rs485-th"}"#),
            ]
            .map(|(t, p)| (t.to_string(), p.to_string()))
        );
        assert_eq!(
            shown(announce(&two, None)).len(),
            3,
            "two devices and the zone"
        );
    }

    fn site_with(devices: &[&str], zone: Option<&str>) -> Site {
        let mut text = String::from(
            "[gateway]\nsite = \"s\"\nid = \"g\"\n[uplink]\nbroker = \"mqtt://127.0.0.1\"\nformat = \"thingsboard\"\n[[connection]]\nname = \"lan\"\ntype = \"modbus-tcp\"\naddress = \"127.0.0.1:502\"\n",
        );
        for (i, d) in devices.iter().enumerate() {
            let profile = if d.starts_with("gate") {
                "turnstile"
            } else {
                "rs485-th"
            };
            text.push_str(&format!(
                "[[device]]\nid = \"{d}\"\nprofile = \"{profile}\"\nconnection = \"lan\"\nunit = {}\n",
                i + 1
            ));
        }
        if let Some(z) = zone {
            text.push_str(&format!("[[zone]]\nname = \"{z}\"\ncapacity = 10\n"));
        }
        crate::config::load_from(&text, "t.toml", &[], &[]).expect("valid")
    }

    fn empty() -> Site {
        crate::config::load_from(
            "[gateway]\nsite = \"s\"\nid = \"g\"\n[uplink]\nbroker = \"mqtt://127.0.0.1\"\nformat = \"thingsboard\"\n",
            "t.toml",
            &[],
            &[],
        )
        .expect("valid")
    }
}
