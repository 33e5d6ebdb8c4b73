//! The simulator role: the site's Modbus TCP devices (100, 300 or 1 000) in a process of their own, so their CPU and
//! memory are never counted as the daemon's.
//!
//! Serves every device of `site::devices()` with `sitewarden::sim::modbus::serve_tcp` (unit
//! 1, one listener each on a free loopback port) behind an `arrivals` relay that
//! timestamps every request, prints the relays' ports on one stdout line, then moves the
//! values once a second, half a second off the poll ticks, like a site in opening hours.
//! On a `stats <t0_ms> <t1_ms>` line on stdin it answers one `stats …` line (poll timing
//! over that span); it exits when its stdin closes, i.e. when the bench that started it ends.

use std::io::{BufRead as _, Write as _};

use anyhow::Context as _;
use sitewarden::sim::modbus::{self as sim, Faults, Image, Units};
use sitewarden::sim::rng::Rng;
use sitewarden::site::Device;

use crate::arrivals::{self, Arrivals};
use crate::site;

/// The role's entry point (the bench re-executed with `SITEWARDEN_BENCH_ROLE=sim`).
pub(crate) fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("simulator runtime")?;
    rt.block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    let devices = site::devices(site::device_count()?);
    let mut listeners = Vec::with_capacity(devices.len());
    for _ in &devices {
        let outer = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        listeners.push((outer, inner));
    }
    let ports: Vec<u16> = listeners
        .iter()
        .map(|(l, _)| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    // The same config the daemon gets, loaded only for the point definitions.
    let text = site::config_text(
        &devices,
        &ports,
        "mqtt://127.0.0.1:1",
        std::path::Path::new("/nonexistent"),
        &site::Pace::SITE,
    );
    let model = sitewarden::config::load_from(&text, "bench.toml", &[], &[])
        .map_err(|e| anyhow::anyhow!("bench config refused:\n{e}"))?;

    let log = Arrivals::new(devices.len());
    let mut sims = Vec::with_capacity(devices.len());
    for (i, (outer, inner)) in listeners.into_iter().enumerate() {
        let device = &model.devices[i];
        let units = sim::units([(1, Image::with_points(&device.points))]);
        arrivals::relay(outer, inner.local_addr()?, i, std::sync::Arc::clone(&log));
        sim::serve_tcp(inner, std::sync::Arc::clone(&units), Faults::default());
        sims.push(SimDevice::new(device, units, i as u64));
    }

    let line: Vec<String> = ports.iter().map(u16::to_string).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ports {}", line.join(" "))?;
    out.flush()?;
    drop(out);

    // The bench holds our stdin; it asks for the timing there, and when it ends, so do we.
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin()
            .lock()
            .read_line(&mut line)
            .is_ok_and(|n| n > 0)
        {
            let span: Vec<i64> = line
                .trim()
                .strip_prefix("stats ")
                .map(|r| r.split(' ').filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_default();
            if let [t0, t1] = span[..] {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", log.stats_line(t0, t1)).ok();
                out.flush().ok();
            }
            line.clear();
        }
        std::process::exit(0);
    });

    let now = sitewarden::clock::now_ms();
    let first = (now / 1000 + 1) * 1000 + 500;
    let start = tokio::time::Instant::now()
        + std::time::Duration::from_millis(u64::try_from(first - now).unwrap_or(0));
    let mut tick = tokio::time::interval_at(start, std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        for (i, d) in sims.iter_mut().enumerate() {
            d.step(&model.devices[i]);
        }
    }
}

/// One device's values and the registers they are served from.
struct SimDevice {
    units: Units,
    values: Vec<f64>,
    rng: Rng,
}

impl SimDevice {
    fn new(device: &Device, units: Units, seed: u64) -> SimDevice {
        let mut rng = Rng::new(seed + 1);
        let values = device
            .points
            .iter()
            .map(|p| match p.name.as_str() {
                "entries" => rng.below(100_000) as f64 + 10_000.0,
                "exits" => 5_000.0,
                "humidity" => 500.0 + rng.below(200) as f64,
                "temperature" => 200.0 + rng.below(60) as f64,
                "body_temp" => 3_650.0,
                "scans" => rng.below(1_000) as f64,
                "level_m" => 1.0 + rng.below(500) as f64 / 1_000.0,
                _ => 0.0,
            })
            .collect();
        let d = SimDevice { units, values, rng };
        d.write(device);
        d
    }

    /// One second of a busy site in opening hours: ~30 000 visitors an hour through 82
    /// gates, a scan at each kiosk every ~10 s, slow air and water. Incidents at the rates
    /// a site reports them: per gate a tailgater every ~2 h and a forced entry every ~8 h,
    /// a fever in one scan out of 2 000; so ~1 alarm a minute, each raised and cleared.
    fn step(&mut self, device: &Device) {
        let r = &mut self.rng;
        let mut moved = false;
        for (p, v) in device.points.iter().zip(self.values.iter_mut()) {
            *v = match p.name.as_str() {
                "entries" => {
                    let step = f64::from(u8::from(r.chance(0.100)));
                    moved |= step > 0.0;
                    *v + step
                }
                "exits" => {
                    let step = f64::from(u8::from(r.chance(0.095)));
                    moved |= step > 0.0;
                    *v + step
                }
                "forced_entry" => f64::from(u8::from(r.chance(1.0 / 28_800.0))),
                "tailgating" => f64::from(u8::from(r.chance(1.0 / 7_200.0))),
                // Slow random walks in tenths, within a temperate day.
                "humidity" => (*v + walk(r, 2.0)).clamp(300.0, 950.0),
                "temperature" => (*v + walk(r, 1.0)).clamp(150.0, 300.0),
                // A water level is never quite still: millimetre noise every second.
                "level_m" => (*v + (r.unit() - 0.5) * 0.004).clamp(0.2, 3.0),
                _ => *v,
            };
        }
        if let (Some(s), Some(b)) = (device.point_index("scans"), device.point_index("body_temp"))
            && r.chance(0.1)
        {
            self.values[s] += 1.0;
            self.values[b] = if r.chance(1.0 / 2_000.0) {
                3_740.0 + r.below(60) as f64
            } else {
                3_610.0 + r.below(100) as f64
            };
        }
        if let Some(s) = device.point_index("status") {
            self.values[s] = match (moved, r.chance(1.0 / 7_200.0)) {
                (_, true) => 2.0,
                (true, false) => 1.0,
                (false, false) => 0.0,
            };
        }
        self.write(device);
    }

    fn write(&self, device: &Device) {
        let mut units = self.units.lock().unwrap_or_else(|e| e.into_inner());
        let Some(image) = units.get_mut(&1) else {
            return;
        };
        for (p, v) in device.points.iter().zip(&self.values) {
            // Every value above stays within its point's type.
            image.set_point(p, *v).ok();
        }
    }
}

/// A step of -size, 0 or +size, zero half the time.
fn walk(rng: &mut Rng, size: f64) -> f64 {
    match rng.below(4) {
        0 => -size,
        1 => size,
        _ => 0.0,
    }
}
