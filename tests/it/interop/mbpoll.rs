//! The cross-check: `mbpoll` (libmodbus, Debian's) and `sitewarden probe` read the same
//! registers of pymodbus's devices and must agree, register by register and value by
//! value. And `probe`'s exit codes: 0 all read, 1 some failed, 2 usage or config error.

use std::process::{Command, Stdio};

use sitewarden::site::{ByteOrder, Point, PointSource, PointType, Table};

use super::fixture::{FAILING, PROFILES, PtyPair, Pymodbus, RS485_TH, close, device, head, tcp};
use crate::support::daemon::run_cli;

/// One row of `probe`'s table: point → (registers, value).
struct Row {
    point: String,
    registers: String,
    value: String,
}

/// `sitewarden probe` with `args`: exit code, rows, whole stdout.
fn probe(args: &[&str]) -> (i32, Vec<Row>, String) {
    let (code, out, err) = run_cli(&[&["probe"], args].concat());
    let rows = out
        .lines()
        // The first line names the device, the second heads the columns.
        .skip(2)
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (cells.len() == 7).then(|| Row {
                point: cells[0].to_string(),
                registers: cells[4].to_string(),
                value: cells[5].to_string(),
            })
        })
        .collect();
    (code, rows, format!("{out}{err}"))
}

/// mbpoll's values (`[ref]: value` lines) for one read, or its error message.
pub(super) fn mbpoll(
    link: &[String],
    table: &str,
    address: u16,
    count: u16,
) -> Result<Vec<String>, String> {
    let out = Command::new("mbpoll")
        .args(link)
        .args(["-0", "-1", "-o", "1", "-t", table])
        .args(["-r", &address.to_string(), "-c", &count.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run mbpoll (the README test command installs it): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix('['))
        .filter_map(|l| l.split_once("]:"))
        .map(|(_, v)| v.trim().to_string())
        .collect())
}

/// mbpoll's reading of one point: the registers in hex (or the bit) and the raw value.
fn mbpoll_point(link: &[String], p: &Point) -> (String, f64) {
    let PointSource::Modbus {
        table,
        address,
        ty,
        order,
    } = &p.source
    else {
        panic!("{} is not a modbus point", p.name);
    };
    let t = match table {
        Table::Coil => "0",
        Table::Discrete => "1",
        Table::Input => "3",
        Table::Holding => "4",
    };
    let read = |kind: &str, count| {
        mbpoll(link, &format!("{t}{kind}"), *address, count)
            .unwrap_or_else(|e| panic!("mbpoll {}: {e}", p.name))
    };
    if table.is_bits() {
        let bit = read("", 1).concat();
        let raw = bit.parse().expect("a bit");
        return (bit, raw);
    }
    let hex: Vec<String> = read(":hex", ty.registers())
        .iter()
        .map(|h| h.trim_start_matches("0x").to_string())
        .collect();
    // mbpoll's 32-bit types: low word first by default, `-B` for high word first.
    let raw = match (ty, order) {
        (PointType::U16, _) => read("", 1)[0]
            .split(' ')
            .next()
            .and_then(|v| v.parse().ok()),
        (PointType::I16, _) => {
            let shown = &read("", 1)[0];
            // "65484 (-52)": the signed reading is in brackets when it differs.
            let signed = shown.split_once('(').map_or(shown.as_str(), |(_, s)| s);
            signed.trim_end_matches(')').parse().ok()
        }
        (PointType::U32 | PointType::F32, order) => {
            let kind = if *ty == PointType::U32 {
                ":int"
            } else {
                ":float"
            };
            let mut args = link.to_vec();
            if *order == ByteOrder::ABCD {
                args.push("-B".into());
            }
            mbpoll(&args, &format!("{t}{kind}"), *address, 1)
                .unwrap_or_else(|e| panic!("mbpoll {}: {e}", p.name))[0]
                .parse()
                .ok()
        }
        other => panic!("no mbpoll reading for {other:?}"),
    };
    (
        hex.join(" "),
        raw.unwrap_or_else(|| panic!("mbpoll value of {}", p.name)),
    )
}

