//! The connection task against tokio-modbus's servers (`sim::modbus`) over real loopback
//! sockets and pseudo-terminals: values, faults, reconnects, writes, probe.
//!
//! Every test binds port 0, waits for samples rather than sleeping, and is bounded by
//! `DEADLINE`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{PointReading, WriteRequest, read_once, run_connection};
use crate::health::{Health, get};
use crate::reading::{PollError, Sample};
use crate::sim::modbus::{Fault, Faults, Image, PtyBus, Units, serve_tcp, units};
use crate::site::*;

/// No test may run longer than this.
const DEADLINE: Duration = Duration::from_secs(20);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .expect("test exceeded its deadline")
}

fn point(name: &str, table: Table, address: u16, ty: PointType, order: WordOrder) -> Point {
    Point {
        name: name.into(),
        source: PointSource::Modbus {
            table,
            address,
            ty,
            word_order: order,
        },
        scale: 1.0,
        offset: 0.0,
        unit: None,
        kind: PointKind::Gauge,
        writable: false,
    }
}

fn device(id: &str, connection: usize, unit: u8, poll_ms: u64, points: Vec<Point>) -> Device {
    Device {
        id: id.into(),
        profile: "test".into(),
        connection,
        unit,
        poll: Duration::from_millis(poll_ms),
        zone: None,
        max_registers_per_read: 125,
        max_gap: 0,
        points,
        camera: None,
    }
}

fn tcp(address: &str, timeout_ms: u64) -> Connection {
    Connection {
        name: format!("tcp-{address}"),
        kind: ConnectionKind::ModbusTcp {
            address: address.into(),
            timeout: Duration::from_millis(timeout_ms),
        },
    }
}

fn rtu(port: PathBuf, timeout_ms: u64) -> Connection {
    Connection {
        name: "rs485".into(),
        kind: ConnectionKind::ModbusRtu {
            port,
            baud: 115_200,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
            timeout: Duration::from_millis(timeout_ms),
        },
    }
}

fn site(connections: Vec<Connection>, devices: Vec<Device>) -> Arc<Site> {
    Arc::new(Site {
        gateway: Gateway {
            site: "test".into(),
            id: "gw".into(),
            data_dir: PathBuf::from("/nonexistent"),
        },
        uplink: Uplink {
            broker: BrokerUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1,
            },
            username: None,
            password_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            topic_prefix: "sitewarden".into(),
            summary_interval: Duration::from_secs(60),
            inflight: 10,
            keep_alive: Duration::from_secs(30),
        },
        buffer: Buffer {
            raw_max_bytes: 1 << 20,
            outbox_max_bytes: 1 << 20,
        },
        connections,
        devices,
        zones: vec![],
        rules: vec![],
    })
}

/// A simulated TCP device server on a free loopback port.
async fn sim_tcp(units: Units, faults: Faults) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let address = listener.local_addr().expect("bound").to_string();
    (address, serve_tcp(listener, units, faults))
}

/// Connection tasks for every connection of a site.
struct Running {
    samples: mpsc::Receiver<Sample>,
    writes: Vec<mpsc::Sender<WriteRequest>>,
    health: Arc<Health>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

fn start(site: &Arc<Site>) -> Running {
    let (tx, samples) = mpsc::channel(4096);
    let health = Arc::new(Health::new(site.devices.len()));
    let cancel = CancellationToken::new();
    let mut writes = vec![];
    let mut tasks = vec![];
    for conn in 0..site.connections.len() {
        let (wtx, wrx) = mpsc::channel(4);
        writes.push(wtx);
        tasks.push(tokio::spawn(run_connection(
            Arc::clone(site),
            conn,
            Arc::clone(&health),
            tx.clone(),
            wrx,
            cancel.clone(),
        )));
    }
    Running {
        samples,
        writes,
        health,
        cancel,
        tasks,
    }
}

impl Running {
    /// The next sample of `device` that satisfies `want`.
    async fn sample(&mut self, device: usize, want: impl Fn(&Sample) -> bool) -> Sample {
        loop {
            let s = self.samples.recv().await.expect("connection tasks alive");
            if s.device == device && want(&s) {
                return s;
            }
        }
    }

