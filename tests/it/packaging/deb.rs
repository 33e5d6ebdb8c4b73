//! The package: `[package.metadata.deb]` agrees with the unit, and `cargo deb` builds a
//! `.deb` with every file in place.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{UNIT, read, repo, require, run, text};

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
    // The platform contract and its schemas are installed beside the other docs.
    has("docs/platform.md", "usr/share/doc/sitewarden/");
    has(
        "docs/schema/*.schema.json",
        "usr/share/doc/sitewarden/schema/",
    );
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
        "./usr/share/doc/sitewarden/platform.md".to_string(),
    ];
    let mut schemas: Vec<String> = std::fs::read_dir(repo().join("docs/schema"))
        .expect("docs/schema")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".schema.json"))
        .collect();
    schemas.sort();
    assert!(!schemas.is_empty(), "no schemas in docs/schema");
    expected.extend(
        schemas
            .iter()
            .map(|s| format!("./usr/share/doc/sitewarden/schema/{s}")),
    );
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
    same("usr/share/doc/sitewarden/platform.md", "docs/platform.md");
    for s in &schemas {
        same(
            &format!("usr/share/doc/sitewarden/schema/{s}"),
            &format!("docs/schema/{s}"),
        );
    }
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

/// The .deb is built without the `demo` feature, and without it the daemon's dependency
/// graph holds neither the demo's broker nor a Modbus server: what runs on a gateway is
/// only the daemon.
#[test]
fn the_packaged_daemon_links_no_demo_broker_and_no_modbus_server() {
    let meta = deb_metadata();
    assert_eq!(
        meta.get("default-features").and_then(|v| v.as_bool()),
        Some(false),
        "[package.metadata.deb] must build without default features (the demo)"
    );
    let tree = |features: &[&str]| {
        let out = run(
            Command::new(cargo())
                .args(["tree", "--offline", "--locked", "-e", "normal"])
                .args(["--prefix", "none", "--format", "{p}"])
                .args(features)
                .current_dir(repo()),
            Duration::from_secs(120),
        );
        assert!(out.status.success(), "cargo tree failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect::<BTreeSet<String>>()
    };
    let shipped = tree(&["--no-default-features"]);
    for absent in ["rumqttd", "tokio-modbus", "axum"] {
        assert!(
            !shipped.contains(absent),
            "the packaged daemon depends on {absent}"
        );
    }
    for present in ["rumqttc", "redb", "tokio"] {
        assert!(
            shipped.contains(present),
            "{present} missing from {shipped:?}"
        );
    }
    // The control: with the demo, the broker and the Modbus server are there.
    let with_demo = tree(&[]);
    assert!(with_demo.contains("rumqttd") && with_demo.contains("tokio-modbus"));
}
