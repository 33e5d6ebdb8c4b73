//! Every upstream topic string is built here, from `P = {topic_prefix}/{site}/{gateway}`.

use crate::site::Site;

/// The topic prefix of one gateway, `{topic_prefix}/{site}/{gateway}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(site: &Site) -> Topics {
        Topics {
            prefix: format!(
                "{}/{}/{}",
                site.uplink.topic_prefix, site.gateway.site, site.gateway.id
            ),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Retained online/offline; offline is also the last will.
    pub fn status(&self) -> String {
        format!("{}/status", self.prefix)
    }

    pub fn summary(&self, device: &str) -> String {
        format!("{}/summary/{device}", self.prefix)
    }

    pub fn zone(&self, zone: &str) -> String {
        format!("{}/zone/{zone}", self.prefix)
    }

    /// Retained rollup of one grid cell.
    pub fn cell(&self, cell: &str) -> String {
        format!("{}/cell/{cell}", self.prefix)
    }

    /// Retained count of cells per kind and state.
    pub fn cells(&self) -> String {
        format!("{}/cells", self.prefix)
    }

    /// One finished round of a patrol.
    pub fn patrol(&self, patrol: &str) -> String {
        format!("{}/patrol/{patrol}", self.prefix)
    }

    pub fn alarm(&self, device: &str) -> String {
        format!("{}/alarm/{device}", self.prefix)
    }

    /// Retained snapshot of every alarm now raised.
    pub fn alarms_active(&self) -> String {
        format!("{}/alarms/active", self.prefix)
    }

    /// Retained list of every device and point.
    pub fn inventory(&self) -> String {
        format!("{}/inventory", self.prefix)
    }

    /// A device's live values, reported by exception (QoS 0, not stored).
    pub fn live(&self, device: &str) -> String {
        format!("{}/live/{device}", self.prefix)
    }

    pub fn health(&self) -> String {
        format!("{}/health", self.prefix)
    }

    /// Commands in, from the platform.
    pub fn cmd(&self) -> String {
        format!("{}/cmd", self.prefix)
    }

    pub fn cmd_result(&self) -> String {
        format!("{}/cmd/result", self.prefix)
    }
}
