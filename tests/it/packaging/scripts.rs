//! The maintainer scripts, run with stub commands on a private `PATH`: what they would
//! do to a box, without doing it.

use std::process::Command;
use std::time::Duration;

use super::{read, repo, run, text};

const POSTINST: &str = "debian/postinst";
const POSTRM: &str = "debian/postrm";

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
