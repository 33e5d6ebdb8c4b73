//! Failures that say why (issue 13): each way the platform broker can refuse the gateway
//! produces one log line at the default level naming the reason, however often the
//! connection is retried.

use crate::support::daemon::Daemon;
use crate::support::mosquitto::{Mosquitto, free_port, wait_for_port};
use crate::support::site::{SimSite, TestSite};
use std::process::Command;
use std::time::Duration;

const LINE: &str = "uplink cannot connect";

/// Starts the daemon at the default log level with the uplink section's broker line
/// replaced by `uplink`, waits for the reason line, then for a few more retries, and
/// returns the log.
fn reason_of(broker: &Mosquitto, uplink: &str) -> String {
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(broker, &sim, "1s");
    let text = std::fs::read_to_string(&site.config)
        .unwrap()
        .replace(&format!("broker = \"{}\"", broker.url()), uplink);
    assert!(text.contains(uplink), "config rewritten");
    std::fs::write(&site.config, text).unwrap();
    let mut daemon = Daemon::start_with_env(&site.config, site.dir.path(), &[("RUST_LOG", "info")]);
    daemon.wait_log(LINE, Duration::from_secs(15));
    // Backoff 0.5 s, 1 s, 2 s: at least three more attempts with the same reason.
    std::thread::sleep(Duration::from_secs(4));
    // `status` shows the same reason, and the gateway as degraded.
    let (code, doc) = crate::status::status_json(&site.config);
    let logs = daemon.logs();
    daemon.stop_cleanly();
    assert_eq!(
        (code, doc["uplink"]["state"].as_str()),
        (1, Some("offline")),
        "{doc:#}"
    );
    let problem = doc["uplink"]["problem"].as_str().expect("a problem");
    assert!(
        logs.contains(&format!("{LINE}: {problem}")),
        "status names the logged reason `{problem}`:\n{logs}"
    );
    assert_eq!(
        logs.matches(LINE).count(),
        1,
        "one line per change of reason:\n{logs}"
    );
    assert!(!logs.contains("DEBUG"), "default level only:\n{logs}");
    logs
}

fn password_broker(dir: &std::path::Path) -> Mosquitto {
    let file = dir.join("passwd");
    let out = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&file)
        .args(["gw", "right-password"])
        .output()
        .expect("mosquitto_passwd (the test command installs mosquitto)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Anonymous clients stay allowed (the harness's readiness check is one); a client
    // that gives a username must give its password.
    Mosquitto::start_with(format!("password_file {}\n", file.display()))
}

#[test]
fn a_wrong_password_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let broker = password_broker(dir.path());
    let pass = dir.path().join("uplink.pass");
    std::fs::write(&pass, "wrong-password\n").unwrap();
    let logs = reason_of(
        &broker,
        &format!(
            "broker = \"{}\"\nusername = \"gw\"\npassword_file = \"{}\"",
            broker.url(),
            pass.display()
        ),
    );
    assert!(
        logs.contains("bad credentials") || logs.contains("not authorised"),
        "{logs}"
    );
    assert!(
        !logs.contains("wrong-password"),
        "the password is never logged"
    );
}

#[test]
fn an_unknown_ca_is_named() {
    let certs = tempfile::tempdir().unwrap();
    crate::tls::make_certs(certs.path());
    // Another CA, of another name, that signed nothing the broker shows.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=some other CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ])
        .current_dir(other.path())
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tls_port = free_port();
    let c = certs.path().display();
    let broker = Mosquitto::start_with(format!(
        "listener {tls_port} 127.0.0.1\ncafile {c}/ca.pem\ncertfile {c}/server.pem\nkeyfile {c}/server.key\n"
    ));
    wait_for_port(tls_port, Duration::from_secs(10));
    // Trust another CA than the one that signed the broker's certificate.
    let logs = reason_of(
        &broker,
        &format!(
            "broker = \"mqtts://127.0.0.1:{tls_port}\"\nca_file = \"{}/ca.pem\"",
            other.path().display()
        ),
    );
    assert!(
        logs.contains("TLS: the broker's certificate is signed by an unknown CA"),
        "{logs}"
    );
}

#[test]
fn a_host_that_does_not_resolve_is_named() {
    let broker = Mosquitto::start();
    let logs = reason_of(
        &broker,
        "broker = \"mqtt://broker.sitewarden.invalid:1883\"",
    );
    assert!(
        logs.contains("DNS: the broker's host name does not resolve"),
        "{logs}"
    );
}

#[test]
fn a_closed_port_is_named() {
    let broker = Mosquitto::start();
    let closed = free_port();
    let logs = reason_of(&broker, &format!("broker = \"mqtt://127.0.0.1:{closed}\""));
    assert!(
        logs.contains("connection refused: nothing listens on the broker's port"),
        "{logs}"
    );
}
