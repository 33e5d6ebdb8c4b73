//! Every shipped Modbus profile, served by pymodbus, read by our client with the right
//! registers and the right engineering values: over TCP with several unit ids on one
//! socket (a TCP-to-RTU gateway), and over RTU through a socat pty pair.

use sitewarden::site::{Site, Table};
use sitewarden::source::modbus::read_once;

use super::fixture::{
    EXPECTED, PROFILES, Polling, PtyPair, Pymodbus, assert_expected, bounded, close, device, rtu,
    site, tcp, values,
};

/// The shipped profiles on connection 0, one device per profile, named after it.
pub(super) fn profiles_on(connection: &str, conn_table: String) -> Site {
    let mut t = conn_table;
    for (profile, unit) in PROFILES {
        t.push_str(&device(profile, profile, connection, unit, "200ms"));
    }
    site(&t)
}

/// `read_once` (what `probe` uses) on each device, then the connection task polling
/// them all over one link.
pub(super) async fn reads_every_profile(site: &Site, how: &str) {
    let kind = &site.connections[0].kind;
    for d in &site.devices {
        let got = read_once(kind, d)
            .await
            .unwrap_or_else(|e| panic!("{how}: {} unreachable: {e}", d.id));
        for (point, reading) in d.points.iter().zip(&got.points) {
            let (_, _, _, value, hex) = EXPECTED
                .iter()
                .find(|e| e.0 == d.profile && e.2 == point.name)
                .unwrap_or_else(|| panic!("no expectation for {}.{}", d.profile, point.name));
            assert_eq!(reading.error, None, "{how}: {}.{}", d.id, point.name);
            let bits = matches!(
                point.source,
                sitewarden::site::PointSource::Modbus {
                    table: Table::Coil | Table::Discrete,
                    ..
                }
            );
            let shown: Vec<String> = reading
                .raw_registers
                .iter()
                .map(|w| {
                    if bits {
                        w.to_string()
                    } else {
                        format!("{w:04X}")
                    }
                })
                .collect();
            assert_eq!(
                shown.join(" "),
                *hex,
                "{how}: {}.{} registers",
                d.id,
                point.name
            );
            let v = point.engineering(reading.raw.expect("a value"));
            assert!(
                close(v, *value),
                "{how}: {}.{} = {v}, expected {value}",
                d.id,
                point.name
            );
        }
        // Coalesced: one request per table the profile uses.
        let tables: std::collections::BTreeSet<_> = d
            .points
            .iter()
            .filter_map(|p| match &p.source {
                sitewarden::site::PointSource::Modbus { table, .. } => Some(*table),
                _ => None,
            })
            .collect();
        assert_eq!(got.requests, tables.len(), "{how}: requests for {}", d.id);
    }

    let mut polling = Polling::start(site, 0);
    let n = site.devices.len();
    polling
        .until("a good sample of every device", |s| {
            (0..n).all(|i| s.iter().any(|s| s.device == i && s.error.is_none()))
        })
        .await;
    for (i, d) in site.devices.iter().enumerate() {
        let good = polling
            .of(i)
            .into_iter()
            .find(|s| s.error.is_none())
            .expect("a good sample");
        assert_expected(&d.profile, &values(site, good), how);
    }
    polling.stop().await;
}

#[test]
fn our_client_reads_every_shipped_profile_from_pymodbus_over_tcp() {
    let server = Pymodbus::tcp(200);
    let site = profiles_on("gw", tcp("gw", &server.address, "1s"));
    bounded(reads_every_profile(&site, "tcp"));
}

#[test]
fn our_client_reads_every_shipped_profile_from_pymodbus_over_rtu() {
    let bus = PtyPair::open();
    let _server = Pymodbus::rtu(&bus.device, 200);
    let site = profiles_on("bus", rtu("bus", &bus.gateway, "1s"));
    bounded(reads_every_profile(&site, "rtu"));
}
