//! `P/inventory` (issue 11): retained, published on connect and after every reload, and
//! it says what the gateway has: devices with profile, connection kind, zone, cell, and
//! points with kind, unit, writable and the labels of state codes.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn device<'a>(inv: &'a Value, id: &str) -> Option<&'a Value> {
    inv["devices"].as_array()?.iter().find(|d| d["id"] == id)
}

fn point<'a>(dev: &'a Value, name: &str) -> &'a Value {
    dev["points"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no point {name} in {dev}"))
}

#[test]
fn inventory_is_retained_and_follows_a_reload_that_adds_a_device() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["gate-1:turnstile@north", "th-2:rs485-th"]);
    let zone = "\n[[zone]]\nname = \"north\"\ncapacity = 50\n\n[[cell]]\nname = \"entrance\"\nkind = \"gate\"\n";
    let site = TestSite::with_extra(&broker, &sim, "1s", zone);
    let full = std::fs::read_to_string(&site.config).unwrap();
    // The first configuration has the gate only; the reload brings th-2 in.
    let cut = full
        .find("[[connection]]\nname = \"conn-th-2\"")
        .expect("th-2's connection in the config");
    let end = full.find("\n[[zone]]").expect("the zone after the devices");
    let gate_only = format!("{}cell = \"entrance\"\n{}", &full[..cut], &full[end..]);
    let both = format!("{}cell = \"entrance\"\n{}", &full[..cut], &full[cut..]);
    std::fs::write(&site.config, &gate_only).unwrap();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let topic = format!("{}/inventory", site.prefix);

    // A platform that connects after the gateway gets the retained inventory at once.
    let sub = Subscriber::start(broker.port, &format!("{}/#", site.prefix), "inv-1", false);
    let first = sub.wait_for("the retained inventory", WAIT, |m| m.topic == topic);
    let inv = first.json();
    let gate = device(&inv, "gate-1").expect("gate-1 in the inventory");
    assert!(
        device(&inv, "th-2").is_none(),
        "th-2 is not configured yet: {inv}"
    );
    assert_eq!(gate["profile"], "turnstile");
    assert_eq!(gate["connection"], "modbus-tcp");
    assert_eq!(gate["zone"], "north");
    assert_eq!(gate["cell"], "entrance");
    let status = point(gate, "status");
    assert_eq!(status["kind"], "state");
    assert_eq!(status["writable"], false);
    assert_eq!(
        status["labels"],
        serde_json::json!([
            {"code": 0, "label": "idle"},
            {"code": 1, "label": "passing"},
            {"code": 2, "label": "held-open"},
            {"code": 3, "label": "fault"}
        ])
    );
    assert_eq!(point(gate, "open")["writable"], true);
    assert_eq!(point(gate, "open")["kind"], "command");
    assert_eq!(point(gate, "entries")["kind"], "counter");
    assert!(point(gate, "entries").get("labels").is_none());
    // Whichever way it arrived (retained on subscribe, or live on connect), the broker
    // keeps it: a second late platform receives it flagged retained.
    let late = Subscriber::start(broker.port, &topic, "inv-late", false);
    let kept = late.wait_for("the inventory, retained", WAIT, |m| m.topic == topic);
    assert!(kept.retain, "P/inventory is retained");
    assert_eq!(
        kept.payload, first.payload,
        "the broker keeps the latest one"
    );
    drop(late);

    // A reload that adds th-2: a new inventory follows, with a higher seq.
    let seq0 = inv["seq"].as_u64().expect("seq");
    std::fs::write(&site.config, both).unwrap();
    let before = sub.snapshot().len();
    daemon.signal(libc::SIGHUP);
    sub.wait_until("an inventory with th-2", WAIT, |msgs| {
        msgs[before..]
            .iter()
            .any(|m| m.topic == topic && device(&m.json(), "th-2").is_some())
    });
    let next = sub
        .snapshot()
        .into_iter()
        .rev()
        .find(|m| m.topic == topic)
        .expect("the new inventory")
        .json();
    assert!(next["seq"].as_u64().expect("seq") > seq0, "{next}");
    let th = device(&next, "th-2").expect("th-2");
    assert_eq!(th["profile"], "rs485-th");
    assert_eq!(th["zone"], Value::Null);
    assert_eq!(point(th, "temperature")["unit"], "°C");
    assert_eq!(point(th, "temperature")["kind"], "gauge");
    assert_eq!(point(th, "humidity")["unit"], "%RH");
    assert!(device(&next, "gate-1").is_some(), "gate-1 stays: {next}");
    sub.assert_contract();
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}
