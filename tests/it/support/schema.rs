//! The published contract, enforced: every message a test subscriber receives from a
//! gateway is validated against its JSON Schema in `docs/schema/`, so `docs/platform.md`
//! cannot drift from what the daemon sends.
//!
//! A topic is `{topic_prefix}/{site}/{gateway}/{rest}`; `rest` names the payload kind.
//! A topic under a gateway prefix that names no kind is itself a violation: a new topic
//! needs its schema (and its section in docs/platform.md) before its tests can pass.
//! `P/cmd` flows the other way and tests send deliberately bad commands on it, so it is
//! not judged here (`cmd.schema.json` is checked against the documented example instead).

use jsonschema::Validator;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Every payload kind with its schema file (`docs/schema/{kind}.schema.json`).
pub const KINDS: [&str; 13] = [
    "status",
    "summary",
    "zone",
    "cell",
    "cells",
    "patrol",
    "alarm",
    "alarms-active",
    "health",
    "cmd",
    "cmd-result",
    "inventory",
    "live",
];

/// The payload kinds of `[uplink] format = "thingsboard"` (ThingsBoard's gateway API).
pub const THINGSBOARD: [&str; 7] = [
    "thingsboard-connect",
    "thingsboard-disconnect",
    "thingsboard-telemetry",
    "thingsboard-attributes",
    "thingsboard-rpc",
    "thingsboard-own-telemetry",
    "thingsboard-own-attributes",
];

/// `[uplink] format = "sparkplug"`: a Sparkplug B payload as an independent decoder
/// gives it (`tests/fixtures/sparkplug_codec.py`).
pub const SPARKPLUG: [&str; 1] = ["sparkplug"];

/// The top-level topic prefixes the tests give a gateway (`topic_prefix`).
const PREFIXES: [&str; 1] = ["sitewarden"];

pub fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/schema")
}

/// The payload kind of a gateway's upstream topic; `Ok(None)` for a topic that is not
/// under a gateway prefix or that flows downstream (`P/cmd`); `Err` for a topic under a
/// gateway prefix that the contract does not name.
pub fn kind_of(topic: &str) -> Result<Option<&'static str>, String> {
    if topic.starts_with("v1/") {
        return thingsboard_kind(topic);
    }
    let parts: Vec<&str> = topic.split('/').collect();
    if parts.len() < 4 || !PREFIXES.contains(&parts[0]) {
        return Ok(None);
    }
    let kind = match &parts[3..] {
        ["status"] => "status",
        ["summary", _] => "summary",
        ["zone", _] => "zone",
        ["cell", _] => "cell",
        ["cells"] => "cells",
        ["patrol", _] => "patrol",
        ["alarm", _] => "alarm",
        ["alarms", "active"] => "alarms-active",
        ["health"] => "health",
        ["cmd"] => return Ok(None),
        ["cmd", "result"] => "cmd-result",
        ["inventory"] => "inventory",
        ["live", _] => "live",
        _ => {
            return Err(format!(
                "topic {topic} is not in the contract (docs/platform.md)"
            ));
        }
    };
    Ok(Some(kind))
}

/// ThingsBoard's topics (format `thingsboard`); any other `v1/` topic is a violation.
fn thingsboard_kind(topic: &str) -> Result<Option<&'static str>, String> {
    let kind = match topic {
        "v1/gateway/connect" => "thingsboard-connect",
        "v1/gateway/disconnect" => "thingsboard-disconnect",
        "v1/gateway/telemetry" => "thingsboard-telemetry",
        "v1/gateway/attributes" => "thingsboard-attributes",
        "v1/gateway/rpc" => "thingsboard-rpc",
        "v1/devices/me/telemetry" => "thingsboard-own-telemetry",
        "v1/devices/me/attributes" => "thingsboard-own-attributes",
        _ => {
            return Err(format!(
                "topic {topic} is not in the ThingsBoard contract (docs/platform.md)"
            ));
        }
    };
    Ok(Some(kind))
}

fn validators() -> &'static BTreeMap<&'static str, Validator> {
    static V: OnceLock<BTreeMap<&'static str, Validator>> = OnceLock::new();
    V.get_or_init(|| {
        KINDS
            .iter()
            .chain(THINGSBOARD.iter())
            .chain(SPARKPLUG.iter())
            .filter_map(|kind| {
                let path = schema_dir().join(format!("{kind}.schema.json"));
                // A kind whose schema is not written yet is reported by `check`.
                let text = std::fs::read_to_string(&path).ok()?;
                let schema: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
                let v = jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", path.display()));
                Some((*kind, v))
            })
            .collect()
    })
}

/// Checks `payload` against the schema of `kind`; every problem in one message.
pub fn check_kind(kind: &str, payload: &[u8]) -> Result<(), String> {
    let Some(v) = validators().get(kind) else {
        return Err(format!("no schema docs/schema/{kind}.schema.json"));
    };
    let json: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let problems: Vec<String> = v
        .iter_errors(&json)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{kind}.schema.json refuses {}: {}",
            String::from_utf8_lossy(payload),
            problems.join("; ")
        ))
    }
}

/// Checks one received message; `Ok` for a topic outside the upstream contract.
pub fn check(topic: &str, payload: &[u8]) -> Result<(), String> {
    match kind_of(topic)? {
        Some(kind) => check_kind(kind, payload).map_err(|e| format!("{topic}: {e}")),
        None => Ok(()),
    }
}
