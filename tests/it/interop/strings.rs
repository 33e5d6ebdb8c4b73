//! String points (issue 16) against pymodbus: a serial number, a byte-swapped tag id and
//! two registers that are not all printable ASCII, laid out by pymodbus's own
//! `convert_to_registers(…, DATATYPE.STRING)` (unit 5 of pymodbus_server.py, holding
//! 100..=119), beside a number. Read by `read_once` (probe's path) and the poller, by
//! the `probe` command, and by the whole daemon into `P/summary/{device}` and
//! `status --json`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sitewarden::site::Site;
use sitewarden::source::modbus::read_once;

use super::fixture::{Polling, Pymodbus, bounded, device, head, tcp};
use super::mbpoll::mbpoll;
use crate::status::wait_status;
use crate::support::daemon::{Daemon, run_cli};
use crate::support::mosquitto::Mosquitto;
use crate::support::subscriber::{Msg, Subscriber};

/// Unit 5: the layouts unit, whose holding 100..=119 hold the strings.
const LAYOUTS: u8 = 5;

/// (point, text as read, registers as they arrive in hex, as `probe` prints them).
const STRINGS: [(&str, &str, &str); 3] = [
    (
        "serial",
        "SW-2026-00042",
        "5357 2D32 3032 362D 3030 3034 3200 2020 2020 2020",
    ),
    ("tag", "TAG-0815", "4154 2D47 3830 3531 0000 0000 0000 0000"),
    ("garbled", "OK\\x07\\xff", "4F4B 07FF"),
];

/// The profile an installer would write for these registers.
const PROFILE: &str = r#"
[[point]]
name = "serial"
kind = "text"
table = "holding"
address = 100
type = "string"
registers = 10

[[point]]
name = "tag"
kind = "text"
table = "holding"
address = 110
type = "string"
registers = 8
byte_order = "BA"

[[point]]
name = "garbled"
kind = "text"
table = "holding"
address = 118
type = "string"
registers = 2

# A number beside the texts: the status word at 90 (0x8029), a read of its own.
[[point]]
name = "status_word"
kind = "gauge"
table = "holding"
address = 90
type = "u16"
"#;

/// The status word at holding 90, as pymodbus serves it.
const STATUS_WORD: f64 = 32_809.0;

fn strings_site(dir: &Path, address: &str) -> Site {
    std::fs::write(dir.join("ident.toml"), PROFILE).expect("write profile");
    let text = head("mqtt://127.0.0.1:1", Path::new("/nonexistent"), "1s")
        + &tcp("gw", address, "1s")
        + &device("meter", "ident", "gw", LAYOUTS, "200ms");
    sitewarden::config::load_from(&text, "interop.toml", &[], &[dir.to_path_buf()])
        .unwrap_or_else(|e| panic!("test config refused:\n{e}\n{text}"))
}

