//! Command signatures: HMAC-SHA256 over the canonical command, with a per-gateway key.
//!
//! The canonical command is these lines, joined by `\n` (no trailing newline):
//!
//! ```text
//! sitewarden-cmd-v1
//! {P}                      the gateway's topic prefix, e.g. sitewarden/xitang/gw-north
//! {id}
//! device:{device} | zone:{zone}
//! {point}
//! {value}                  the JSON text of `value` exactly as sent, e.g. true or 12.5
//! {expires}                exactly as sent
//! {ts}                     exactly as sent: when the platform signed it
//! ```
//!
//! `sig` is the lowercase or uppercase hex of the 32-byte MAC. Every line is checked
//! before use (the id charset, a configured device or zone and point, RFC 3339 times,
//! a bool or number value), so no line can hold a newline and no two commands share a
//! canonical form. Naming `P` binds a signature to one gateway even where keys are shared.
//!
//! Pure.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first line of every canonical command.
pub const VERSION_LINE: &str = "sitewarden-cmd-v1";
/// Keys shorter than this are refused at start.
pub const MIN_KEY_BYTES: usize = 16;

/// The parts of a command that are signed.
pub struct Signed<'a> {
    pub prefix: &'a str,
    pub id: &'a str,
    /// `device:{id}` or `zone:{name}`.
    pub target: &'a str,
    pub point: &'a str,
    pub value: &'a str,
    pub expires: &'a str,
    pub ts: &'a str,
}

impl Signed<'_> {
    pub fn canonical(&self) -> String {
        [
            VERSION_LINE,
            self.prefix,
            self.id,
            self.target,
            self.point,
            self.value,
            self.expires,
            self.ts,
        ]
        .join("\n")
    }
}

/// The hex MAC of `canonical` under `key` (what a platform computes).
pub fn sign(key: &[u8], canonical: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(canonical.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `sig_hex` is the MAC of `canonical` under `key` (compared in constant time).
pub fn verify(key: &[u8], canonical: &str, sig_hex: &str) -> bool {
    let Some(sig) = unhex(sig_hex) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(canonical.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// The key in a key file: its text with surrounding whitespace trimmed.
pub fn key_from_file(text: &[u8]) -> Result<Vec<u8>, String> {
    let key = text.trim_ascii().to_vec();
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the key is {} bytes, at least {MIN_KEY_BYTES} are needed (32 random bytes, \
             e.g. `openssl rand -hex 32`)",
            key.len()
        ));
    }
    Ok(key)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed<'a>(value: &'a str, ts: &'a str) -> Signed<'a> {
        Signed {
            prefix: "sitewarden/xitang/gw-north",
            id: "c-1",
            target: "device:gate-n1",
            point: "open",
            value,
            expires: "2026-12-03T15:05:00Z",
            ts,
        }
    }

    #[test]
    fn a_signature_verifies_only_for_its_own_command_and_key() {
        let key = b"0123456789abcdef0123456789abcdef";
        let c = signed("true", "2026-12-03T15:00:00Z").canonical();
        let sig = sign(key, &c);
        assert_eq!(sig.len(), 64);
        assert!(verify(key, &c, &sig));
        assert!(verify(key, &c, &sig.to_uppercase()));
        assert!(!verify(b"another key of 32 bytes, wrong!!", &c, &sig));
        assert!(!verify(
            key,
            &signed("false", "2026-12-03T15:00:00Z").canonical(),
            &sig
        ));
        assert!(!verify(
            key,
            &signed("true", "2026-12-03T15:00:01Z").canonical(),
            &sig
        ));
        assert!(!verify(key, &c, &sig[..62]));
        assert!(!verify(key, &c, "zz"));
    }

    #[test]
    fn known_answer() {
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            sign(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(key_from_file(b"short\n").is_err());
        assert_eq!(
            key_from_file(b"  0123456789abcdef\n").unwrap(),
            b"0123456789abcdef"
        );
    }
}
