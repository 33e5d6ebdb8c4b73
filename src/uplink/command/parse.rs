//! A raw `P/cmd` payload → a checked `Command`, or a `Refusal` with a reason word.
//!
//! Checks, in order: size, JSON shape, id, signature (when a key is configured), expiry
//! (RFC 3339 with a zone, in the future, within `max_expiry`), target (one device, or
//! every gate of a zone), writable point and value type. Every value quoted in an error
//! is escaped (`text::shown`). Pure: `now` is a parameter.

use super::sign::{self, Signed};
use super::text::{bad_id, escaped, parse_time, shown};
use crate::reading::Ms;
use crate::site::{CommandPolicy, PointSource, Site, Table};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Commands larger than this are refused unread.
pub const MAX_COMMAND_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    id: String,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    point: String,
    #[serde(borrow)]
    value: &'a RawValue,
    expires: String,
    /// When the platform signed the command (part of the signed text).
    #[serde(default)]
    ts: Option<String>,
    /// Hex HMAC-SHA256 of the canonical command (`sign.rs`).
    #[serde(default)]
    sig: Option<String>,
}

/// One write of a checked command.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Index into `Site::devices`.
    pub device: usize,
    /// Index into the device's points.
    pub point: usize,
}

/// A checked command, ready for the devices' connection tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub id: String,
    /// Set for a zone command.
    pub zone: Option<String>,
    pub point: String,
    /// One for a device command; every gate of the zone that has the point otherwise.
    pub gates: Vec<Gate>,
    /// Engineering value (1/0 for a coil).
    pub value: f64,
    pub expires_ms: Ms,
}

/// Why a command was refused, as the platform reads it in `P/cmd/result`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The command's id when it could be read (escaped if it is not a valid id).
    pub id: String,
    /// One word: `bad_command`, `bad_id`, `bad_signature`, `bad_expires`, `expired`,
    /// `expires_too_far`, `unknown_target`, `not_writable`, `bad_value`, and (decided
    /// outside `parse`) `retained`, `rate_limited`, `duplicate`, `busy`.
    pub reason: &'static str,
    pub error: String,
}

/// What `parse` checks against besides the site.
pub struct Checks<'a> {
    pub policy: &'a CommandPolicy,
    /// The gateway's topic prefix `P` (signed).
    pub prefix: &'a str,
    /// The HMAC key, when commands must be signed.
    pub key: Option<&'a [u8]>,
}

fn refuse(id: &str, reason: &'static str, error: String) -> Refusal {
    Refusal {
        id: answer_id(id),
        reason,
        error,
    }
}

/// The id to answer with: itself when valid, escaped otherwise.
pub fn answer_id(id: &str) -> String {
    if id.is_empty() || bad_id(id).is_none() {
        id.to_string()
    } else {
        shown(id)
    }
}

/// The `id` of a payload that may be anything, for answering a command refused before
/// it was parsed (retained, rate-limited, malformed).
pub fn id_of(bytes: &[u8]) -> String {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    if bytes.len() > MAX_COMMAND_BYTES {
        return String::new();
    }
    serde_json::from_slice::<IdOnly>(bytes)
        .ok()
        .and_then(|v| v.id)
        .map(|id| answer_id(&id))
        .unwrap_or_default()
}

/// Checks a raw `P/cmd` payload against the site at `now`.
pub fn parse(site: &Site, checks: &Checks<'_>, bytes: &[u8], now: Ms) -> Result<Command, Refusal> {
    if bytes.len() > MAX_COMMAND_BYTES {
        let e = format!(
            "command of {} bytes exceeds {MAX_COMMAND_BYTES}",
            bytes.len()
        );
        return Err(refuse("", "bad_command", e));
    }
    let wire: Wire<'_> = serde_json::from_slice(bytes).map_err(|e| {
        let e = format!("bad command: {}", escaped(&e.to_string()));
        Refusal {
            id: id_of(bytes),
            reason: "bad_command",
            error: e,
        }
    })?;
    let id = wire.id.as_str();
    if let Some(e) = bad_id(id) {
        return Err(refuse(id, "bad_id", e));
    }
    let target = match (&wire.device, &wire.zone) {
        (Some(d), None) => format!("device:{d}"),
        (None, Some(z)) => format!("zone:{z}"),
        _ => {
            let e = "a command names exactly one of `device` and `zone`".to_string();
            return Err(refuse(id, "bad_command", e));
        }
    };
    if let Some(key) = checks.key {
        check_signature(key, checks, &wire, &target, now)?;
    }
    let expires_ms = parse_time(&wire.expires).map_err(|e| refuse(id, "bad_expires", e))?;
    if expires_ms <= now {
        let e = format!("expired at {}", shown(&wire.expires));
        return Err(refuse(id, "expired", e));
    }
    let horizon = checks.policy.max_expiry.as_millis() as Ms;
    if expires_ms - now > horizon {
        let e = format!(
            "expires {} is more than {} ahead (commands.max_expiry)",
            shown(&wire.expires),
            humantime::format_duration(checks.policy.max_expiry)
        );
        return Err(refuse(id, "expires_too_far", e));
    }
    let gates = gates(site, &wire)?;
    let value = value_of(site, &wire, &gates)?;
    Ok(Command {
        id: wire.id,
        zone: wire.zone,
        point: wire.point,
        gates,
        value,
        expires_ms,
    })
}

