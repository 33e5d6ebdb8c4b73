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

use super::{WriteRequest, run_connection};
use crate::health::Health;
use crate::reading::Sample;
use crate::sim::modbus::{Faults, Image, Units, serve_tcp};
use crate::site::*;

mod rtu;
mod tcp;

/// No test may run longer than this.
pub(super) const DEADLINE: Duration = Duration::from_secs(20);

pub(super) async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .expect("test exceeded its deadline")
}

pub(super) fn point(
    name: &str,
    table: Table,
    address: u16,
    ty: PointType,
    order: ByteOrder,
) -> Point {
    Point {
        name: name.into(),
        source: PointSource::Modbus {
            table,
            address,
            ty,
            order,
        },
        scale: 1.0,
        offset: 0.0,
        unit: None,
        kind: PointKind::Gauge,
        writable: false,
        labels: Vec::new(),
    }
}

pub(super) fn device(
    id: &str,
    connection: usize,
    unit: u8,
    poll_ms: u64,
    points: Vec<Point>,
) -> Device {
    Device {
        id: id.into(),
        profile: "test".into(),
        connection,
        unit,
        poll: Duration::from_millis(poll_ms),
        zone: None,
        max_registers_per_read: 125,
        max_gap: 0,
        points: points.into(),
        camera: None,
        live: None,
    }
}

pub(super) fn tcp(address: &str, timeout_ms: u64) -> Connection {
    Connection {
        name: format!("tcp-{address}"),
        kind: ConnectionKind::ModbusTcp {
            address: address.into(),
            timeout: Duration::from_millis(timeout_ms),
            min_gap: Duration::ZERO,
        },
    }
}

pub(super) fn rtu(port: PathBuf, timeout_ms: u64) -> Connection {
    Connection {
        name: "rs485".into(),
        kind: ConnectionKind::ModbusRtu {
            port,
            baud: 115_200,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
            timeout: Duration::from_millis(timeout_ms),
            min_gap: Duration::ZERO,
        },
    }
}

pub(super) fn site(connections: Vec<Connection>, devices: Vec<Device>) -> Arc<Site> {
    Arc::new(Site {
        connections,
        devices,
        ..Site::bare("test", "gw")
    })
}

/// A simulated TCP device server on a free loopback port.
pub(super) async fn sim_tcp(units: Units, faults: Faults) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let address = listener.local_addr().expect("bound").to_string();
    (address, serve_tcp(listener, units, faults))
}

/// Connection tasks for every connection of a site.
pub(super) struct Running {
    pub(super) samples: mpsc::Receiver<Sample>,
    pub(super) writes: Vec<super::WriteSender>,
    pub(super) health: Arc<Health>,
    pub(super) cancel: CancellationToken,
    pub(super) tasks: Vec<JoinHandle<()>>,
}

pub(super) fn start(site: &Arc<Site>) -> Running {
    let (tx, samples) = mpsc::channel(4096);
    let health = Arc::new(Health::new(site.devices.len()));
    let cancel = CancellationToken::new();
    let mut writes = vec![];
    let mut tasks = vec![];
    for conn in 0..site.connections.len() {
        let (wtx, wrx) = super::mailbox::channel(4);
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
    pub(super) async fn sample(&mut self, device: usize, want: impl Fn(&Sample) -> bool) -> Sample {
        loop {
            let s = self.samples.recv().await.expect("connection tasks alive");
            if s.device == device && want(&s) {
                return s;
            }
        }
    }

    /// Every sample received within `window`.
    pub(super) async fn collect(&mut self, window: Duration) -> Vec<Sample> {
        let end = tokio::time::Instant::now() + window;
        let mut out = vec![];
        while let Ok(Some(s)) = tokio::time::timeout_at(end, self.samples.recv()).await {
            out.push(s);
        }
        out
    }

    pub(super) async fn write(
        &self,
        conn: usize,
        device: usize,
        point: usize,
        value: f64,
    ) -> Result<super::Written, crate::write::WriteError> {
        let (reply, rx) = oneshot::channel();
        let req = WriteRequest {
            device,
            point,
            value,
            reply,
        };
        self.writes[conn]
            .try_send(Box::new(super::FieldRequest::Write(req)))
            .expect("connection task alive, its mailbox not full");
        rx.await.expect("write answered")
    }

    /// Cancels and checks that every task returns promptly.
    pub(super) async fn stop(self) {
        self.cancel.cancel();
        for t in self.tasks {
            t.await.expect("connection task ended cleanly");
        }
    }
}

/// One point of every type, in all four tables, with its raw value.
pub(super) fn every_type() -> Vec<(Point, f64)> {
    use PointType::*;
    use Table::*;
    #[allow(non_upper_case_globals)]
    const HiFirst: ByteOrder = ByteOrder::ABCD;
    #[allow(non_upper_case_globals)]
    const LoFirst: ByteOrder = ByteOrder::CDAB;
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

pub(super) fn image_of(points: &[(Point, f64)]) -> Image {
    let mut image = Image::default();
    for (p, raw) in points {
        image.set_point(p, *raw).expect("value fits its type");
    }
    image
}
