//! Simulated Modbus devices: register images served over TCP or a serial line.
//!
//! Owns the simulator's device side for `demo` and the tests: an `Image` (coils, discrete
//! inputs, input and holding registers) per unit id, which callers mutate while it is
//! served, and `Faults` that make a unit silent, slow or answer with an exception. The
//! protocol itself is tokio-modbus's server — an implementation we did not write — so
//! our client (`source::modbus`) is tested against someone else's reading of the spec.
//! Never used by the daemon's data path.
//!
//! Like a real device, an image answers only for addresses it holds: a read or write
//! touching any other address gets exception 0x02 (illegal data address). A unit id with
//! no image never answers, as on a bus where nobody has that address.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::server::rtu::Server as RtuServer;
use tokio_modbus::server::tcp::{Server as TcpServer, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_serial::{SerialPort, SerialStream};

use crate::site::{Point, PointSource, PointType, Table};
use crate::source::modbus::decode::{
    EncodeError, decode_bit, decode_words, encode_text, encode_words,
};

/// The four tables of one simulated unit. Absent addresses do not exist on the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    pub coils: BTreeMap<u16, bool>,
    pub discrete: BTreeMap<u16, bool>,
    pub input: BTreeMap<u16, u16>,
    pub holding: BTreeMap<u16, u16>,
    /// Every write request received, in order (applied or not): what the tests count.
    pub writes: Vec<WriteSeen>,
    /// When set, this holding register goes up by one after every read answered that
    /// covers it, so each poll is served a value of its own: the n-th read (from 0) was
    /// served the register's start value + n, and the register's value says how many
    /// reads were served.
    pub count_reads_at: Option<u16>,
}

/// One write request as the simulated unit received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSeen {
    pub table: Table,
    pub address: u16,
    pub values: Vec<u16>,
}

/// Every simulated unit, by unit id. A std mutex: it is held only to copy values in or
/// out, never across an await.
pub type Units = Arc<Mutex<HashMap<u8, Image>>>;

/// How a unit misbehaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Never answers.
    Silent,
    /// Answers after this delay.
    Slow(Duration),
    /// Answers every request with this exception code.
    Exception(u8),
    /// Acknowledges writes (echoes them) without applying them, like a gate whose
    /// controller is in local override; reads answer normally.
    Stuck,
}

/// Faults by unit id, changeable while serving.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<u8, Fault>>>);

impl Faults {
    pub fn set(&self, unit: u8, fault: Fault) {
        lock(&self.0).insert(unit, fault);
    }

    pub fn clear(&self, unit: u8) {
        lock(&self.0).remove(&unit);
    }

    fn get(&self, unit: u8) -> Option<Fault> {
        lock(&self.0).get(&unit).cloned()
    }
}

/// A poisoned lock only means a test panicked while holding it; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Units from a list of images.
pub fn units(images: impl IntoIterator<Item = (u8, Image)>) -> Units {
    Arc::new(Mutex::new(images.into_iter().collect()))
}

impl Image {
    /// An image holding every Modbus point of a profile, each set to raw 0.
    pub fn with_points(points: &[Point]) -> Image {
        let mut image = Image::default();
        for p in points {
            // Zero fits every type, so this cannot fail.
            image.set_point(p, 0.0).ok();
        }
        image
    }

    pub fn word(&self, table: Table, address: u16) -> Option<u16> {
        match table {
            Table::Input => self.input.get(&address).copied(),
            Table::Holding => self.holding.get(&address).copied(),
            Table::Coil => self.coils.get(&address).map(|&b| u16::from(b)),
            Table::Discrete => self.discrete.get(&address).map(|&b| u16::from(b)),
        }
    }

    /// Sets one register, or one bit (non-zero = on) in a bit table.
    pub fn set_word(&mut self, table: Table, address: u16, value: u16) {
        match table {
            Table::Input => self.input.insert(address, value).map(|_| ()),
            Table::Holding => self.holding.insert(address, value).map(|_| ()),
            Table::Coil => self.coils.insert(address, value != 0).map(|_| ()),
            Table::Discrete => self.discrete.insert(address, value != 0).map(|_| ()),
        };
    }