/// For every shipped profile: probe's registers equal mbpoll's, and probe's value is
/// mbpoll's raw value scaled.
fn agree(probe_link: &[&str], mbpoll_link: &[String]) {
    for (profile, unit) in PROFILES {
        let unit_arg = unit.to_string();
        let args = [probe_link, &["--unit", &unit_arg, "--profile", profile]].concat();
        let (code, rows, out) = probe(&args);
        assert_eq!(code, 0, "probe {profile}:\n{out}");
        let points = sitewarden::config::load_profile(profile, &[]).expect("shipped profile");
        assert_eq!(rows.len(), points.len(), "one row per point:\n{out}");
        let mut link = mbpoll_link.to_vec();
        link.splice(0..0, ["-a".to_string(), unit_arg.clone()]);
        for p in &points {
            let row = rows.iter().find(|r| r.point == p.name).expect("row");
            let (registers, raw) = mbpoll_point(&link, p);
            assert_eq!(row.registers, registers, "{profile}.{} registers", p.name);
            let shown: f64 = row
                .value
                .split(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("probe value {:?}", row.value));
            let want = p.engineering(raw);
            // probe prints an f32 as f32; mbpoll prints 6 significant digits.
            assert!(
                close(shown, want) || (shown - want).abs() < 1e-4 * want.abs(),
                "{profile}.{}: probe {shown}, mbpoll {want}",
                p.name
            );
        }
    }
}

#[test]
fn mbpoll_and_probe_agree_over_tcp() {
    let server = Pymodbus::tcp(200);
    let address = server.address.clone();
    let link = vec![
        "-m".into(),
        "tcp".into(),
        "-p".into(),
        server.port().to_string(),
        "127.0.0.1".into(),
    ];
    // mbpoll takes the host last; options after it are still parsed.
    agree(&["--tcp", &address], &link);
}

#[test]
fn mbpoll_and_probe_agree_over_rtu() {
    let bus = PtyPair::open();
    let _server = Pymodbus::rtu(&bus.device, 200);
    let port = bus.gateway.display().to_string();
    let link = vec![
        "-m".into(),
        "rtu".into(),
        "-b".into(),
        "9600".into(),
        "-P".into(),
        "none".into(),
        port.clone(),
    ];
    agree(&["--serial", &port, "--baud", "9600"], &link);
}

#[test]
fn probe_exits_0_when_all_read_1_when_some_failed_2_on_usage_or_config_errors() {
    let server = Pymodbus::tcp(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sitewarden.toml");
    let text = head("mqtt://127.0.0.1:1", &dir.path().join("data"), "60s")
        + &tcp("gw", &server.address, "300ms")
        + &device("th-1", "rs485-th", "gw", RS485_TH, "1s")
        + &device("broken-1", "rs485-th", "gw", FAILING, "1s");
    std::fs::write(&config, text).expect("write config");
    let c = config.display().to_string();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[gateway]\nsite = \"x\"\n").expect("write bad config");
    let b = bad.display().to_string();
    let a = server.address.as_str();
    // (arguments, exit code, a line the output must contain)
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["th-1", "-c", &c],
            0,
            "humidity     holding  0        u16   0233       56.3 %RH  gauge",
        ),
        (
            &["broken-1", "-c", &c],
            1,
            "exception 0x04 (server device failure)",
        ),
        (
            &["--tcp", a, "--unit", "2", "--profile", "turnstile"],
            1,
            "exception 0x02 (illegal data address)",
        ),
        (
            &["no-such-device", "-c", &c],
            2,
            "no device `no-such-device`",
        ),
        (&["th-1", "-c", &b], 2, "configuration refused"),
        (&["--tcp", a], 2, "--profile"),
    ];
    for (args, code, line) in cases {
        let (got, _, out) = probe(args);
        assert_eq!(got, code, "probe {args:?}:\n{out}");
        assert!(
            out.contains(line),
            "probe {args:?} should say {line:?}:\n{out}"
        );
    }
}

#[test]
fn probe_scan_reads_raw_registers_of_a_device_without_a_profile() {
    let server = Pymodbus::tcp(200);
    // The layouts unit (5): at holding 0 pymodbus's builder put f32 22.3 (41B2 6666) and
    // i32 -123456 (FFFE 1DC0); 18 and 19 are not in its map.
    let (code, rows, out) = probe(&[
        "--tcp",
        &server.address,
        "--unit",
        "5",
        "--scan",
        "--table",
        "holding",
        "--address",
        "0",
        "--count",
        "4",
    ]);
    assert_eq!(code, 0, "{out}");
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.point.as_str(), r.registers.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("holding-0", "41B2"),
            ("holding-1", "6666"),
            ("holding-2", "FFFE"),
            ("holding-3", "1DC0"),
        ],
        "{out}"
    );
    assert!(out.contains("1 request"), "coalesced into one read: {out}");
    // A range past the device's map is named, and probe exits 1.
    let (code, _, out) = probe(&[
        "--tcp",
        &server.address,
        "--unit",
        "5",
        "--scan",
        "--table",
        "holding",
        "--address",
        "16",
        "--count",
        "4",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("exception 0x02 (illegal data address)"),
        "{out}"
    );
    // --scan needs its range.
    let (code, _, out) = probe(&["--tcp", &server.address, "--scan", "--table", "holding"]);
    assert_eq!(code, 2, "{out}");
}
