//! The processes a bench runs, shared by the site bench and the soak (`#[path]`): the
//! daemon as the .deb ships it, the simulator (this binary again, in a process of its
//! own), and the small helpers around child processes.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// A child process killed on drop (the bench may end early on an error).
pub(crate) struct Kid(pub(crate) Child);

impl Drop for Kid {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The daemon exactly as the .deb ships it (`cargo build --release --no-default-features`), built here into a target
/// directory of the bench's own. Not `CARGO_BIN_EXE_sitewarden`: for a bench, cargo builds
/// the binary with the dev-dependencies' features unified in (0.5 MB larger, more of it
/// resident), and writes it over `target/release/sitewarden`; and the main target
/// directory stays locked by the `cargo bench` that runs us.
pub(crate) fn release_binary() -> anyhow::Result<PathBuf> {
    // We run as <target>/release/deps/<bench>-<hash>.
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .context("the bench runs from outside a target directory")?;
    let dir = target.join("site-bench");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo build --release (into {})", dir.display());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--bin",
            "sitewarden",
            // As the .deb builds it: without the demo (`[package.metadata.deb]`).
            "--no-default-features",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    Ok(dir.join("release").join("sitewarden"))
}

pub(crate) type SimOut = std::io::BufReader<std::process::ChildStdout>;

/// Re-executes this binary as the simulator of `devices` devices and reads its ports.
pub(crate) fn start_sim(devices: usize) -> anyhow::Result<(Kid, Vec<u16>, SimOut)> {
    let mut child = Kid(Command::new(std::env::current_exe()?)
        .env("SITEWARDEN_BENCH_ROLE", "sim")
        .env("SITEWARDEN_BENCH_DEVICES", devices.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the simulator")?);
    let out = child.0.stdout.take().context("simulator stdout")?;
    let mut out = std::io::BufReader::new(out);
    let mut line = String::new();
    out.read_line(&mut line)?;
    let Some(ports) = line.trim().strip_prefix("ports ") else {
        bail!("the simulator did not start: {line:?}");
    };
    let ports = ports
        .split(' ')
        .map(str::parse)
        .collect::<Result<Vec<u16>, _>>()?;
    Ok((child, ports, out))
}

/// Raises our soft RLIMIT_NOFILE to the hard limit (children inherit it).
pub(crate) fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

pub(crate) fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return st.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub(crate) fn env_secs(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not whole seconds")),
        Err(_) => Ok(default),
    }
}

/// The last lines of a log, for an error message.
pub(crate) fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `sitewarden run -c <config>` (see `clean_env`), its log appended to `log`.
pub(crate) fn daemon_command(bin: &Path, config: &Path, log: &Path) -> anyhow::Result<Command> {
    let mut cmd = clean_env(Command::new(bin));
    cmd.args(["run", "-c"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .with_context(|| format!("opening {}", log.display()))?,
        );
    Ok(cmd)
}

/// `cmd` without our variables (the daemon refuses unknown SITEWARDEN_* ones) and without
/// systemd's and the log level's, which are not for it.
pub(crate) fn clean_env(mut cmd: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SITEWARDEN") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG");
    cmd
}
