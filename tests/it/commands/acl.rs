//! The broker ACL of docs/commands.md, taken from the document itself and loaded into a
//! real Mosquitto: the gateway publishes its topics and takes commands from the platform
//! only; another gateway, an anonymous client and the gateway's own credentials cannot
//! send it a command.

use super::{Publisher, open};
use crate::support::daemon::Daemon;
use crate::support::mosquitto::Mosquitto;
use crate::support::site::{SimSite, TestSite};
use crate::support::subscriber::Subscriber;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// The ```text block under "## The broker ACL for a gateway", for the test site's prefix.
fn documented_acl() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/commands.md"))
        .expect("docs/commands.md");
    let section = doc
        .split("## The broker ACL for a gateway")
        .nth(1)
        .expect("the ACL section");
    let block = section
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the ACL block");
    block.replace("sitewarden/xitang/", "sitewarden/test/")
}

#[test]
fn the_documented_acl_lets_only_the_platform_command_a_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, documented_acl()).unwrap();
    let broker = Mosquitto::start_with(format!("acl_file {}", acl.display()));
    let sim = SimSite::start(&["gate-1:turnstile"]);
    let site = TestSite::new(&broker, &sim, "1s");
    let prefix = site.prefix.clone();
    let platform_view = Subscriber::start_as(
        broker.port,
        &format!("{prefix}/#"),
        "platform-view",
        false,
        Some("platform"),
    );
    let mut daemon = Daemon::start_with_env(
        &site.config,
        site.dir.path(),
        &[("SITEWARDEN__UPLINK__USERNAME", "gw-1")],
    );
    let status = format!("{prefix}/status");
    platform_view.wait_for("gateway online", WAIT, |m| {
        m.topic == status && m.json()["state"] == "online"
    });
    let summary = format!("{prefix}/summary/gate-1");
    platform_view.wait_for("a summary", WAIT, |m| m.topic == summary);

    let cmd = format!("{prefix}/cmd");
    let other_gateway = Publisher::start_as(broker.port, "attacker-gw-2", Some("gw-2"));
    let own_credentials = Publisher::start_as(broker.port, "attacker-gw-1", Some("gw-1"));
    let anonymous = Publisher::start_as(broker.port, "attacker-anon", None);
    other_gateway.send(&cmd, open("from-gw-2", "gate-1").to_string(), false);
    own_credentials.send(&cmd, open("from-gw-1", "gate-1").to_string(), false);
    anonymous.send(&cmd, open("from-anon", "gate-1").to_string(), false);
    std::thread::sleep(Duration::from_millis(500));
    let platform = Publisher::start_as(broker.port, "platform-cmd", Some("platform"));
    platform.send(&cmd, open("from-platform", "gate-1").to_string(), false);

    let result = format!("{prefix}/cmd/result");
    let answer = platform_view.wait_for("the platform's command answered", WAIT, |m| {
        m.topic == result && m.json()["id"] == "from-platform"
    });
    assert_eq!(answer.json()["ok"], true, "{:?}", answer.json());
    // Give any stray command the time it would have needed, then look.
    std::thread::sleep(Duration::from_millis(700));
    let answered: Vec<String> = platform_view
        .snapshot()
        .iter()
        .filter(|m| m.topic == result)
        .map(|m| m.json()["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        answered,
        ["from-platform"],
        "only the platform's command arrived"
    );
    assert_eq!(sim.writes("gate-1").len(), 1);
    daemon.stop_cleanly();
}
