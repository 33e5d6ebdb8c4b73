//! Runs the real `sitewarden` binary against a config written to a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Option<Child>,
    pub log: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sitewarden")
}

impl Daemon {
    /// `sitewarden run -c <config>`; stderr (the log) goes to `<dir>/daemon-<n>.log`.
    pub fn start(config: &Path, dir: &Path) -> Daemon {
        Self::start_with_env(config, dir, &[])
    }

    /// Like `start`, with extra environment variables (e.g. NOTIFY_SOCKET).
    pub fn start_with_env(config: &Path, dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let log = dir.join(format!("daemon-{n}.log"));
        let err = std::fs::File::create(&log).expect("create daemon log");
        let child = Command::new(bin())
            .args(["run", "-c"])
            .arg(config)
            .env("RUST_LOG", "sitewarden=debug,info")
            // Plain text: the tests read the log (support::ledger).
            .env("NO_COLOR", "1")
            .env_remove("NOTIFY_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn sitewarden");
        Daemon {
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(-1)
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGTERM, then wait for the exit status (panics after `within`).
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait(within)
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let c = self.child.as_mut().expect("daemon already reaped");
        loop {
            if let Some(st) = c.try_wait().expect("try_wait") {
                self.child = None;
                return st;
            }
            if Instant::now() > deadline {
                panic!(
                    "daemon did not exit within {within:?}; log:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM; asserts exit 0 within 20 s, showing the log otherwise.
    pub fn stop_cleanly(&mut self) {
        let st = self.terminate(Duration::from_secs(20));
        assert!(
            st.success(),
            "exit {st} after SIGTERM; log:\n{}",
            self.logs()
        );
    }

    /// Waits until the log contains `text`; panics with the log after `within`.
    pub fn wait_log(&self, text: &str, within: Duration) {
        self.wait_log_times(text, 1, within);
    }

    /// Waits until the log contains `text` at least `times` times.
    pub fn wait_log_times(&self, text: &str, times: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.logs().matches(text).count() < times {
            if Instant::now() > deadline {
                panic!(
                    "`{text}` not logged within {within:?}; log:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The logs of every daemon started in `dir`, oldest first.
pub fn logs_in(dir: &Path) -> Vec<String> {
    // `start` numbers its logs by the directory's size at the time, so they sort by start.
    let mut numbered: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let n = p
                .file_name()?
                .to_str()?
                .strip_prefix("daemon-")?
                .strip_suffix(".log")?
                .parse()
                .ok()?;
            Some((n, p))
        })
        .collect();
    numbered.sort();
    numbered
        .iter()
        .map(|(_, p)| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// Runs `sitewarden <args>` to completion and returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sitewarden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
