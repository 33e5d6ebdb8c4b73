//! `[uplink] format = "thingsboard"` (issue 11): the same simulated site read by a
//! subscriber that knows only ThingsBoard's gateway MQTT API. Topics and payloads as
//! that API gives them (and as docs/schema/thingsboard-*.schema.json pin them); an RPC
//! opens a gate on a real Modbus server through the command path and the reply carries
//! the request id; a refused one writes nothing.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::schema;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::{Msg, Subscriber};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(20);

fn in_a_minute() -> String {
    humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(60)).to_string()
}

/// The first message on `topic` whose JSON satisfies `pred`.
fn wait(sub: &Subscriber, what: &str, topic: &str, pred: impl Fn(&Value) -> bool) -> Value {
    sub.wait_for(what, WAIT, |m| m.topic == topic && pred(&m.json()))
        .json()
}

/// The test site's config with 1 s windows and `format = "thingsboard"`.
fn thingsboard_site(broker: &Mosquitto, sim: &SimSite, extra: &str) -> TestSite {
    let site = TestSite::with_extra(broker, sim, "1s", extra);
    let text = std::fs::read_to_string(&site.config).unwrap();
    let text = text.replacen(
        "summary_interval = \"1s\"\n",
        "summary_interval = \"1s\"\nformat = \"thingsboard\"\n",
        1,
    );
    std::fs::write(&site.config, text).unwrap();
    site
}

