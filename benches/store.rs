//! Store benchmark: prints a table, asserts nothing (`cargo bench --bench store`).
//!
//! Measures, on a temporary directory of this machine's disk:
//! - outbox appends batched as the daemon batches them (a window close of 300
//!   summaries; single alarms), in messages per second and bytes written per message;
//! - draining a 100 000-message backlog through the store (read a page in seq order,
//!   ack it), in messages per second, with peak RSS;
//! - the raw ring under a turnstile workload (300 devices × 7 points at 1 Hz), in bytes
//!   written per reading and per minute.
//!
//! "Written" is `write_bytes` of `/proc/self/io`: bytes this process sent towards the
//! storage device, the flash-wear figure (filesystem journal writes are not included).

use sitewarden::reading::Sample;
use sitewarden::site::*;
use sitewarden::store::{Kind, NewRecord, Outbox, RawRing};
use std::time::{Duration, Instant};

fn io_written() -> u64 {
    proc_field("/proc/self/io", "write_bytes:")
}

fn peak_rss_kb() -> u64 {
    proc_field("/proc/self/status", "VmHWM:")
}

fn proc_field(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A summary payload of a realistic size (one device window, ~400 bytes).
fn summary(seq: u64) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"v":1,"seq":{},"ts":"2026-11-23T10:15:00.000Z","start":"2026-11-23T10:14:00.000Z","#,
            r#""end":"2026-11-23T10:15:00.000Z","points":{{"entries":{{"first":182733,"last":182790,"delta":57}},"#,
            r#""exits":{{"first":180012,"last":180044,"delta":32}},"status":{{"last":0,"transitions":2}},"#,
            r#""forced_entry":{{"count":0}},"tailgating":{{"count":1}}}},"#,
            r#""quality":{{"polls":60,"errors":0,"last_error":null}}}}"#
        ),
        seq
    )
    .into_bytes()
}

fn alarm(seq: u64) -> Vec<u8> {
    format!(
        r#"{{"v":1,"seq":{seq},"ts":"2026-11-23T10:15:00.000Z","id":"fever/kiosk-1","rule":"fever","point":"body_temp","severity":"warning","state":"raised","value":38.2,"limit":37.5,"message":"body_temp above 37.5"}}"#
    )
    .into_bytes()
}

fn window(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| {
            NewRecord::new(
                Kind::Summary,
                format!("sw/site/gw/summary/gate-{i}"),
                false,
                0,
                summary,
            )
        })
        .collect()
}

struct Row {
    what: String,
    rate: String,
    written: String,
    note: String,
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("sitewarden-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let mut rows = Vec::new();
    rows.push(append_windows(&tmp.join("a")));
    rows.push(append_alarms(&tmp.join("b")));
    rows.extend(drain(&tmp.join("c")));
    rows.push(raw_ring(&tmp.join("d")));
    std::fs::remove_dir_all(&tmp).ok();

    println!("\n| measure | rate | written to disk | note |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} |", r.what, r.rate, r.written, r.note);
    }
    println!(
        "\npeak RSS of the whole run: {:.1} MB",
        peak_rss_kb() as f64 / 1024.0
    );
}

fn append_windows(dir: &std::path::Path) -> Row {
    let ob = Outbox::open(&dir.join("outbox"), 512 << 20).expect("open");
    let windows = 200;
    let (w0, t0) = (io_written(), Instant::now());
    for _ in 0..windows {
        ob.append(
            window(300),
            &[("window.last_closed", b"1795000000000".to_vec())],
        )
        .expect("append");
    }
    let (dt, written) = (t0.elapsed(), io_written() - w0);
    let n = (windows * 300) as f64;
    Row {
        what: "outbox append, 300 summaries per commit".into(),
        rate: format!(
            "{:.0} msg/s ({:.1} ms/commit)",
            n / dt.as_secs_f64(),
            dt.as_secs_f64() * 1000.0 / windows as f64
        ),
        written: format!(
            "{:.0} B/msg ({:.0} KB/commit)",
            written as f64 / n,
            written as f64 / windows as f64 / 1000.0
        ),
        note: format!(
            "payload ~{} B; file {:.1} MB",
            summary(1).len(),
            ob.stats().expect("stats").bytes_on_disk as f64 / 1e6
        ),
    }
}

fn append_alarms(dir: &std::path::Path) -> Row {
    let ob = Outbox::open(&dir.join("outbox"), 512 << 20).expect("open");
    let n = 2000;
    let (w0, t0) = (io_written(), Instant::now());
    for _ in 0..n {
        ob.append(
            vec![NewRecord::new(
                Kind::Alarm,
                "sw/site/gw/alarm/kiosk-1",
                false,
                0,
                alarm,
            )],
            &[],
        )
        .expect("append");
    }
    let (dt, written) = (t0.elapsed(), io_written() - w0);
    Row {
        what: "outbox append, 1 alarm per commit".into(),
        rate: format!("{:.0} msg/s", n as f64 / dt.as_secs_f64()),
        written: format!("{:.0} KB/msg", written as f64 / n as f64 / 1000.0),
        note: "every commit fdatasyncs (one-phase, checksummed)".into(),
    }
}

