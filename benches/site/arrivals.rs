//! Poll timing as the devices see it: every request's arrival, timestamped at the
//! simulator, outside the daemon.
//!
//! Each simulated device listens behind a small relay: the daemon's connection is accepted
//! here, bytes are copied both ways to the device's Modbus server on a second loopback
//! listener, and the wall-clock millisecond of the first request of every second is kept.
//! The daemon polls on whole-second ticks, so that arrival's offset from the whole second
//! is its poll jitter, and a second with no request is a missed poll deadline.
//!
//! The arrival is the kernel's receive time of the request on the relay's socket
//! (`SO_TIMESTAMPNS`), not when this single-threaded simulator got round to reading it:
//! at 1 000 devices the simulator's own queueing behind a whole second's burst was most
//! of the measured jitter (p99 74 ms read at the relay). Loopback delivers in the
//! sender's `write`, so it is when the daemon sent the request.

use std::sync::{Arc, Mutex};

use std::io;
use std::os::fd::AsRawFd as _;

use tokio::io::{AsyncWriteExt as _, Interest};
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
    let stamped = receive_timestamps(&client).is_ok();
    let (cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let mut buf = [0u8; 512];
        while let Ok((n, at)) = read_stamped(cr.as_ref(), &mut buf).await {
            if n == 0 {
                break;
            }
            let at = at
                .filter(|_| stamped)
                .unwrap_or_else(sitewarden::clock::now_ms);
            log.record(device, at);
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

/// Asks the kernel to stamp what `s` receives (`SO_TIMESTAMPNS`).
fn receive_timestamps(s: &TcpStream) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option of the size given.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads like `read`, with the kernel's receive time (ms since the epoch) when it gave one.
async fn read_stamped(s: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, Option<i64>)> {
    loop {
        s.readable().await?;
        match s.try_io(Interest::READABLE, || recv_stamped(s.as_raw_fd(), buf)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

fn recv_stamped(fd: i32, buf: &mut [u8]) -> io::Result<(usize, Option<i64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `fd` is an open socket and `msg` describes live buffers.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut at = None;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                at = Some(ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, at))
}
