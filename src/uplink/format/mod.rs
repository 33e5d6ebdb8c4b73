//! `[uplink] format`: how what the gateway has to say goes on the wire.
//!
//! Everything is made and stored once in our own contract (`docs/platform.md`): outbox
//! records keep their sitewarden topic and bytes whatever the format, so the outbox, its
//! bounds, its seq and its replay order are the same for every format. A non-native
//! format is a pure function of a record's topic and bytes (and the site), applied at
//! send time: the same record always goes out as the same bytes, so a replay is still
//! byte-identical, and one record is still one publish (one packet id, one PUBACK, one
//! delete).

pub mod thingsboard;

use crate::site::{Site, UplinkFormat};
use crate::wire::topics::Topics;
use std::sync::Arc;

/// One publish, as the format sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// The wire of one uplink.
#[derive(Debug, Clone)]
pub struct Wire {
    pub format: UplinkFormat,
    pub topics: Topics,
    /// The running site (replaced on reload): device names, zones.
    pub site: Arc<Site>,
}

impl Wire {
    pub fn new(site: &Arc<Site>) -> Wire {
        Wire {
            format: site.uplink.format,
            topics: Topics::new(site),
            site: Arc::clone(site),
        }
    }

    /// A message made in our contract (`topic` under our prefix), as this format sends
    /// it. Sitewarden: unchanged.
    pub fn outbound(&self, topic: &str, payload: &[u8], retain: bool) -> Out {
        match self.format {
            UplinkFormat::Sitewarden => Out {
                topic: topic.to_string(),
                payload: payload.to_vec(),
                retain,
            },
            UplinkFormat::ThingsBoard => {
                let rest = (topic.strip_prefix(self.topics.prefix()))
                    .and_then(|r| r.strip_prefix('/'))
                    .unwrap_or(topic);
                thingsboard::outbound(&self.site, rest, payload)
            }
        }
    }

    /// The topic commands arrive on.
    pub fn command_topic(&self) -> String {
        match self.format {
            UplinkFormat::Sitewarden => self.topics.cmd(),
            UplinkFormat::ThingsBoard => thingsboard::RPC.to_string(),
        }
    }

    /// An incoming message on the command topic as a `P/cmd` payload for the command
    /// path; None for one that is not a request (ThingsBoard echoes our own replies on
    /// the same topic).
    pub fn command(&self, payload: &[u8]) -> Option<Vec<u8>> {
        match self.format {
            UplinkFormat::Sitewarden => Some(payload.to_vec()),
            UplinkFormat::ThingsBoard => thingsboard::rpc_to_command(payload),
        }
    }

    /// What goes out on every connect before anything else, and after a reload that
    /// changed the devices (`before`: the site until then).
    pub fn announce(&self, before: Option<&Site>) -> Vec<Out> {
        match self.format {
            UplinkFormat::Sitewarden => Vec::new(),
            UplinkFormat::ThingsBoard => thingsboard::announce(&self.site, before),
        }
    }
}
