//! Bus benchmark (issue 6): how close the Modbus poller comes to what the wire allows.
//!
//! 1. **RTU at 9600 baud, 11-bit characters, 10 slaves × 2 registers.** The daemon's
//!    connection task (`source::modbus::run_connection`, the real code path) polls ten
//!    rs485-th units as fast as the bus lets it. A pty pair has no baud timing, so two pty
//!    pairs are joined by a pacing relay that models the line: every byte takes its wire
//!    time (11 bits / 9600 baud), bytes of one frame go back to back, and a frame in the
//!    other direction starts no sooner than 3.5 characters after the line went quiet (the
//!    silent interval a compliant slave keeps too). The slaves are tokio-modbus's RTU
//!    server (`sim::modbus`), answering at once. This machine's ptys refuse parity
//!    (`PARENB` gives EINVAL), so the ports run 8N2: 11 bits a character, the wire time
//!    of 8E1.
//! 2. **Coalescing on Modbus TCP.** Requests per poll of each shipped profile with one
//!    request per point and with `plan`'s coalesced reads, checked by reading a
//!    simulated device (tokio-modbus's TCP server), and the bus time the same requests
//!    would take at 9600 8E1.
//!
//! Run with `cargo bench --bench bus`. It prints tables and asserts nothing about speed
//! (only that the simulated devices were read cleanly).

use std::fs::File;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sitewarden::health::{Health, get};
use sitewarden::sim::modbus::{Faults, Image, serve_rtu, serve_tcp, units};
use sitewarden::site::{Connection, ConnectionKind, Device, Parity, Point, PointSource, Site};
use sitewarden::source::modbus::{plan, read_once, run_connection};
use tokio_util::sync::CancellationToken;

const BAUD: u32 = 9600;
/// Start bit, 8 data bits, parity, stop bit (8E1); or 8N2 on the ptys.
const BITS_PER_CHAR: u32 = 11;
const SLAVES: u8 = 10;
/// Warm-up and measuring time under `cargo bench`; `cargo test --all-targets` runs the
/// same code for a tenth of the time, as a smoke check.
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);

fn char_time() -> Duration {
    Duration::from_nanos(u64::from(BITS_PER_CHAR) * 1_000_000_000 / u64::from(BAUD))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let scale = if std::env::args().any(|a| a == "--bench") {
        1
    } else {
        10
    };
    rtu_bus(WARM_UP / scale, MEASURE / scale);
    println!();
    coalescing();
}

// ─── 1. RTU bus ───────────────────────────────────────────────────────────────────

/// The shared line: when it falls quiet, which way the last byte went, and how long it
/// stood idle beyond the silent interval before a frame, by the side that sent it.
struct Line {
    busy_until: Instant,
    last_up: bool,
    /// [slaves, master]: idle time beyond 3.5 characters before their frames.
    idle: [Duration; 2],
    frames: [u64; 2],
}

/// Copies `from` to `to`, each byte delivered when the modelled line has carried it.
fn pace(mut from: File, mut to: File, up: bool, line: Arc<Mutex<Line>>) {
    let c = char_time();
    let gap = c * 7 / 2;
    let mut buf = [0u8; 256];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let arrived = Instant::now();
        for &b in &buf[..n] {
            let due = {
                let mut l = line.lock().unwrap_or_else(|e| e.into_inner());
                let free = if l.last_up == up {
                    l.busy_until
                } else {
                    let free = l.busy_until + gap;
                    l.idle[usize::from(up)] += arrived.saturating_duration_since(free);
                    l.frames[usize::from(up)] += 1;
                    free
                };
                let end = arrived.max(free) + c;
                l.busy_until = end;
                l.last_up = up;
                end
            };
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&[b]).is_err() {
                return;
            }
        }
    }
}

