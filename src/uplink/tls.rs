//! TLS for `mqtts://` brokers: rustls with the ring provider.
//!
//! The CA comes from `uplink.ca_file`, or from the system's trust store when it is not set;
//! a client certificate and key are optional. Every file is read at start, so a missing or
//! bad file refuses the start with its path, instead of failing later on every reconnect.

use crate::site::Uplink;
use anyhow::{Context, bail};
use rumqttc::{TlsConfiguration, Transport};
use std::sync::Arc;

/// The transport for `up.broker`: plain TCP, or TLS as configured.
pub fn transport(up: &Uplink) -> anyhow::Result<Transport> {
    if !up.broker.tls {
        return Ok(Transport::tcp());
    }
    // Installing twice (tests, reload) is harmless: the first provider stays.
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let read = |what: &str, p: &std::path::Path| {
        std::fs::read(p).with_context(|| format!("reading uplink.{what} {}", p.display()))
    };
    let client_auth = match (&up.client_cert, &up.client_key) {
        (Some(c), Some(k)) => Some((read("client_cert", c)?, read("client_key", k)?)),
        (None, None) => None,
        _ => bail!("uplink.client_cert and uplink.client_key go together"),
    };
    let config = match &up.ca_file {
        Some(ca) => TlsConfiguration::Simple {
            ca: read("ca_file", ca)?,
            alpn: None,
            client_auth,
        },
        None => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                bail!(
                    "no uplink.ca_file and no usable system CA certificates (install ca-certificates or set uplink.ca_file)"
                );
            }
            if client_auth.is_some() {
                // Simple carries the client certificate; it needs the CA as PEM, so a
                // client certificate requires an explicit ca_file.
                bail!("uplink.client_cert needs uplink.ca_file");
            }
            let cfg = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            TlsConfiguration::Rustls(Arc::new(cfg))
        }
    };
    Ok(Transport::tls_with_config(config))
}
