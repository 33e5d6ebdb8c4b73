//! The devices we did not write, and what they hold.
//!
//! - `Pymodbus`: `tests/fixtures/pymodbus_server.py` under the venv's Python (the README
//!   test command, scripts/test.sh, creates it and exports `SW_TEST_PYTHON`).
//! - `PtyPair`: `socat` joining two pseudo-terminals, an RS485 bus without hardware.
//! - `EXPECTED`: the values the script serves, as the shipped profiles decode them.
//! - `site`: a validated `Site` from connection and device tables, through `config`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use sitewarden::health::Health;
use sitewarden::reading::Sample;
use sitewarden::site::Site;
use sitewarden::source::modbus::{WriteSender, run_connection};
use tokio_util::sync::CancellationToken;

/// Units the script serves, by profile (see the table in pymodbus_server.py).
pub const TURNSTILE: u8 = 1;
pub const RS485_TH: u8 = 2;
pub const FEVER_KIOSK: u8 = 3;
pub const WATER_LEVEL: u8 = 4;
/// rs485-th's map, answering after `--slow-ms`.
pub const SLOW: u8 = 20;
/// Answers everything with exception 0x04.
pub const FAILING: u8 = 21;
/// Nobody has this address.
pub const SILENT: u8 = 30;

/// (profile, unit, point, engineering value, raw registers in hex as `probe` prints them).
pub const EXPECTED: &[(&str, u8, &str, f64, &str)] = &[
    ("turnstile", TURNSTILE, "entries", 123_456.0, "0001 E240"),
    ("turnstile", TURNSTILE, "exits", 654_321.0, "0009 FBF1"),
    ("turnstile", TURNSTILE, "status", 2.0, "0002"),
    ("turnstile", TURNSTILE, "forced_entry", 1.0, "1"),
    ("turnstile", TURNSTILE, "tailgating", 0.0, "0"),
    ("turnstile", TURNSTILE, "open", 0.0, "0"),
    ("turnstile", TURNSTILE, "locked", 1.0, "1"),
    ("rs485-th", RS485_TH, "humidity", 56.3, "0233"),
    ("rs485-th", RS485_TH, "temperature", -5.2, "FFCC"),
    ("fever-kiosk", FEVER_KIOSK, "body_temp", 37.12, "0E80"),
    ("fever-kiosk", FEVER_KIOSK, "scans", 70_000.0, "0001 1170"),
    // An f32 of 12.34 widened to f64.
    (
        "water-level",
        WATER_LEVEL,
        "level_m",
        12.34_f32 as f64,
        "70A4 4145",
    ),
];

/// The shipped Modbus profiles and the unit serving each.
pub const PROFILES: [(&str, u8); 4] = [
    ("turnstile", TURNSTILE),
    ("rs485-th", RS485_TH),
    ("fever-kiosk", FEVER_KIOSK),
    ("water-level", WATER_LEVEL),
];

/// How long a helper process may take to come up (Python imports pymodbus in ~1 s; the
/// machine is shared with parallel builds).
const START_WITHIN: Duration = Duration::from_secs(30);

fn python() -> String {
    match std::env::var("SW_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "SW_TEST_PYTHON is not set: the interop tests need pymodbus; run \
             scripts/test.sh (it creates .venv with pymodbus and exports the variable), or \
             export SW_TEST_PYTHON=$PWD/.venv/bin/python after running it once"
        ),
    }
}

