//! Why the platform broker cannot be reached, in words a technician can act on.
//!
//! rumqttc reports every failure as a `ConnectionError`; a refused CONNACK arrives as
//! `ConnectionRefused(code)`, not as an `Incoming::ConnAck`, and a TLS or DNS failure
//! is an `io::Error` a few layers down. [`classify`] digs the cause out once; the uplink
//! logs it at the default level whenever it changes, and the systemd status line,
//! `P/health` and `sitewarden status` show the current one.

use rumqttc::{ConnectReturnCode, ConnectionError};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// CONNACK 4: the broker refused the username or password.
    BadCredentials,
    /// CONNACK 5: the credentials are known but may not connect.
    NotAuthorised,
    /// Any other refusal code (protocol version, client id, server unavailable).
    Refused(String),
    /// The TLS handshake failed; the text names the certificate problem.
    Tls(String),
    /// The broker's host name does not resolve.
    Dns(String),
    /// Nothing listens on the broker's port.
    ConnectionRefused,
    /// No answer in time (connect, CONNACK or keep-alive).
    Timeout,
    /// Anything else (a reset, a protocol error), with rumqttc's words.
    Other(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BadCredentials => {
                f.write_str("bad credentials: the broker refused the username or password")
            }
            Reason::NotAuthorised => {
                f.write_str("not authorised: the broker does not allow this client to connect")
            }
            Reason::Refused(code) => write!(f, "broker refused the connection: {code}"),
            Reason::Tls(why) => write!(f, "TLS: {why}"),
            Reason::Dns(why) => write!(f, "DNS: the broker's host name does not resolve ({why})"),
            Reason::ConnectionRefused => {
                f.write_str("connection refused: nothing listens on the broker's port")
            }
            Reason::Timeout => f.write_str("timeout: the broker did not answer in time"),
            Reason::Other(why) => f.write_str(why),
        }
    }
}

/// The reason behind one connection error.
pub fn classify(e: &ConnectionError) -> Reason {
    match e {
        ConnectionError::ConnectionRefused(code) => refused(*code),
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => Reason::Timeout,
        ConnectionError::Tls(t) => tls(t),
        ConnectionError::Io(io) => from_io(io),
        other => Reason::Other(other.to_string()),
    }
}

fn refused(code: ConnectReturnCode) -> Reason {
    match code {
        ConnectReturnCode::BadUserNamePassword => Reason::BadCredentials,
        ConnectReturnCode::NotAuthorized => Reason::NotAuthorised,
        ConnectReturnCode::RefusedProtocolVersion => {
            Reason::Refused("protocol version not supported".into())
        }
        ConnectReturnCode::BadClientId => Reason::Refused("client id rejected".into()),
        ConnectReturnCode::ServiceUnavailable => Reason::Refused("service unavailable".into()),
        ConnectReturnCode::Success => Reason::Other("refused with code success".into()),
    }
}

fn tls(t: &rumqttc::TlsError) -> Reason {
    match t {
        rumqttc::TlsError::Io(io) => from_io(io),
        rumqttc::TlsError::TLS(r) => Reason::Tls(rustls_words(r)),
        other => Reason::Tls(other.to_string()),
    }
}

/// An I/O error: refused, timed out, a name lookup, or the TLS handshake's error that
/// tokio-rustls wraps in an `io::Error`.
fn from_io(io: &std::io::Error) -> Reason {
    if let Some(r) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return Reason::Tls(rustls_words(r));
    }
    match io.kind() {
        std::io::ErrorKind::ConnectionRefused => return Reason::ConnectionRefused,
        std::io::ErrorKind::TimedOut => return Reason::Timeout,
        _ => {}
    }
    let text = io.to_string();
    // getaddrinfo's failures, as the standard library words them.
    if text.contains("lookup address") || text.contains("Name or service not known") {
        return Reason::Dns(text);
    }
    Reason::Other(format!("I/O: {text}"))
}

fn rustls_words(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match e {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => {
                "the broker's certificate is signed by an unknown CA (check uplink.ca_file)".into()
            }
            C::Expired | C::ExpiredContext { .. } => "the broker's certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the broker's certificate is not valid yet (check the clock)".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the broker's certificate does not name the broker's host".into()
            }
            C::Revoked => "the broker's certificate is revoked".into(),
            C::BadSignature => "the broker's certificate does not verify against the trusted CA (bad signature: another CA of the same name?)".into(),
            other => format!("the broker's certificate is refused: {other:?}"),
        },
        E::AlertReceived(a) => match a {
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateRequired => format!(
                "the broker refused our client certificate ({a:?}; check uplink.client_cert)"
            ),
            A::CertificateExpired => "the broker says our client certificate expired".into(),
            other => format!("the broker ended the handshake: {other:?}"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn each_failure_has_its_reason() {
        let tls_io = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let cases: Vec<(ConnectionError, Reason)> = vec![
            (
                ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword),
                Reason::BadCredentials,
            ),
            (
                ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized),
                Reason::NotAuthorised,
            ),
            (
                ConnectionError::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
                Reason::ConnectionRefused,
            ),
            (ConnectionError::NetworkTimeout, Reason::Timeout),
            (
                ConnectionError::Io(tls_io),
                Reason::Tls(
                    "the broker's certificate is signed by an unknown CA (check uplink.ca_file)"
                        .into(),
                ),
            ),
            (
                ConnectionError::Io(io::Error::other(
                    "failed to lookup address information: Name or service not known",
                )),
                Reason::Dns(
                    "failed to lookup address information: Name or service not known".into(),
                ),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(classify(&e), want, "{e:?}");
        }
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert!(
            Reason::BadCredentials
                .to_string()
                .contains("username or password")
        );
        assert!(
            Reason::ConnectionRefused
                .to_string()
                .starts_with("connection refused")
        );
        assert!(Reason::Tls("x".into()).to_string().starts_with("TLS: "));
    }
}
