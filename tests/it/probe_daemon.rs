//! `probe` through the running daemon (issue 13): on a simulated RTU bus (a pty), the
//! daemon's connection task runs the probe's reads between its polls, so nothing else
//! opens the bus; with no daemon, probe opens the bus itself.

use crate::status::status_json;
use crate::support::daemon::{Daemon, run_cli};
use crate::support::mosquitto::Mosquitto;
use crate::support::wait_until;
use sitewarden::sim::modbus::{Faults, Image, PtyBus, units};
use std::time::Duration;

fn th1(doc: &serde_json::Value) -> (u64, u64) {
    let d = &doc["devices"][0];
    assert_eq!(d["id"], "th-1", "{doc:#}");
    (d["polls"].as_u64().unwrap(), d["errors"].as_u64().unwrap())
}

#[test]
fn probe_reads_through_the_daemon_between_its_polls_on_an_rtu_bus() {
    let broker = Mosquitto::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Unit 3 on the bus: an RS485 thermo-hygrometer, 41.2 %RH and 22.3 °C.
    let mut image = Image::default();
    image.holding.insert(0, 412);
    image.holding.insert(1, 223);
    let bus = {
        let _in_rt = rt.enter();
        PtyBus::open(units([(3, image)]), Faults::default()).expect("pty bus")
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sitewarden.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nsite = \"test\"\nid = \"gw-1\"\ndata_dir = \"{}\"\n\n\
             [uplink]\nbroker = \"{}\"\nsummary_interval = \"60s\"\n\n\
             [[connection]]\nname = \"bus\"\ntype = \"modbus-rtu\"\nport = \"{}\"\nbaud = 9600\ntimeout = \"300ms\"\n\n\
             [[device]]\nid = \"th-1\"\nprofile = \"rs485-th\"\nconnection = \"bus\"\nunit = 3\npoll = \"1s\"\n",
            dir.path().join("data").display(),
            broker.url(),
            bus.path.display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let serial = bus.path.to_str().unwrap();
    let mut daemon = Daemon::start(&config, dir.path());
    wait_until("two polls", Duration::from_secs(20), || {
        let (_, doc) = status_json(&config);
        !doc.is_null() && th1(&doc).0 >= 2
    });
    let (_, doc) = status_json(&config);
    let (polls_before, _) = th1(&doc);
    let probing = std::time::Instant::now();

    // Probes while the daemon polls the bus every second: each read by the daemon.
    for _ in 0..8 {
        let (code, out, err) = run_cli(&["probe", "th-1", "-c", cfg]);
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(
            out.contains("read through the running daemon, between its polls"),
            "{out}"
        );
        assert!(out.contains("41.2 %RH") && out.contains("22.3 °C"), "{out}");
        assert!(
            out.contains("019C") && out.contains("00DF"),
            "raw registers in hex: {out}"
        );
        std::thread::sleep(Duration::from_millis(400));
    }
    // A raw scan of the configured bus, by its serial port: through the daemon too.
    let (code, out, err) = run_cli(&[
        "probe",
        "--serial",
        serial,
        "--unit",
        "3",
        "--scan",
        "--table",
        "holding",
        "--address",
        "0",
        "--count",
        "2",
        "-c",
        cfg,
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("read through the running daemon"), "{out}");
    assert!(out.contains("019C") && out.contains("00DF"), "{out}");

    // The daemon's polls went on, and not one of them failed.
    let (_, doc) = status_json(&config);
    let (polls, errors) = th1(&doc);
    // One poll a second throughout (a tick may fall either side of the window).
    let seconds = probing.elapsed().as_secs();
    assert!(
        polls + 1 >= polls_before + seconds,
        "polls {polls_before} → {polls} in {seconds} s"
    );
    assert_eq!(errors, 0, "no poll failed while probing: {doc:#}");
    eprintln!(
        "9 probes through the daemon in {seconds} s; its polls {polls_before} → {polls}, 0 errors"
    );
    assert!(!daemon.logs().contains("poll failed"), "{}", daemon.logs());
    daemon.stop_cleanly();

    // No daemon: probe opens the bus itself.
    let (code, out, err) = run_cli(&["probe", "th-1", "-c", cfg]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("through the running daemon"), "{out}");
    assert!(out.contains("41.2 %RH"), "{out}");
    drop(bus);
}