/// A pymodbus server process; stopped (stdin closed, then killed) on drop.
pub struct Pymodbus {
    /// `127.0.0.1:<port>` for TCP, the pty path for RTU.
    pub address: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Pymodbus {
    /// Serves every unit over Modbus TCP on a free loopback port.
    pub fn tcp(slow_ms: u64) -> Pymodbus {
        Self::start(&["tcp".into(), "--slow-ms".into(), slow_ms.to_string()])
    }

    /// Like `tcp`, but as a TCP-to-RTU gateway: a missing unit gets exception 0x0B.
    pub fn tcp_gateway(slow_ms: u64) -> Pymodbus {
        Self::start(&[
            "tcp".into(),
            "--slow-ms".into(),
            slow_ms.to_string(),
            "--gateway".into(),
        ])
    }

    /// Serves every unit as RTU frames on a TCP socket (a serial device server's framing).
    pub fn rtu_over_tcp(slow_ms: u64) -> Pymodbus {
        Self::start(&[
            "tcp".into(),
            "--slow-ms".into(),
            slow_ms.to_string(),
            "--framer".into(),
            "rtu".into(),
        ])
    }

    /// Serves every unit over RTU on `port` (8N1: this machine's ptys refuse parity).
    pub fn rtu(port: &Path, slow_ms: u64) -> Pymodbus {
        Self::start(&[
            "rtu".into(),
            port.display().to_string(),
            "--parity".into(),
            "N".into(),
            "--slow-ms".into(),
            slow_ms.to_string(),
        ])
    }

    fn start(args: &[String]) -> Pymodbus {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pymodbus_server.py"
        );
        let mut child = Command::new(python())
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the pymodbus server (is SW_TEST_PYTHON a python?)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let line = match rx.recv_timeout(START_WITHIN) {
            Ok(Ok(line)) => line,
            other => {
                let _ = child.kill();
                panic!("pymodbus server did not report ready: {other:?}");
            }
        };
        let Some(address) = line.trim().strip_prefix("ready ") else {
            let _ = child.kill();
            panic!("pymodbus server said {line:?} instead of `ready …`");
        };
        Pymodbus {
            address: address.to_string(),
            stdin: child.stdin.take(),
            child,
        }
    }

    pub fn port(&self) -> u16 {
        let (_, port) = self.address.rsplit_once(':').expect("host:port");
        port.parse().expect("numeric port")
    }
}