fn check_signature(
    key: &[u8],
    checks: &Checks<'_>,
    w: &Wire<'_>,
    target: &str,
    now: Ms,
) -> Result<(), Refusal> {
    let id = w.id.as_str();
    let (Some(sig), Some(ts)) = (&w.sig, &w.ts) else {
        let e = "commands to this gateway must be signed (`ts` and `sig`)".to_string();
        return Err(refuse(id, "bad_signature", e));
    };
    let signed = Signed {
        prefix: checks.prefix,
        id,
        target,
        point: &w.point,
        value: w.value.get(),
        expires: &w.expires,
        ts,
    };
    if !sign::verify(key, &signed.canonical(), sig) {
        let e = "signature does not match the command".to_string();
        return Err(refuse(id, "bad_signature", e));
    }
    let ts_ms = parse_time(ts).map_err(|e| refuse(id, "bad_signature", e))?;
    let window = checks.policy.max_expiry.as_millis() as Ms;
    if (now - ts_ms).abs() > window {
        let e = format!(
            "signed at {}, more than {} from this gateway's clock",
            shown(ts),
            humantime::format_duration(checks.policy.max_expiry)
        );
        return Err(refuse(id, "bad_signature", e));
    }
    Ok(())
}

/// The device, or every device of the zone, that has the point.
fn gates(site: &Site, w: &Wire<'_>) -> Result<Vec<Gate>, Refusal> {
    let id = w.id.as_str();
    let writable = |device: usize| -> Result<Gate, Refusal> {
        let dev = &site.devices[device];
        let point = dev.point_index(&w.point).ok_or_else(|| {
            let e = format!("device `{}` has no point {}", dev.id, shown(&w.point));
            refuse(id, "unknown_target", e)
        })?;
        if !dev.points[point].writable {
            let e = format!("point `{}` of `{}` is not writable", w.point, dev.id);
            return Err(refuse(id, "not_writable", e));
        }
        Ok(Gate { device, point })
    };
    if let Some(device) = &w.device {
        let index = site.device_index(device).ok_or_else(|| {
            refuse(
                id,
                "unknown_target",
                format!("unknown device {}", shown(device)),
            )
        })?;
        return Ok(vec![writable(index)?]);
    }
    let zone = w.zone.as_deref().unwrap_or_default();
    if !site.zones.iter().any(|z| z.name == zone) {
        let e = format!("unknown zone {}", shown(zone));
        return Err(refuse(id, "unknown_target", e));
    }
    let members: Vec<usize> = (0..site.devices.len())
        .filter(|&i| site.devices[i].zone.as_deref() == Some(zone))
        .filter(|&i| site.devices[i].point_index(&w.point).is_some())
        .collect();
    if members.is_empty() {
        let e = format!("no device of zone `{zone}` has a point {}", shown(&w.point));
        return Err(refuse(id, "unknown_target", e));
    }
    members.into_iter().map(writable).collect()
}