    /// Every sample received within `window`.
    async fn collect(&mut self, window: Duration) -> Vec<Sample> {
        let end = tokio::time::Instant::now() + window;
        let mut out = vec![];
        while let Ok(Some(s)) = tokio::time::timeout_at(end, self.samples.recv()).await {
            out.push(s);
        }
        out
    }

    async fn write(
        &self,
        conn: usize,
        device: usize,
        point: usize,
        value: f64,
    ) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        let req = WriteRequest {
            device,
            point,
            value,
            reply,
        };
        self.writes[conn]
            .send(req)
            .await
            .expect("connection task alive");
        rx.await.expect("write answered")
    }

    /// Cancels and checks that every task returns promptly.
    async fn stop(self) {
        self.cancel.cancel();
        for t in self.tasks {
            t.await.expect("connection task ended cleanly");
        }
    }
}

/// One point of every type, in all four tables, with its raw value.
fn every_type() -> Vec<(Point, f64)> {
    use PointType::*;
    use Table::*;
    use WordOrder::*;
    vec![
        (point("coil", Coil, 0, Bool, HiFirst), 1.0),
        (point("coil_off", Coil, 1, Bool, HiFirst), 0.0),
        (point("discrete", Discrete, 4, Bool, HiFirst), 1.0),
        (point("entries", Input, 0, U32, HiFirst), 4_294_967_295.0),
        (point("exits", Input, 2, U32, LoFirst), 65_538.0),
        (point("status", Input, 4, U16, HiFirst), 2.0),
        (point("humidity", Holding, 0, U16, HiFirst), 455.0),
        (point("temperature", Holding, 1, I16, HiFirst), -123.0),
        (
            point("level", Holding, 2, F32, LoFirst),
            f64::from(1.625_f32),
        ),
        (point("offset", Holding, 4, I32, HiFirst), -70_000.0),
        (point("energy", Holding, 6, U64, HiFirst), 123_456_789_012.0),
        (point("delta", Holding, 10, I64, LoFirst), -5.0),
        (point("ratio", Holding, 14, F64, HiFirst), 0.1),
    ]
}

fn image_of(points: &[(Point, f64)]) -> Image {
    let mut image = Image::default();
    for (p, raw) in points {
        image.set_point(p, *raw).expect("value fits its type");
    }
    image
}

