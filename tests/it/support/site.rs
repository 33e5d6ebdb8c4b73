//! A simulated site for the daemon tests: one Modbus TCP server per device (tokio-modbus's
//! server through `sitewarden::sim`), and the config that points the daemon at them.

use super::mosquitto::Mosquitto;
use sitewarden::sim::config::{DeviceToml, SiteToml};
use sitewarden::sim::modbus as sim;
use sitewarden::site::Site;
use std::collections::HashMap;
use std::path::PathBuf;

pub struct SimDevice {
    pub id: String,
    pub profile: String,
    pub port: u16,
    /// The zone the device counts towards (`id:profile@zone`); the test's extra config
    /// must declare it as a `[[zone]]`.
    pub zone: Option<String>,
    units: sim::Units,
    faults: sim::Faults,
}

pub struct SimSite {
    pub devices: Vec<SimDevice>,
    /// The site as the daemon will see it (for point definitions).
    pub site: Site,
    rt: tokio::runtime::Runtime,
    servers: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl SimSite {
    /// `specs`: `"device-id:profile"` or `"device-id:profile@zone"`, each served as unit 1
    /// on its own port, every point reading raw 0 until set.
    pub fn start(specs: &[&str]) -> SimSite {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("sim runtime");
        let mut devices = Vec::new();
        let mut servers = HashMap::new();
        for spec in specs {
            let (id, rest) = spec.split_once(':').expect("spec is id:profile[@zone]");
            let (profile, zone) = match rest.split_once('@') {
                Some((p, z)) => (p, Some(z.to_string())),
                None => (rest, None),
            };
            let listener = rt
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind sim server");
            let port = listener.local_addr().expect("addr").port();
            let units = sim::Units::default();
            units.lock().unwrap().insert(1, sim::Image::default());
            let faults = sim::Faults::default();
            let handle = {
                let _in_rt = rt.enter();
                sim::serve_tcp(listener, std::sync::Arc::clone(&units), faults.clone())
            };
            servers.insert(id.to_string(), handle);
            devices.push(SimDevice {
                id: id.to_string(),
                profile: profile.to_string(),
                port,
                zone,
                units,
                faults,
            });
        }
        let text = config_text(
            &devices,
            "mqtt://127.0.0.1:1",
            "1s",
            std::path::Path::new("/tmp/unused"),
            false,
        );
        let site = sitewarden::config::load_from(&text, "sim.toml", &[], &[])
            .unwrap_or_else(|e| panic!("sim config invalid:\n{e}"));
        let sim = SimSite {
            devices,
            site,
            rt,
            servers,
        };
        // Like a real device, every register of the profile exists from the start.
        for d in &sim.site.devices {
            for p in &d.points {
                sim.set(&d.id, &p.name, 0.0);
            }
        }
        sim
    }

    fn device(&self, id: &str) -> &SimDevice {
        self.devices
            .iter()
            .find(|d| d.id == id)
            .expect("known sim device")
    }

    /// Sets a point's RAW value (before scale) in the device's registers.
    pub fn set(&self, device: &str, point: &str, raw: f64) {
        let d = self
            .site
            .devices
            .iter()
            .find(|d| d.id == device)
            .expect("device");
        let p = &d.points[d.point_index(point).expect("point")];
        let sd = self.device(device);
        sd.units
            .lock()
            .unwrap()
            .get_mut(&1)
            .expect("unit 1")
            .set_point(p, raw)
            .expect("encodable value");
    }

    /// A point's RAW value as the device now holds it (a coil reads 1.0 or 0.0).
    pub fn get(&self, device: &str, point: &str) -> Option<f64> {
        let d = self.site.devices.iter().find(|d| d.id == device)?;
        let p = &d.points[d.point_index(point)?];
        self.device(device).units.lock().unwrap().get(&1)?.point(p)
    }

    /// From now on the holding register of `point` goes up by one after every read of
    /// it, so each poll is served a value of its own (see `sim::Image::count_reads_at`).
    pub fn count_reads(&self, device: &str, point: &str) {
        let d = &self.site.devices[self.site.device_index(device).expect("device")];
        let p = &d.points[d.point_index(point).expect("point")];
        let sitewarden::site::PointSource::Modbus { address, .. } = &p.source else {
            panic!("{device}.{point} is not a Modbus point");
        };
        let mut units = self.device(device).units.lock().unwrap();
        units.get_mut(&1).expect("unit 1").count_reads_at = Some(*address);
    }

    /// The device stops answering (requests are read and ignored).
    pub fn silence(&self, device: &str) {
        self.device(device).faults.set(1, sim::Fault::Silent);
    }

    /// The device answers again (undoes `silence`).
    pub fn answer(&self, device: &str) {
        self.device(device).faults.clear(1);
    }

    /// Stops the device's server entirely (connections refused from now on).
    pub fn stop(&mut self, device: &str) {
        if let Some(h) = self.servers.remove(device) {
            h.abort();
        }
    }

    /// Every write request the device received so far (applied or not).
    pub fn writes(&self, device: &str) -> Vec<sim::WriteSeen> {
        let units = self.device(device).units.lock().unwrap();
        units.get(&1).map(|i| i.writes.clone()).unwrap_or_default()
    }

    /// The RAW value the device holds for a point now.
    pub fn raw(&self, device: &str, point: &str) -> Option<f64> {
        let d = &self.site.devices[self.site.device_index(device).expect("device")];
        let p = &d.points[d.point_index(point).expect("point")];
        let units = self.device(device).units.lock().unwrap();
        units.get(&1).and_then(|i| i.point(p))
    }

    /// The device acknowledges writes without applying them.
    pub fn stick(&self, device: &str) {
        self.device(device).faults.set(1, sim::Fault::Stuck);
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

/// A config file in a temp dir, pointing at the broker and the sim devices.
pub struct TestSite {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub prefix: String,
}

impl TestSite {
    pub fn new(broker: &Mosquitto, sim: &SimSite, interval: &str) -> TestSite {
        Self::with_extra(broker, sim, interval, "")
    }

    /// `extra` is appended to the config (rules, zones, buffer settings).
    pub fn with_extra(broker: &Mosquitto, sim: &SimSite, interval: &str, extra: &str) -> TestSite {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut text = config_text(&sim.devices, &broker.url(), interval, &data, true);
        text.push_str(extra);
        let config = dir.path().join("sitewarden.toml");
        std::fs::write(&config, text).expect("write config");
        TestSite {
            dir,
            config,
            prefix: "sitewarden/test/gw-1".to_string(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

fn config_text(
    devices: &[SimDevice],
    broker: &str,
    interval: &str,
    data: &std::path::Path,
    zones: bool,
) -> String {
    let mut t = SiteToml::new(("test", "gw-1"), data);
    t.uplink(broker, interval);
    for d in devices {
        let connection = format!("conn-{}", d.id);
        t.modbus_tcp(&connection, d.port, "300ms")
            .device(&DeviceToml {
                id: &d.id,
                profile: &d.profile,
                connection: &connection,
                unit: Some(1),
                poll: Some("1s"),
                zone: d.zone.as_deref().filter(|_| zones),
                cell: None,
            });
    }
    t.text().to_string()
}