fn rtu_bus(warm_up: Duration, measure: Duration) {
    let master_side = sitewarden::sim::pty::open().expect("openpty");
    let slave_side = sitewarden::sim::pty::open().expect("openpty");
    let line = Arc::new(Mutex::new(Line {
        busy_until: Instant::now(),
        last_up: false,
        idle: [Duration::ZERO; 2],
        frames: [0; 2],
    }));
    let clone = |f: &File| f.try_clone().expect("dup pty master");
    for (from, to, up) in [
        (clone(&master_side.master), clone(&slave_side.master), true),
        (clone(&slave_side.master), clone(&master_side.master), false),
    ] {
        let line = Arc::clone(&line);
        std::thread::spawn(move || pace(from, to, up, line));
    }

    let th = sitewarden::config::load_profile("rs485-th", &[]).expect("shipped profile");
    let images = (1..=SLAVES).map(|u| (u, Image::with_points(&th)));
    let served = units(images);
    let server_port = slave_side.path.clone();
    std::thread::spawn(move || {
        let rt = runtime();
        rt.block_on(async move {
            let port = tokio_serial::SerialStream::open(&tokio_serial::new(
                server_port.to_string_lossy(),
                BAUD,
            ))
            .expect("open the slaves' pty");
            let _server = serve_rtu(port, served, Faults::default());
            std::future::pending::<()>().await;
        });
    });

    let kind = ConnectionKind::ModbusRtu {
        port: master_side.path.clone(),
        baud: BAUD,
        parity: Parity::None,
        data_bits: 8,
        stop_bits: 2,
        timeout: Duration::from_millis(200),
        min_gap: Duration::ZERO,
    };
    let devices = (1..=SLAVES)
        .map(|u| device(&format!("th-{u}"), "rs485-th", u, th.clone()))
        .collect();
    let site = Arc::new(site(kind, devices));
    let health = Arc::new(Health::new(usize::from(SLAVES)));
    let rt = runtime();
    let mut idle_ms = [0.0; 2];
    let (polls, errors, seconds) = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let (_writes, writes_rx) = sitewarden::source::modbus::mailbox::channel(1);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_connection(
            Arc::clone(&site),
            0,
            Arc::clone(&health),
            tx,
            writes_rx,
            cancel.clone(),
        ));
        let drain = tokio::spawn(async move {
            let mut errors = 0u64;
            while let Some(s) = rx.recv().await {
                errors += u64::from(s.error.is_some());
            }
            errors
        });
        let idle = || {
            let l = line.lock().unwrap_or_else(|e| e.into_inner());
            (l.idle, l.frames)
        };
        tokio::time::sleep(warm_up).await;
        let (p0, t0, i0) = (get(&health.polls), Instant::now(), idle());
        tokio::time::sleep(measure).await;
        let (p1, t1, i1) = (get(&health.polls), Instant::now(), idle());
        let per_frame = |side: usize| {
            let frames = (i1.1[side] - i0.1[side]).max(1);
            (i1.0[side] - i0.0[side]).as_secs_f64() * 1000.0 / frames as f64
        };
        idle_ms = [per_frame(0), per_frame(1)];
        cancel.cancel();
        if let Err(e) = task.await {
            eprintln!("connection task: {e}");
        }
        let errors = drain.await.unwrap_or(u64::MAX);
        (p1 - p0, errors, (t1 - t0).as_secs_f64())
    });

    let c_ms = char_time().as_secs_f64() * 1000.0;
    let (request, response, gaps) = (8.0, 9.0, 2.0 * 3.5);
    let chars = request + response + gaps;
    let limit = 1000.0 / (chars * c_ms);
    let achieved = polls as f64 / seconds;
    println!(
        "RTU bus: {BAUD} baud, {BITS_PER_CHAR}-bit characters (8E1), {SLAVES} slaves x 2 holding registers (FC3)"
    );
    println!("  one character        {BITS_PER_CHAR} bits / {BAUD} baud = {c_ms:.4} ms");
    println!(
        "  request              unit + FC + address 2 + count 2 + CRC 2      = {request} chars"
    );
    println!(
        "  response             unit + FC + byte count + 2 x 2 data + CRC 2  = {response} chars"
    );
    println!(
        "  silent intervals     3.5 before the response + 3.5 before the next request = {gaps} chars"
    );
    println!(
        "  one transaction      {chars} chars x {c_ms:.4} ms = {:.2} ms",
        chars * c_ms
    );
    println!(
        "  theoretical limit    1000 / {:.2} = {limit:.2} transactions/s",
        chars * c_ms
    );
    println!(
        "  achieved             {polls} transactions in {seconds:.2} s = {achieved:.2} transactions/s ({errors} failed)"
    );
    println!(
        "  per transaction      {:.2} ms, {:.2} ms above the wire's {:.2} ms",
        1000.0 / achieved,
        1000.0 / achieved - chars * c_ms,
        chars * c_ms
    );
    println!(
        "  line idle beyond the silent interval: {:.2} ms before a request (the poller), {:.2} ms before a response (the slave)",
        idle_ms[1], idle_ms[0]
    );
    println!(
        "  bus utilisation      {:.1} % of the limit (target >= 85 %)",
        100.0 * achieved / limit
    );
}