#[tokio::test]
async fn all_four_tables_are_read_and_decoded() {
    bounded(async {
        let points = every_type();
        let (address, _server) = sim_tcp(units([(1, image_of(&points))]), Faults::default()).await;
        let dev = device(
            "all",
            0,
            1,
            50,
            points.iter().map(|(p, _)| p.clone()).collect(),
        );
        let site = site(vec![tcp(&address, 500)], vec![dev]);
        let mut run = start(&site);
        let s = run.sample(0, |_| true).await;
        assert_eq!(s.error, None);
        for ((p, raw), got) in points.iter().zip(&s.values) {
            assert_eq!(*got, Some(*raw), "point {}", p.name);
        }
        // Ticks sit on multiples of the poll interval.
        assert_eq!(s.ts % 50, 0, "ts {} is on the 50 ms grid", s.ts);
        // Four tables, contiguous points: one read per table.
        assert_eq!(super::plan::reads_per_poll(&site.devices[0]), 4);
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn exceptions_are_reported_and_the_connection_kept() {
    bounded(async {
        let hum = point(
            "humidity",
            Table::Holding,
            0,
            PointType::U16,
            WordOrder::HiFirst,
        );
        let missing = point(
            "missing",
            Table::Holding,
            9,
            PointType::U16,
            WordOrder::HiFirst,
        );
        let image = image_of(&[(hum.clone(), 455.0)]);
        let faults = Faults::default();
        faults.set(2, Fault::Exception(4));
        let (address, _server) = sim_tcp(units([(1, image.clone()), (2, image)]), faults).await;
        let site = site(
            vec![tcp(&address, 500)],
            vec![
                // Unit 1 holds `humidity` but not `missing`: a partial poll.
                device("partial", 0, 1, 50, vec![hum.clone(), missing]),
                device("failing", 0, 2, 50, vec![hum]),
            ],
        );
        let mut run = start(&site);
        for _ in 0..3 {
            let s = run.sample(0, |_| true).await;
            assert_eq!(s.error, Some(PollError::Exception(2)));
            assert_eq!(s.values, vec![Some(455.0), None]);
            let s = run.sample(1, |_| true).await;
            assert_eq!(s.error, Some(PollError::Exception(4)));
            assert_eq!(s.values, vec![None]);
        }
        assert!(get(&run.health.exceptions) >= 6);
        assert_eq!(
            get(&run.health.field_reconnects),
            0,
            "an exception keeps the connection"
        );
        assert_eq!(get(&run.health.timeouts), 0);
        assert_eq!(run.health.device_counts(), (0, 2));
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_silent_unit_times_out_and_is_rested() {
    bounded(async {
        let hum = point(
            "humidity",
            Table::Holding,
            0,
            PointType::U16,
            WordOrder::HiFirst,
        );
        let faults = Faults::default();
        faults.set(1, Fault::Silent);
        let (address, _server) = sim_tcp(
            units([(1, image_of(&[(hum.clone(), 1.0)]))]),
            faults.clone(),
        )
        .await;
        let site = site(
            vec![tcp(&address, 60)],
            vec![device("mute", 0, 1, 20, vec![hum])],
        );
        let mut run = start(&site);
        let s = run.sample(0, |_| true).await;
        assert_eq!(s.error, Some(PollError::Timeout));
        assert_eq!(s.values, vec![None]);
        // Backoff: over 1.5 s at a 20 ms interval, far fewer than 75 attempts are made.
        let seen = run.collect(Duration::from_millis(1500)).await;
        assert!(seen.iter().all(|s| s.error == Some(PollError::Timeout)));
        assert!(
            (2..=12).contains(&seen.len()),
            "{} attempts in 1.5 s",
            seen.len()
        );
        assert!(get(&run.health.timeouts) >= 3);
        // Recovery is immediate once the unit answers.
        faults.clear(1);
        let s = run.sample(0, |s| s.error.is_none()).await;
        assert_eq!(s.values, vec![Some(1.0)]);
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn dead_device_does_not_delay_other_connections() {
    bounded(async {
        let hum = point(
            "humidity",
            Table::Holding,
            0,
            PointType::U16,
            WordOrder::HiFirst,
        );
        let image = image_of(&[(hum.clone(), 7.0)]);
        let faults = Faults::default();
        faults.set(9, Fault::Silent);
        let (dead_addr, _dead) = sim_tcp(units([(9, image.clone())]), faults).await;
        let (live_addr, _live) = sim_tcp(units([(1, image)]), Faults::default()).await;
        let site = site(
            vec![tcp(&dead_addr, 400), tcp(&live_addr, 400)],
            vec![
                device("dead", 0, 9, 50, vec![hum.clone()]),
                device("live", 1, 1, 50, vec![hum]),
            ],
        );
        let mut run = start(&site);
        let window = Duration::from_millis(2000);
        let seen = run.collect(window).await;
        let live: Vec<&Sample> = seen.iter().filter(|s| s.device == 1).collect();
        let dead = seen.iter().filter(|s| s.device == 0).count();
        // 40 ticks in the window. Were the live device waiting behind the dead one's
        // 400 ms timeouts it would get at most 5; a loaded machine may skip a few ticks.
        assert!(
            live.len() >= 25,
            "live device polled {} times in 2 s",
            live.len()
        );
        assert!(
            live.iter()
                .all(|s| s.error.is_none() && s.values == [Some(7.0)])
        );
        assert!(dead <= 5, "dead device attempted {dead} times");
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_late_reply_does_not_poison_the_next_request() {
    bounded(async {
        let reg = point(
            "value",
            Table::Holding,
            0,
            PointType::U16,
            WordOrder::HiFirst,
        );
        let faults = Faults::default();
        faults.set(1, Fault::Slow(Duration::from_millis(250)));
        let all = units([
            (1, image_of(&[(reg.clone(), 111.0)])),
            (2, image_of(&[(reg.clone(), 222.0)])),
        ]);
        let (address, _server) = sim_tcp(all, faults.clone()).await;
        // A TCP-to-RTU gateway: both units behind one socket.
        let site = site(
            vec![tcp(&address, 80)],
            vec![
                device("slow", 0, 1, 50, vec![reg.clone()]),
                device("fast", 0, 2, 50, vec![reg]),
            ],
        );
        let mut run = start(&site);
        let seen = run.collect(Duration::from_millis(1200)).await;
        let slow: Vec<&Sample> = seen.iter().filter(|s| s.device == 0).collect();
        let fast: Vec<&Sample> = seen.iter().filter(|s| s.device == 1).collect();
        assert!(!slow.is_empty() && slow.iter().all(|s| s.error == Some(PollError::Timeout)));
        assert!(fast.len() >= 8, "fast unit polled {} times", fast.len());
        for s in &fast {
            assert_eq!(
                (&s.error, &s.values[..]),
                (&None, &[Some(222.0)][..]),
                "fast unit sample"
            );
        }
        assert!(
            get(&run.health.field_reconnects) >= 1,
            "the socket was replaced"
        );
        // Once the slow unit answers in time, its own value comes back.
        faults.clear(1);
        let s = run.sample(0, |s| s.error.is_none()).await;
        assert_eq!(s.values, vec![Some(111.0)]);
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn writes_round_trip_through_the_device() {
    bounded(async {
        use PointType::*;
        let mut open = point("open", Table::Coil, 0, Bool, WordOrder::HiFirst);
        let mut setpoint = point("setpoint", Table::Holding, 0, I16, WordOrder::HiFirst);
        setpoint.scale = 0.1;
        let mut total = point("total", Table::Holding, 1, U32, WordOrder::LoFirst);
        let status = point("status", Table::Input, 0, U16, WordOrder::HiFirst);
        for p in [&mut open, &mut setpoint, &mut total] {
            p.writable = true;
        }
        let points = vec![open, setpoint, total, status];
        let all = units([(1, Image::with_points(&points))]);
        let (address, _server) = sim_tcp(Arc::clone(&all), Faults::default()).await;
        let site = site(
            vec![tcp(&address, 500)],
            vec![device("gate", 0, 1, 1000, points.clone())],
        );
        let run = start(&site);
        // (point, value written, reply, raw value the device holds afterwards)
        type Case = (usize, f64, Result<(), &'static str>, Option<f64>);
        let cases: &[Case] = &[
            (0, 1.0, Ok(()), Some(1.0)),
            (1, -12.3, Ok(()), Some(-123.0)),
            (2, 70_000.0, Ok(()), Some(70_000.0)),
            (
                1,
                4000.0,
                Err("40000 is out of range for i16"),
                Some(-123.0),
            ),
            (3, 1.0, Err("status is not writable"), Some(0.0)),
            (0, 0.0, Ok(()), Some(0.0)),
        ];
        for &(point, value, ref expected, raw) in cases {
            let got = run.write(0, 0, point, value).await;
            assert_eq!(
                got,
                expected.map_err(str::to_string),
                "write {value} to point {point}"
            );
            let now = all
                .lock()
                .expect("sim lock")
                .get(&1)
                .and_then(|i| i.point(&points[point]));
            assert_eq!(now, raw, "device holds point {point}");
        }
        assert_eq!(
            run.write(0, 5, 0, 1.0).await,
            Err("no device 5".to_string())
        );
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn read_once_shows_registers_values_and_errors() {
    bounded(async {
        let level = point(
            "level",
            Table::Holding,
            0,
            PointType::F32,
            WordOrder::LoFirst,
        );
        let missing = point(
            "missing",
            Table::Input,
            0,
            PointType::U16,
            WordOrder::HiFirst,
        );
        let (address, _server) = sim_tcp(
            units([(1, image_of(&[(level.clone(), 1.5)]))]),
            Faults::default(),
        )
        .await;
        let dev = device("water", 0, 1, 1000, vec![level, missing]);
        let conn = tcp(&address, 500);
        let got = read_once(&conn.kind, &dev).await.expect("connects");
        assert_eq!(
            got,
            vec![
                PointReading {
                    raw_registers: vec![0x0000, 0x3FC0],
                    raw: Some(1.5),
                    error: None
                },
                PointReading {
                    raw_registers: vec![],
                    raw: None,
                    error: Some(PollError::Exception(2))
                },
            ]
        );
        // Nobody listens on a port that was just released.
        let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let gone = closed.local_addr().expect("bound").to_string();
        drop(closed);
        let err = read_once(&tcp(&gone, 500).kind, &dev)
            .await
            .expect_err("refused");
        assert!(matches!(err, PollError::Transport(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn an_rtu_bus_serves_every_unit_despite_a_silent_and_a_slow_one() {
    bounded(async {
        let points = every_type();
        let reg = point(
            "value",
            Table::Holding,
            0,
            PointType::U16,
            WordOrder::HiFirst,
        );
        let faults = Faults::default();
        faults.set(3, Fault::Slow(Duration::from_millis(120)));
        let all = units([
            (1, image_of(&points)),
            (2, image_of(&[(reg.clone(), 222.0)])),
            (3, image_of(&[(reg.clone(), 333.0)])),
        ]);
        let bus = PtyBus::open(all, faults.clone()).expect("pseudo-terminal pair");
        let site = site(
            vec![rtu(bus.path.clone(), 50)],
            vec![
                device(
                    "all",
                    0,
                    1,
                    100,
                    points.iter().map(|(p, _)| p.clone()).collect(),
                ),
                device("two", 0, 2, 100, vec![reg.clone()]),
                device("late", 0, 3, 100, vec![reg.clone()]),
                // No unit 4 on the bus.
                device("absent", 0, 4, 100, vec![reg]),
            ],
        );
        let mut run = start(&site);
        let seen = run.collect(Duration::from_millis(2000)).await;
        let of = |d: usize| seen.iter().filter(move |s| s.device == d);
        // A late answer may spoil the next poll (it is then malformed), never its values.
        for s in of(0).filter(|s| s.error.is_none()) {
            for ((p, raw), got) in points.iter().zip(&s.values) {
                assert_eq!(*got, Some(*raw), "point {}", p.name);
            }
        }
        for s in of(1) {
            assert!(
                s.values == [Some(222.0)] || (s.values == [None] && s.error.is_some()),
                "{s:?}"
            );
        }
        assert!(of(0).filter(|s| s.error.is_none()).count() >= 5);
        assert!(of(1).filter(|s| s.error.is_none()).count() >= 5);
        assert!(of(2).all(|s| s.values == [None] || s.values == [Some(333.0)]));
        // The absent unit never answers; a late answer of unit 3 that lands while we wait
        // for it is refused as someone else's (malformed), not taken for its own.
        for s in of(3) {
            assert!(
                matches!(s.error, Some(PollError::Timeout | PollError::Malformed(_))),
                "{s:?}"
            );
            assert_eq!(s.values, [None]);
        }
        assert!(of(3).any(|s| s.error == Some(PollError::Timeout)));
        // The slow unit answers in time once it speeds up.
        faults.clear(3);
        let s = run.sample(2, |s| s.error.is_none()).await;
        assert_eq!(s.values, vec![Some(333.0)]);
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn writes_work_over_rtu() {
    bounded(async {
        let mut locked = point(
            "locked",
            Table::Coil,
            1,
            PointType::Bool,
            WordOrder::HiFirst,
        );
        locked.writable = true;
        let all = units([(5, Image::with_points(std::slice::from_ref(&locked)))]);
        let bus = PtyBus::open(Arc::clone(&all), Faults::default()).expect("pseudo-terminal pair");
        let site = site(
            vec![rtu(bus.path.clone(), 200)],
            vec![device("gate", 0, 5, 1000, vec![locked.clone()])],
        );
        let run = start(&site);
        assert_eq!(run.write(0, 0, 0, 1.0).await, Ok(()));
        let now = all
            .lock()
            .expect("sim lock")
            .get(&5)
            .and_then(|i| i.point(&locked));
        assert_eq!(now, Some(1.0));
        run.stop().await;
    })
    .await;
}
