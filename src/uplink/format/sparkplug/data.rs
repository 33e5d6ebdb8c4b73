//! Our records as Sparkplug DATA: values taken from a payload `payload.rs` rendered,
//! named by the aliases of `birth.rs`. Pure: the same record gives the same bytes (the
//! send-time `seq` is added later, by `Node::stamp`).

use super::birth::{Declared, JSON_PREFIX};
use super::proto::{DataType, Metric, Payload, Value};
use serde_json::Value as Json;

/// A metric by its alias with a value read from JSON (`is_null` when it has none that
/// fits the datatype).
fn metric(d: &Declared, v: &Json, ts: u64) -> Metric {
    let value = match d.datatype {
        DataType::Double => v.as_f64().map(Value::Double),
        DataType::Int64 => v.as_f64().map(|f| Value::Long(f as i64 as u64)),
        DataType::UInt64 => v.as_u64().map(Value::Long),
        // A coil summarised as a state carries its last value as 1.0 or 0.0.
        DataType::Boolean => (v.as_bool())
            .or_else(|| v.as_f64().map(|f| f != 0.0))
            .map(Value::Boolean),
        DataType::String => v.as_str().map(|s| Value::String(s.to_string())),
        _ => None,
    };
    Metric {
        alias: Some(d.alias),
        timestamp: Some(ts),
        datatype: Some(d.datatype.code()),
        is_null: value.is_none().then_some(true),
        value,
        ..Metric::default()
    }
}

/// Adds `name` with value `v` when it was declared (a metric no birth declared is left
/// out rather than sent undeclared).
fn push(out: &mut Vec<Metric>, table: &[Declared], name: &str, v: &Json, ts: u64) {
    if let Some(d) = table.iter().find(|d| d.name == name) {
        out.push(metric(d, v, ts));
    }
}

fn payload(ts: u64, metrics: Vec<Metric>) -> Payload {
    Payload {
        timestamp: Some(ts),
        metrics,
        ..Payload::default()
    }
}

/// A summary's points at the window end: the last value and its statistics, as
/// `birth::device_metrics` declares them, and the window's quality.
pub fn summary(table: &[Declared], v: &Json, ts: u64) -> Payload {
    let mut out = Vec::new();
    for (name, p) in v["points"].as_object().into_iter().flatten() {
        push(&mut out, table, name, &p["last"], ts);
        for s in ["min", "max", "mean", "delta", "label", "count"] {
            if let Some(x) = p.get(s) {
                push(&mut out, table, &format!("{name}/{s}"), x, ts);
            }
        }
    }
    for q in ["polls", "errors"] {
        push(
            &mut out,
            table,
            &format!("quality/{q}"),
            &v["quality"][q],
            ts,
        );
    }
    payload(ts, out)
}

/// Live values at the time they were read.
pub fn live(table: &[Declared], v: &Json, ts: u64) -> Payload {
    let mut out = Vec::new();
    for (name, p) in v["points"].as_object().into_iter().flatten() {
        push(&mut out, table, name, &p["value"], ts);
        if let Some(l) = p.get("label") {
            push(&mut out, table, &format!("{name}/label"), l, ts);
        }
    }
    payload(ts, out)
}

/// A device's alarm event as `alarm/{rule}` (true while raised) and
/// `alarm/{rule}/message`.
pub fn alarm(table: &[Declared], v: &Json, ts: u64) -> Payload {
    let rule = v["rule"].as_str().unwrap_or_default();
    let raised = Json::Bool(v["state"].as_str() == Some("raised"));
    let mut out = Vec::new();
    push(&mut out, table, &format!("alarm/{rule}"), &raised, ts);
    let message = &v["message"];
    push(
        &mut out,
        table,
        &format!("alarm/{rule}/message"),
        message,
        ts,
    );
    payload(ts, out)
}

/// A zone's window on the node.
pub fn zone(table: &[Declared], zone: &str, v: &Json, ts: u64) -> Payload {
    let mut out = Vec::new();
    for k in ["entries", "exits", "occupancy", "capacity", "utilisation"] {
        push(&mut out, table, &format!("zone/{zone}/{k}"), &v[k], ts);
    }
    payload(ts, out)
}

/// Any other record (`rest`: its topic after our prefix) as the node's string metric
/// `sitewarden/{rest}`, holding our payload as it is.
pub fn json(table: &[Declared], rest: &str, raw: &[u8], ts: u64) -> Payload {
    let text = Json::String(String::from_utf8_lossy(raw).into_owned());
    let mut out = Vec::new();
    push(&mut out, table, &format!("{JSON_PREFIX}{rest}"), &text, ts);
    payload(ts, out)
}
