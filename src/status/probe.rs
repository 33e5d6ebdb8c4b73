//! `sitewarden probe` through the running daemon: the request the probe sends over the
//! status socket (`probe {json}`), and the daemon's side, which hands the reads to the
//! connection task that owns the connection, to run between its own polls.
//!
//! The probe plans its reads itself (the daemon's own `plan`, from the same config) and
//! decodes the answers itself (`source::modbus::assemble`); the daemon only carries raw
//! reads, so the two cannot disagree about a profile.

use crate::reading::PollError;
use crate::site::Table;
use crate::source::modbus::frame::Answer;
use crate::source::modbus::plan::Read;
use crate::source::modbus::{FieldRequest, ReadRequest, WriteSender};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// More reads than a scan of 2000 bits or registers needs is refused.
pub const MAX_READS: usize = 64;
/// How long the daemon waits for the connection task (its polls go first): a generous
/// bound for 64 reads on a slow bus.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(50);

/// Per connection (index into `Site::connections`), where its task takes requests;
/// replaced at each reload.
pub type Routes = watch::Receiver<Arc<Vec<Option<WriteSender>>>>;

/// What the probe asks: these reads of `unit` on the daemon's connection `connection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask {
    pub connection: String,
    pub unit: u8,
    /// `(table, address, count)`, tables by name (`holding`, `input`, `coil`, `discrete`).
    pub reads: Vec<(String, u16, u16)>,
}

/// What the daemon answers: one outcome per read, and the requests it sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub answers: Vec<Outcome>,
    pub requests: usize,
}

/// One read's outcome, on the wire. Externally tagged (`{"words": [..]}`): an internally
/// tagged enum costs 15 KB more of binary to decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Words(Vec<u16>),
    Bits(Vec<bool>),
    Written,
    Timeout,
    Transport(String),
    Exception(u8),
    Malformed(String),
    Silent,
}

impl Outcome {
    pub fn from_result(r: &Result<Answer, PollError>) -> Outcome {
        match r {
            Ok(Answer::Words(words)) => Outcome::Words(words.clone()),
            Ok(Answer::Bits(bits)) => Outcome::Bits(bits.clone()),
            Ok(Answer::Written) => Outcome::Written,
            Err(PollError::Timeout) => Outcome::Timeout,
            Err(PollError::Transport(d)) => Outcome::Transport(d.clone()),
            Err(PollError::Exception(code)) => Outcome::Exception(*code),
            Err(PollError::Malformed(d)) => Outcome::Malformed(d.clone()),
            Err(PollError::Silent) => Outcome::Silent,
        }
    }

    pub fn into_result(self) -> Result<Answer, PollError> {
        match self {
            Outcome::Words(words) => Ok(Answer::Words(words)),
            Outcome::Bits(bits) => Ok(Answer::Bits(bits)),
            Outcome::Written => Ok(Answer::Written),
            Outcome::Timeout => Err(PollError::Timeout),
            Outcome::Transport(detail) => Err(PollError::Transport(detail)),
            Outcome::Exception(code) => Err(PollError::Exception(code)),
            Outcome::Malformed(detail) => Err(PollError::Malformed(detail)),
            Outcome::Silent => Err(PollError::Silent),
        }
    }
}

impl Ask {
    pub fn new(connection: &str, unit: u8, reads: &[Read]) -> Ask {
        Ask {
            connection: connection.to_string(),
            unit,
            reads: reads
                .iter()
                .map(|r| (r.table.name().to_string(), r.address, r.count))
                .collect(),
        }
    }

    /// The reads, checked: known tables, counts within one Modbus request.
    fn reads(&self) -> Result<Vec<Read>, String> {
        if self.reads.len() > MAX_READS {
            return Err(format!("{} reads, at most {MAX_READS}", self.reads.len()));
        }
        self.reads
            .iter()
            .map(|(table, address, count)| {
                let table = match table.as_str() {
                    "coil" => Table::Coil,
                    "discrete" => Table::Discrete,
                    "input" => Table::Input,
                    "holding" => Table::Holding,
                    other => return Err(format!("unknown table `{other}`")),
                };
                let most = if table.is_bits() { 2000 } else { 125 };
                if *count == 0 || *count > most {
                    return Err(format!(
                        "a read of {count} from {}: 1..={most}",
                        table.name()
                    ));
                }
                Ok(Read {
                    table,
                    address: *address,
                    count: *count,
                })
            })
            .collect()
    }
}

/// The daemon's side: hands the reads to the connection's task and waits for them.
pub async fn serve(json: &str, site: &crate::site::Site, routes: &Routes) -> Result<Reply, String> {
    let ask: Ask = serde_json::from_str(json).map_err(|e| format!("bad probe request: {e}"))?;
    let reads = ask.reads()?;
    let Some(conn) = site
        .connections
        .iter()
        .position(|c| c.name == ask.connection)
    else {
        return Err(format!(
            "the running daemon has no connection `{}`",
            ask.connection
        ));
    };
    let tx = routes.borrow().get(conn).cloned().flatten();
    let Some(tx) = tx else {
        return Err(format!(
            "connection `{}` is not a Modbus connection",
            ask.connection
        ));
    };
    let (reply, rx) = tokio::sync::oneshot::channel();
    let req = ReadRequest {
        unit: ask.unit,
        reads,
        reply,
    };
    tx.try_send(Box::new(FieldRequest::Read(req)))
        .map_err(|_| {
            format!(
                "connection `{}` is busy or stopping; try again",
                ask.connection
            )
        })?;
    match tokio::time::timeout(ANSWER_WITHIN, rx).await {
        Ok(Ok((answers, requests))) => Ok(Reply {
            answers: answers.iter().map(Outcome::from_result).collect(),
            requests,
        }),
        Ok(Err(_)) => Err("the connection task stopped before reading".into()),
        Err(_) => Err(format!("no answer within {ANSWER_WITHIN:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_cross_the_socket_unchanged() {
        let all: Vec<Result<Answer, PollError>> = vec![
            Ok(Answer::Words(vec![1, 65535])),
            Ok(Answer::Bits(vec![true, false])),
            Ok(Answer::Written),
            Err(PollError::Timeout),
            Err(PollError::Transport("reset".into())),
            Err(PollError::Exception(2)),
            Err(PollError::Malformed("crc".into())),
            Err(PollError::Silent),
        ];
        for r in all {
            let json = serde_json::to_string(&Outcome::from_result(&r)).unwrap();
            let back: Outcome = serde_json::from_str(&json).unwrap();
            assert_eq!(back.into_result(), r, "{json}");
        }
    }

    #[test]
    fn reads_are_checked() {
        let ask = |reads: Vec<(&str, u16, u16)>| Ask {
            connection: "bus".into(),
            unit: 1,
            reads: reads
                .into_iter()
                .map(|(t, a, c)| (t.to_string(), a, c))
                .collect(),
        };
        let ok = ask(vec![("holding", 0, 125), ("coil", 10, 2000)])
            .reads()
            .unwrap();
        assert_eq!(
            ok[1],
            Read {
                table: Table::Coil,
                address: 10,
                count: 2000
            }
        );
        for (bad, want) in [
            (
                ask(vec![("holding", 0, 126)]),
                "a read of 126 from holding: 1..=125",
            ),
            (
                ask(vec![("input", 0, 0)]),
                "a read of 0 from input: 1..=125",
            ),
            (ask(vec![("eeprom", 0, 1)]), "unknown table `eeprom`"),
            (ask(vec![("holding", 0, 1); 65]), "65 reads, at most 64"),
        ] {
            assert_eq!(bad.reads().unwrap_err(), want);
        }
    }
}
