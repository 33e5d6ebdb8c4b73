//! `[uplink] format`: how what the gateway has to say goes on the wire.
//!
//! Everything is made and stored once in our own contract (`docs/platform.md`): outbox
//! records keep their sitewarden topic and bytes whatever the format, so the outbox, its
//! bounds, its seq and its replay order are the same for every format. A non-native
//! format is a pure function of a record's topic and bytes (and the site), applied at
//! send time: the same record always goes out as the same bytes, so a replay is still
//! byte-identical, and one record is still one publish (one packet id, one PUBACK, one
//! delete).

pub mod sparkplug;
pub mod thingsboard;

use crate::site::{Site, UplinkFormat};
use crate::wire::topics::Topics;
use rumqttc::{AsyncClient, QoS};
use std::sync::Arc;

/// One publish, as the format sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    /// What is fixed only as the publish is queued (Sparkplug's `seq`).
    pub stamp: Stamp,
}

/// A value a publish gets at send time, not from its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stamp {
    /// Sent as rendered.
    #[default]
    None,
    /// Sparkplug: the edge node's next `seq`.
    Next,
    /// Sparkplug NBIRTH: `seq` 0, the next one 1.
    Birth,
}

/// What a message on a command topic asks of us.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A `P/cmd` payload for the command path.
    Command(Vec<u8>),
    /// Sparkplug `Node Control/Rebirth`: a new NBIRTH and DBIRTHs.
    Rebirth,
    /// Sparkplug: the primary host's `STATE` (online or not).
    HostOnline(bool),
    /// A message on a command topic that is no command of the format (not JSON, not
    /// protobuf, no RPC `data`): refused like a malformed `P/cmd`, and why.
    Unreadable(String),
}

/// The wire of one uplink.
#[derive(Debug, Clone)]
pub struct Wire {
    pub format: UplinkFormat,
    pub topics: Topics,
    /// The running site (replaced on reload): device names, zones.
    pub site: Arc<Site>,
    /// Sparkplug's send-time numbers (`seq`, `bdSeq`).
    pub node: Arc<sparkplug::Node>,
}

/// The largest publish the uplink sends (topic and payload). rumqttc refuses a larger one
/// by dropping the connection, and the next connect would try it again: one message past
/// the limit would keep the uplink reconnecting for ever. A 1 000-device inventory is
/// ~350 KB; this leaves room for twenty times that.
pub const MAX_OUTGOING: usize = 8 << 20;

impl Wire {
    /// Whether `out` is within `MAX_OUTGOING` (with room for the fixed header and a
    /// Sparkplug stamp).
    pub fn fits(out: &Out) -> bool {
        out.topic.len() + out.payload.len() + 64 <= MAX_OUTGOING
    }

    pub fn new(site: &Arc<Site>) -> Wire {
        Wire {
            format: site.uplink.format,
            topics: Topics::new(site),
            site: Arc::clone(site),
            node: Arc::default(),
        }
    }

    /// Queues `out` on rumqttc's channel with its send-time stamp; false when the
    /// channel is full (nothing was taken: the same `seq` goes to the next try).
    pub fn publish(&self, client: &AsyncClient, out: &Out, qos: QoS) -> bool {
        let payload = self.node.stamp(out);
        let queued = client
            .try_publish(out.topic.clone(), qos, out.retain, payload)
            .is_ok();
        if queued {
            self.node.sent(out);
        }
        queued
    }

    /// A message made in our contract (`topic` under our prefix), as this format sends
    /// it. Sitewarden: unchanged.
    pub fn outbound(&self, topic: &str, payload: &[u8], retain: bool) -> Out {
        match self.format {
            UplinkFormat::Sitewarden => Out {
                topic: topic.to_string(),
                payload: payload.to_vec(),
                retain,
                stamp: Stamp::None,
            },
            UplinkFormat::ThingsBoard => {
                thingsboard::outbound(&self.site, self.rest(topic), payload)
            }
            UplinkFormat::Sparkplug => {
                sparkplug::outbound(&self.site, &self.node, self.rest(topic), payload)
            }
        }
    }

    /// A topic of ours after the prefix `P/`.
    fn rest<'t>(&self, topic: &'t str) -> &'t str {
        (topic.strip_prefix(self.topics.prefix()))
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(topic)
    }

    /// The last will of a connection, made from our `offline` status (`body`) whose seq
    /// the will reserved (`seq`). Sparkplug: an NDEATH whose `bdSeq` the connection's
    /// NBIRTH repeats.
    pub fn will(&self, body: &[u8], seq: u64) -> Out {
        match self.format {
            UplinkFormat::Sparkplug => {
                let ts = crate::clock::now_ms();
                sparkplug::will(&self.site, &self.node, seq, u64::try_from(ts).unwrap_or(0))
            }
            _ => self.outbound(&self.topics.status(), body, true),
        }
    }

    /// Sparkplug with a `primary_host`: nothing is published until its `STATE` says it
    /// is online.
    pub fn waits_for_host(&self) -> bool {
        self.format == UplinkFormat::Sparkplug && self.site.uplink.primary_host.is_some()
    }

    /// The topics commands arrive on.
    pub fn command_topics(&self) -> Vec<String> {
        match self.format {
            UplinkFormat::Sitewarden => vec![self.topics.cmd()],
            UplinkFormat::ThingsBoard => vec![thingsboard::RPC.to_string()],
            UplinkFormat::Sparkplug => sparkplug::command_topics(&self.site),
        }
    }

    /// A message on a command topic as what it asks: `P/cmd` payloads for the command
    /// path, or a rebirth. Nothing for one that is not a request (ThingsBoard echoes our
    /// own replies on the same topic).
    pub fn incoming(&self, topic: &str, payload: &[u8]) -> Vec<Inbound> {
        match self.format {
            UplinkFormat::Sitewarden if topic == self.topics.cmd() => {
                vec![Inbound::Command(payload.to_vec())]
            }
            UplinkFormat::ThingsBoard if topic == thingsboard::RPC => {
                thingsboard::rpc_inbound(payload).into_iter().collect()
            }
            UplinkFormat::Sparkplug => sparkplug::incoming(&self.site, topic, payload),
            _ => Vec::new(),
        }
    }

    /// What goes out on every connect before anything else, and after a reload that
    /// changed the devices (`before`: the site until then).
    pub fn announce(&self, before: Option<&Site>) -> Vec<Out> {
        match self.format {
            UplinkFormat::Sitewarden => Vec::new(),
            UplinkFormat::ThingsBoard => thingsboard::announce(&self.site, before),
            UplinkFormat::Sparkplug => {
                let ts = u64::try_from(crate::clock::now_ms()).unwrap_or(0);
                sparkplug::announce(&self.site, &self.node, before, ts)
            }
        }
    }
}
