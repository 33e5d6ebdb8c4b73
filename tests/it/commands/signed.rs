//! Signed commands: HMAC-SHA256 over the canonical command, computed here by hand from
//! the documented layout (docs/commands.md), not with the daemon's own code.

use super::{Publisher, assert_refused, at, result};
use crate::support::platform::Platform;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const KEY: &str = "4f1c0e9a7b2d8e6f3a5c1b0d9e8f7a6b";

fn sig(canonical: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(canonical.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A command to open gate-1, signed at `ts` over `signed_value` (what the platform
/// meant) while carrying `value` (what arrives).
fn signed(id: &str, ts: &str, signed_value: &str, value: Value) -> Value {
    let expires = at(60);
    let canonical = format!(
        "sitewarden-cmd-v1\nsitewarden/test/gw-1\n{id}\ndevice:gate-1\nopen\n{signed_value}\n{expires}\n{ts}"
    );
    json!({"id": id, "device": "gate-1", "point": "open", "value": value,
           "expires": expires, "ts": ts, "sig": sig(&canonical)})
}

#[test]
fn only_correctly_signed_fresh_commands_are_carried_out() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("commands.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let extra = format!("[commands]\nkey_file = \"{}\"\n", key_file.display());
    let mut p = Platform::start(&["gate-1:turnstile"], |_| {}, &extra);
    let platform = Publisher::start(p.broker.port, "platform-signed");
    let send = |c: &Value| platform.send(&p.topic("cmd"), c.to_string(), false);

    // Tampered: signed for `false`, carrying `true`.
    send(&signed("tampered", &at(0), "false", json!(true)));
    // Signed with another key.
    let mut other = signed("other-key", &at(0), "true", json!(true));
    other["sig"] = json!("00".repeat(32));
    send(&other);
    // Unsigned.
    send(&super::open("unsigned", "gate-1"));
    // Correctly signed, but ten minutes ago (beyond max_expiry): a replay.
    send(&signed("stale", &at(-600), "true", json!(true)));
    // Correctly signed and fresh.
    send(&signed("signed-ok", &at(0), "true", json!(true)));

    let ok = result(&p, "signed-ok");
    assert_eq!(ok["ok"], true, "{ok}");
    for id in ["tampered", "other-key", "unsigned", "stale"] {
        assert_refused(&result(&p, id), "bad_signature");
    }
    assert_eq!(
        p.sim.writes("gate-1").len(),
        1,
        "only the signed command wrote"
    );
    p.daemon.stop_cleanly();
}