impl Drop for Pymodbus {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two pseudo-terminals joined by socat: whatever is written to one is read from the
/// other, as on a two-wire bus. Stopped on drop.
pub struct PtyPair {
    /// The device side (pymodbus opens it).
    pub device: PathBuf,
    /// The gateway side (sitewarden or mbpoll opens it).
    pub gateway: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PtyPair {
    pub fn open() -> PtyPair {
        let dir = tempfile::tempdir().expect("temp dir");
        let device = dir.path().join("device");
        let gateway = dir.path().join("gateway");
        let end = |p: &Path| format!("pty,raw,echo=0,link={}", p.display());
        let child = Command::new("socat")
            .args(["-d", "-d", &end(&device), &end(&gateway)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat (the README test command installs it)");
        let mut pair = PtyPair {
            device,
            gateway,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + START_WITHIN;
        while !(pair.device.exists() && pair.gateway.exists()) {
            if let Ok(Some(status)) = pair.child.try_wait() {
                panic!("socat exited with {status} before making the pty pair");
            }
            assert!(Instant::now() < deadline, "socat made no pty pair in time");
            std::thread::sleep(Duration::from_millis(10));
        }
        pair
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A serial device server stand-in: socat copying bytes between a loopback TCP listener
/// and a pty (one end of a `PtyPair`), unchanged, one connection at a time as such a box
/// serves its line (`max-children=1`: a second client waits for the first). Stopped on
/// drop.
pub struct SerialServer {
    pub address: String,
    child: Child,
}

impl SerialServer {
    pub fn open(line: &Path) -> SerialServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("socat")
            .args([
                &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,max-children=1"),
                &format!("OPEN:{},raw,echo=0", line.display()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat");
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + START_WITHIN;
        // Listening is looked up rather than tried: a trial connection would take the
        // box's one client slot until socat noticed it had gone.
        let listening = format!(":{port:04X} 00000000:0000 0A");
        while !std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&listening)) {
            assert!(Instant::now() < deadline, "socat did not listen in time");
            std::thread::sleep(Duration::from_millis(10));
        }
        SerialServer { address, child }
    }
}

impl Drop for SerialServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An RTU-over-TCP connection table entry for `site` (the far line at 9600 8N1).
pub fn rtu_over_tcp(name: &str, address: &str, timeout: &str) -> String {
    format!(
        "[[connection]]\nname = \"{name}\"\ntype = \"modbus-rtu-over-tcp\"\naddress = \"{address}\"\n\
         baud = 9600\ntimeout = \"{timeout}\"\n\n"
    )
}

/// A TCP connection table entry for `site`.
pub fn tcp(name: &str, address: &str, timeout: &str) -> String {
    format!(
        "[[connection]]\nname = \"{name}\"\ntype = \"modbus-tcp\"\naddress = \"{address}\"\n\
         timeout = \"{timeout}\"\n\n"
    )
}

/// An RTU connection table entry for `site` (9600 8N1).
pub fn rtu(name: &str, port: &Path, timeout: &str) -> String {
    format!(
        "[[connection]]\nname = \"{name}\"\ntype = \"modbus-rtu\"\nport = \"{}\"\nbaud = 9600\n\
         parity = \"none\"\nstop_bits = 1\ntimeout = \"{timeout}\"\n\n",
        port.display()
    )
}

/// A device table entry for `site`.
pub fn device(id: &str, profile: &str, connection: &str, unit: u8, poll: &str) -> String {
    format!(
        "[[device]]\nid = \"{id}\"\nprofile = \"{profile}\"\nconnection = \"{connection}\"\n\
         unit = {unit}\npoll = \"{poll}\"\n\n"
    )
}

/// The head of a config file: gateway and uplink.
pub fn head(broker: &str, data_dir: &Path, interval: &str) -> String {
    format!(
        "[gateway]\nsite = \"test\"\nid = \"gw-1\"\ndata_dir = \"{}\"\n\n[uplink]\n\
         broker = \"{broker}\"\nsummary_interval = \"{interval}\"\n\n",
        data_dir.display()
    )
}

/// A validated site from connection and device tables (no broker is contacted).
pub fn site(tables: &str) -> Site {
    let text = head("mqtt://127.0.0.1:1", Path::new("/nonexistent"), "1s") + tables;
    sitewarden::config::load_from(&text, "interop.toml", &[], &[])
        .unwrap_or_else(|e| panic!("test config refused:\n{e}\n{text}"))
}

/// Values within a millionth (decimal scales such as 0.1 are not exact in binary).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// No interop test may run longer than this.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `f` on a fresh runtime, failing the test if it exceeds `DEADLINE`.
pub fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime");
    rt.block_on(async {
        tokio::time::timeout(DEADLINE, f)
            .await
            .expect("interop test exceeded its deadline")
    })
}

/// The daemon's connection task for one connection, with its samples collected.
pub struct Polling {
    pub health: Arc<Health>,
    pub samples: Vec<Sample>,
    rx: tokio::sync::mpsc::Receiver<Sample>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _writes: WriteSender,
}

impl Polling {
    /// Starts polling connection `conn` of `site` (call inside `bounded`).
    pub fn start(site: &Site, conn: usize) -> Polling {
        let site = Arc::new(site.clone());
        let health = Arc::new(Health::new(site.devices.len()));
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let (writes, writes_rx) = sitewarden::source::modbus::mailbox::channel(1);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_connection(
            site,
            conn,
            Arc::clone(&health),
            tx,
            writes_rx,
            cancel.clone(),
        ));
        Polling {
            health,
            samples: Vec::new(),
            rx,
            cancel,
            task,
            _writes: writes,
        }
    }

    /// Collects samples until `done` holds over all of them so far.
    pub async fn until(&mut self, what: &str, done: impl Fn(&[Sample]) -> bool) {
        while !done(&self.samples) {
            match self.rx.recv().await {
                Some(s) => self.samples.push(s),
                None => panic!("connection task ended before {what}"),
            }
        }
    }

    /// Samples of device `index`, in order.
    pub fn of(&self, index: usize) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.device == index).collect()
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// The engineering value of every point of a sample, by point name.
pub fn values(site: &Site, sample: &Sample) -> Vec<(String, Option<f64>)> {
    let d = &site.devices[sample.device];
    d.points
        .iter()
        .zip(&sample.values)
        .map(|(p, v)| (p.name.clone(), v.map(|raw| p.engineering(raw))))
        .collect()
}

/// Checks every point of a profile's unit against `EXPECTED`.
pub fn assert_expected(profile: &str, got: &[(String, Option<f64>)], context: &str) {
    let want: Vec<_> = EXPECTED.iter().filter(|e| e.0 == profile).collect();
    assert_eq!(got.len(), want.len(), "{context}: points of {profile}");
    for (name, value, _) in want.iter().map(|e| (e.2, e.3, e.4)) {
        let v = got
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{context}: {profile}.{name} has no value: {got:?}"));
        assert!(
            close(v, value),
            "{context}: {profile}.{name} = {v}, expected {value}"
        );
    }
}
