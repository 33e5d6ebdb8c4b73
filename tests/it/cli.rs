//! The command line as a technician uses it: `check` on the shipped example and on a file
//! with several mistakes, env overrides, and `outbox` without a store.

use crate::support::daemon::run_cli;
use std::process::Command;

fn example_path() -> String {
    format!("{}/config/sitewarden.toml", env!("CARGO_MANIFEST_DIR"))
}

/// The shipped example with the files it names (`/etc/sitewarden/…`) made in a temp dir,
/// as an installed gateway has them; the dir lives as long as the test process.
fn example() -> String {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(example_path()).unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        for f in ["uplink.pass", "ca.pem"] {
            let p = etc.join(f);
            std::fs::write(&p, "x\n").unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o640))
                .unwrap();
        }
        let text = text.replace("/etc/sitewarden/", &format!("{}/", etc.display()));
        std::fs::write(dir.path().join("sitewarden.toml"), text).unwrap();
        dir
    });
    dir.path().join("sitewarden.toml").display().to_string()
}

#[test]
fn check_refuses_what_the_start_refuses_missing_files_and_warns_on_open_secrets() {
    let text = std::fs::read_to_string(example()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    // The shipped example, its CA missing.
    let no_ca = text.replace("ca.pem", "missing-ca.pem");
    std::fs::write(&path, &no_ca).unwrap();
    let (code, _, err) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error: uplink.ca_file ") && err.contains("missing-ca.pem: cannot be read"),
        "{err}"
    );
    // A camera connection's password file missing: refused like the uplink's.
    let cam = text.replacen(
        "type = \"mqtt\"\nbroker",
        "type = \"mqtt\"\nusername = \"cam\"\npassword_file = \"/nonexistent/cam.pass\"\nbroker",
        1,
    );
    assert_ne!(cam, text, "the example has an mqtt connection");
    std::fs::write(&path, &cam).unwrap();
    let (code, _, err) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "error: connection.camera-lan.password_file /nonexistent/cam.pass: cannot be read"
        ),
        "{err}"
    );
    // And `run` refuses the same config at its start (exit 2, the same words).
    let out = Command::new(crate::support::daemon::bin())
        .args(["run", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let run_err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{run_err}");
    assert!(
        run_err.contains("connection.camera-lan.password_file"),
        "{run_err}"
    );
    // A command signing key too short to be safe: `run` refuses it, so `check` does too.
    let short = dir.path().join("short.key");
    std::fs::write(&short, "abc\n").unwrap();
    std::fs::set_permissions(&short, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let keyed: String = text
        .lines()
        .map(|l| match l.starts_with("# key_file = ") {
            true => format!("key_file = \"{}\"\n", short.display()),
            false => format!("{l}\n"),
        })
        .collect();
    assert_ne!(keyed, text, "the example names a commented key_file");
    std::fs::write(&path, &keyed).unwrap();
    let (code, _, err) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error: commands.key_file ") && err.contains("at least"),
        "{err}"
    );
    // A world-readable password: a warning, the check still passes.
    let open = dir.path().join("open.pass");
    std::fs::write(&open, "pw\n").unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let re = with_uplink_password(&text, &open.display().to_string());
    std::fs::write(&path, re).unwrap();
    let (code, out, err) = run_cli(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok"), "{out}");
    assert!(
        err.contains("warning: uplink.password_file")
            && err.contains("readable by every user (mode 0644)"),
        "{err}"
    );
}

/// `text` with the uplink's `password_file` pointing at `to`.
fn with_uplink_password(text: &str, to: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("password_file = ") {
                format!("password_file = \"{to}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
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
