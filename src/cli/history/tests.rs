use super::*;
use crate::reading::PollError;

fn site() -> Site {
    let text = r#"
[gateway]
site = "s"
id = "gw"
data_dir = "/nonexistent"

[uplink]
broker = "mqtt://127.0.0.1:1883"

[[connection]]
name = "bus"
type = "modbus-tcp"
address = "127.0.0.1:502"

[[device]]
id = "th-1"
profile = "rs485-th"
connection = "bus"
unit = 1

[[device]]
id = "th"
profile = "rs485-th"
connection = "bus"
unit = 2
"#;
    crate::config::load_from(text, "t.toml", &[], &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn targets_resolve_by_device_then_point_and_unknown_names_are_spelled_out() {
    let site = site();
    let th1 = site.device_index("th-1").unwrap();
    let th = site.device_index("th").unwrap();
    let temp = site.devices[th].point_index("temperature").unwrap();
    assert_eq!(
        resolve(&site, "th-1").unwrap(),
        Target {
            device: th1,
            points: vec![0, 1]
        }
    );
    assert_eq!(
        resolve(&site, "th.temperature").unwrap(),
        Target {
            device: th,
            points: vec![temp]
        }
    );
    let cases = [
        ("gate-9", "unknown device `gate-9` (known: th-1, th)"),
        ("gate-9.count", "unknown device `gate-9` (known: th-1, th)"),
        (
            "th.pressure",
            "device `th` has no point `pressure` (its points: humidity, temperature)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            resolve(&site, text).unwrap_err().to_string(),
            want,
            "{text}"
        );
    }
}

#[test]
fn instants_are_durations_back_from_now_or_rfc3339() {
    let now = 1_796_000_000_000;
    assert_eq!(instant("2h", now).unwrap(), now - 7_200_000);
    assert_eq!(instant("90s", now).unwrap(), now - 90_000);
    assert_eq!(instant("now", now).unwrap(), now);
    assert_eq!(
        instant("2026-12-05T06:00:00Z", now).unwrap(),
        1_796_450_400_000
    );
    assert_eq!(
        instant("2026-12-05T14:00:00+08:00", now).unwrap(),
        1_796_450_400_000
    );
    let e = instant("yesterday", now).unwrap_err().to_string();
    assert!(e.contains("`yesterday` is neither a duration"), "{e}");
    let e = instant("2026-12-05T06:00:00", now).unwrap_err().to_string();
    assert!(e.contains("is not an RFC 3339 time"), "{e}");
}

#[test]
fn rows_carry_engineering_values_units_and_quality() {
    let site = site();
    let d = &site.devices[site.device_index("th").unwrap()];
    let t = d.point_index("temperature").unwrap();
    let h = d.point_index("humidity").unwrap();
    let mut values = vec![None; 2];
    values[t] = Some(-35.0);
    let s = Sample {
        device: 1,
        ts: 1_796_450_400_250,
        values,
        texts: Vec::new(),
        error: Some(PollError::Timeout),
    };
    let mut o = String::new();
    assert!(row(d, t, &s, true, &mut o));
    assert_eq!(o, "2026-12-05T06:00:00.250Z,th,temperature,-3.5,°C,good\n");
    o.clear();
    assert!(row(d, h, &s, true, &mut o));
    assert_eq!(
        o,
        "2026-12-05T06:00:00.250Z,th,humidity,,%RH,bad: timeout\n"
    );
    o.clear();
    assert!(row(d, t, &s, false, &mut o));
    assert!(o.contains("-3.5 °C") && o.ends_with("good\n"), "{o}");
    // A sample that says nothing about the point is no row.
    let quiet = Sample {
        device: 1,
        ts: 0,
        values: vec![None, None],
        texts: Vec::new(),
        error: None,
    };
    assert!(!row(d, t, &quiet, true, &mut o));
    // CSV quoting.
    assert_eq!(
        csv_field("exception 0x02, illegal"),
        "\"exception 0x02, illegal\""
    );
    assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
}
