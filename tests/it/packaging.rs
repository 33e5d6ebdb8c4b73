//! Packaging: the systemd unit, the Debian maintainer scripts and the `.deb` itself.
//!
//! Owns the checks that what ships to a gateway box fits together: the unit passes
//! `systemd-analyze verify` and sets what the daemon relies on; the unit and the package
//! agree on paths; `debian/postinst` creates the service user once and keeps it in
//! `dialout`; `cargo deb` builds a package holding the binary, unit, conffile, profiles
//! and docs. Never installs anything on this machine: the maintainer scripts run against
//! stub commands on a private `PATH`. A missing tool fails the test with a message that
//! names `scripts/test.sh`, which installs it; nothing is skipped silently.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const UNIT: &str = "systemd/sitewarden.service";
const POSTINST: &str = "debian/postinst";
const POSTRM: &str = "debian/postrm";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Runs `cmd` to completion within `within`, killing it and failing the test after that.
/// stdout and stderr are drained on their own threads so a chatty tool never blocks.
fn run(cmd: &mut Command, within: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map(|_| buf)
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            // Best effort: the test fails below either way.
            child.kill().ok();
            child.wait().ok();
            panic!("{what} did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader").expect("read stdout"),
        stderr: err.join().expect("stderr reader").expect("read stderr"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails, naming the test command that installs `tool`, when `tool` cannot run.
fn require(tool: &str, probe: &mut Command) {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{tool} is not installed: run `bash scripts/test.sh`, which installs it before the suite"
    );
}

// ---- the systemd unit ----

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
    // Reload is SIGHUP; a bad config is refused before start.
    check("ExecReload", "/bin/kill -HUP $MAINPID");
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

// ---- the maintainer scripts ----

/// Runs a maintainer script with `args` where the only commands on `PATH` are stubs
/// that log their arguments; `getent group|passwd` exit with the given status (0 = the
/// entry exists). Returns the logged commands, one per line.
fn run_script(script: &str, args: &[&str], group: i32, passwd: i32) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir bin");
    let log = dir.path().join("calls.log");
    let stub = |name: &str, body: &str| {
        let path = bin.join(name);
        let script = format!("#!/bin/sh\necho \"{name} $*\" >> \"$STUB_LOG\"\n{body}\n");
        std::fs::write(&path, script).expect("write stub");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    stub(
        "getent",
        "case \"$1\" in group) exit \"$STUB_GROUP\";; passwd) exit \"$STUB_PASSWD\";; esac\nexit 2",
    );
    for name in ["groupadd", "useradd", "usermod", "install", "rmdir"] {
        stub(name, "exit 0");
    }
    let out = run(
        Command::new("/bin/sh")
            .arg(repo().join(script))
            .args(args)
            .env_clear()
            .env("PATH", &bin)
            .env("STUB_LOG", &log)
            .env("STUB_GROUP", group.to_string())
            .env("STUB_PASSWD", passwd.to_string()),
        Duration::from_secs(20),
    );
    assert!(
        out.status.success(),
        "{script} {args:?} failed: {}",
        text(&out)
    );
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("getent "))
        .map(str::to_string)
        .collect()
}

#[test]
fn postinst_creates_the_service_user_once() {
    const GROUPADD: &str = "groupadd --system sitewarden";
    const USERADD: &str = "useradd --system --gid sitewarden --groups dialout \
        --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --comment sitewarden edge gateway sitewarden";
    const USERMOD: &str = "usermod --append --groups dialout sitewarden";
    const PROFILES: &str = "install -d -m 0755 /etc/sitewarden/profiles";
    #[track_caller]
    fn check(args: &[&str], group: i32, passwd: i32, expected: &[&str]) {
        assert_eq!(run_script(POSTINST, args, group, passwd), expected);
    }
    // A fresh box: group, then user in dialout with no shell and no home.
    check(&["configure"], 2, 2, &[GROUPADD, USERADD, PROFILES]);
    // The group was left behind by an earlier install.
    check(&["configure"], 0, 2, &[USERADD, PROFILES]);
    // An upgrade: the user exists and is put back in dialout if someone removed it.
    check(&["configure", "0.1.0-1"], 0, 0, &[USERMOD, PROFILES]);
    // Other actions touch nothing.
    check(&["abort-upgrade", "0.1.0-1"], 2, 2, &[]);
}

