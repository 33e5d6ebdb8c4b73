//! The `SITEWARDEN__SECTION__KEY` overlay: overrides take the key's type, and every
//! variable that is not an override of a known scalar key is refused by name.

use std::time::Duration;

use super::{BASE, edit, load_text};

#[test]
fn overrides_replace_file_values_and_fill_absent_sections() {
    let site = load_text(
        BASE,
        &[
            ("SITEWARDEN__UPLINK__BROKER", "mqtts://backup.example"),
            ("SITEWARDEN__UPLINK__INFLIGHT", "200"),
            ("SITEWARDEN__UPLINK__SUMMARY_INTERVAL", "5m"),
            ("SITEWARDEN__UPLINK__USERNAME", "1234"),
            ("SITEWARDEN__GATEWAY__ID", "gw-2"),
            ("SITEWARDEN__BUFFER__RAW_MAX_BYTES", "1GiB"),
            ("PATH", "/usr/bin"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        site.uplink.broker.to_string(),
        "mqtts://backup.example:8883"
    );
    assert_eq!(site.uplink.inflight, 200);
    assert_eq!(site.uplink.summary_interval, Duration::from_secs(300));
    assert_eq!(site.uplink.username.as_deref(), Some("1234"));
    assert_eq!(site.gateway.id, "gw-2");
    assert_eq!(site.buffer.raw_max_bytes, 1 << 30);
    assert_eq!(site.buffer.outbox_max_bytes, 512 << 20);
}

#[test]
fn an_override_stands_in_for_a_bad_file_value() {
    let text = edit(&[(
        "broker = \"mqtt://127.0.0.1\"",
        "broker = \"mqtt://h\"\ninflight = \"x\"",
    )]);
    assert!(load_text(&text, &[]).is_err());
    let site = load_text(&text, &[("SITEWARDEN__UPLINK__INFLIGHT", "7")]).unwrap();
    assert_eq!(site.uplink.inflight, 7);
}

/// Each variable alone on `BASE`: the one error expected, as (file, key, message part).
#[test]
fn bad_overrides_are_refused_by_variable_name() {
    let cases: [(&str, &str, &str, &str); 9] = [
        (
            "SITEWARDEN__UPLINK__BROKR",
            "mqtt://h",
            "uplink.brokr",
            "unknown variable, [uplink] has no key `brokr` (did you mean SITEWARDEN__UPLINK__BROKER?)",
        ),
        (
            "SITEWARDEN__GATEWAY__COLOUR",
            "red",
            "gateway.colour",
            "unknown variable, [gateway] has no key `colour`; expected one of: site, id, data_dir, utc_offset",
        ),
        (
            "SITEWARDEN__UPLINK__INFLIGHT",
            "lots",
            "uplink.inflight",
            "invalid type: string \"lots\", expected an integer",
        ),
        (
            "SITEWARDEN__UPLINK__INFLIGHT",
            "0",
            "uplink.inflight",
            "0 is out of range 1..=65535",
        ),
        (
            "SITEWARDEN__UPLINK__BROKER",
            "http://h",
            "uplink.broker",
            "is not a broker URL",
        ),
        (
            "SITEWARDEN__UPLINK__KEEP_ALIVE",
            "soon",
            "uplink.keep_alive",
            "invalid duration `soon`",
        ),
        (
            "SITEWARDEN_UPLINK__BROKER",
            "mqtt://h",
            "",
            "two underscores (did you mean SITEWARDEN__UPLINK__BROKER?)",
        ),
        (
            "SITEWARDEN__DEVICE__0__UNIT",
            "7",
            "",
            "only reach scalar keys of [gateway], [uplink] and [buffer]",
        ),
        ("SITEWARDEN__ZONE__CAPACITY", "7", "", "not [zone]"),
    ];
    for (var, value, key, says) in cases {
        let errors = match load_text(BASE, &[(var, value)]) {
            Ok(_) => panic!("{var}={value} was accepted"),
            Err(e) => e,
        };
        assert_eq!(errors.0.len(), 1, "{var}={value}:\n{errors}");
        let e = &errors.0[0];
        assert_eq!(
            (e.file.as_str(), e.line, e.key.as_str()),
            (format!("${var}").as_str(), None, key),
            "{var}"
        );
        assert!(e.message.contains(says), "{var}={value}: {}", e.message);
    }
}

#[test]
fn env_and_file_errors_are_reported_together() {
    let text = edit(&[("unit = 1\n", "unit = 300\n")]);
    let errors = load_text(&text, &[("SITEWARDEN__UPLINK__BROKR", "x")]).unwrap_err();
    let files: Vec<&str> = errors.0.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(
        files,
        ["$SITEWARDEN__UPLINK__BROKR", "sitewarden.toml"],
        "\n{errors}"
    );
}
