//! A real Mosquitto on a free loopback port, in a directory of its own, stopped on drop:
//! the platform broker of the tests and benchmarks (and the site broker the camera tests
//! publish to). The one launcher; it panics on what a harness cannot go on without.
//!
//! Persistence is on, so persistent test subscribers keep their sessions across `stop` /
//! `restart`; while stopped, the port is held so nothing else takes it.

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct Mosquitto {
    pub port: u16,
    /// Extra configuration lines (e.g. a TLS listener, a password file).
    extra: String,
    /// Config, persistence and log; removed on drop.
    dir: PathBuf,
    child: Option<Child>,
    /// While stopped, the port is held (see `hold_port`) until the restart.
    hold: Option<OwnedFd>,
}

/// A port nobody listens on right now (the OS picks it; we release it for the child).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Mosquitto {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Mosquitto {
        Self::start_with(String::new())
    }

    /// Like `start`, with extra lines appended to the broker's configuration.
    pub fn start_with(extra: String) -> Mosquitto {
        // Another process may take the port between our release and the broker's bind;
        // the broker then exits, and we try another port.
        for _ in 0..3 {
            if let Some(m) = Self::start_on(free_port(), extra.clone()) {
                return m;
            }
        }
        panic!("mosquitto did not start on three free ports");
    }

    /// Starts a broker on `port`; None if it exited instead of listening.
    pub fn start_on(port: u16, extra: String) -> Option<Mosquitto> {
        let mut m = Mosquitto {
            port,
            extra,
            dir: private_dir(),
            child: None,
            hold: None,
        };
        m.write_config();
        m.spawn().then_some(m)
    }

    /// The broker's directory (its config, persistence file and `mosquitto.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn write_config(&self) {
        let conf = self.dir.join("mosquitto.conf");
        let mut f = std::fs::File::create(&conf).expect("write mosquitto.conf");
        let dir = self.dir.display();
        writeln!(
            f,
            "listener {port} 127.0.0.1\nallow_anonymous true\n\
             # Stay the user that runs the tests (as root, mosquitto would switch to\n\
             # `mosquitto` and lose access to this directory).\nuser {user}\n\
             persistence true\npersistence_location {dir}/\nautosave_interval 1\n\
             max_queued_messages 100000\nmax_inflight_messages 0\n\
             log_dest file {dir}/mosquitto.log\nlog_type error\nlog_type warning\n{extra}",
            port = self.port,
            user = current_user(),
            extra = self.extra,
        )
        .expect("write mosquitto.conf");
    }

    /// Runs the broker; false if it exited instead of listening.
    fn spawn(&mut self) -> bool {
        // Give the port back to our broker only now.
        self.hold = None;
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (is it installed? the README test command installs it)");
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "mosquitto does not accept connections on {} after 10 s",
            self.port
        );
    }

    /// Stops the broker gracefully (it saves its persistence file) and holds its port
    /// until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: a signal to our own child, which we have not reaped yet.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(20));
            }
            c.kill().ok();
            c.wait().ok();
            self.hold = hold_port(self.port);
        }
    }

    /// Starts it again on the same port, with the same persistence (stopping it first if
    /// it runs); waits until it listens.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.spawn(), "mosquitto did not come back on {}", self.port);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        // Killing a broker that already exited fails harmlessly; reap it either way.
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// A fresh directory under the system temp dir, unique to this process and call.
fn private_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sw-mosquitto-{}-{n}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("create the broker's directory");
    dir
}

/// Holds `127.0.0.1:port` while the broker is down: a socket bound there that never
/// listens, so connections are refused just as with no broker, but no other test's
/// broker (`free_port` binds port 0) and no outgoing connection (ephemeral ports) can
/// take the port meanwhile, and the restart gets it back. SO_REUSEADDR lets the bind
/// succeed over the old broker's TIME_WAIT connections. None if the bind fails (the
/// test then runs without the guard).
fn hold_port(port: u16) -> Option<OwnedFd> {
    // SAFETY: plain socket calls on a descriptor we own, with correctly sized arguments.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        (rc == 0).then_some(owned)
    }
}

fn mosquitto_binary() -> PathBuf {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

/// Waits until something accepts TCP connections on 127.0.0.1:port.
pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {within:?}");
}

/// The name of the user running the tests.
fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
