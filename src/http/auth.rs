//! Basic auth for the HTTP endpoints: one user and a salted SHA-256 password hash, read
//! from `[http] password_file` at start.
//!
//! The file holds one line `user:sha256:SALT:HEX`, where HEX is the SHA-256 of the salt
//! text followed by the password (`printf '%s%s' "$salt" "$password" | sha256sum`;
//! README shows the whole recipe). The salt keeps two gateways with one password from
//! sharing a hash; a long random password is what keeps a stolen file from being
//! guessed (SHA-256 is fast, so the password must not be a word).

use sha2::{Digest, Sha256};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    salt: String,
    hash: [u8; 32],
}

impl Credentials {
    /// Reads and checks the password file; the error says what is wrong with it.
    pub fn load(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        Credentials::parse(text.trim_end_matches(['\n', '\r']))
    }

    pub fn parse(line: &str) -> Result<Credentials, String> {
        let shape =
            "expected one line `user:sha256:SALT:HEX` (see README, \"Status page and metrics\")";
        let mut parts = line.split(':');
        let (Some(user), Some(scheme), Some(salt), Some(hex), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(shape.into());
        };
        if scheme != "sha256" {
            return Err(format!("unknown scheme `{scheme}`: {shape}"));
        }
        if user.is_empty() || salt.len() < 8 {
            return Err(format!(
                "an empty user or a salt under 8 characters: {shape}"
            ));
        }
        let hash =
            decode_hex(hex).ok_or_else(|| format!("the hash is not 64 hex digits: {shape}"))?;
        Ok(Credentials {
            user: user.into(),
            salt: salt.into(),
            hash,
        })
    }

    /// Does an `Authorization` header value carry this user and password?
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(encoded) = authorization.and_then(|a| a.strip_prefix("Basic ")) else {
            return false;
        };
        let Some(pair) = decode_base64(encoded.trim()).and_then(|b| String::from_utf8(b).ok())
        else {
            return false;
        };
        let Some((user, password)) = pair.split_once(':') else {
            return false;
        };
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update(password.as_bytes());
        let got: [u8; 32] = h.finalize().into();
        // Compared in constant time, so the answer's timing says nothing of the hash.
        let diff = got
            .iter()
            .zip(&self.hash)
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        (diff == 0) & (user == self.user)
    }
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Standard base64 with padding (RFC 4648 §4), as Basic auth sends it.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `printf '%s%s' 0123456789abcdef 's3cret pass' | sha256sum`
    fn creds() -> Credentials {
        let mut h = Sha256::new();
        h.update(b"0123456789abcdefs3cret pass");
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Credentials::parse(&format!("admin:sha256:0123456789abcdef:{hex}")).unwrap()
    }

    #[test]
    fn only_the_right_user_and_password_pass() {
        let c = creds();
        // base64("admin:s3cret pass"), base64("admin:wrong"), base64("root:s3cret pass")
        assert!(c.allows(Some("Basic YWRtaW46czNjcmV0IHBhc3M=")));
        for bad in [
            None,
            Some("Basic YWRtaW46d3Jvbmc="),
            Some("Basic cm9vdDpzM2NyZXQgcGFzcw=="),
            Some("Bearer YWRtaW46czNjcmV0IHBhc3M="),
            Some("Basic !!!!"),
            Some("Basic YWRtaW4"),
        ] {
            assert!(!c.allows(bad), "{bad:?}");
        }
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("YTpi").unwrap(), b"a:b");
        assert_eq!(decode_base64("YTpiYw==").unwrap(), b"a:bc");
        assert_eq!(decode_base64("YTpiY2Q=").unwrap(), b"a:bcd");
        assert_eq!(decode_base64(""), Some(vec![]));
        assert_eq!(decode_base64("YTp"), None);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let good_hex = "00".repeat(32);
        let cases = [
            ("admin:plain-password".to_string(), "expected one line"),
            (
                format!("admin:md5:0123456789:{good_hex}"),
                "unknown scheme `md5`",
            ),
            (format!(":sha256:0123456789:{good_hex}"), "empty user"),
            (format!("admin:sha256:short:{good_hex}"), "salt under 8"),
            (
                "admin:sha256:0123456789:abc".to_string(),
                "not 64 hex digits",
            ),
            (
                format!("admin:sha256:0123456789:{}", "zz".repeat(32)),
                "not 64 hex digits",
            ),
        ];
        for (line, want) in cases {
            let e = Credentials::parse(&line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let e = Credentials::load(&dir.path().join("none")).unwrap_err();
        assert!(e.starts_with("cannot read it"), "{e}");
    }
}
