//! `sitewarden status` against the running daemon (issue 13): per device rows with values
//! and units, active alarms, the uplink, and the exit code as a health check.

use crate::support::daemon::{Daemon, run_cli};
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use serde_json::Value;
use std::time::{Duration, Instant};

pub(crate) const HOT: &str = r#"
[[rule]]
name = "hot"
type = "threshold"
devices = ["th-1"]
point = "temperature"
above = 30.0
clear_below = 29.0
severity = "warning"

[[rule]]
name = "offline"
type = "offline"
failed_polls = 3
"#;

/// `status --json`: (exit code, document; `Null` while no daemon answers).
pub(crate) fn status_json(config: &std::path::Path) -> (i32, Value) {
    let (code, out, err) = run_cli(&["status", "--json", "-c", config.to_str().unwrap()]);
    if out.is_empty() {
        assert!(err.contains("not running"), "exit {code}: {err}");
        return (code, Value::Null);
    }
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, doc)
}

/// Polls `status --json` until `ok` holds; panics with the last document after `within`.
pub(crate) fn wait_status(
    config: &std::path::Path,
    what: &str,
    within: Duration,
    ok: impl Fn(i32, &Value) -> bool,
) -> (i32, Value) {
    let deadline = Instant::now() + within;
    loop {
        let (code, doc) = status_json(config);
        if ok(code, &doc) {
            return (code, doc);
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {within:?}; last (exit {code}): {doc:#}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn device<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no row for {id}: {doc:#}"))
}

#[test]
fn status_shows_devices_alarms_and_uplink_and_exits_by_health() {
    let broker = Mosquitto::start();
    let mut sim = SimSite::start(&["th-1:rs485-th", "th-2:rs485-th"]);
    sim.set("th-1", "temperature", 355.0);
    sim.set("th-1", "humidity", 412.0);
    sim.set("th-2", "temperature", 201.0);
    sim.set("th-2", "humidity", 500.0);
    let site = TestSite::with_extra(&broker, &sim, "1s", HOT);
    let cfg = site.config.as_path();

    // No daemon: exit 2 and a sentence, not a panic.
    let (code, _, err) = run_cli(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not running"), "{err}");

    let mut daemon = Daemon::start(cfg, site.dir.path());
    let (code, doc) = wait_status(
        cfg,
        "both polled, alarm raised, online",
        Duration::from_secs(20),
        |_, d| {
            !d.is_null()
                && d["uplink"]["state"] == "online"
                && d["alarms"].as_array().is_some_and(|a| !a.is_empty())
                && d["devices"]
                    .as_array()
                    .is_some_and(|v| v.iter().all(|r| r["polls"].as_u64() >= Some(2)))
        },
    );
    // An alarm is about the site, not the gateway: the gateway itself is fine.
    assert_eq!((code, doc["verdict"].as_str()), (0, Some("ok")), "{doc:#}");
    let th1 = device(&doc, "th-1");
    assert_eq!(th1["state"], "ok");
    assert_eq!(th1["errors"], 0);
    let values: Vec<(String, f64, String)> = th1["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["point"].as_str().unwrap().to_string(),
                v["value"].as_f64().unwrap(),
                v["unit"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        values.contains(&("temperature".into(), 35.5, "°C".into())),
        "{values:?}"
    );
    assert!(
        values.contains(&("humidity".into(), 41.2, "%RH".into())),
        "{values:?}"
    );
    let alarm = &doc["alarms"][0];
    assert_eq!(
        (alarm["rule"].as_str(), alarm["device"].as_str()),
        (Some("hot"), Some("th-1"))
    );
    assert_eq!(alarm["severity"], "warning");

    // The text form names the same.
    let (code, text, _) = run_cli(&["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    for want in [
        "th-1",
        "th-2",
        "35.5 °C",
        "41.2 %RH",
        "hot",
        "uplink online",
        "active alarms (1)",
    ] {
        assert!(text.contains(want), "`{want}` in:\n{text}");
    }

    // A device goes silent: failing, its error spelled out, and still degraded (exit 1).
    sim.stop("th-2");
    let (code, doc) = wait_status(cfg, "th-2 failing", Duration::from_secs(20), |_, d| {
        device(d, "th-2")["state"] == "failing"
    });
    assert_eq!(code, 1);
    let th2 = device(&doc, "th-2");
    assert!(th2["errors"].as_u64() >= Some(1), "{th2}");
    let err = th2["last_error"].as_str().unwrap();
    assert!(
        err.starts_with("connection") || err.starts_with("timeout"),
        "{err}"
    );
    assert_eq!(
        th2["values"][1]["value"], 20.1,
        "the last value is kept: {th2}"
    );
    assert!(
        doc["reasons"][0].as_str().unwrap().contains("th-2"),
        "{doc:#}"
    );

    // Both silent: down, exit 2.
    sim.stop("th-1");
    wait_status(cfg, "down", Duration::from_secs(20), |code, d| {
        code == 2 && d["verdict"] == "down"
    });
    daemon.stop_cleanly();
    assert!(
        !site.data_dir().join("status.sock").exists(),
        "the socket goes with the daemon"
    );
}

/// The socket's mode: the service's group may ask, others may not.
#[test]
fn the_status_socket_is_0660() {
    use std::os::unix::fs::PermissionsExt;
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(&broker, &sim, "1s");
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    daemon.wait_log("sitewarden running", Duration::from_secs(15));
    let meta = std::fs::metadata(site.data_dir().join("status.sock")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    daemon.stop_cleanly();
}
