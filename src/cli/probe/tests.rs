use super::*;
use crate::reading::PollError;
use crate::site::{ByteOrder, PointKind, PointType, Table};
use crate::source::modbus::{PointReading, ReadOnce};

fn point(name: &str, table: Table, address: u16, ty: PointType, order: ByteOrder) -> Point {
    Point {
        name: name.into(),
        source: PointSource::Modbus {
            table,
            address,
            ty,
            order,
        },
        scale: 1.0,
        offset: 0.0,
        unit: None,
        kind: PointKind::Gauge,
        writable: false,
        labels: Vec::new(),
    }
}

fn device(points: Vec<Point>) -> Device {
    Device {
        id: "th-1".into(),
        profile: "mixed".into(),
        connection: 0,
        unit: 7,
        poll: Duration::from_secs(1),
        zone: None,
        max_registers_per_read: 125,
        max_gap: 0,
        points: points.into(),
        camera: None,
        live: None,
    }
}

fn ok(registers: &[u16], raw: f64) -> PointReading {
    PointReading {
        raw_registers: registers.to_vec(),
        raw: Some(raw),
        text: None,
        error: None,
    }
}

fn failed(error: PollError) -> PointReading {
    PointReading {
        raw_registers: vec![],
        raw: None,
        text: None,
        error: Some(error),
    }
}

#[test]
fn the_table_shows_registers_in_hex_values_with_units_and_errors_by_name() {
    let mut temperature = point(
        "temperature",
        Table::Holding,
        1,
        PointType::I16,
        ByteOrder::ABCD,
    );
    temperature.scale = 0.1;
    temperature.unit = Some("°C".into());
    let mut level = point(
        "level_m",
        Table::Holding,
        2,
        PointType::F32,
        ByteOrder::CDAB,
    );
    level.unit = Some("m".into());
    let mut entries = point("entries", Table::Input, 0, PointType::U32, ByteOrder::ABCD);
    entries.kind = PointKind::Counter;
    let mut forced = point(
        "forced_entry",
        Table::Discrete,
        0,
        PointType::Bool,
        ByteOrder::ABCD,
    );
    forced.kind = PointKind::Event;
    let d = device(vec![temperature, level, entries, forced]);
    let read = ReadOnce {
        points: vec![
            ok(&[0xFFCC], -52.0),
            ok(&[0x70A4, 0x4145], f64::from(12.34_f32)),
            failed(PollError::Exception(2)),
            ok(&[1], 1.0),
        ],
        requests: 3,
    };
    let got = render(&d, &read, Duration::from_millis(12));
    let want = "\
point         table     address  type      registers  value                                  kind
temperature   holding   1        i16       FFCC       -5.2 °C                                gauge
level_m       holding   2-3      f32 CDAB  70A4 4145  12.34 m                                gauge
entries       input     0-1      u32 ABCD  -          exception 0x02 (illegal data address)  counter
forced_entry  discrete  0        bool      1          1                                      event
3 requests in 12 ms; 3 of 4 points read
";
    assert_eq!(got, want, "got:\n{got}");
}

#[test]
fn a_string_point_shows_its_registers_and_its_text_quoted() {
    let mut serial = point(
        "serial",
        Table::Holding,
        100,
        PointType::Str(4),
        ByteOrder::ABCD,
    );
    serial.kind = PointKind::Text;
    let mut tag = point("tag", Table::Input, 7, PointType::Str(2), ByteOrder::BADC);
    tag.kind = PointKind::Text;
    let text = |registers: &[u16], t: &str| PointReading {
        raw_registers: registers.to_vec(),
        raw: None,
        text: Some(t.into()),
        error: None,
    };
    let d = device(vec![serial, tag]);
    let read = ReadOnce {
        points: vec![
            text(&[0x534E, 0x2D31, 0x3233, 0x3400], "SN-1234"),
            text(&[0x0741, 0x0000], "A\\x07"),
        ],
        requests: 2,
    };
    let got = render(&d, &read, Duration::from_millis(5));
    let want = "\
point   table    address  type          registers            value      kind
serial  holding  100-103  string(4)     534E 2D31 3233 3400  \"SN-1234\"  text
tag     input    7-8      string(2) BA  0741 0000            \"A\\x07\"    text
2 requests in 5 ms; 2 of 2 points read
";
    assert_eq!(got, want, "got:\n{got}");
}

#[test]
fn the_summary_says_when_reads_were_not_asked_of_a_silent_device() {
    let d = device(vec![
        point("a", Table::Input, 0, PointType::U16, ByteOrder::ABCD),
        point("b", Table::Holding, 0, PointType::U16, ByteOrder::ABCD),
    ]);
    let read = ReadOnce {
        points: vec![failed(PollError::Timeout), failed(PollError::Timeout)],
        requests: 1,
    };
    let got = render(&d, &read, Duration::from_millis(300));
    let last = got.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "1 request in 300 ms; 0 of 2 points read (2 planned; the rest not asked once the device did not answer)"
    );
    assert!(got.contains("no answer (timeout)"), "{got}");
}

#[test]
fn tcp_addresses_get_port_502_when_none_is_given() {
    let cases = [
        ("192.168.10.20", "192.168.10.20:502"),
        ("192.168.10.20:5020", "192.168.10.20:5020"),
        ("gate-gw.local", "gate-gw.local:502"),
        ("[::1]", "[::1]:502"),
        ("[::1]:1502", "[::1]:1502"),
    ];
    for (given, want) in cases {
        assert_eq!(with_port(given), want, "{given}");
    }
}

#[test]
fn the_header_names_device_unit_and_link() {
    let d = device(vec![]);
    let tcp = ConnectionKind::ModbusTcp {
        address: "127.0.0.1:5020".into(),
        timeout: Duration::from_millis(500),
        min_gap: Duration::ZERO,
    };
    assert_eq!(
        header(&tcp, &d),
        "th-1 (mixed), unit 7, on modbus-tcp 127.0.0.1:5020, timeout 500ms"
    );
    let rtu = ConnectionKind::ModbusRtu {
        port: "/dev/ttyUSB0".into(),
        baud: 9600,
        parity: Parity::Even,
        data_bits: 8,
        stop_bits: 1,
        timeout: Duration::from_secs(1),
        min_gap: Duration::ZERO,
    };
    assert_eq!(
        header(&rtu, &d),
        "th-1 (mixed), unit 7, on modbus-rtu /dev/ttyUSB0 9600 8E1, timeout 1s"
    );
}

#[test]
fn profiles_load_by_shipped_name_or_by_file_path() {
    let nowhere = Path::new("/nonexistent/sitewarden.toml");
    let points = load_profile("water-level", nowhere).expect("shipped profile");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].name, "level_m");

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("meter.toml");
    std::fs::write(
        &file,
        "[[point]]\nname = \"volts\"\ntable = \"input\"\naddress = 9\ntype = \"u16\"\nkind = \"gauge\"\n",
    )
    .expect("write profile");
    let points = load_profile(&file.display().to_string(), nowhere).expect("profile file");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].name, "volts");

    let missing = dir.path().join("absent.toml");
    let err = load_profile(&missing.display().to_string(), nowhere).expect_err("no file");
    assert!(err.starts_with("no profile file"), "{err}");
    let err = load_profile("no-such-profile", nowhere).expect_err("unknown name");
    assert!(err.contains("no-such-profile"), "{err}");
}