#[test]
fn a_thingsboard_subscriber_reads_the_site_and_an_rpc_opens_a_gate() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["gate-1:turnstile@north", "th-1:rs485-th"]);
    sim.set("gate-1", "status", 1.0);
    sim.set("th-1", "temperature", 215.0);
    // th-1 is the config's last device: the live key lands in it.
    let extra = format!(
        "live = {{ max_interval = \"2s\" }}\n{}\n[[zone]]\nname = \"north\"\ncapacity = 100\n",
        crate::alarms::FORCED_ENTRY
    );
    let site = thingsboard_site(&broker, &sim, &extra);
    let sub = Subscriber::start(broker.port, "v1/#", "thingsboard", false);
    let mut daemon = Daemon::start(&site.config, site.dir.path());

    // Every device and the zone connected, with its profile as the device type.
    for (device, ty) in [
        ("gate-1", "turnstile"),
        ("th-1", "rs485-th"),
        ("zone:north", "zone"),
    ] {
        wait(&sub, "connect", "v1/gateway/connect", |v| {
            v["device"] == device && v["type"] == ty
        });
    }
    // Attributes from the inventory.
    let attrs = wait(&sub, "inventory attributes", "v1/gateway/attributes", |v| {
        v["gate-1"]["profile"] == "turnstile"
    });
    assert_eq!(attrs["gate-1"]["zone"], "north");
    assert_eq!(attrs["th-1"]["connection"], "modbus-tcp");
    assert!(attrs["gate-1"].get("cell").is_none(), "no nulls: {attrs}");
    // The gateway's own state.
    wait(&sub, "online", "v1/devices/me/attributes", |v| {
        v["state"] == "online"
    });

    // Window summaries as telemetry at the window's end, in whole milliseconds.
    let tel = wait(&sub, "gate-1 telemetry", "v1/gateway/telemetry", |v| {
        v["gate-1"][0]["values"]["status_label"] == "passing"
    });
    let entry = &tel["gate-1"][0];
    let ts = entry["ts"].as_i64().expect("ts in ms");
    let now = sitewarden::clock::now_ms();
    assert!(
        ts % 1000 == 0 && ts <= now && ts > now - 30_000,
        "ts {ts} is a window end"
    );
    assert_eq!(entry["values"]["status"], 1.0);
    assert_eq!(entry["values"]["polls"], 1);
    let th = wait(&sub, "th-1 summary", "v1/gateway/telemetry", |v| {
        v["th-1"][0]["values"].get("temperature_mean").is_some()
    });
    assert_eq!(th["th-1"][0]["values"]["temperature"], 21.5);
    // Live values of th-1 as telemetry at the time they were read.
    wait(&sub, "th-1 live", "v1/gateway/telemetry", |v| {
        let values = &v["th-1"][0]["values"];
        values["temperature"] == 21.5 && values.get("temperature_mean").is_none()
    });
    wait(&sub, "zone telemetry", "v1/gateway/telemetry", |v| {
        v["zone:north"][0]["values"]["capacity"] == 100
    });
    wait(&sub, "health", "v1/devices/me/telemetry", |v| {
        v["values"]["devices.ok"].as_u64().is_some()
    });

    // An RPC opens the gate; the reply is on the same topic with the request's id.
    let rpc = |id: u64, point: &str, value: Value| {
        let req = serde_json::json!({"device": "gate-1", "data": {"id": id, "method": "write",
            "params": {"point": point, "value": value, "expires": in_a_minute()}}});
        sub.publish("v1/gateway/rpc", req.to_string().as_bytes());
    };
    rpc(7, "open", Value::Bool(true));
    let reply = wait(&sub, "the reply to rpc 7", "v1/gateway/rpc", |v| {
        v["id"] == 7 && v.get("data").is_some_and(|d| d.get("ok").is_some())
    });
    assert_eq!(reply["device"], "gate-1");
    assert_eq!(reply["data"]["ok"], true, "{reply}");
    assert_eq!(reply["data"]["held"], true, "{reply}");
    assert_eq!(sim.get("gate-1", "open"), Some(1.0), "the coil was written");
    // A refused one: the same checks as P/cmd, nothing written.
    rpc(8, "status", Value::from(2));
    let refused = wait(&sub, "the reply to rpc 8", "v1/gateway/rpc", |v| {
        v["id"] == 8 && v.get("data").is_some_and(|d| d.get("ok").is_some())
    });
    assert_eq!(refused["data"]["ok"], false);
    assert_eq!(refused["data"]["reason"], "not_writable", "{refused}");
    assert_eq!(sim.get("gate-1", "status"), Some(1.0), "nothing written");
    // No RPC at all (no `data`): refused as a bad command (answered, counted), and the
    // refusal, echoed back on the same topic, is not taken for a request in its turn.
    sub.publish("v1/gateway/rpc", br#"{"device":"gate-1"}"#);
    let junk = wait(&sub, "the refusal of junk", "v1/gateway/rpc", |v| {
        v["data"]["reason"] == "bad_command"
    });
    assert_eq!(junk["data"]["ok"], false, "{junk}");
    wait(
        &sub,
        "health counting the junk",
        "v1/devices/me/telemetry",
        |v| v["values"]["commands.rejected"].as_u64() >= Some(2),
    );
    let refusals = (sub.snapshot().iter())
        .filter(|m| m.topic == "v1/gateway/rpc" && m.json()["data"]["reason"] == "bad_command")
        .count();
    assert_eq!(refusals, 1, "one refusal, not one per echo");
    let writes = sim.writes("gate-1").len();

    // An alarm: telemetry on the device, and its active_alarms attribute.
    sim.set("gate-1", "forced_entry", 1.0);
    let alarm = wait(&sub, "alarm telemetry", "v1/gateway/telemetry", |v| {
        v["gate-1"][0]["values"]["alarm_state"] == "raised"
    });
    assert_eq!(alarm["gate-1"][0]["values"]["alarm_rule"], "forced-entry");
    let active = wait(&sub, "active alarms", "v1/gateway/attributes", |v| {
        v["gate-1"]["active_alarms"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    assert_eq!(active["th-1"]["active_alarms"], serde_json::json!([]));
    assert_eq!(
        sim.writes("gate-1").len(),
        writes,
        "no write after the refusal"
    );

    // Nothing went out under our own prefix, and everything met its schema.
    let msgs = sub.snapshot();
    assert!(msgs.iter().all(|m| m.topic.starts_with("v1/")));
    sub.assert_contract();
    write_examples(&msgs);
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}

/// The first message of each ThingsBoard kind, for docs/platform.md
/// (`target/contract-examples/thingsboard-*.json`).
fn write_examples(msgs: &[Msg]) {
    // The reply rather than the request; a window summary rather than a live report.
    let wanted = |kind: &str, v: &Value| match kind {
        "thingsboard-rpc" => v.get("id").is_some(),
        "thingsboard-telemetry" => v["gate-1"][0]["values"].get("status_label").is_some(),
        _ => true,
    };
    let mut first: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for m in msgs {
        if let Ok(Some(kind)) = schema::kind_of(&m.topic)
            && wanted(kind, &m.json())
        {
            first.entry(kind).or_insert(&m.payload);
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/contract-examples");
    std::fs::create_dir_all(&dir).expect("create target/contract-examples");
    for (kind, payload) in first {
        std::fs::write(dir.join(format!("{kind}.json")), payload).expect("write example");
    }
}

/// Every window summary received so far: (device, window end) → the payloads seen.
fn windows(msgs: &[Msg]) -> BTreeMap<(String, i64), Vec<Value>> {
    let mut out: BTreeMap<(String, i64), Vec<Value>> = BTreeMap::new();
    for m in msgs {
        if m.topic != "v1/gateway/telemetry" {
            continue;
        }
        let v = m.json();
        for (device, entries) in v.as_object().into_iter().flatten() {
            for e in entries.as_array().into_iter().flatten() {
                // Summaries carry `polls`; live values and alarms do not.
                if e["values"].get("polls").is_some() {
                    let ts = e["ts"].as_i64().unwrap_or(0);
                    out.entry((device.clone(), ts)).or_default().push(e.clone());
                }
            }
        }
    }
    out
}

/// The outbox under this format: a broker outage with a `kill -9` and a restart of the
/// daemon inside it loses no window that was made, and a window replayed twice is the
/// same message.
#[test]
fn thingsboard_format_keeps_every_window_through_an_outage_and_a_kill_9() {
    let mut broker = Mosquitto::start();
    let sim = SimSite::start(&["gate-1:turnstile", "th-1:rs485-th"]);
    sim.set("th-1", "temperature", 215.0);
    let site = thingsboard_site(&broker, &sim, "");
    let sub = Subscriber::start(broker.port, "v1/#", "thingsboard-outage", true);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    sub.wait_until("three windows of th-1", WAIT, |msgs| {
        windows(msgs).keys().filter(|(d, _)| d == "th-1").count() >= 3
    });

    broker.stop();
    std::thread::sleep(Duration::from_secs(3));
    let killed = sitewarden::clock::now_ms();
    daemon.kill9();
    std::thread::sleep(Duration::from_secs(1));
    let restarted = sitewarden::clock::now_ms();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    std::thread::sleep(Duration::from_secs(4));
    let subscribed = sub.subscriptions();
    broker.restart();
    sub.wait_resubscribed(subscribed, Duration::from_secs(10));
    let back = sitewarden::clock::now_ms();
    // The backlog and then windows made after the broker came back.
    sub.wait_until(
        "windows after the outage",
        Duration::from_secs(60),
        |msgs| {
            let w = windows(msgs);
            ["gate-1", "th-1"]
                .iter()
                .all(|d| w.keys().any(|(dev, ts)| dev == d && *ts > back + 2000))
        },
    );
    daemon.stop_cleanly();

    let w = windows(&sub.snapshot());
    for device in ["gate-1", "th-1"] {
        let ends: Vec<i64> = (w.keys().filter(|(d, _)| d == device))
            .map(|(_, ts)| *ts)
            .collect();
        let (first, last) = (ends[0], ends[ends.len() - 1]);
        // Windows around the crash may be empty (the daemon was dead, or its last
        // second of readings not yet flushed): those are never made. Every other one is.
        let missing: Vec<i64> = (first / 1000..=last / 1000)
            .map(|s| s * 1000)
            .filter(|ts| !(killed - 1000..=restarted + 2000).contains(ts))
            .filter(|ts| !ends.contains(ts))
            .collect();
        assert_eq!(
            missing,
            Vec::<i64>::new(),
            "{device}: windows never delivered"
        );
        assert!(
            ends.iter().any(|&ts| ts > killed - 1000 && ts <= back),
            "{device}: the backlog made during the outage was delivered"
        );
    }
    for ((device, ts), seen) in &w {
        assert!(
            seen.windows(2).all(|p| p[0] == p[1]),
            "{device} at {ts}: a replay differs from the first delivery: {seen:?}"
        );
    }
    sub.assert_contract();
}

/// More devices than rumqttc's short request channel holds: every connect and the
/// inventory still go out (queued in the session, sent as room frees).
#[test]
fn every_device_of_a_site_larger_than_the_channel_is_connected() {
    let broker = Mosquitto::start();
    let specs: Vec<String> = (1..=24).map(|i| format!("th-{i}:rs485-th")).collect();
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let sim = SimSite::start(&specs);
    let site = thingsboard_site(&broker, &sim, "");
    let sub = Subscriber::start(broker.port, "v1/#", "thingsboard-large", false);
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    sub.wait_until("24 connects and the inventory", WAIT, |msgs| {
        let connects = msgs
            .iter()
            .filter(|m| m.topic == "v1/gateway/connect")
            .count();
        let inventory = msgs.iter().any(|m| {
            m.topic == "v1/gateway/attributes" && m.json()["th-24"]["profile"] == "rs485-th"
        });
        connects == 24 && inventory
    });
    let connected: std::collections::BTreeSet<String> = (sub.snapshot().iter())
        .filter(|m| m.topic == "v1/gateway/connect")
        .map(|m| m.json()["device"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(connected.len(), 24, "each device once: {connected:?}");
    sub.assert_contract();
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}
