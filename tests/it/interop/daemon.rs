//! The whole daemon against pymodbus: a TCP gateway with four unit ids and an RTU bus
//! over socat (with a unit nobody has), the real binary, a real Mosquitto, and the
//! values asserted in the summaries the platform receives.

use std::time::Duration;

use serde_json::Value;

use super::fixture::{
    EXPECTED, FEVER_KIOSK, PtyPair, Pymodbus, RS485_TH, SILENT, TURNSTILE, WATER_LEVEL, close,
    device, head, rtu, tcp,
};
use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::subscriber::{Msg, Subscriber};

/// (device id, profile) of every device whose values must arrive.
const DEVICES: [(&str, &str); 6] = [
    ("gate-1", "turnstile"),
    ("th-1", "rs485-th"),
    ("kiosk-1", "fever-kiosk"),
    ("level-1", "water-level"),
    ("th-bus", "rs485-th"),
    ("level-bus", "water-level"),
];

/// The value a summary reports for a point: `last` (gauges, counters, states).
fn last(summary: &Value, point: &str) -> Option<f64> {
    summary["points"][point]["last"].as_f64()
}

#[test]
fn pymodbus_values_reach_the_platform_in_summaries() {
    let broker = Mosquitto::start();
    let gateway = Pymodbus::tcp(200);
    let bus = PtyPair::open();
    let _bus_devices = Pymodbus::rtu(&bus.device, 200);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sitewarden.toml");
    let text = [
        head(&broker.url(), &dir.path().join("data"), "1s"),
        tcp("gw", &gateway.address, "500ms"),
        rtu("bus", &bus.gateway, "200ms"),
        device("gate-1", "turnstile", "gw", TURNSTILE, "500ms"),
        device("th-1", "rs485-th", "gw", RS485_TH, "500ms"),
        device("kiosk-1", "fever-kiosk", "gw", FEVER_KIOSK, "500ms"),
        device("level-1", "water-level", "gw", WATER_LEVEL, "500ms"),
        device("nobody", "rs485-th", "bus", SILENT, "500ms"),
        device("th-bus", "rs485-th", "bus", RS485_TH, "500ms"),
        device("level-bus", "water-level", "bus", WATER_LEVEL, "500ms"),
    ]
    .concat();
    std::fs::write(&config, text).expect("write config");
    let prefix = "sitewarden/test/gw-1";
    let sub = Subscriber::start(
        broker.port,
        &format!("{prefix}/summary/#"),
        "platform",
        false,
    );
    let mut daemon = Daemon::start(&config, dir.path());

    let topic = |d: &str| format!("{prefix}/summary/{d}");
    // A window in which the device answered every poll.
    let clean = |m: &Msg, d: &str| {
        m.topic == topic(d) && {
            let v = m.json();
            v["quality"]["polls"].as_u64() >= Some(1) && v["quality"]["errors"] == 0
        }
    };
    sub.wait_until(
        "a clean window of every device",
        Duration::from_secs(30),
        |msgs| {
            DEVICES
                .iter()
                .all(|(d, _)| msgs.iter().any(|m| clean(m, d)))
        },
    );
    let msgs = sub.snapshot();
    for (id, profile) in DEVICES {
        let summary = msgs
            .iter()
            .find(|m| clean(m, id))
            .map(Msg::json)
            .expect("a clean window");
        for (_, _, point, value, _) in EXPECTED.iter().filter(|e| e.0 == profile) {
            // Events count rising edges, not values; the rest report `last`.
            if summary["points"][point]["count"].is_u64() && last(&summary, point).is_none() {
                continue;
            }
            let got = last(&summary, point)
                .unwrap_or_else(|| panic!("{id}.{point} has no last value: {summary}"));
            assert!(
                close(got, *value),
                "{id}.{point} = {got}, expected {value}: {summary}"
            );
        }
    }

    // The unit nobody has is reported as silent; the bus devices beside it had clean
    // windows above.
    let silent = sub.wait_for(
        "a window of the silent unit",
        Duration::from_secs(10),
        |m| m.topic == topic("nobody") && m.json()["quality"]["errors"].as_u64() >= Some(1),
    );
    let q = &silent.json()["quality"];
    assert_eq!(q["last_error"], "timeout", "{q}");

    let status = daemon.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit 0 after SIGTERM; log:\n{}",
        daemon.logs()
    );
}
