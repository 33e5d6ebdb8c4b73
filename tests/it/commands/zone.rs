//! The evacuation case: one command opens every gate of a zone, on every connection at
//! once, and the result says what each gate holds.

use super::{Publisher, at, result};
use crate::support::platform::Platform;
use serde_json::json;
use sitewarden::sim::modbus::{self as sim, Fault, Faults, Image, Units};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ZONE: &str = "north-entrance";
/// Two connections (gateways to an RS485 bus, say), five gates behind each.
const CONNECTIONS: [&str; 2] = ["north-a", "north-b"];
const PER_CONNECTION: u8 = 5;

struct Bus {
    units: Units,
    faults: Faults,
    port: u16,
}

fn gate_id(conn: usize, unit: u8) -> String {
    format!("gate-{}{unit}", ["a", "b"][conn])
}

#[test]
fn a_zone_command_opens_ten_gates_on_two_connections_and_reads_each_back() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // The turnstile profile's points, from a site the harness builds.
    let probe = crate::support::site::SimSite::start(&["probe:turnstile"]);
    let points = probe.site.devices[0].points.clone();
    drop(probe);
    let buses: Vec<Bus> = CONNECTIONS
        .iter()
        .map(|_| {
            let listener = rt
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let units = sim::units((1..=PER_CONNECTION).map(|u| (u, Image::with_points(&points))));
            let faults = Faults::default();
            let _in_rt = rt.enter();
            sim::serve_tcp(listener, Arc::clone(&units), faults.clone());
            Bus {
                units,
                faults,
                port,
            }
        })
        .collect();
    let mut extra = format!("[[zone]]\nname = \"{ZONE}\"\ncapacity = 500\n\n");
    for (c, bus) in buses.iter().enumerate() {
        let _ = write!(
            extra,
            "[[connection]]\nname = \"{}\"\ntype = \"modbus-tcp\"\naddress = \"127.0.0.1:{}\"\ntimeout = \"300ms\"\n\n",
            CONNECTIONS[c], bus.port
        );
        for u in 1..=PER_CONNECTION {
            let _ = write!(
                extra,
                "[[device]]\nid = \"{}\"\nprofile = \"turnstile\"\nconnection = \"{}\"\nunit = {u}\npoll = \"1s\"\nzone = \"{ZONE}\"\n\n",
                gate_id(c, u),
                CONNECTIONS[c]
            );
        }
    }
    // One gate outside the zone, which must stay closed.
    let mut p = Platform::start(&["gate-out:turnstile"], |_| {}, &extra);
    let platform = Publisher::start(p.broker.port, "platform-evac");
    let cmd = |id: &str, value: bool| {
        json!({"id": id, "zone": ZONE, "point": "open", "value": value, "expires": at(60)})
            .to_string()
    };
    let sent = Instant::now();
    platform.send(&p.topic("cmd"), cmd("evacuate-1", true), false);
    let a = result(&p, "evacuate-1");
    let took = sent.elapsed();
    eprintln!("zone command answered in {took:?}: {a}");
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["zone"], ZONE);
    let gates = a["gates"].as_array().expect("gates");
    assert_eq!(gates.len(), 10, "{a}");
    for (c, bus) in buses.iter().enumerate() {
        let units = bus.units.lock().unwrap();
        for u in 1..=PER_CONNECTION {
            let id = gate_id(c, u);
            let g = gates
                .iter()
                .find(|g| g["device"] == id.as_str())
                .expect("gate in result");
            assert_eq!(
                (g["ok"].clone(), g["held"].clone(), g["readback"].clone()),
                (json!(true), json!(true), json!(1.0)),
                "{g}"
            );
            let image = &units[&u];
            assert_eq!(image.coils.get(&0), Some(&true), "{id} open");
            assert_eq!(image.writes.len(), 1, "{id}: one write");
        }
    }
    assert!(
        p.sim.writes("gate-out").is_empty(),
        "the gate outside the zone was written"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // One gate in local override: the result names it, the others close.
    buses[1].faults.set(3, Fault::Stuck);
    platform.send(&p.topic("cmd"), cmd("evacuate-end", false), false);
    let b = result(&p, "evacuate-end");
    assert_eq!(b["ok"], false, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("1 of 10 gates"),
        "{b}"
    );
    let gates = b["gates"].as_array().expect("gates");
    let not_held: Vec<&str> = gates
        .iter()
        .filter(|g| g["held"] == false)
        .map(|g| g["device"].as_str().unwrap())
        .collect();
    assert_eq!(not_held, ["gate-b3"], "{b}");
    assert_eq!(
        buses[1].units.lock().unwrap()[&3].coils.get(&0),
        Some(&true)
    );
    assert_eq!(
        buses[0].units.lock().unwrap()[&3].coils.get(&0),
        Some(&false)
    );
    p.daemon.stop_cleanly();
}
