//! A real Mosquitto on a free loopback port for the camera tests, killed on drop.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(super) struct Broker {
    pub(super) port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

/// A port nobody listens on right now (the OS picks it; we release it for the broker).
pub(super) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl Broker {
    /// Starts a broker on a port the OS picks, and waits until it accepts connections.
    pub(super) fn start() -> Broker {
        // Another process may grab the port between our release and the broker's bind;
        // then the broker exits, and we try another port.
        for _ in 0..3 {
            if let Some(b) = Broker::start_on(free_port()) {
                return b;
            }
        }
        panic!("mosquitto did not start on three free ports");
    }

    /// Starts a broker on `port`; None if it exited instead of listening.
    pub(super) fn start_on(port: u16) -> Option<Broker> {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("mosquitto.conf");
        let mut f = std::fs::File::create(&conf).expect("create mosquitto.conf");
        writeln!(
            f,
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false"
        )
        .expect("write mosquitto.conf");
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/mosquitto");
        let mut b = Broker {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(b);
            }
            if let Ok(Some(_)) = b.child.try_wait() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("mosquitto does not accept connections on {port} after 10 s");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Killing a broker that already exited fails harmlessly; reap it either way.
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
