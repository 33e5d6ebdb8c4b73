//! Every byte order of every 32- and 64-bit type, a u64 as two u32 halves either way
//! round, and bits of a status word: registers laid out by pymodbus's own payload builder
//! (unit 5 of pymodbus_server.py), decoded by our client through a profile that names
//! each layout as an installer would write it.

use std::fmt::Write as _;
use std::path::Path;

use sitewarden::site::Site;
use sitewarden::source::modbus::read_once;

use super::fixture::{Polling, Pymodbus, bounded, device, head, tcp, values};

/// Unit 5: the layouts unit.
const LAYOUTS: u8 = 5;

/// (point, address, type, byte order as written, raw value pymodbus encoded).
fn layout_points() -> Vec<(String, u16, &'static str, String, f64)> {
    let values: [(&str, u16, f64); 6] = [
        ("f32", 0, f64::from(22.3_f32)),
        ("i32", 2, -123_456.0),
        ("u32", 4, 3_000_000_000.0),
        ("f64", 6, -1234.5678),
        ("i64", 10, -9_876_543_210.0),
        ("u64", 14, 1_099_511_640_121.0),
    ];
    // Spelled in mixed case on purpose: the letters are case-insensitive.
    let orders = ["ABCD", "badc", "CdAb", "DCBA"];
    let mut out = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        for (ty, offset, raw) in values {
            let name = format!("{ty}_{}", order.to_ascii_lowercase());
            out.push((name, 20 * i as u16 + offset, ty, order.to_string(), raw));
        }
    }
    // (7 << 32) + 4000000000: the low u32 first, each half hi-first, then lo-first.
    let halves = 34_064_771_072.0;
    out.push((
        "u64_halves_lo_first".into(),
        80,
        "u64",
        "EFGHABCD".into(),
        halves,
    ));
    out.push((
        "u64_halves_cdab".into(),
        84,
        "u64",
        "GHEFCDAB".into(),
        halves,
    ));
    // The old spelling of the same layout as CDAB still loads.
    out.push((
        "u32_lo_first".into(),
        44,
        "u32",
        "lo-first".into(),
        3_000_000_000.0,
    ));
    out
}

/// Bits of the status word at holding 90 (0x8029): (point, bit, set).
const BITS: [(&str, u8, f64); 5] = [
    ("bit0", 0, 1.0),
    ("bit1", 1, 0.0),
    ("bit3", 3, 1.0),
    ("bit5", 5, 1.0),
    ("bit15", 15, 1.0),
];

fn profile() -> String {
    let mut p = String::new();
    for (name, address, ty, order, _) in layout_points() {
        let _ = write!(
            p,
            "[[point]]\nname = \"{name}\"\ntable = \"holding\"\naddress = {address}\n\
             type = \"{ty}\"\nbyte_order = \"{order}\"\nkind = \"gauge\"\n\n"
        );
    }
    for (name, bit, _) in BITS {
        let _ = write!(
            p,
            "[[point]]\nname = \"{name}\"\ntable = \"holding\"\naddress = 90\nbit = {bit}\n\
             kind = \"state\"\n\n"
        );
    }
    p
}

fn layouts_site(dir: &Path, address: &str) -> Site {
    std::fs::write(dir.join("layouts.toml"), profile()).expect("write profile");
    let text = head("mqtt://127.0.0.1:1", Path::new("/nonexistent"), "1s")
        + &tcp("gw", address, "1s")
        + &device("meter", "layouts", "gw", LAYOUTS, "200ms");
    sitewarden::config::load_from(&text, "interop.toml", &[], &[dir.to_path_buf()])
        .unwrap_or_else(|e| panic!("test config refused:\n{e}\n{text}"))
}

fn expected() -> Vec<(String, f64)> {
    let mut all: Vec<(String, f64)> = layout_points()
        .into_iter()
        .map(|(name, _, _, _, raw)| (name, raw))
        .collect();
    all.extend(BITS.iter().map(|(n, _, v)| (n.to_string(), *v)));
    all
}

#[test]
fn every_byte_order_bits_and_u64_halves_decode_as_pymodbus_wrote_them() {
    let server = Pymodbus::tcp(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let site = layouts_site(dir.path(), &server.address);
    let want = expected();
    bounded(async {
        let d = &site.devices[0];
        let got = read_once(&site.connections[0].kind, d)
            .await
            .expect("the layouts unit answers");
        for (point, reading) in d.points.iter().zip(&got.points) {
            let (_, raw) = want.iter().find(|(n, _)| *n == point.name).expect("known");
            assert_eq!(reading.error, None, "{}", point.name);
            assert_eq!(reading.raw, Some(*raw), "{} decoded", point.name);
        }
        // Coalesced: one read per 18-register block, the two halves blocks share one, the
        // status word's five bits one more.
        assert_eq!(got.requests, 6, "requests");

        // The daemon's poller decodes them the same.
        let mut polling = Polling::start(&site, 0);
        polling
            .until("a good sample", |s| s.iter().any(|s| s.error.is_none()))
            .await;
        let good = polling
            .samples
            .iter()
            .find(|s| s.error.is_none())
            .expect("a good sample")
            .clone();
        for (name, value) in values(&site, &good) {
            let (_, raw) = want.iter().find(|(n, _)| *n == name).expect("known");
            assert_eq!(value, Some(*raw), "{name} polled");
        }
        polling.stop().await;
    });
}