// ─── 2. Coalescing ────────────────────────────────────────────────────────────────

const PROFILES: [&str; 4] = ["turnstile", "rs485-th", "fever-kiosk", "water-level"];

/// Bytes on an RTU line for one read of `count` registers or bits: request, response.
fn rtu_bytes(read: &plan::Read) -> (usize, usize) {
    let data = if read.table.is_bits() {
        usize::from(read.count).div_ceil(8)
    } else {
        2 * usize::from(read.count)
    };
    (8, 5 + data)
}

fn bus_ms(reads: &[plan::Read]) -> f64 {
    let c_ms = char_time().as_secs_f64() * 1000.0;
    reads
        .iter()
        .map(|r| {
            let (req, resp) = rtu_bytes(r);
            (req + resp) as f64 + 7.0
        })
        .sum::<f64>()
        * c_ms
}

fn coalescing() {
    println!("Requests per poll, one per point vs coalesced (plan), shipped profiles");
    println!(
        "  {:<12} {:>6} {:>12} {:>10} {:>14} {:>13} {:>15}",
        "profile",
        "points",
        "per point",
        "coalesced",
        "read via TCP",
        "9600 8E1 ms",
        "coalesced ms"
    );
    let rt = runtime();
    for name in PROFILES {
        let points = sitewarden::config::load_profile(name, &[]).expect("shipped profile");
        let d = device(name, name, 1, points.clone());
        let coalesced = plan::plan(&d).reads;
        let single: Vec<plan::Read> = points
            .iter()
            .flat_map(|p| plan::plan(&device(name, name, 1, vec![p.clone()])).reads)
            .collect();
        let measured = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address").to_string();
            let server = serve_tcp(
                listener,
                units([(1, Image::with_points(&points))]),
                Faults::default(),
            );
            let kind = ConnectionKind::ModbusTcp {
                address,
                timeout: Duration::from_millis(500),
                min_gap: Duration::ZERO,
            };
            let got = read_once(&kind, &d)
                .await
                .expect("read the simulated device");
            server.abort();
            assert!(
                got.points.iter().all(|p| p.error.is_none()),
                "{name} read cleanly"
            );
            got.requests
        });
        println!(
            "  {:<12} {:>6} {:>12} {:>10} {:>14} {:>13.1} {:>15.1}",
            name,
            modbus_points(&points),
            single.len(),
            coalesced.len(),
            measured,
            bus_ms(&single),
            bus_ms(&coalesced)
        );
    }
    println!("  (ms: request + response + 2 x 3.5 silent characters per read, 11-bit characters)");
}

fn modbus_points(points: &[Point]) -> usize {
    points
        .iter()
        .filter(|p| matches!(p.source, PointSource::Modbus { .. }))
        .count()
}

// ─── Helpers ──────────────────────────────────────────────────────────────────────

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn device(id: &str, profile: &str, unit: u8, points: Vec<Point>) -> Device {
    Device {
        id: id.to_string(),
        profile: profile.to_string(),
        connection: 0,
        unit,
        // As fast as the bus allows: every device is due again by the end of a sweep.
        poll: Duration::from_millis(1),
        zone: None,
        max_registers_per_read: plan::MAX_REGISTERS,
        max_gap: 0,
        points: points.into(),
        camera: None,
        live: None,
    }
}

fn site(kind: ConnectionKind, devices: Vec<Device>) -> Site {
    let text =
        "[gateway]\nsite = \"bench\"\nid = \"gw-1\"\n[uplink]\nbroker = \"mqtt://127.0.0.1:1\"\n";
    let mut site = sitewarden::config::load_from(text, "bench.toml", &[], &[])
        .unwrap_or_else(|e| panic!("bench config: {e}"));
    site.connections = vec![Connection {
        name: "bus".into(),
        kind,
    }];
    site.devices = devices;
    site
}
