//! `[http]`: the opt-in status page and metrics endpoint. Absent: no socket at all.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::error::ConfigError;
use super::read::Reader;
use super::read::check;
use crate::site::Http;

/// `listen` (required once the table has any key) and `password_file`.
pub(super) fn read(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<Http> {
    let given = r.given("listen").is_some() || r.given("password_file").is_some();
    if !given {
        return None;
    }
    let listen = r.required("listen", errors, |r, key, errors| {
        check(r.get::<String>(key, errors), errors, |s| parse_listen(s))
    });
    let password_file = check(r.get::<PathBuf>("password_file", errors), errors, |p| {
        if p.as_os_str().is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(p.clone())
        }
    });
    Some(Http {
        listen: listen?.v,
        password_file: password_file.map(|v| v.v),
    })
}

/// An IP address and port, e.g. `127.0.0.1:9410`, `0.0.0.0:9410` or `[::1]:9410`. A host
/// name is refused: which interface it means would depend on DNS at every start.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    match s.parse::<SocketAddr>() {
        Ok(a) if a.port() == 0 => Err(format!("`{s}` needs a port other than 0")),
        Ok(a) => Ok(a),
        Err(_) => Err(format!(
            "`{s}` is not an IP address and port (e.g. `127.0.0.1:9410`, `0.0.0.0:9410`, \
             `[::1]:9410`)"
        )),
    }
}
