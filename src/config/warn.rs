//! Warnings `check` prints about a valid site: things that load but are probably not
//! what the installer meant. Pure: a `Site` in, lines out; nothing is refused.
//!
//! Two Modbus connections to one address are warned about: each keeps its own requests
//! one at a time, but together they put two in flight on the converter's bus.
//!
//! A patrol whose round may take longer than the time between two of its starts is
//! warned about: the next start cuts it short.
//!
//! The other warning is the classic 1-based / "4xxxx" register address. Manuals
//! list holding register 0 as 40001 (input register 0 as 30001), or number registers
//! from 1; the protocol address is 0-based. A holding address from 40001 up (an input
//! address from 30001 to 39999), or an address one above where a shipped profile of the
//! same name documents the same point, is warned about with the likely intended address.

use std::collections::BTreeSet;

use super::profile;
use crate::site::{ConnectionKind, Point, PointSource, Site, Table};

/// One line per suspicious point, per profile (a profile used by many devices is
/// warned about once), and per pair of connections that reach one converter.
pub fn warnings(site: &Site) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = open_http(site);
    out.extend(shared_converters(site));
    out.extend(shared_units(site));
    out.extend(overlapping_rounds(site));
    for d in &site.devices {
        if !seen.insert(d.profile.as_str()) {
            continue;
        }
        let shipped = shipped_points(&d.profile);
        for p in &d.points {
            if let Some(w) = address_warning(p, &shipped) {
                out.push(format!("profile `{}`, point `{}`: {w}", d.profile, p.name));
            }
        }
    }
    out
}

/// What the journal and `check` say about `[http]` on a non-loopback address without a
/// password file.
pub const HTTP_OPEN_WARNING: &str = "the status page and metrics are open to the network \
    without a password; set [http] password_file (README, \"Status page and metrics\") \
    or listen on 127.0.0.1";

fn open_http(site: &Site) -> Vec<String> {
    match &site.http {
        Some(h) if h.password_file.is_none() && !h.listen.ip().is_loopback() => {
            vec![format!("http.listen {}: {HTTP_OPEN_WARNING}", h.listen)]
        }
        _ => Vec::new(),
    }
}

/// A round allowed longer than the time between two starts never gets all of it: the
/// next round's start ends it.
fn overlapping_rounds(site: &Site) -> Vec<String> {
    let dur = |secs: u64| humantime::format_duration(std::time::Duration::from_secs(secs));
    (site.patrols.iter())
        .filter(|p| p.round.as_secs() > u64::from(p.schedule.shortest_gap()))
        .map(|p| {
            format!(
                "patrol `{}`: a round may take {} but rounds start as little as {} apart; the next start ends a round still under way",
                p.name,
                dur(p.round.as_secs()),
                dur(u64::from(p.schedule.shortest_gap()))
            )
        })
        .collect()
}

/// Two devices on one connection and unit read one device twice: usually a copy-paste
/// slip in the config (the second gate keeps the first one's unit), sometimes meant (one
/// device read with two profiles), so a warning, not a refusal.
fn shared_units(site: &Site) -> Vec<String> {
    let mut first: std::collections::HashMap<(usize, u8), &str> = Default::default();
    let mut out = Vec::new();
    for d in site.devices.iter().filter(|d| d.unit != 0) {
        if let Some(other) = first.insert((d.connection, d.unit), &d.id) {
            first.insert((d.connection, d.unit), other);
            out.push(format!(
                "device `{}`: unit {} on connection `{}` is also device `{other}`: both read                  the same device (a copied unit id?)",
                d.id, d.unit, site.connections[d.connection].name
            ));
        }
    }
    out
}

/// Two connections to one address are two requests in flight on the bus behind it:
/// each connection keeps its own requests one at a time, not the other's.
fn shared_converters(site: &Site) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in site.connections.iter().enumerate() {
        for b in &site.connections[i + 1..] {
            if let (Some(x), Some(y)) = (tcp_address(&a.kind), tcp_address(&b.kind))
                && x == y
            {
                out.push(format!(
                    "connections `{}` and `{}` both reach {x}: the converter behind it gets \
                     their requests at the same time; put its devices on one connection so \
                     that its bus has one request in flight",
                    a.name, b.name
                ));
            }
        }
    }
    out
}

fn tcp_address(kind: &ConnectionKind) -> Option<&str> {
    match kind {
        ConnectionKind::ModbusTcp { address, .. }
        | ConnectionKind::ModbusRtuOverTcp { address, .. } => Some(address),
        _ => None,
    }
}

/// The points of the shipped profile called `name`, if there is one.
fn shipped_points(name: &str) -> Vec<Point> {
    let Some((_, text)) = profile::SHIPPED.iter().find(|(n, _)| *n == name) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    match profile::parse(name, text, &mut errors) {
        profile::Found::Profile(p) => p.points.to_vec(),
        _ => Vec::new(),
    }
}

fn address_warning(point: &Point, shipped: &[Point]) -> Option<String> {
    let PointSource::Modbus { table, address, .. } = &point.source else {
        return None;
    };
    let a = u32::from(*address);
    let (base, style) = match table {
        Table::Holding if a >= 40_001 => (40_001, "\"4xxxx\""),
        Table::Input if (30_001..40_000).contains(&a) => (30_001, "\"3xxxx\""),
        _ => (0, ""),
    };
    if base > 0 {
        return Some(format!(
            "{} address {a} looks like {style} register numbering, which starts at {base}; \
             the protocol address is probably {} ({a} - {base})",
            table.name(),
            a - base
        ));
    }
    let documented = shipped.iter().find_map(|s| match &s.source {
        PointSource::Modbus {
            table: t,
            address: at,
            ..
        } if s.name == point.name && t == table => Some(u32::from(*at)),
        _ => None,
    })?;
    (a == documented + 1).then(|| {
        format!(
            "{} address {a} is one above the shipped profile's {documented} for this point; \
             if the manual counts registers from 1, the protocol address is {documented}",
            table.name()
        )
    })
}
