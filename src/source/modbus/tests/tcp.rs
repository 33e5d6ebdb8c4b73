//! Modbus TCP: values, exceptions, timeouts, reconnects, writes and probe against
//! tokio-modbus's TCP server on loopback.

use crate::write::WriteError;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::*;
use crate::health::get;
use crate::reading::{PollError, Sample};
use crate::sim::modbus::{Fault, Faults, Image, serve_tcp, units};
use crate::source::modbus::{PointReading, plan, read_once};

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
        assert_eq!(plan::reads_per_poll(&site.devices[0]), 4);
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn string_points_are_read_as_text_in_the_same_read_as_their_neighbours() {
    bounded(async {
        let text = |name: &str, address: u16, n: u8, order: ByteOrder| {
            let mut p = point(name, Table::Holding, address, PointType::Str(n), order);
            p.kind = PointKind::Text;
            p
        };
        let serial = text("serial", 1, 5, ByteOrder::ABCD);
        let tag = text("tag", 6, 2, ByteOrder::BADC);
        let volts = point("volts", Table::Holding, 0, PointType::U16, ByteOrder::ABCD);
        let after = point("after", Table::Holding, 8, PointType::U16, ByteOrder::ABCD);
        let mut image = image_of(&[(volts.clone(), 2301.0), (after.clone(), 7.0)]);
        image.set_text(&serial, "SW-2026-0").expect("fits");
        image.set_text(&tag, "T-8").expect("fits");
        let (address, _server) = sim_tcp(units([(1, image)]), Faults::default()).await;
        let points = vec![volts, serial, tag, after];
        let dev = device("meter", 0, 1, 50, points);
        let site = site(vec![tcp(&address, 500)], vec![dev]);
        // Registers 0..=8: one read for the numbers and both strings.
        assert_eq!(plan::reads_per_poll(&site.devices[0]), 1);
        let mut run = start(&site);
        let s = run.sample(0, |_| true).await;
        assert_eq!(s.error, None);
        assert_eq!(s.values, vec![Some(2301.0), None, None, Some(7.0)]);
        assert_eq!(s.texts, vec![(1, "SW-2026-0".into()), (2, "T-8".into())]);
        run.stop().await;

        // probe reads them the same, with the registers as they arrived.
        let got = read_once(&site.connections[0].kind, &site.devices[0])
            .await
            .expect("reachable");
        assert_eq!(got.requests, 1);
        assert_eq!(got.points[1].text.as_deref(), Some("SW-2026-0"));
        assert_eq!(
            got.points[1].raw_registers,
            vec![0x5357, 0x2D32, 0x3032, 0x362D, 0x3000]
        );
        assert_eq!(got.points[2].text.as_deref(), Some("T-8"));
        assert_eq!(got.points[2].raw_registers, vec![0x2D54, 0x0038]);
        assert_eq!((got.points[2].raw, &got.points[2].error), (None, &None));
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
            ByteOrder::ABCD,
        );
        let missing = point(
            "missing",
            Table::Holding,
            9,
            PointType::U16,
            ByteOrder::ABCD,
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
            ByteOrder::ABCD,
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
            ByteOrder::ABCD,
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
        // Stamped on the 50 ms grid, one sample per tick: a late tick is skipped, never
        // bunched.
        for pair in live.windows(2) {
            assert_eq!(pair[0].ts % 50, 0);
            assert!(
                pair[1].ts >= pair[0].ts + 50,
                "ticks {} then {}",
                pair[0].ts,
                pair[1].ts
            );
        }
        assert!(dead <= 7, "dead device attempted {dead} times");
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_late_reply_does_not_poison_the_next_request() {
    bounded(async {
        let reg = point("value", Table::Holding, 0, PointType::U16, ByteOrder::ABCD);
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
        let mut open = point("open", Table::Coil, 0, Bool, ByteOrder::ABCD);
        let mut setpoint = point("setpoint", Table::Holding, 0, I16, ByteOrder::ABCD);
        setpoint.scale = 0.1;
        let mut total = point("total", Table::Holding, 1, U32, ByteOrder::CDAB);
        let status = point("status", Table::Input, 0, U16, ByteOrder::ABCD);
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
        // (point, value written, reply (the value read back, held), raw value the device
        // holds afterwards)
        type Case = (usize, f64, Result<f64, &'static str>, Option<f64>);
        let cases: &[Case] = &[
            (0, 1.0, Ok(1.0), Some(1.0)),
            (1, -12.3, Ok(-12.3), Some(-123.0)),
            (2, 70_000.0, Ok(70_000.0), Some(70_000.0)),
            (
                1,
                4000.0,
                Err("40000 is out of range for i16"),
                Some(-123.0),
            ),
            (3, 1.0, Err("status is not writable"), Some(0.0)),
            (0, 0.0, Ok(0.0), Some(0.0)),
        ];
        for &(point, value, ref expected, raw) in cases {
            let got = run.write(0, 0, point, value).await;
            assert_eq!(
                got.map(|w| (w.readback, w.held)),
                expected
                    .map(|v| (Some(v), true))
                    .map_err(|e| WriteError::Refused(e.to_string())),
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
            Err(WriteError::Refused("no device 5".to_string()))
        );
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn read_once_shows_registers_values_and_errors() {
    bounded(async {
        let level = point("level", Table::Holding, 0, PointType::F32, ByteOrder::CDAB);
        let missing = point("missing", Table::Input, 0, PointType::U16, ByteOrder::ABCD);
        let faults = Faults::default();
        let (address, _server) = sim_tcp(
            units([(1, image_of(&[(level.clone(), 1.5)]))]),
            faults.clone(),
        )
        .await;
        let dev = device("water", 0, 1, 1000, vec![level, missing]);
        let conn = tcp(&address, 500);
        let got = read_once(&conn.kind, &dev).await.expect("connects");
        assert_eq!(got.requests, 2);
        assert_eq!(
            got.points,
            vec![
                PointReading {
                    raw_registers: vec![0x0000, 0x3FC0],
                    raw: Some(1.5),
                    text: None,
                    error: None
                },
                PointReading {
                    raw_registers: vec![],
                    raw: None,
                    text: None,
                    error: Some(PollError::Exception(2))
                },
            ]
        );
        // A silent unit: the first read times out and the second is not attempted.
        faults.set(1, Fault::Silent);
        let conn = tcp(&address, 50);
        let got = read_once(&conn.kind, &dev).await.expect("connects");
        assert_eq!(got.requests, 1);
        assert!(
            got.points
                .iter()
                .all(|r| r.error == Some(PollError::Timeout) && r.raw.is_none())
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
async fn a_stopped_server_is_reconnected_when_it_returns() {
    bounded(async {
        let hum = point(
            "humidity",
            Table::Holding,
            0,
            PointType::U16,
            ByteOrder::ABCD,
        );
        let all = units([(1, image_of(&[(hum.clone(), 5.0)]))]);
        let (address, server) = sim_tcp(Arc::clone(&all), Faults::default()).await;
        let site = site(
            vec![tcp(&address, 200)],
            vec![device("th", 0, 1, 50, vec![hum])],
        );
        let mut run = start(&site);
        run.sample(0, |s| s.error.is_none()).await;
        // The device goes away: its socket closes and new ones are refused.
        server.abort();
        assert!(server.await.is_err_and(|e| e.is_cancelled()));
        let s = run.sample(0, |s| s.error.is_some()).await;
        assert!(matches!(s.error, Some(PollError::Transport(_))), "{s:?}");
        // It comes back on the same address.
        let listener = TcpListener::bind(&address)
            .await
            .expect("rebind the same port");
        let _server = serve_tcp(listener, all, Faults::default());
        let s = run.sample(0, |s| s.error.is_none()).await;
        assert_eq!(s.values, vec![Some(5.0)]);
        assert!(get(&run.health.field_reconnects) >= 1);
        assert_eq!(run.health.device_counts(), (1, 0));
        run.stop().await;
    })
    .await;
}

/// Serves one connection: reads what comes, answers `reply` once, then holds the socket.
async fn answer_once_with(reply: &'static [u8]) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.expect("the request");
        assert!(n > 0, "a request arrived");
        s.write_all(reply).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    (address, task)
}

#[tokio::test]
async fn a_web_server_on_the_modbus_port_is_named_as_not_modbus() {
    bounded(async {
        let cases: [(&[u8], &str); 3] = [
            (
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
                "answered with something that is not Modbus — HTTP?",
            ),
            (b"SSH-2.0-OpenSSH_9.2\r\n", "not Modbus — SSH?"),
            // An RTU answer (unit 1, FC3, 2 bytes, CRC) from a serial server in
            // transparent mode: its bytes 2 and 3 read as protocol id 0x0201.
            (
                &[0x01, 0x03, 0x02, 0x01, 0xC7, 0xF9, 0xF6],
                "protocol id 513, not Modbus TCP — a serial device server sending raw RTU? \
                 then use type = \"modbus-rtu-over-tcp\"",
            ),
        ];
        for (reply, want) in cases {
            let (address, server) = answer_once_with(reply).await;
            let p = point(
                "humidity",
                Table::Holding,
                0,
                PointType::U16,
                ByteOrder::ABCD,
            );
            let dev = device("th", 0, 1, 1000, vec![p]);
            let kind = tcp(&address, 500).kind;
            let got = read_once(&kind, &dev).await.expect("connects");
            let Some(PollError::Malformed(text)) = &got.points[0].error else {
                panic!("{address}: {:?}", got.points[0]);
            };
            assert!(
                text.starts_with(&format!("the peer at {address} ")) && text.contains(want),
                "{text}"
            );
            server.abort();
        }
    })
    .await;
}

/// A converter that logs, for each FC3 request, how long after the previous answer it
/// arrived and whether another request was already waiting before it answered.
async fn logging_converter(
    requests: usize,
) -> (String, tokio::task::JoinHandle<Vec<(Duration, bool)>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut log = Vec::new();
        let mut answered: Option<tokio::time::Instant> = None;
        for _ in 0..requests {
            let mut req = [0u8; 12];
            s.read_exact(&mut req).await.unwrap();
            let since = answered.map_or(Duration::MAX, |a| a.elapsed());
            // Give a second request the chance to arrive before this one is answered.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut peek = [0u8; 1];
            let overlapped = s.try_read(&mut peek).is_ok_and(|n| n > 0);
            log.push((since, overlapped));
            let count = u16::from_be_bytes([req[10], req[11]]);
            let bytes = 2 * count as usize;
            let mut ans = vec![req[0], req[1], 0, 0];
            ans.extend_from_slice(&(3 + bytes as u16).to_be_bytes());
            ans.extend_from_slice(&[req[6], 3, bytes as u8]);
            ans.resize(ans.len() + bytes, 0);
            s.write_all(&ans).await.unwrap();
            answered = Some(tokio::time::Instant::now());
        }
        log
    });
    (address, task)
}

#[tokio::test]
async fn min_gap_keeps_quiet_time_between_requests_and_only_one_is_ever_in_flight() {
    bounded(async {
        // Three reads per poll (the points are too far apart to coalesce).
        let points = [0, 20, 40]
            .map(|a| {
                point(
                    &format!("r{a}"),
                    Table::Holding,
                    a,
                    PointType::U16,
                    ByteOrder::ABCD,
                )
            })
            .to_vec();
        let dev = device("meter", 0, 1, 1000, points);
        for gap_ms in [0u64, 60] {
            let (address, server) = logging_converter(3).await;
            let mut kind = tcp(&address, 500).kind;
            if let ConnectionKind::ModbusTcp { min_gap, .. } = &mut kind {
                *min_gap = Duration::from_millis(gap_ms);
            }
            let got = read_once(&kind, &dev).await.expect("connects");
            assert_eq!(got.requests, 3);
            assert!(got.points.iter().all(|p| p.error.is_none()), "{got:?}");
            let log = server.await.unwrap();
            assert!(log.iter().all(|(_, overlapped)| !overlapped), "{log:?}");
            for (since, _) in &log[1..] {
                if gap_ms > 0 {
                    assert!(
                        *since >= Duration::from_millis(gap_ms),
                        "gap {gap_ms}: {log:?}"
                    );
                } else {
                    assert!(*since < Duration::from_millis(50), "no gap: {log:?}");
                }
            }
        }
    })
    .await;
}