#[test]
fn strings_pymodbus_wrote_are_read_exactly_by_probe_and_the_poller() {
    let server = Pymodbus::tcp(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let site = strings_site(dir.path(), &server.address);
    bounded(async {
        let d = &site.devices[0];
        let got = read_once(&site.connections[0].kind, d)
            .await
            .expect("the layouts unit answers");
        // Three neighbouring strings, one read of 20 registers; the number one more.
        assert_eq!(got.requests, 2, "requests");
        assert_eq!(
            got.points[3].raw,
            Some(STATUS_WORD),
            "the number beside them"
        );
        for ((name, text, _), reading) in STRINGS.iter().zip(&got.points) {
            assert_eq!(reading.error, None, "{name}");
            assert_eq!(reading.text.as_deref(), Some(*text), "{name} read once");
            assert_eq!(reading.raw, None, "{name} is not a number");
        }

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
        let want: Vec<(usize, Box<str>)> = (STRINGS.iter().enumerate())
            .map(|(i, (_, text, _))| (i, (*text).into()))
            .collect();
        assert_eq!(good.texts, want, "polled");
        assert_eq!(
            good.values,
            vec![None, None, None, Some(STATUS_WORD)],
            "numbers where numbers are"
        );
        polling.stop().await;
    });

    // The probe command, as a technician runs it with the profile file.
    let profile = dir.path().join("ident.toml");
    let (code, out, err) = run_cli(&[
        "probe",
        "--tcp",
        &server.address,
        "--unit",
        &LAYOUTS.to_string(),
        "--profile",
        profile.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "probe exit code\n{out}{err}");
    for (name, text, registers) in STRINGS {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"));
        assert!(row.contains(registers), "{name} registers: {row}");
        assert!(row.contains(&format!("\"{text}\"")), "{name} text: {row}");
        assert!(row.ends_with("text"), "{name} kind: {row}");
    }

    // mbpoll (libmodbus) reads the same 20 registers probe showed.
    let link = [
        "-m",
        "tcp",
        "-a",
        "5",
        "-p",
        &server.port().to_string(),
        "127.0.0.1",
    ]
    .map(String::from);
    let hex: Vec<String> = mbpoll(&link, "4:hex", 100, 20)
        .unwrap_or_else(|e| panic!("mbpoll: {e}"))
        .iter()
        .map(|h| h.trim_start_matches("0x").to_ascii_uppercase())
        .collect();
    let probed: Vec<&str> = STRINGS.iter().flat_map(|(_, _, r)| r.split(' ')).collect();
    assert_eq!(hex, probed, "mbpoll's registers");
}

#[test]
fn the_summary_and_status_carry_the_strings_a_device_holds() {
    let broker = Mosquitto::start();
    let server = Pymodbus::tcp(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).expect("profiles dir");
    std::fs::write(profiles.join("ident.toml"), PROFILE).expect("write profile");
    let config = dir.path().join("sitewarden.toml");
    let text = head(&broker.url(), &dir.path().join("data"), "1s")
        + &tcp("gw", &server.address, "500ms")
        + &device("meter-1", "ident", "gw", LAYOUTS, "250ms");
    std::fs::write(&config, text).expect("write config");
    let topic = "sitewarden/test/gw-1/summary/meter-1";
    let sub = Subscriber::start(broker.port, topic, "platform", false);
    let mut daemon = Daemon::start(&config, dir.path());

    let read = |m: &Msg| m.json()["points"]["serial"]["last"].is_string();
    let msg = sub.wait_for(
        "a window with the serial read",
        Duration::from_secs(30),
        read,
    );
    let summary = msg.json();
    for (name, text, _) in STRINGS {
        let p = &summary["points"][name];
        assert_eq!(p["kind"], "text", "{name}: {summary}");
        assert_eq!(p["last"], text, "{name}: {summary}");
        assert_eq!(p["transitions"], 0, "{name} never changed: {summary}");
    }
    let number = &summary["points"]["status_word"];
    assert_eq!(number["kind"], "gauge", "{summary}");
    assert_eq!(number["last"].as_f64(), Some(STATUS_WORD), "{summary}");
    // A later window still carries the text, unchanged, from its own reads.
    sub.wait_until(
        "two windows with the serial",
        Duration::from_secs(10),
        |msgs| msgs.iter().filter(|m| read(m)).count() >= 2,
    );
    sub.assert_contract();

    let (_, doc) = wait_status(
        &config,
        "the serial in status",
        Duration::from_secs(10),
        |_, d| texts_of(d).iter().any(|(p, _)| p == "serial"),
    );
    let texts = texts_of(&doc);
    for (name, text, _) in STRINGS {
        assert!(
            texts.iter().any(|(p, t)| p == name && t == text),
            "{name} in status: {doc:#}"
        );
    }
    let (code, human, _) = run_cli(&["status", "-c", config.to_str().expect("utf-8 path")]);
    assert!(
        human.contains("serial=\"SW-2026-00042\""),
        "status text (exit {code}):\n{human}"
    );

    let status = daemon.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit 0 after SIGTERM; log:\n{}",
        daemon.logs()
    );
}

/// (point, text) of every text value `status --json` reports for meter-1.
fn texts_of(doc: &Value) -> Vec<(String, String)> {
    let Some(devices) = doc["devices"].as_array() else {
        return Vec::new();
    };
    (devices.iter())
        .filter(|d| d["id"] == "meter-1")
        .flat_map(|d| d["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| Some((v["point"].as_str()?.into(), v["text"].as_str()?.into())))
        .collect()
}