#[test]
fn postrm_purge_leaves_the_store_and_user() {
    #[track_caller]
    fn check(args: &[&str], expected: &[&str]) {
        assert_eq!(run_script(POSTRM, args, 0, 0), expected);
    }
    check(
        &["purge"],
        &["rmdir --ignore-fail-on-non-empty /etc/sitewarden/profiles /etc/sitewarden"],
    );
    check(&["remove"], &[]);
    check(&["upgrade", "0.2.0-1"], &[]);
}

#[test]
fn maintainer_scripts_leave_room_for_the_systemd_fragments() {
    // cargo-deb replaces this line with the enable / try-restart / purge snippets.
    for script in [POSTINST, POSTRM] {
        let body = read(script);
        assert!(body.starts_with("#!/bin/sh\n"), "{script}: not a sh script");
        assert!(
            body.contains("\n#DEBHELPER#\n"),
            "{script}: no #DEBHELPER# line"
        );
    }
}

// ---- the package ----

/// The cargo that runs this suite (`cargo test` sets `CARGO`), else the one on `PATH`.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `[package.metadata.deb]` of Cargo.toml.
fn deb_metadata() -> toml::Table {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml parses");
    manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("deb"))
        .and_then(|d| d.as_table())
        .cloned()
        .expect("Cargo.toml has [package.metadata.deb]")
}

/// The `(source, dest)` of each asset.
fn deb_assets() -> Vec<(String, String)> {
    let meta = deb_metadata();
    let assets = meta
        .get("assets")
        .and_then(|a| a.as_array())
        .expect("assets");
    assets
        .iter()
        .map(|a| {
            let a = a.as_array().expect("asset is [source, dest, mode]");
            let s = |i: usize| a[i].as_str().expect("asset field").to_string();
            (s(0), s(1))
        })
        .collect()
}

#[test]
fn unit_and_package_agree_on_paths() {
    let assets = deb_assets();
    let has = |source: &str, dest: &str| {
        assert!(
            assets.iter().any(|(s, d)| s == source && d == dest),
            "no asset {source} -> {dest} in {assets:?}"
        );
    };
    // The unit runs /usr/bin/sitewarden with /etc/sitewarden/sitewarden.toml.
    has("target/release/sitewarden", "usr/bin/");
    has("config/sitewarden.toml", "etc/sitewarden/sitewarden.toml");
    let unit = read(UNIT);
    assert!(unit.contains("ExecStart=/usr/bin/sitewarden run -c /etc/sitewarden/sitewarden.toml"));
    // Documentation= names the docs the package installs.
    for doc in ["README.md", "hardware-notes.md"] {
        has(doc, "usr/share/doc/sitewarden/");
        let line = format!("Documentation=file:///usr/share/doc/sitewarden/{doc}");
        assert!(unit.contains(&line), "{UNIT}: no {line}");
    }
}

/// Every path in the package's data archive, as `dpkg-deb -c` prints it (`./usr/bin/…`),
/// with its mode string.
fn deb_contents(deb: &Path) -> Vec<(String, String)> {
    let out = run(
        Command::new("dpkg-deb").arg("-c").arg(deb),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "dpkg-deb -c: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mode = l.split_whitespace().next()?;
            let path = l.split_whitespace().last()?;
            Some((path.to_string(), mode.to_string()))
        })
        .collect()
}