    /// Encodes `raw` (a device number, before scale) into the point's registers, by its
    /// type and word order — the inverse of what the poller decodes.
    pub fn set_point(&mut self, point: &Point, raw: f64) -> Result<(), EncodeError> {
        let PointSource::Modbus {
            table,
            address,
            ty,
            order,
        } = &point.source
        else {
            return Ok(());
        };
        if table.is_bits() {
            self.set_word(*table, *address, u16::from(raw != 0.0));
            return Ok(());
        }
        if let PointType::Str(n) = ty {
            // A number means nothing to a string point: it holds the empty text.
            let empty = encode_text(*order, u16::from(*n), "")?;
            for (i, w) in empty.into_iter().enumerate() {
                self.set_word(*table, address.wrapping_add(i as u16), w);
            }
            return Ok(());
        }
        if let PointType::Bit(_) = ty {
            // A bit shares its register with its neighbours: change only that bit.
            let mask = encode_words(*ty, *order, 1.0)?[0];
            let was = self.word(*table, *address).unwrap_or(0);
            let word = if raw != 0.0 { was | mask } else { was & !mask };
            self.set_word(*table, *address, word);
            return Ok(());
        }
        for (i, w) in encode_words(*ty, *order, raw)?.into_iter().enumerate() {
            self.set_word(*table, address.wrapping_add(i as u16), w);
        }
        Ok(())
    }

    /// Lays `text` into a string point's registers, NUL-padded (see `decode::encode_text`);
    /// other points are left alone.
    pub fn set_text(&mut self, point: &Point, text: &str) -> Result<(), EncodeError> {
        let PointSource::Modbus {
            table,
            address,
            ty: PointType::Str(n),
            order,
        } = &point.source
        else {
            return Ok(());
        };
        for (i, w) in encode_text(*order, u16::from(*n), text)?
            .into_iter()
            .enumerate()
        {
            self.set_word(*table, address.wrapping_add(i as u16), w);
        }
        Ok(())
    }

    /// The raw value the point's registers hold now (None if any is absent).
    pub fn point(&self, point: &Point) -> Option<f64> {
        let PointSource::Modbus {
            table,
            address,
            ty,
            order,
        } = &point.source
        else {
            return None;
        };
        if table.is_bits() {
            return self.word(*table, *address).map(|w| decode_bit(w != 0));
        }
        let words: Option<Vec<u16>> = span(*address, ty.registers())
            .ok()?
            .map(|a| self.word(*table, a))
            .collect();
        decode_words(*ty, *order, &words?).ok()
    }

    fn bits(&self, table: Table, address: u16, count: u16) -> Result<Vec<bool>, ExceptionCode> {
        span(address, count)?
            .map(|a| self.word(table, a).map(|w| w != 0))
            .collect::<Option<_>>()
            .ok_or(ExceptionCode::IllegalDataAddress)
    }

    fn words(&self, table: Table, address: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        span(address, count)?
            .map(|a| self.word(table, a))
            .collect::<Option<_>>()
            .ok_or(ExceptionCode::IllegalDataAddress)
    }

