//! The systemd unit: `systemd-analyze verify` is clean, and it sets what the daemon
//! and the technician rely on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{UNIT, read, require, run, text};

/// The unit as shipped, with every `/usr/bin/sitewarden` pointed at the binary under
/// test, so that `verify` checks a command that exists.
fn unit_for_test(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let unit = read(UNIT).replace("/usr/bin/sitewarden", env!("CARGO_BIN_EXE_sitewarden"));
    let path = dir.join("sitewarden.service");
    std::fs::write(&path, edit(unit)).expect("write unit");
    path
}

/// `systemd-analyze verify` on `unit`: its exit status and every output line about the
/// unit. It exits 0 even for unknown keys and bad values, so the lines are the verdict.
fn verify(unit: &Path) -> (bool, Vec<String>) {
    require(
        "systemd-analyze",
        Command::new("systemd-analyze").arg("--version"),
    );
    let out = run(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(unit)
            .env("SYSTEMD_LOG_LEVEL", "info")
            .env("SYSTEMD_LOG_COLOR", "0"),
        Duration::from_secs(60),
    );
    let lines = text(&out)
        .lines()
        .filter(|l| l.contains("sitewarden"))
        .map(str::to_string)
        .collect();
    (out.status.success(), lines)
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_test(dir.path(), |u| u);
    let (ok, lines) = verify(&unit);
    assert!(ok, "systemd-analyze verify failed: {lines:#?}");
    assert!(
        lines.is_empty(),
        "systemd-analyze verify complains: {lines:#?}"
    );
}

#[test]
fn verify_catches_what_would_break_the_unit() {
    // The negative controls of the test above: each edit must be reported.
    #[track_caller]
    fn check(edit: impl Fn(String) -> String, expected: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        let unit = unit_for_test(dir.path(), edit);
        let (_, lines) = verify(&unit);
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "expected a line with {expected:?}, got {lines:#?}"
        );
    }
    check(
        |u| u.replace("[Service]\n", "[Service]\nWatchdogSecs=30s\n"),
        "WatchdogSecs",
    );
    check(
        |u| u.replace("ProtectSystem=strict", "ProtectSystem=stricter"),
        "stricter",
    );
    check(
        |u| u.replace(env!("CARGO_BIN_EXE_sitewarden"), "/nonexistent/sitewarden"),
        "/nonexistent/sitewarden",
    );
}

/// `Key=value` lines of the unit, in order (a key may repeat).
fn unit_settings() -> Vec<(String, String)> {
    read(UNIT)
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn unit_sets_what_the_gateway_relies_on() {
    let settings = unit_settings();
    let check = |key: &str, value: &str| {
        assert!(
            settings.iter().any(|(k, v)| k == key && v == value),
            "{UNIT}: expected {key}={value}; it has {:?}",
            settings
                .iter()
                .filter(|(k, _)| k == key)
                .collect::<Vec<_>>()
        );
    };
    // READY after config and store are open, a watchdog fed while polling is healthy.
    check("Type", "notify");
    check("WatchdogSec", "30s");
    check("Restart", "on-failure");
    // A dedicated user, serial ports through dialout, the store under StateDirectory.
    check("User", "sitewarden");
    check("Group", "sitewarden");
    check("SupplementaryGroups", "dialout");
    check("StateDirectory", "sitewarden");
    // Reload is SIGHUP; a bad config is refused before start, and before a reload (so
    // `systemctl reload` fails visibly): the check is the first ExecReload.
    let reloads: Vec<&str> = settings
        .iter()
        .filter(|(k, _)| k == "ExecReload")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        reloads,
        [
            "/usr/bin/sitewarden check -c /etc/sitewarden/sitewarden.toml",
            "/bin/kill -HUP $MAINPID"
        ],
        "{UNIT}: ExecReload checks, then signals"
    );
    check(
        "ExecStartPre",
        "/usr/bin/sitewarden check -c /etc/sitewarden/sitewarden.toml",
    );
    check(
        "ExecStart",
        "/usr/bin/sitewarden run -c /etc/sitewarden/sitewarden.toml",
    );
    // Hardening that still lets RTU open its serial port.
    check("ProtectSystem", "strict");
    check("PrivateTmp", "true");
    check("NoNewPrivileges", "true");
    check("CapabilityBoundingSet", "");
    check("ProtectHome", "true");
    check("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6");
    // PrivateDevices hides the RS485 adapters; a DevicePolicy allow-list is fixed at
    // start, so an adapter whose driver loads later would be refused until a restart.
    for key in ["PrivateDevices", "DevicePolicy", "DeviceAllow"] {
        assert!(
            !settings.iter().any(|(k, _)| k == key),
            "{UNIT}: {key} would keep RTU from its serial port"
        );
    }
}
