//! The command line as a technician uses it: `check` on the shipped example and on a file
//! with several mistakes, env overrides, and `outbox` without a store.

use crate::support::daemon::run_cli;
use std::process::Command;

fn example() -> String {
    format!("{}/config/sitewarden.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_lists_the_devices_of_the_shipped_example() {
    let (code, out, err) = run_cli(&["check", "-c", &example()]);
    assert_eq!(code, 0, "stderr: {err}");
    for needle in [
        "gate-n1",
        "turnstile",
        "rs485-th",
        "fever-kiosk",
        "water-level",
        "entries",
        "body_temp",
        "rules",
    ] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
}

#[test]
fn check_reports_three_typos_and_a_bad_unit_at_once_with_lines_and_key_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.toml");
    std::fs::write(
        &path,
        r#"[gateway]
site = "xitang"
id = "gw-north"
data_dir = "/tmp/sw"

[uplink]
broker = "mqtt://127.0.0.1:1883"
sumary_interval = "60s"

[[connection]]
name = "lan"
type = "modbus-tcp"
adress = "127.0.0.1:502"

[[device]]
id = "gate-1"
profile = "turnstile"
connection = "lan"
unit = 300
pol = "1s"
"#,
    )
    .unwrap();
    let (code, out, err) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| {
            l.split("site.toml:")
                .nth(1)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    assert_eq!(errors.len(), 4, "exactly the four problems:\n{err}");
    for (line, key) in [
        ("8", "uplink.sumary_interval"),
        ("13", "connection[0].adress"),
        ("19", "device[0].unit"),
        ("20", "device[0].pol"),
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("site.toml:{line}:")) && e.contains(key)),
            "no error at line {line} naming {key}:\n{err}"
        );
    }
}

#[test]
fn an_unknown_sitewarden_variable_is_refused_not_ignored() {
    let out = Command::new(crate::support::daemon::bin())
        .args(["check", "-c", &example()])
        .env("SITEWARDEN__UPLINK__BROKR", "mqtt://127.0.0.1:1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SITEWARDEN__UPLINK__BROKR") && err.contains("SITEWARDEN__UPLINK__BROKER"),
        "{err}"
    );

    let out = Command::new(crate::support::daemon::bin())
        .args(["check", "-c", &example()])
        .env("SITEWARDEN__UPLINK__SUMMARY_INTERVAL", "15s")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("summaries every 15s"), "{text}");
}

#[test]
fn outbox_without_a_store_says_so_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example()).unwrap().replace(
        "/var/lib/sitewarden",
        dir.path().join("nothing-here").to_str().unwrap(),
    );
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let (code, _out, err) = run_cli(&["outbox", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("outbox") && err.contains("nothing-here"),
        "{err}"
    );
}