#[test]
fn deb_holds_binary_unit_config_profiles_and_docs() {
    require(
        "cargo-deb",
        Command::new(cargo()).args(["deb", "--version"]),
    );
    require("dpkg-deb", Command::new("dpkg-deb").arg("--version"));
    // Package the binary under test: a private target dir whose release/ holds it, so
    // nothing is compiled here and the project's own target dir is left alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let release = dir.path().join("target/release");
    std::fs::create_dir_all(&release).expect("mkdir release");
    std::fs::copy(env!("CARGO_BIN_EXE_sitewarden"), release.join("sitewarden"))
        .expect("copy binary");
    let deb = dir.path().join("sitewarden.deb");
    let out = run(
        Command::new(cargo())
            .args([
                "deb",
                "--no-build",
                "--strip",
                "--fast",
                "--offline",
                "--output",
            ])
            .arg(&deb)
            .current_dir(repo())
            .env("CARGO_TARGET_DIR", dir.path().join("target")),
        Duration::from_secs(300),
    );
    assert!(out.status.success(), "cargo deb failed: {}", text(&out));

    let contents = deb_contents(&deb);
    let paths: BTreeSet<&str> = contents.iter().map(|(p, _)| p.as_str()).collect();
    let mut expected = vec![
        "./usr/bin/sitewarden".to_string(),
        "./usr/lib/systemd/system/sitewarden.service".to_string(),
        "./etc/sitewarden/sitewarden.toml".to_string(),
        "./usr/share/doc/sitewarden/README.md".to_string(),
        "./usr/share/doc/sitewarden/hardware-notes.md".to_string(),
    ];
    let mut profiles: Vec<String> = std::fs::read_dir(repo().join("config/profiles"))
        .expect("config/profiles")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    profiles.sort();
    assert!(
        !profiles.is_empty(),
        "no shipped profiles in config/profiles"
    );
    expected.extend(
        profiles
            .iter()
            .map(|p| format!("./usr/share/sitewarden/profiles/{p}")),
    );
    for path in &expected {
        assert!(
            paths.contains(path.as_str()),
            "{path} missing from the .deb: {paths:#?}"
        );
    }
    let mode = |path: &str| {
        contents
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, m)| m.as_str())
    };
    assert_eq!(mode("./usr/bin/sitewarden"), Some("-rwxr-xr-x"));
    assert_eq!(mode("./etc/sitewarden/sitewarden.toml"), Some("-rw-r--r--"));

    // The files are the ones in the repository, byte for byte.
    let root = dir.path().join("root");
    let out = run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "dpkg-deb -x: {}", text(&out));
    let same = |installed: &str, source: &str| {
        let a = std::fs::read(root.join(installed)).unwrap_or_else(|e| panic!("{installed}: {e}"));
        assert_eq!(
            a,
            std::fs::read(repo().join(source)).expect("source"),
            "{installed} differs from {source}"
        );
    };
    same("usr/lib/systemd/system/sitewarden.service", UNIT);
    same("etc/sitewarden/sitewarden.toml", "config/sitewarden.toml");
    same(
        "usr/share/doc/sitewarden/hardware-notes.md",
        "hardware-notes.md",
    );
    for p in &profiles {
        same(
            &format!("usr/share/sitewarden/profiles/{p}"),
            &format!("config/profiles/{p}"),
        );
    }

    // Control: the example config is a conffile; postinst makes the user, then enables
    // the unit; the user tools the postinst calls are a dependency.
    let control = dir.path().join("control");
    let out = run(
        Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "dpkg-deb -e: {}", text(&out));
    let ctl = |name: &str| {
        std::fs::read_to_string(control.join(name))
            .unwrap_or_else(|e| panic!("control {name}: {e}"))
    };
    assert_eq!(
        ctl("conffiles").lines().collect::<Vec<_>>(),
        ["/etc/sitewarden/sitewarden.toml"]
    );
    let postinst = ctl("postinst");
    let useradd = postinst.find("useradd").expect("postinst creates the user");
    let enable = postinst
        .find("deb-systemd-helper enable sitewarden.service")
        .expect("postinst enables the unit");
    assert!(
        useradd < enable,
        "the user must exist before the unit is enabled"
    );
    assert!(!postinst.contains("#DEBHELPER#"), "token left in postinst");
    assert!(
        postinst.contains("deb-systemd-invoke try-restart sitewarden.service"),
        "an upgrade restarts a running service, an install does not start it"
    );
    let depends = ctl("control");
    let depends = depends
        .lines()
        .find(|l| l.starts_with("Depends:"))
        .expect("Depends");
    assert!(depends.contains("passwd"), "{depends}");
}
