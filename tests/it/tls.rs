//! `mqtts://` to the platform broker: a real Mosquitto TLS listener with a CA the test makes.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::{Mosquitto, free_port, wait_for_port};
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A CA and a server certificate for 127.0.0.1, made with openssl.
pub(crate) fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (the test command installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=sitewarden test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
}

#[test]
fn mqtts_uplink_with_a_private_ca_reaches_the_platform() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let tls_port = free_port();
    let c = certs.path().display();
    let broker = Mosquitto::start_with(format!(
        "listener {tls_port} 127.0.0.1\ncafile {c}/ca.pem\ncertfile {c}/server.pem\nkeyfile {c}/server.key\n"
    ));
    wait_for_port(tls_port, Duration::from_secs(10));
    let sim = SimSite::start(&["th-1:rs485-th"]);
    sim.set("th-1", "temperature", 200.0);
    sim.set("th-1", "humidity", 500.0);
    let site = TestSite::new(&broker, &sim, "1s");
    // Point the daemon at the TLS listener, trusting the test CA.
    let text = std::fs::read_to_string(&site.config).unwrap().replace(
        &format!("broker = \"{}\"", broker.url()),
        &format!("broker = \"mqtts://127.0.0.1:{tls_port}\"\nca_file = \"{c}/ca.pem\""),
    );
    assert!(text.contains("mqtts://"), "config rewritten");
    std::fs::write(&site.config, text).unwrap();
    let sub = Subscriber::start(
        broker.port,
        &format!("{}/#", site.prefix),
        "platform-tls",
        false,
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    sub.wait_for("online over TLS", Duration::from_secs(15), |m| {
        m.topic.ends_with("/status") && m.json()["state"] == "online"
    });
    sub.wait_for("a summary over TLS", Duration::from_secs(15), |m| {
        m.topic.ends_with("/summary/th-1") && m.json()["points"]["temperature"]["last"] == 20.0
    });
    assert!(daemon.terminate(Duration::from_secs(20)).success());
}

#[test]
fn a_missing_ca_file_refuses_the_start_with_its_path() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(&broker, &sim, "1s");
    let text = std::fs::read_to_string(&site.config).unwrap().replace(
        &format!("broker = \"{}\"", broker.url()),
        "broker = \"mqtts://127.0.0.1:8883\"\nca_file = \"/nonexistent/ca.pem\"",
    );
    std::fs::write(&site.config, text).unwrap();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let status = daemon.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "log:\n{}", daemon.logs());
    assert!(
        daemon.logs().contains("/nonexistent/ca.pem"),
        "names the file:\n{}",
        daemon.logs()
    );
}
