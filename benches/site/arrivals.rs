//! Poll timing as the devices see it: every request's arrival, timestamped at the
//! simulator, outside the daemon.
//!
//! Each simulated device listens behind a small relay: the daemon's connection is accepted
//! here, bytes are copied both ways to the device's Modbus server on a second loopback
//! listener, and the wall-clock millisecond of the first request of every second is kept.
//! The daemon polls on whole-second ticks, so that arrival's offset from the whole second
//! is its poll jitter, and a second with no request is a missed poll deadline.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Per device, the arrival (ms since the epoch) of the first request in each second.
#[derive(Default)]
pub(crate) struct Arrivals {
    devices: Vec<Mutex<Vec<i64>>>,
}

impl Arrivals {
    pub(crate) fn new(devices: usize) -> Arc<Arrivals> {
        Arc::new(Arrivals {
            devices: (0..devices).map(|_| Mutex::new(Vec::new())).collect(),
        })
    }

    fn record(&self, device: usize, at_ms: i64) {
        let mut v = self.devices[device]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if v.last().is_none_or(|&last| last / 1000 != at_ms / 1000) {
            v.push(at_ms);
        }
    }

    /// The figures over the whole seconds in [t0, t1), as one `stats …` line for the bench.
    pub(crate) fn stats_line(&self, t0_ms: i64, t1_ms: i64) -> String {
        let (s0, s1) = (t0_ms.div_euclid(1000) + 1, t1_ms.div_euclid(1000));
        let seconds = (s1 - s0).max(0) as u64;
        let (mut on_time, mut offsets, mut first) = (0u64, Vec::new(), i64::MAX);
        for d in &self.devices {
            let v = d.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(&f) = v.first() {
                first = first.min(f);
            }
            for &at in v.iter().filter(|&&at| (s0..s1).contains(&(at / 1000))) {
                on_time += 1;
                offsets.push(at % 1000);
            }
        }
        offsets.sort_unstable();
        let pct = |p: f64| -> i64 {
            if offsets.is_empty() {
                return -1;
            }
            offsets[((offsets.len() - 1) as f64 * p).round() as usize]
        };
        let expected = seconds * self.devices.len() as u64;
        format!(
            "stats expected={expected} on_time={on_time} p50_ms={} p99_ms={} max_ms={} first_ms={first}",
            pct(0.50),
            pct(0.99),
            offsets.last().copied().unwrap_or(-1),
        )
    }
}

/// Accepts the daemon's connections on `outer` and relays each to the device's server at
/// `inner`, recording request arrivals for `device`.
pub(crate) fn relay(
    outer: TcpListener,
    inner: std::net::SocketAddr,
    device: usize,
    log: Arc<Arrivals>,
) {
    tokio::spawn(async move {
        while let Ok((client, _)) = outer.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(inner).await {
                    pipe(client, server, device, log).await;
                }
            });
        }
    });
}

async fn pipe(client: TcpStream, server: TcpStream, device: usize, log: Arc<Arrivals>) {
    client.set_nodelay(true).ok();
    server.set_nodelay(true).ok();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let mut buf = [0u8; 512];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            log.record(device, sitewarden::clock::now_ms());
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        sw.shutdown().await.ok();
    };
    let down = async move {
        tokio::io::copy(&mut sr, &mut cw).await.ok();
        cw.shutdown().await.ok();
    };
    tokio::join!(up, down);
}