fn drain(dir: &std::path::Path) -> Vec<Row> {
    let ob = Outbox::open(&dir.join("outbox"), 512 << 20).expect("open");
    let backlog = 100_000;
    let t0 = Instant::now();
    for _ in 0..backlog / 1000 {
        ob.append(window(1000), &[]).expect("append");
    }
    let fill = t0.elapsed();
    let size = ob.stats().expect("stats").bytes_on_disk;
    let (w0, t0) = (io_written(), Instant::now());
    let (mut after, mut drained) = (0, 0);
    loop {
        let page = ob.others_after(after, 100).expect("page");
        let Some(last) = page.last() else { break };
        after = last.seq;
        drained += page.len();
        let seqs: Vec<u64> = page.iter().map(|r| r.seq).collect();
        ob.ack(&seqs).expect("ack");
    }
    let (dt, written) = (t0.elapsed(), io_written() - w0);
    assert_eq!(drained, backlog);
    vec![
        Row {
            what: "outbox fill to a 100 000 backlog, 1000 per commit".into(),
            rate: format!("{:.0} msg/s", backlog as f64 / fill.as_secs_f64()),
            written: "—".into(),
            note: format!("file {:.1} MB", size as f64 / 1e6),
        },
        Row {
            what: "outbox drain: read 100 in seq order, ack them in one commit".into(),
            rate: format!("{:.0} msg/s", drained as f64 / dt.as_secs_f64()),
            written: format!("{:.0} B/msg", written as f64 / drained as f64),
            note: format!("peak RSS so far {:.1} MB", peak_rss_kb() as f64 / 1024.0),
        },
    ]
}

fn turnstiles() -> Site {
    let points = [
        "entries",
        "exits",
        "status",
        "forced_entry",
        "tailgating",
        "open",
        "locked",
    ];
    Site {
        buffer: Buffer {
            raw_max_bytes: 256 << 20,
            outbox_max_bytes: 512 << 20,
        },
        devices: (0..300)
            .map(|i| Device {
                id: format!("gate-{i}"),
                profile: "turnstile".into(),
                connection: 0,
                unit: 1,
                poll: Duration::from_secs(1),
                zone: None,
                max_registers_per_read: 125,
                max_gap: 0,
                points: points
                    .iter()
                    .map(|p| Point {
                        name: p.to_string(),
                        source: PointSource::Modbus {
                            table: Table::Input,
                            address: 0,
                            ty: PointType::U32,
                            order: ByteOrder::ABCD,
                        },
                        scale: 1.0,
                        offset: 0.0,
                        unit: None,
                        kind: PointKind::Counter,
                        writable: false,
                        labels: Vec::new(),
                    })
                    .collect(),
                camera: None,
                live: None,
            })
            .collect(),
        ..Site::bare("s", "g")
    }
}

fn raw_ring(dir: &std::path::Path) -> Row {
    let site = turnstiles();
    let mut ring = RawRing::open(dir, 256 << 20).expect("open");
    let mut state: Vec<[f64; 7]> = (0..300)
        .map(|i| [100_000.0 + i as f64, 90_000.0, 0.0, 0.0, 0.0, 0.0, 1.0])
        .collect();
    let mut x: u64 = 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 1000) as f64 / 1000.0
    };
    let seconds = 600;
    let (w0, t0) = (io_written(), Instant::now());
    for sec in 0..seconds {
        for (d, st) in state.iter_mut().enumerate() {
            if rnd() < 0.3 {
                st[0] += 1.0;
            }
            if rnd() < 0.3 {
                st[1] += 1.0;
            }
            if rnd() < 0.01 {
                st[2] = (rnd() * 4.0).floor();
            }
            let ts = 1_795_000_000_000 + sec * 1000 + (d as i64 % 10) * 3;
            ring.append(
                &site,
                &Sample {
                    device: d,
                    ts,
                    values: st.iter().map(|v| Some(*v)).collect(),
                    texts: Vec::new(),
                    error: None,
                },
            );
        }
        ring.flush().expect("flush");
    }
    let (dt, written) = (t0.elapsed(), io_written() - w0);
    let readings = (300 * 7 * seconds) as f64;
    Row {
        what: "raw ring, 300 turnstiles × 7 points, flush per second".into(),
        rate: format!(
            "{:.0} readings/s ({:.2} ms/flush)",
            readings / dt.as_secs_f64(),
            dt.as_secs_f64() * 1000.0 / seconds as f64
        ),
        written: format!(
            "{:.2} B/reading, {:.0} KB/min at 1 Hz",
            written as f64 / readings,
            written as f64 / (seconds as f64 / 60.0) / 1000.0
        ),
        note: format!(
            "on disk {:.2} B/reading",
            ring.bytes_on_disk() as f64 / readings
        ),
    }
}
