//! Proxies that garble chosen replies: a cable, a gateway or a device firmware having a
//! bad moment.
//!
//! Requests pass untouched. Replies are cut into frames (by their MBAP length on TCP, by
//! function and byte count on RTU), numbered from 1, and the listed ones get one byte
//! flipped (XOR 0xFF) at the listed offset before they go on.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Garbler {
    /// Where the client should connect.
    pub address: String,
    /// Replies forwarded so far.
    pub replies: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Garbler {
    /// Proxies to `upstream`; `flips` lists (reply number, byte offset in the ADU).
    pub async fn start(upstream: &str, flips: &[(usize, usize)]) -> Garbler {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address").to_string();
        let replies = Arc::new(AtomicUsize::new(0));
        let (upstream, flips, counter) =
            (upstream.to_string(), flips.to_vec(), Arc::clone(&replies));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, flips.clone(), Arc::clone(&counter)));
            }
        });
        Garbler {
            address,
            replies,
            task,
        }
    }

    pub fn replies(&self) -> usize {
        self.replies.load(Ordering::SeqCst)
    }
}

impl Drop for Garbler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    flips: Vec<(usize, usize)>,
    replies: Arc<AtomicUsize>,
) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_rx, &mut server_tx).await;
    });
    let mut frame = [0u8; 260];
    loop {
        if server_rx.read_exact(&mut frame[..7]).await.is_err() {
            break;
        }
        let len = usize::from(u16::from_be_bytes([frame[4], frame[5]]));
        let end = 6 + len;
        if !(7..=frame.len()).contains(&end)
            || server_rx.read_exact(&mut frame[7..end]).await.is_err()
        {
            break;
        }
        let n = replies.fetch_add(1, Ordering::SeqCst) + 1;
        for &(_, at) in flips.iter().filter(|(k, at)| *k == n && *at < end) {
            frame[at] ^= 0xFF;
        }
        if client_tx.write_all(&frame[..end]).await.is_err() {
            break;
        }
    }
    up.abort();
}

/// The same on an RTU line: a relay between two pty pairs that copies requests as they
/// come and frames the answers (unit, function, byte count or exception, CRC), flipping
/// byte `offset` of the listed answers, numbered from 1. Its threads end when the pty
/// pairs close.
pub fn garble_rtu(gateway_side: &Path, device_side: &Path, flips: &[(usize, usize)]) {
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
    };
    let (gateway, device) = (open(gateway_side), open(device_side));
    let (mut requests_in, mut requests_out) = (clone(&gateway), clone(&device));
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = requests_in.read(&mut buf) {
            if requests_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let (mut answers_in, mut answers_out) = (device, gateway);
    let flips = flips.to_vec();
    std::thread::spawn(move || {
        let mut frame = [0u8; 260];
        for n in 1.. {
            // Unit and function, then the byte count of a read; an exception is 5 bytes.
            if answers_in.read_exact(&mut frame[..3]).is_err() {
                break;
            }
            let len = if frame[1] & 0x80 != 0 {
                5
            } else {
                5 + usize::from(frame[2])
            };
            if answers_in.read_exact(&mut frame[3..len]).is_err() {
                break;
            }
            for &(_, at) in flips.iter().filter(|(k, at)| *k == n && *at < len) {
                frame[at] ^= 0xFF;
            }
            if answers_out.write_all(&frame[..len]).is_err() {
                break;
            }
        }
    });
}

fn clone(f: &std::fs::File) -> std::fs::File {
    f.try_clone().expect("duplicate a pty descriptor")
}