/// The engineering value to write, checked against every gate's point.
fn value_of(site: &Site, w: &Wire<'_>, gates: &[Gate]) -> Result<f64, Refusal> {
    let id = w.id.as_str();
    let raw: serde_json::Value = serde_json::from_str(w.value.get()).map_err(|e| {
        let e = format!("bad value: {}", escaped(&e.to_string()));
        refuse(id, "bad_value", e)
    })?;
    let mut value = None;
    for g in gates {
        let p = &site.devices[g.device].points[g.point];
        let is_coil = matches!(
            p.source,
            PointSource::Modbus {
                table: Table::Coil,
                ..
            }
        );
        let v = match (&raw, is_coil) {
            (serde_json::Value::Bool(b), true) => f64::from(u8::from(*b)),
            (serde_json::Value::Number(n), true) if n.as_u64().is_some_and(|v| v <= 1) => {
                n.as_f64().unwrap_or(0.0)
            }
            (serde_json::Value::Number(n), false) if n.as_f64().is_some_and(f64::is_finite) => {
                n.as_f64().unwrap_or(0.0)
            }
            (v, true) => {
                let e = format!(
                    "coil `{}` takes true/false, not {}",
                    p.name,
                    shown(&v.to_string())
                );
                return Err(refuse(id, "bad_value", e));
            }
            (v, false) => {
                let e = format!(
                    "point `{}` takes a number, not {}",
                    p.name,
                    shown(&v.to_string())
                );
                return Err(refuse(id, "bad_value", e));
            }
        };
        value = Some(v);
    }
    Ok(value.unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SITE: &str = r#"
[gateway]
site = "s"
id = "gw"

[uplink]
broker = "mqtt://127.0.0.1"

[[connection]]
name = "a"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[connection]]
name = "b"
type = "modbus-tcp"
address = "127.0.0.1:503"

[[device]]
id = "gate-1"
profile = "turnstile"
connection = "a"
unit = 1
zone = "north"

[[device]]
id = "gate-2"
profile = "turnstile"
connection = "b"
unit = 1
zone = "north"

[[device]]
id = "th-1"
profile = "rs485-th"
connection = "a"
unit = 2
zone = "north"

[[zone]]
name = "north"
capacity = 10
"#;
    /// 2026-12-03T15:00:00Z
    const NOW: Ms = 1_796_310_000_000;

    fn site() -> Site {
        crate::config::load_from(SITE, "t.toml", &[], &[]).expect("valid site")
    }

    fn check(cmd: serde_json::Value, key: Option<&[u8]>) -> Result<Command, Refusal> {
        let policy = CommandPolicy::default();
        let checks = Checks {
            policy: &policy,
            prefix: "sitewarden/s/gw",
            key,
        };
        parse(&site(), &checks, cmd.to_string().as_bytes(), NOW)
    }

    fn base() -> serde_json::Value {
        json!({"id": "c-1", "device": "gate-1", "point": "open", "value": true,
               "expires": "2026-12-03T15:04:00Z"})
    }

    fn with(key: &str, v: serde_json::Value) -> serde_json::Value {
        let mut c = base();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(key);
        } else {
            c[key] = v;
        }
        c
    }

    #[test]
    fn a_good_command_and_a_zone_command_are_accepted() {
        let c = check(base(), None).expect("accepted");
        assert_eq!(
            c.gates,
            [Gate {
                device: 0,
                point: 5
            }]
        );
        assert_eq!((c.value, c.expires_ms), (1.0, NOW + 240_000));
        let mut z = with("device", serde_json::Value::Null);
        z["zone"] = json!("north");
        let c = check(z, None).expect("zone accepted");
        // th-1 is in the zone but has no `open` point: it is not a gate.
        assert_eq!(c.gates.iter().map(|g| g.device).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(c.zone.as_deref(), Some("north"));
    }

    #[test]
    fn every_refusal_has_its_reason() {
        let cases = [
            (
                with("expires", json!("9999-12-31T23:59:59Z")),
                "expires_too_far",
            ),
            (
                with("expires", json!("2026-12-03T15:05:01Z")),
                "expires_too_far",
            ),
            (with("expires", json!("2026-12-03T17:04:00+02:00")), "ok"),
            (with("expires", json!("2099-01-01 00:00:00")), "bad_expires"),
            (with("expires", json!("2026-12-03T15:04:00")), "bad_expires"),
            (with("expires", json!("2026-12-03T15:00:00Z")), "expired"),
            (with("expires", serde_json::Value::Null), "bad_command"),
            (with("id", json!("")), "bad_id"),
            (with("id", json!("a b")), "bad_id"),
            (with("id", json!("x\n\u{1b}[2K")), "bad_id"),
            (with("extra", json!(1)), "bad_command"),
            (with("zone", json!("north")), "bad_command"),
            (with("device", json!("gate-9")), "unknown_target"),
            (with("point", json!("nope")), "unknown_target"),
            (with("point", json!("status")), "not_writable"),
            (with("value", json!("yes")), "bad_value"),
            (with("value", json!(2)), "bad_value"),
            (with("value", json!(1)), "ok"),
        ];
        for (cmd, reason) in cases {
            match check(cmd.clone(), None) {
                Ok(_) => assert_eq!(reason, "ok", "{cmd}"),
                Err(r) => {
                    assert_eq!(r.reason, reason, "{cmd}: {}", r.error);
                    assert!(
                        !r.error.contains('\n') && !r.error.contains('\u{1b}'),
                        "{}",
                        r.error
                    );
                }
            }
        }
        let mut z = with("device", serde_json::Value::Null);
        z["zone"] = json!("south");
        assert_eq!(check(z, None).unwrap_err().reason, "unknown_target");
        let r = check(json!("x").to_string().repeat(2000).into(), None).unwrap_err();
        assert_eq!(r.reason, "bad_command");
    }

    #[test]
    fn with_a_key_only_a_fresh_valid_signature_passes() {
        let key = b"0123456789abcdef0123456789abcdef";
        let signed = |ts: &str, value: &str| {
            let canonical = Signed {
                prefix: "sitewarden/s/gw",
                id: "c-1",
                target: "device:gate-1",
                point: "open",
                value,
                expires: "2026-12-03T15:04:00Z",
                ts,
            }
            .canonical();
            let mut c = base();
            c["ts"] = json!(ts);
            c["sig"] = json!(sign::sign(key, &canonical));
            c
        };
        assert!(check(signed("2026-12-03T14:59:58Z", "true"), Some(key)).is_ok());
        for c in [
            base(),
            signed("2026-12-03T14:59:58Z", "false"),
            signed("2026-12-03T14:50:00Z", "true"),
        ] {
            assert_eq!(check(c, Some(key)).unwrap_err().reason, "bad_signature");
        }
        // Without a key a signature is not needed (and not checked).
        assert!(check(base(), None).is_ok());
    }
}