    fn write(&mut self, table: Table, address: u16, values: &[u16]) -> Result<(), ExceptionCode> {
        self.writes.push(WriteSeen {
            table,
            address,
            values: values.to_vec(),
        });
        let count = u16::try_from(values.len()).map_err(|_| ExceptionCode::IllegalDataValue)?;
        if !span(address, count)?.all(|a| self.word(table, a).is_some()) {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        for (a, v) in span(address, count)?.zip(values) {
            self.set_word(table, a, *v);
        }
        Ok(())
    }

    fn count_read(&mut self, address: u16, count: u16) {
        if let Some(at) = self.count_reads_at
            && at.wrapping_sub(address) < count
            && let Some(w) = self.holding.get_mut(&at)
        {
            *w = w.wrapping_add(1);
        }
    }

    /// The answer of this image to one request.
    fn answer(&mut self, request: Request<'_>) -> Result<Response, ExceptionCode> {
        use Table::*;
        Ok(match request {
            Request::ReadCoils(a, n) => Response::ReadCoils(self.bits(Coil, a, n)?),
            Request::ReadDiscreteInputs(a, n) => {
                Response::ReadDiscreteInputs(self.bits(Discrete, a, n)?)
            }
            Request::ReadInputRegisters(a, n) => {
                Response::ReadInputRegisters(self.words(Input, a, n)?)
            }
            Request::ReadHoldingRegisters(a, n) => {
                let words = self.words(Holding, a, n)?;
                self.count_read(a, n);
                Response::ReadHoldingRegisters(words)
            }
            Request::WriteSingleCoil(a, on) => {
                self.write(Coil, a, &[u16::from(on)])?;
                Response::WriteSingleCoil(a, on)
            }
            Request::WriteMultipleCoils(a, bits) => {
                let words: Vec<u16> = bits.iter().map(|&b| u16::from(b)).collect();
                self.write(Coil, a, &words)?;
                Response::WriteMultipleCoils(a, words.len() as u16)
            }
            Request::WriteSingleRegister(a, v) => {
                self.write(Holding, a, &[v])?;
                Response::WriteSingleRegister(a, v)
            }
            Request::WriteMultipleRegisters(a, words) => {
                self.write(Holding, a, &words)?;
                Response::WriteMultipleRegisters(a, words.len() as u16)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        })
    }
}

/// `count` addresses from `address`; a span past the end of the address space is an
/// illegal address, never a wrap to 0.
fn span(address: u16, count: u16) -> Result<impl Iterator<Item = u16>, ExceptionCode> {
    let end = u32::from(address) + u32::from(count);
    if end > 1 << 16 {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    Ok((u32::from(address)..end).map(|a| a as u16))
}

/// The tokio-modbus service over the shared images and faults.
struct Sim {
    units: Units,
    faults: Faults,
}

type Answer = Result<Option<Response>, ExceptionCode>;

impl tokio_modbus::server::Service for Sim {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let units = Arc::clone(&self.units);
        let fault = self.faults.get(req.slave);
        Box::pin(async move {
            let delay = match fault {
                Some(Fault::Silent) => return Ok(None),
                Some(Fault::Exception(code)) => return Err(ExceptionCode::new(code)),
                Some(Fault::Slow(d)) => d,
                Some(Fault::Stuck) => return Ok(stuck(&units, req.slave, req.request)),
                None => Duration::ZERO,
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut units = lock(&units);
            match units.get_mut(&req.slave) {
                Some(image) => image.answer(req.request).map(Some),
                None => Ok(None),
            }
        })
    }
}

/// A stuck unit's answer: writes are recorded and echoed but not applied.
fn stuck(units: &Units, unit: u8, request: Request<'_>) -> Option<Response> {
    let mut units = lock(units);
    let image = units.get_mut(&unit)?;
    let seen = |table, address, values: Vec<u16>| WriteSeen {
        table,
        address,
        values,
    };
    let (record, response) = match request {
        Request::WriteSingleCoil(a, on) => (
            seen(Table::Coil, a, vec![u16::from(on)]),
            Response::WriteSingleCoil(a, on),
        ),
        Request::WriteSingleRegister(a, v) => (
            seen(Table::Holding, a, vec![v]),
            Response::WriteSingleRegister(a, v),
        ),
        Request::WriteMultipleRegisters(a, words) => {
            let n = words.len() as u16;
            (
                seen(Table::Holding, a, words.into_owned()),
                Response::WriteMultipleRegisters(a, n),
            )
        }
        other => return image.answer(other).ok(),
    };
    image.writes.push(record);
    Some(response)
}

/// Serves `units` on `listener` (bind it to port 0) until the handle is aborted or dropped
/// with the runtime. Each TCP connection is served in order, one request at a time, so a
/// slow unit delays the requests queued behind it on the same socket, as a gateway does.
pub fn serve_tcp(listener: TcpListener, units: Units, faults: Faults) -> JoinHandle<()> {
    tokio::spawn(async move {
        let server = TcpServer::new(listener);
        let new_service = move |_addr| {
            Ok(Some(Sim {
                units: Arc::clone(&units),
                faults: faults.clone(),
            }))
        };
        let on_connected = |stream, addr| {
            let service = new_service.clone();
            async move { accept_tcp_connection(stream, addr, service) }
        };
        if let Err(e) = server.serve(&on_connected, |_| {}).await {
            tracing::warn!(error = %e, "simulated modbus tcp server stopped");
        }
    })
}

/// Serves `units` on an open serial port (one bus: every unit id with an image answers).
pub fn serve_rtu(port: SerialStream, units: Units, faults: Faults) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = RtuServer::new(port)
            .serve_forever(Sim { units, faults })
            .await
        {
            tracing::debug!(error = %e, "simulated modbus rtu server stopped");
        }
    })
}

/// A simulated RTU bus on a pseudo-terminal: the client opens `path` like a serial port.
pub struct PtyBus {
    /// The terminal to give a `modbus-rtu` connection as its port.
    pub path: PathBuf,
    server: JoinHandle<()>,
    /// Held open so the terminal outlives a client that closes and reopens it.
    _keep: SerialStream,
}

impl PtyBus {
    /// Opens a pseudo-terminal pair and serves `units` on its master side.
    pub fn open(units: Units, faults: Faults) -> io::Result<PtyBus> {
        let (master, keep) = SerialStream::pair().map_err(io::Error::other)?;
        let path = keep
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| io::Error::other("pseudo-terminal has no name"))?;
        Ok(PtyBus {
            path,
            server: serve_rtu(master, units, faults),
            _keep: keep,
        })
    }
}

impl Drop for PtyBus {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests;
