//! The config text of a simulated site, written as a technician would write it: the
//! demo, the integration tests and the site bench build theirs with it, so there is one
//! way a simulated site is described to the daemon (and it goes through `config::load`
//! like any other).

use std::path::Path;

/// A `sitewarden.toml` being written: `[gateway]`, `[uplink]`, then connections,
/// devices and whatever else is appended.
#[derive(Debug, Clone)]
pub struct SiteToml(String);

/// One `[[device]]` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceToml<'a> {
    pub id: &'a str,
    pub profile: &'a str,
    pub connection: &'a str,
    /// Modbus unit id (None for a camera).
    pub unit: Option<u8>,
    /// Poll interval, e.g. `"1s"` (None: the default, or a camera).
    pub poll: Option<&'a str>,
    pub zone: Option<&'a str>,
    pub cell: Option<&'a str>,
}

impl SiteToml {
    /// `[gateway]` with `site`, `id` and `data_dir`; more of its keys may be `push`ed.
    pub fn new((site, gateway): (&str, &str), data_dir: &Path) -> SiteToml {
        let data_dir = quoted(&data_dir.display().to_string());
        SiteToml(format!(
            "[gateway]\nsite = \"{site}\"\nid = \"{gateway}\"\ndata_dir = {data_dir}\n"
        ))
    }

    /// `[uplink]` with `broker` and `summary_interval` (e.g. `"60s"`); more of its keys
    /// may be `push`ed.
    pub fn uplink(&mut self, broker: &str, summary_interval: &str) -> &mut SiteToml {
        self.0.push_str(&format!(
            "\n[uplink]\nbroker = \"{broker}\"\nsummary_interval = \"{summary_interval}\"\n"
        ));
        self
    }

    /// Appends `text` as it is (a comment, keys of the table just written, whole tables).
    pub fn push(&mut self, text: &str) -> &mut SiteToml {
        self.0.push_str(text);
        self
    }

    /// A `modbus-tcp` connection to a simulated device server on loopback.
    pub fn modbus_tcp(&mut self, name: &str, port: u16, timeout: &str) -> &mut SiteToml {
        self.0.push_str(&format!(
            "\n[[connection]]\nname = \"{name}\"\ntype = \"modbus-tcp\"\n\
             address = \"127.0.0.1:{port}\"\ntimeout = \"{timeout}\"\n"
        ));
        self
    }

    pub fn device(&mut self, d: &DeviceToml<'_>) -> &mut SiteToml {
        self.0.push_str(&format!(
            "\n[[device]]\nid = \"{}\"\nprofile = \"{}\"\nconnection = \"{}\"\n",
            d.id, d.profile, d.connection
        ));
        let keys = [
            ("unit", d.unit.map(|u| u.to_string())),
            ("poll", d.poll.map(quoted)),
            ("zone", d.zone.map(quoted)),
            ("cell", d.cell.map(quoted)),
        ];
        for (key, value) in keys {
            if let Some(v) = value {
                self.0.push_str(&format!("{key} = {v}\n"));
            }
        }
        self
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

/// A TOML basic string holding `s`.
pub fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_read_back_as_written() {
        for s in ["/tmp/a", r#"a"b\c"#, "a\nb\u{7}", "Zhouzhuang 周庄"] {
            let doc: toml::Table = toml::from_str(&format!("k = {}", quoted(s))).unwrap();
            assert_eq!(doc["k"].as_str(), Some(s));
        }
    }

    #[test]
    fn a_site_written_with_it_loads() {
        let mut t = SiteToml::new(("s", "gw"), Path::new("/tmp/a \"quoted\" dir"));
        t.uplink("mqtt://127.0.0.1:1883", "60s")
            .push("keep_alive = \"10s\"\n")
            .modbus_tcp("lan", 1502, "300ms")
            .device(&DeviceToml {
                id: "th-1",
                profile: "rs485-th",
                connection: "lan",
                unit: Some(3),
                poll: Some("1s"),
                zone: Some("north"),
                ..DeviceToml::default()
            });
        t.push("\n[[zone]]\nname = \"north\"\ncapacity = 10\n");
        let site = crate::config::load_from(t.text(), "t.toml", &[], &[]).unwrap();
        assert_eq!(site.devices[0].unit, 3);
        assert_eq!(site.devices[0].zone.as_deref(), Some("north"));
        assert_eq!(
            site.gateway.data_dir,
            Path::new("/tmp/a \"quoted\" dir"),
            "data_dir quoted as TOML"
        );
    }
}
